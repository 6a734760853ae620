//! Watch wiring every controller shares: the primary watch with its change
//! predicate, mapping a changed dependency to the objects that use it, and
//! running the controller until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use kube::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, Predicate, WatchStreamExt, watcher};

use super::reconcile::{Reconciled, error_policy, forget_object, measured};
use super::{Context, Error};

/// The primary watch: every object lands in the store; only changes the
/// predicate sees (spec generation, finalizers, ...) trigger a reconcile, so
/// the operator's own status writes never do.
pub fn primary<K, P>(
    ctx: &Arc<Context>,
    api: Api<K>,
    config: watcher::Config,
    predicate: P,
) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Reconciled,
    P: Predicate<K> + Send + 'static,
{
    let (store, writer) = reflector::store();
    let ctx = ctx.clone();
    let trigger = watcher(api, config)
        .default_backoff()
        .modify(super::trim_for_cache::<K>)
        .map_ok(move |event| {
            if let watcher::Event::Delete(gone) = &event {
                forget_object(&ctx, gone);
            }
            event
        })
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicate, Default::default());
    (store, trigger)
}

/// How often the store is searched for objects whose spec was never reconciled.
pub const UNOBSERVED_SCAN: Duration = Duration::from_secs(30);

/// Objects in `store` whose spec generation has no status report yet, every
/// [`UNOBSERVED_SCAN`]: a safety net for a lost trigger. `make chaos` saw a
/// spec change made just before the API server was killed never reach a
/// reconcile (the watch resumed past it, or kube's predicate had already
/// recorded it). Settled objects are never picked, so this costs no AWS call.
pub fn unobserved<K: Reconciled>(store: Store<K>) -> impl Stream<Item = ObjectRef<K>> + Send + 'static {
    futures::stream::unfold(store, |store| async move {
        tokio::time::sleep(UNOBSERVED_SCAN).await;
        let behind: Vec<ObjectRef<K>> = store
            .state()
            .into_iter()
            .filter(|o| spec_unobserved(o.as_ref()))
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect();
        Some((futures::stream::iter(behind), store))
    })
    .flatten()
}

/// The spec's generation is not the one the status last reported on.
fn spec_unobserved<K: Reconciled>(obj: &K) -> bool {
    use crate::api::HasConditions;
    let observed = obj.status().and_then(|s| s.observed_generation());
    obj.meta().generation.is_some() && observed != obj.meta().generation
}

/// Maps a changed dependency (a TargetAccount, Namespace, RevisionSource) to
/// the objects in `store` that `depends_on` it.
pub fn dependents<K, D>(
    store: Store<K>,
    depends_on: impl Fn(&K, &D) -> bool + Send + Sync + 'static,
) -> impl Fn(D) -> Vec<ObjectRef<K>> + Send + Sync + 'static
where
    K: Reconciled,
{
    move |dependency: D| {
        store
            .state()
            .into_iter()
            .filter(|obj| depends_on(obj, &dependency))
            .map(|obj| ObjectRef::from_obj(&*obj))
            .collect()
    }
}

/// Runs `controller` with `reconcile` (measured, errors retried by the shared
/// error policy) until shutdown.
pub async fn drive<K, F, Fut>(controller: Controller<K>, reconcile: F, ctx: Arc<Context>)
where
    K: Reconciled,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let reconcile = Arc::new(reconcile);
    let config = kube::runtime::controller::Config::default().concurrency(ctx.settings.max_concurrent_reconciles);
    controller
        .with_config(config)
        .shutdown_on_signal()
        .run(
            move |obj, ctx| {
                let reconcile = reconcile.clone();
                async move { measured::<K>(&ctx.clone(), &obj.clone(), reconcile(obj, ctx)).await }
            },
            error_policy::<K>,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
        })
        .await;
}

/// Flags `ready` once `store` holds its first complete list (for /readyz).
pub fn mark_ready_when_synced<K: Reconciled>(store: Store<K>, ready: Arc<AtomicBool>) {
    tokio::spawn(async move {
        // Re-polled every second: the store wakes only one of several waiters
        // (the controller's own), so a lone wait here could sleep forever.
        loop {
            match tokio::time::timeout(Duration::from_secs(1), store.wait_until_ready()).await {
                Ok(Ok(())) => break ready.store(true, Ordering::Relaxed),
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TargetAccount;

    fn target(generation: i64, observed: Option<i64>) -> TargetAccount {
        let mut t: TargetAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "crossdeploy.io/v1alpha1",
            "kind": "TargetAccount",
            "metadata": {"name": "prod", "generation": generation},
            "spec": {
                "roleArn": "arn:aws:iam::222222222222:role/Deployer",
                "region": "us-east-1",
                "namespaceSelector": {},
            },
        }))
        .unwrap();
        if let Some(g) = observed {
            t.status = Some(Default::default());
            if let Some(s) = t.status.as_mut() {
                s.observed_generation = Some(g);
            }
        }
        t
    }

    #[test]
    fn only_specs_without_a_report_are_picked_up_again() {
        assert!(spec_unobserved(&target(1, None)), "never reconciled");
        assert!(spec_unobserved(&target(2, Some(1))), "a spec change not reported on");
        assert!(!spec_unobserved(&target(2, Some(2))), "settled: no AWS call");
    }

    #[tokio::test(start_paused = true)]
    async fn the_scan_yields_the_unobserved_objects_every_interval() {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(target(3, Some(2))));
        let mut behind = Box::pin(unobserved(store));
        let first = behind.next().await.map(|r| r.name);
        assert_eq!(first.as_deref(), Some("prod"));
    }
}
