//! The state every controller shares: Kubernetes client, assumed-role session
//! cache, settings, Event recorder, metrics, readiness and retry counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::events::Reporter;
use kube::{Api, Client, Resource};
use std::sync::Mutex;

use super::metrics::Metrics;
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::watcher;

use super::feed::Feed;
use crate::api::{EXTERNAL_ID_SECRET_LABEL, RevisionSource, SecretKeyRef, TargetAccount};
use crate::aws::fence::Tenure;
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
    /// This replica no longer holds the leader Lease; it must not act.
    #[error("not the leader (the Lease is held by another replica or was not renewed)")]
    NotLeader,
    /// The cached copy is older than the object in the API server (a write
    /// with its resourceVersion as precondition was refused); retried.
    #[error("the cached object is older than the API server's; retrying from a fresher copy")]
    Stale,
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
    /// Reconciles run at once, per kind.
    pub max_concurrent_reconciles: u16,
}

/// TargetAccounts, Namespaces, RevisionSources and the operator
/// namespace's ExternalId Secrets, each watched once.
pub struct Feeds {
    pub targets: Arc<Feed<TargetAccount>>,
    pub namespaces: Arc<Feed<Namespace>>,
    pub sources: Arc<Feed<RevisionSource>>,
    /// Only Secrets marked for the purpose are watched (and held in memory).
    pub secrets: Arc<Feed<Secret>>,
}

impl Feeds {
    fn start(client: &Client, settings: &Settings) -> Self {
        let all = watcher::Config::default();
        let marked = watcher::Config::default().labels(&format!("{EXTERNAL_ID_SECRET_LABEL}=true"));
        Self {
            targets: Feed::start(Api::all(client.clone()), all.clone()),
            namespaces: Feed::start(Api::all(client.clone()), all.clone()),
            sources: Feed::start(super::scoped_api(client, settings.watch_namespace.as_deref()), all),
            secrets: Feed::start(Api::namespaced(client.clone(), &settings.operator_namespace), marked),
        }
    }

    /// Resolves once every feed holds its first complete list: before that
    /// a missing TargetAccount might only be not listed yet.
    pub async fn synced(&self) {
        tokio::join!(
            self.targets.synced(),
            self.namespaces.synced(),
            self.sources.synced(),
            self.secrets.synced()
        );
    }
}

/// Shared state of all controllers.
pub struct Context {
    pub client: Client,
    pub sessions: SessionCache,
    pub settings: Settings,
    pub events: super::events::Events,
    pub metrics: Arc<Metrics>,
    /// What /readyz reports before asking the API server: caches synced, or
    /// standing by for leadership.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// The kinds reconciles look up, watched once and shared.
    pub feeds: Feeds,
    /// Coalesces polls of in-flight deployments into batches.
    pub poller: crate::aws::poller::Poller,
    /// What looking at revision buckets taught (policies, refusing identities).
    pub revisions: crate::revision::look::Memory,
    /// With leader election: the proof checked before every AWS write.
    pub fence: std::sync::OnceLock<super::leader::Fence>,
    /// Consecutive transient failures per object UID, for backoff. Entries
    /// go when an object succeeds, settles or is deleted.
    retries: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, sessions: SessionCache, settings: Settings, metrics: Arc<Metrics>) -> Self {
        let instance = std::env::var("POD_NAME").ok();
        let reporter = Reporter {
            controller: "crossdeploy".into(),
            instance,
        };
        let feeds = Feeds::start(&client, &settings);
        Self {
            feeds,
            fence: std::sync::OnceLock::new(),
            revisions: Default::default(),
            poller: Default::default(),
            events: super::events::Events::start(client.clone(), reporter),
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
        self.count_attempt(uid, transient_failure)
    }

    /// [`Context::note_attempt`] for the synchronous error policy.
    pub fn count_attempt(&self, uid: &str, transient_failure: bool) -> u32 {
        let Ok(mut retries) = self.retries.lock() else {
            return 0;
        };
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
        self.forget_now(key);
    }

    /// Drop every count kept for an object, e.g. when it is deleted.
    pub fn forget_now(&self, key: &str) {
        if let Ok(mut retries) = self.retries.lock() {
            retries.remove(key);
        }
    }

    pub async fn attempts(&self, uid: &str) -> u32 {
        self.retries.lock().map_or(0, |r| r.get(uid).copied().unwrap_or(0))
    }

    /// Until when this replica may write to AWS: always without leader
    /// election; with it, only while it holds a fresh Lease, read now.
    pub async fn tenure(&self) -> Result<Tenure, Error> {
        match self.fence.get() {
            None => Ok(Tenure::UNBOUNDED),
            Some(fence) => fence.tenure().await.ok_or(Error::NotLeader),
        }
    }

    /// Publish an Event about `obj`; a failure is logged, never fatal.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, obj: &K, ev: &kube::runtime::events::Event) {
        if let Err(e) = self.events.publish(ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason = %ev.reason, "could not publish Event");
        }
    }

    /// The ExternalId from the operator's namespace. Only ever passed to STS,
    /// and only from a Secret labelled `crossdeploy.io/external-id: "true"`:
    /// naming a Secret in a TargetAccount is not enough to send its content
    /// to another account.
    pub async fn external_id(&self, r: &SecretKeyRef) -> Result<ExternalId, kube::Error> {
        let namespace = &self.settings.operator_namespace;
        let secret = match self.feeds.secrets.get(&r.name, Some(namespace)) {
            Some(marked) => (*marked).clone(),
            // Only marked Secrets are watched; a GET tells a missing Secret
            // from an unmarked one, which only a misconfiguration costs.
            None => match Api::<Secret>::namespaced(self.client.clone(), namespace)
                .get_opt(&r.name)
                .await?
            {
                Some(secret) => secret,
                None => return Ok(ExternalId::Missing),
            },
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
