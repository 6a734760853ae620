//! The one reconcile skeleton. Every controller ends the same way: the
//! decided [`Report`] becomes kstatus conditions, a transition Event, the
//! objects-by-condition gauge and a status write (only when something
//! changed), then the next requeue. Written once, here.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Client, Resource, ResourceExt};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Context, Error, display_ref};
use crate::api::{
    CrossAccountDeployment, CrossAccountDeploymentStatus, HasConditions, RevisionSource, RevisionSourceStatus,
    TargetAccount, TargetAccountStatus,
};
use crate::status::{self, Report};

/// The field manager of every status write.
const FIELD_MANAGER: &str = "crossdeploy";
/// Kubernetes API errors (conflicts, timeouts) are retried with exponential
/// backoff from this long, up to MAX_API_ERROR_RETRY, with full jitter.
const API_ERROR_RETRY: Duration = Duration::from_secs(1);
const MAX_API_ERROR_RETRY: Duration = Duration::from_secs(5 * 60);

/// A crossdeploy kind: what the skeleton needs to know about it.
pub trait Reconciled:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static
{
    /// The kind, for metrics labels.
    const KIND: &'static str;
    type Status: HasConditions + Serialize + Clone + Default + PartialEq + Send + Sync;

    fn status(&self) -> Option<&Self::Status>;

    /// The Api to write this object's status through.
    fn api_for(client: Client, obj: &Self) -> Api<Self>;
}

macro_rules! reconciled {
    ($kind:ty, $status:ty, namespaced) => {
        reconciled!(@impl $kind, $status, |client, obj: &$kind| {
            Api::namespaced(client, &obj.namespace().unwrap_or_default())
        });
    };
    ($kind:ty, $status:ty, cluster) => {
        reconciled!(@impl $kind, $status, |client, _obj: &$kind| Api::all(client));
    };
    (@impl $kind:ty, $status:ty, $api:expr) => {
        impl Reconciled for $kind {
            const KIND: &'static str = stringify!($kind);
            type Status = $status;

            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }

            fn api_for(client: Client, obj: &Self) -> Api<Self> {
                let api: fn(Client, &$kind) -> Api<$kind> = $api;
                api(client, obj)
            }
        }
    };
}

reconciled!(CrossAccountDeployment, CrossAccountDeploymentStatus, namespaced);
reconciled!(RevisionSource, RevisionSourceStatus, namespaced);
reconciled!(TargetAccount, TargetAccountStatus, cluster);

/// `next` with the conditions `report` stands for, for `obj`'s generation.
/// Conditions whose status did not change keep their transition time.
pub fn observed<K: Reconciled>(obj: &K, previous: &K::Status, mut next: K::Status, report: &Report) -> K::Status {
    let generation = obj.meta().generation;
    let conditions = status::conditions(
        previous.conditions(),
        report.health,
        report.reason,
        &report.message,
        generation,
        &status::now(),
    );
    next.set_observed(generation, conditions);
    next
}

/// The end of every reconcile: conditions, transition Event, gauge, status
/// write when it changed, and the next requeue.
pub async fn conclude<K: Reconciled>(
    ctx: &Context,
    obj: &K,
    previous: &K::Status,
    next: K::Status,
    report: &Report,
    action: &str,
) -> Result<Action, Error> {
    let next = observed(obj, previous, next, report);
    ctx.metrics.object_condition(
        K::KIND,
        obj.meta().uid.as_deref().unwrap_or_default(),
        Some(report.health.condition()),
    );
    if let Some(ev) = status::transition_event(
        previous.conditions(),
        next.conditions(),
        action,
        report.event_note.as_deref(),
    ) {
        log_transition(K::KIND, &display_ref(obj), &ev);
        ctx.publish(obj, &ev).await;
    }
    if &next != previous {
        write_status(ctx, obj, &next).await?;
    }
    tracing::debug!(
        reason = report.reason.as_str(),
        requeue_secs = report.requeue.map(|d| d.as_secs()),
        "reconciled"
    );
    Ok(report.requeue.map_or_else(Action::await_change, requeue_with_jitter))
}

/// The one `info` line of a status transition, worded as its Event; `warn`
/// when the object is Stalled (a human must act).
fn log_transition(kind: &str, object: &str, ev: &Event) {
    let note = ev.note.as_deref().unwrap_or_default();
    match ev.type_ {
        EventType::Warning => tracing::warn!(kind, object, reason = %ev.reason, note, "status changed"),
        EventType::Normal => tracing::info!(kind, object, reason = %ev.reason, note, "status changed"),
    }
}

