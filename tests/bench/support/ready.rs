//! Which CrossAccountDeployments are Ready for their current spec, kept from
//! one watch (not by listing 10,000 objects again and again): Ready=True and
//! `status.observedGeneration == metadata.generation`, so an object whose spec
//! just changed does not count until the operator has deployed the change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossdeploy::api::{CrossAccountDeployment, HasConditions};
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjState {
    pub generation: i64,
    pub observed: Option<i64>,
    pub ready: bool,
    /// The Ready condition's reason (Succeeded, DeploymentInProgress, ...).
    pub reason: String,
    pub key: Option<String>,
    /// CodeDeploy deployment id in status.currentDeployment.
    pub deployment: Option<String>,
    /// status.desiredDigest: the marker digest of the spec observed.
    pub digest: Option<String>,
}

impl ObjState {
    pub fn done(&self) -> bool {
        self.ready && self.observed == Some(self.generation)
    }

    fn of(obj: &CrossAccountDeployment) -> Self {
        let status = obj.status.as_ref();
        Self {
            generation: obj.metadata.generation.unwrap_or(0),
            observed: status.and_then(|s| s.observed_generation),
            ready: status.is_some_and(|s| s.is_condition_true("Ready")),
            reason: status
                .and_then(|s| s.condition("Ready"))
                .map(|c| c.reason.clone())
                .unwrap_or_default(),
            key: status.and_then(|s| s.revision.as_ref().map(|r| r.key.clone())),
            deployment: status.and_then(|s| s.current_deployment.as_ref().map(|d| d.id.clone())),
            digest: status.and_then(|s| s.desired_digest.clone()),
        }
    }
}

pub struct Tracker {
    objects: Arc<Mutex<HashMap<String, ObjState>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    /// Watches every CrossAccountDeployment with `labels` (a label selector).
    pub fn start(client: Client, labels: &str) -> Self {
        let objects: Arc<Mutex<HashMap<String, ObjState>>> = Arc::default();
        let api: Api<CrossAccountDeployment> = Api::all(client);
        let config = watcher::Config::default().labels(labels);
        let map = objects.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher(api, config).default_backoff().boxed();
            while let Some(event) = events.next().await {
                let Ok(event) = event else {
                    continue; // the API server is away; the backoff retries
                };
                let Ok(mut map) = map.lock() else {
                    return;
                };
                match event {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                        let key = format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
                        map.insert(key, ObjState::of(&o));
                    }
                    watcher::Event::Delete(o) => {
                        map.remove(&format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()));
                    }
                    watcher::Event::Init | watcher::Event::InitDone => {}
                }
            }
        });
        Self { objects, task }
    }

    /// The live map (for a sampler running beside the bench).
    pub fn shared(&self) -> Arc<Mutex<HashMap<String, ObjState>>> {
        self.objects.clone()
    }

    /// Objects Ready for their current spec.
    pub fn done(&self) -> usize {
        self.objects
            .lock()
            .map(|m| m.values().filter(|o| o.done()).count())
            .unwrap_or(0)
    }

    pub fn snapshot(&self) -> HashMap<String, ObjState> {
        self.objects.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits until the watch has seen each object at (at least) the generation
    /// just applied, so that "Ready" is about the new spec; false on timeout.
    pub async fn wait_seen(&self, generations: &[(String, i64)], timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = self.objects.lock().is_ok_and(|m| {
                generations
                    .iter()
                    .all(|(id, g)| m.get(id).is_some_and(|o| o.generation >= *g))
            });
            if seen {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// How many objects are in each (ready, reason) state: what a timeout reports.
    pub fn summary(&self) -> String {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for o in self.snapshot().values() {
            let state = if o.done() {
                "Ready".to_string()
            } else {
                format!(
                    "not ready ({})",
                    if o.reason.is_empty() { "no status" } else { &o.reason }
                )
            };
            *counts.entry(state).or_default() += 1;
        }
        let mut parts: Vec<String> = counts.into_iter().map(|(k, n)| format!("{k}: {n}")).collect();
        parts.sort();
        parts.join(", ")
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
