//! Polling in-flight deployments in batches: the GetDeployment calls that
//! concurrent reconciles make through one session within a short window are
//! sent as one BatchGetDeployments (up to 25 ids), so a fleet of rollouts
//! costs a fraction of a call per deployment per poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::codedeploy::{self, Client, DeploymentView};
use super::{AwsError, ErrorClass};

/// How long the first poll of a batch waits for others to join it.
const WINDOW: Duration = Duration::from_millis(25);
/// BatchGetDeployments accepts at most this many ids.
const BATCH: usize = 25;

type Reply = oneshot::Sender<Result<DeploymentView, AwsError>>;
/// The ids waiting for a batch, and where each answer goes.
type Batch = Vec<(String, Reply)>;

/// Batches per session (a batch can only use one session's credentials).
#[derive(Default)]
pub struct Poller {
    open: Arc<Mutex<HashMap<u64, Batch>>>,
}

impl Poller {
    /// The deployment, read together with whatever else is polled through
    /// the same session at about the same time.
    pub async fn get(&self, cd: &Client, session: u64, id: &str) -> Result<DeploymentView, AwsError> {
        let (tx, rx) = oneshot::channel();
        let first = {
            let Ok(mut open) = self.open.lock() else {
                return codedeploy::get_deployment(cd, id).await;
            };
            let batch = open.entry(session).or_default();
            batch.push((id.to_string(), tx));
            batch.len() == 1
        };
        if first {
            let open = self.open.clone();
            let cd = cd.clone();
            tokio::spawn(async move {
                tokio::time::sleep(WINDOW).await;
                let batch = open
                    .lock()
                    .ok()
                    .and_then(|mut o| o.remove(&session))
                    .unwrap_or_default();
                answer(&cd, batch).await;
            });
        }
        rx.await.unwrap_or_else(|_| Err(dropped(id)))
    }
}

async fn answer(cd: &Client, batch: Batch) {
    let mut waiting = batch;
    while !waiting.is_empty() {
        let rest = waiting.split_off(waiting.len().min(BATCH));
        let ids: Vec<String> = waiting.iter().map(|(id, _)| id.clone()).collect();
        let found = codedeploy::batch_get(cd, &ids).await;
        for (id, reply) in waiting {
            let result = match &found {
                Ok(views) => views.iter().find(|v| v.id == id).cloned().ok_or_else(|| missing(&id)),
                Err(e) => Err(e.clone()),
            };
            let _ = reply.send(result);
        }
        waiting = rest;
    }
}

fn missing(id: &str) -> AwsError {
    AwsError {
        operation: "codedeploy:BatchGetDeployments",
        class: ErrorClass::NotFound,
        code: "DeploymentDoesNotExistException".into(),
        message: format!("deployment {id} was not returned"),
    }
}

fn dropped(id: &str) -> AwsError {
    AwsError {
        operation: "codedeploy:BatchGetDeployments",
        class: ErrorClass::Retryable,
        code: "Interrupted".into(),
        message: format!("the batch polling {id} ended early"),
    }
}
