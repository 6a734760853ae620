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