/// Server-side-apply `status` as crossdeploy's field manager; fields this
/// manager set before and left out now are removed.
pub async fn write_status<K: Reconciled>(ctx: &Context, obj: &K, status: &K::Status) -> Result<(), Error> {
    apply_status(ctx, obj, status, None).await
}

/// [`write_status`], only if the object is still the version this reconcile
/// read. The watch cache can be behind the operator's own last write — after
/// an API-server restart the watch delivers it only once it is back — and an
/// AWS call decided from such a copy must not go ahead: `make chaos` caught a
/// second CreateDeployment for one revision that way, the first one's intent
/// being newer than the copy. The API server refuses the write (409
/// Conflict) and the reconcile runs again from a fresher copy.
pub async fn write_status_if_current<K: Reconciled>(ctx: &Context, obj: &K, status: &K::Status) -> Result<(), Error> {
    let version = obj
        .meta()
        .resource_version
        .as_deref()
        .ok_or(Error::MissingField("metadata.resourceVersion"))?;
    match apply_status(ctx, obj, status, Some(version)).await {
        Err(Error::Kube(kube::Error::Api(status))) if status.is_conflict() => Err(Error::Stale),
        other => other,
    }
}

async fn apply_status<K: Reconciled>(
    ctx: &Context,
    obj: &K,
    status: &K::Status,
    if_version: Option<&str>,
) -> Result<(), Error> {
    let mut patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    // Server-side apply takes a resourceVersion in the body as a precondition.
    if let Some(version) = if_version {
        patch["metadata"] = serde_json::json!({ "resourceVersion": version });
    }
    K::api_for(ctx.client.clone(), obj)
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// Spread requeues so that objects created together do not poll together.
pub fn requeue_with_jitter(d: Duration) -> Action {
    let jitter = rand::rng().random_range(0.0..0.1);
    Action::requeue(d.mul_f64(1.0 + jitter))
}

/// What the runtime does with a reconcile that returned an error: expected
/// trouble is status, so these are Kubernetes API errors. Each object backs
/// off on its own, exponentially with full jitter, so a flaky API server is
/// not met by every object retrying at the same moment.
pub fn error_policy<K: Reconciled>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    let attempt = ctx.count_attempt(&api_errors_key(&*obj), true);
    let ceiling = API_ERROR_RETRY
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_API_ERROR_RETRY);
    let wait = ceiling
        .mul_f64(rand::rng().random_range(0.0..=1.0))
        .max(Duration::from_millis(100));
    if is_stale(err) {
        // Expected while a watch catches up; nothing failed.
        tracing::info!(object = %display_ref(&*obj), retry_in_ms = wait.as_millis() as u64, "cached copy behind the API server; retrying");
    } else {
        tracing::warn!(object = %display_ref(&*obj), error = %err, retry_in_ms = wait.as_millis() as u64, "reconcile failed; retrying");
    }
    Action::requeue(wait)
}

fn is_stale(err: &Error) -> bool {
    match err {
        Error::Stale => true,
        Error::Finalizer(e) => matches!(
            &**e,
            kube::runtime::finalizer::Error::ApplyFailed(Error::Stale)
                | kube::runtime::finalizer::Error::CleanupFailed(Error::Stale)
        ),
        _ => false,
    }
}

fn api_errors_key<K: Reconciled>(obj: &K) -> String {
    format!("{}/api", obj.meta().uid.as_deref().unwrap_or_default())
}

/// Runs one reconcile and records it in the reconcile metrics, also when the
/// future is dropped half-way (counted as an error then). A success resets
/// the object's API error backoff.
pub async fn measured<K: Reconciled>(
    ctx: &Context,
    obj: &K,
    reconcile: impl Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    let mut timer = ctx.metrics.reconcile_timer(K::KIND);
    let result = reconcile.await;
    timer.succeeded(result.is_ok());
    if result.is_ok() {
        ctx.forget_now(&api_errors_key(obj));
    }
    result
}

/// An object is gone: drop what was kept about it (backoff counts, its
/// place in the objects gauge).
pub fn forget_object<K: Reconciled>(ctx: &Context, obj: &K) {
    let uid = obj.meta().uid.as_deref().unwrap_or_default();
    ctx.forget_now(uid);
    ctx.forget_now(&api_errors_key(obj));
    ctx.metrics.object_condition(K::KIND, uid, None);
}
