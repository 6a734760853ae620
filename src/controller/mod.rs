//! The imperative shell: Kubernetes controllers that gather observations,
//! call the pure deciders, execute the one decided effect and write status.

pub mod deployment;
pub mod revision_source;
pub mod target;
pub mod target_account;
mod triggers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use rand::Rng;
use tokio::sync::Mutex;

use crate::api::{CrossAccountDeployment, RevisionSource, SecretKeyRef, TargetAccount};
use crate::aws::session::SessionCache;
use crate::metrics::Metrics;

/// Errors a reconcile returns to the runtime; everything expected is turned
/// into status instead, so these are Kubernetes API trouble.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Aws(#[from] crate::aws::AwsError),
    #[error("object has no {0}")]
    MissingField(&'static str),
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

    /// The ExternalId from the operator's namespace. Only ever passed to STS.
    pub async fn external_id(&self, r: &SecretKeyRef) -> Result<Option<String>, kube::Error> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.settings.operator_namespace);
        let Some(secret) = secrets.get_opt(&r.name).await? else {
            return Ok(None);
        };
        // stringData is write-only: the API server always returns `data`.
        Ok(secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }
}

/// Server-side-apply `status` as crossdeploy's field manager; fields this
/// manager set before and left out now are removed.
pub async fn apply_status<K>(api: &Api<K>, name: &str, status: &impl serde::Serialize) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply("crossdeploy").force(), &Patch::Apply(&patch))
        .await?;
    Ok(())
}

/// Spread requeues so that objects created together do not poll together.
pub fn requeue_with_jitter(d: Duration) -> Action {
    let jitter = rand::rng().random_range(0.0..0.1);
    Action::requeue(d.mul_f64(1.0 + jitter))
}

/// Runs the controllers until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let deployments: Api<CrossAccountDeployment> = match &ctx.settings.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let sources: Api<RevisionSource> = match &ctx.settings.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let targets: Api<TargetAccount> = Api::all(client.clone());
    let namespaces: Api<Namespace> = Api::all(client.clone());

    // Status writes must not trigger reconciles (each would poll AWS again), so
    // only spec (generation), finalizer and annotation changes pass.
    let (reader, writer) = reflector::store();
    let trigger = watcher(deployments, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            (predicates::generation as fn(&CrossAccountDeployment) -> Option<u64>)
                .combine(predicates::finalizers as fn(&CrossAccountDeployment) -> Option<u64>)
                .combine(predicates::annotations as fn(&CrossAccountDeployment) -> Option<u64>),
            Default::default(),
        );
    // Ready (for /readyz) once the first list of deployments is in the cache.
    let synced = reader.clone();
    let ready = ctx.ready.clone();
    tokio::spawn(async move {
        // Re-polled every second: the store wakes only one of several waiters
        // (the controller's own), so a lone wait here could sleep forever.
        loop {
            match tokio::time::timeout(Duration::from_secs(1), synced.wait_until_ready()).await {
                Ok(Ok(())) => break ready.store(true, std::sync::atomic::Ordering::Relaxed),
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
    });
    let store = reader.clone();
    let store_for_ns = reader.clone();
    let store_for_sources = reader.clone();
    let deployment_controller = Controller::for_stream(trigger, reader)
        // A TargetAccount edit (selector, allow-lists, role) re-evaluates the
        // deployments that reference it, without a restart.
        // Keyed on generation: TargetAccount status writes (verification) must
        // not wake every deployment that uses the account.
        .watches_stream(
            triggers::changed_or_deleted(targets.clone(), watcher::Config::default(), |ta: &TargetAccount| {
                triggers::hash_of(&ta.metadata.generation)
            }),
            move |ta: TargetAccount| {
                let name = ta.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(move |d| d.spec.target_account_ref.name == name)
                    .map(|d| ObjectRef::from_obj(&*d))
                    .collect::<Vec<_>>()
            },
        )
        // Relabelling a namespace can grant or revoke access; nothing else
        // about a namespace matters here.
        .watches_stream(
            triggers::changed_or_deleted(namespaces, watcher::Config::default(), |ns: &Namespace| {
                triggers::hash_of(&ns.metadata.labels)
            }),
            move |ns: Namespace| {
                let name = ns.name_any();
                store_for_ns
                    .state()
                    .into_iter()
                    .filter(move |d| d.namespace().as_deref() == Some(name.as_str()))
                    .map(|d| ObjectRef::from_obj(&*d))
                    .collect::<Vec<_>>()
            },
        )
        // A source's new revision or readiness re-evaluates the deployments
        // that reference it: continuous delivery without re-listing.
        .watches_stream(
            revision_source::changes_for_deployments(sources.clone()),
            move |rs: RevisionSource| {
                let (ns, name) = (rs.namespace(), rs.name_any());
                store_for_sources
                    .state()
                    .into_iter()
                    .filter(move |d| {
                        d.namespace() == ns && d.spec.revision.source_ref.as_ref().is_some_and(|r| r.name == name)
                    })
                    .map(|d| ObjectRef::from_obj(&*d))
                    .collect::<Vec<_>>()
            },
        )
        .shutdown_on_signal()
        .run(deployment::reconcile, deployment::error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
        });

    let mut ta_config = watcher::Config::default();
    if let Some(sel) = &ctx.settings.target_account_selector {
        ta_config = ta_config.labels(sel);
    }
    // Verification writes status every time; only spec changes (and the
    // periodic requeue) may start another one, or it would loop.
    let (ta_reader, ta_writer) = reflector::store();
    let ta_trigger = watcher(targets, ta_config)
        .default_backoff()
        .reflect(ta_writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation as fn(&TargetAccount) -> Option<u64>,
            Default::default(),
        );
    let target_controller = Controller::for_stream(ta_trigger, ta_reader)
        .shutdown_on_signal()
        .run(target_account::reconcile, target_account::error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
        });
    let source_controller = revision_source::run(sources, ctx.clone());
    tokio::join!(deployment_controller, target_controller, source_controller);
}

/// Name and namespace for log lines and errors.
pub fn display_ref<K: Resource>(obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) => format!("{ns}/{}", obj.meta().name.as_deref().unwrap_or_default()),
        None => obj.meta().name.clone().unwrap_or_default(),
    }
}
