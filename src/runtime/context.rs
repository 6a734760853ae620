//! The state every controller shares: Kubernetes client, assumed-role session
//! cache, settings, Event recorder, metrics, readiness and retry counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, Resource};
use tokio::sync::Mutex;

use super::metrics::Metrics;
use crate::api::{EXTERNAL_ID_SECRET_LABEL, SecretKeyRef};
use crate::aws::session::SessionCache;

/// Errors a reconcile returns to the runtime; everything expected is turned
/// into status instead, so these are Kubernetes API trouble.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("cleanup on deletion failed: {0}")]
    Cleanup(String),
    #[error("object has no {0}")]
    MissingField(&'static str),
    /// Something the code relies on did not hold: a bug, not bad input.
    #[error("internal invariant broken: {0}")]
    Invariant(&'static str),
}

/// What the operator found for an ExternalId Secret reference.
#[derive(PartialEq, Eq)]
pub enum ExternalId {
    /// The value; only ever passed to STS.
    Found(String),
    /// No such Secret, or no non-empty value under the key.
    Missing,
    /// The Secret exists but is not labelled `crossdeploy.io/external-id: "true"`;
    /// its content was not used.
    NotMarked,
}

// Never print the value.
impl std::fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Found(_) => "Found(..)",
            Self::Missing => "Missing",
            Self::NotMarked => "NotMarked",
        })
    }
}

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespace the operator runs in; ExternalId Secrets are read only here.
    pub operator_namespace: String,
    /// Watch only this namespace for tenant objects (all when None).
    pub watch_namespace: Option<String>,
    /// Only TargetAccounts matching this label selector are verified.
    pub target_account_selector: Option<String>,
    /// Test-only: exit right after CreateDeployment, before the status write,
    /// to prove exactly-once across crashes.
    pub crash_after_create: bool,
    /// How often a settled deployment's group is checked for a later
    /// deployment that replaced ours (one GetDeploymentGroup).
    pub drift_check: Duration,
}

/// Shared state of all controllers.
pub struct Context {
    pub client: Client,
    pub sessions: SessionCache,
    pub settings: Settings,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// What /readyz reports before asking the API server: caches synced, or
    /// standing by for leadership.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Consecutive transient failures per object UID, for backoff.
    retries: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, sessions: SessionCache, settings: Settings, metrics: Arc<Metrics>) -> Self {
        let instance = std::env::var("POD_NAME").ok();
        let reporter = Reporter {
            controller: "crossdeploy".into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            sessions,
            settings,
            metrics,
            ready: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            retries: Mutex::new(HashMap::new()),
        }
    }

    /// Record the outcome of a reconcile and return the attempt count that
    /// applies to the next backoff.
    pub async fn note_attempt(&self, uid: &str, transient_failure: bool) -> u32 {
        let mut retries = self.retries.lock().await;
        if transient_failure {
            let n = retries.entry(uid.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n - 1
        } else {
            retries.remove(uid);
            0
        }
    }

    /// Drop the retry count of an object that is gone or settled.
    pub async fn forget(&self, key: &str) {
        self.retries.lock().await.remove(key);
    }

    pub async fn attempts(&self, uid: &str) -> u32 {
        self.retries.lock().await.get(uid).copied().unwrap_or(0)
    }

    /// Publish an Event about `obj`; a failure is logged, never fatal.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, obj: &K, ev: &kube::runtime::events::Event) {
        if let Err(e) = self.recorder.publish(ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason = %ev.reason, "could not publish Event");
        }
    }

    /// The ExternalId from the operator's namespace. Only ever passed to STS,
    /// and only from a Secret labelled `crossdeploy.io/external-id: "true"`:
    /// naming a Secret in a TargetAccount is not enough to send its content
    /// to another account.
    pub async fn external_id(&self, r: &SecretKeyRef) -> Result<ExternalId, kube::Error> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.settings.operator_namespace);
        let Some(secret) = secrets.get_opt(&r.name).await? else {
            return Ok(ExternalId::Missing);
        };
        let marked = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(EXTERNAL_ID_SECRET_LABEL))
            .is_some_and(|v| v == "true");
        if !marked {
            return Ok(ExternalId::NotMarked);
        }
        // stringData is write-only: the API server always returns `data`.
        Ok(secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .map_or(ExternalId::Missing, ExternalId::Found))
    }
}
