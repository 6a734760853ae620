//! Watch wiring every controller shares: the primary watch with its change
//! predicate, mapping a changed dependency to the objects that use it, and
//! running the controller until shutdown.

use std::collections::HashMap;
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

/// Objects in `store` whose spec generation has had no status report for a
/// whole [`UNOBSERVED_SCAN`]: a safety net for a lost trigger. `make chaos`
/// saw a spec change made just before the API server was killed never reach
/// a reconcile (the watch resumed past it, or kube's predicate had already
/// recorded it). Only an object untouched since the previous scan (same
/// resourceVersion) is picked: one being reconciled changes with every
/// status write, and an extra reconcile of it would only read a copy older
/// than its own last write. Settled objects are never picked, so this costs
/// no AWS call.
pub fn unobserved<K: Reconciled>(store: Store<K>) -> impl Stream<Item = ObjectRef<K>> + Send + 'static {
    let previous: HashMap<ObjectRef<K>, Option<String>> = HashMap::new();
    futures::stream::unfold((store, previous), |(store, previous)| async move {
        tokio::time::sleep(UNOBSERVED_SCAN).await;
        let now: HashMap<ObjectRef<K>, Option<String>> = store
            .state()
            .into_iter()
            .filter(|o| spec_unobserved(o.as_ref()))
            .map(|o| (ObjectRef::from_obj(o.as_ref()), o.meta().resource_version.clone()))
            .collect();
        let stuck: Vec<ObjectRef<K>> = now
            .iter()
            .filter(|(r, version)| previous.get(*r) == Some(*version))
            .map(|(r, _)| r.clone())
            .collect();
        Some((futures::stream::iter(stuck), (store, now)))
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
    async fn the_scan_yields_objects_left_unobserved_and_untouched_for_a_whole_interval() {
        let (store, mut writer) = reflector::store();
        let mut stuck = target(3, Some(2));
        stuck.metadata.resource_version = Some("7".into());
        writer.apply_watcher_event(&watcher::Event::Apply(stuck));
        let started = tokio::time::Instant::now();
        let mut behind = Box::pin(unobserved(store));
        let first = behind.next().await.map(|r| r.name);
        assert_eq!(first.as_deref(), Some("prod"));
        // Seen unobserved at the first scan, picked at the second.
        assert_eq!(started.elapsed(), 2 * UNOBSERVED_SCAN);
    }

    #[tokio::test(start_paused = true)]
    async fn an_object_that_changes_between_scans_is_left_to_its_reconcile() {
        let (store, mut writer) = reflector::store();
        let version = |v: &str| {
            let mut working = target(3, Some(2));
            working.metadata.resource_version = Some(v.into());
            watcher::Event::Apply(working)
        };
        let started = tokio::time::Instant::now();
        let (picked, mut picks) = tokio::sync::mpsc::unbounded_channel();
        let mut behind = Box::pin(unobserved(store));
        tokio::spawn(async move {
            while let Some(r) = behind.next().await {
                let _ = picked.send((started.elapsed(), r.name));
            }
        });
        // Scans at 30, 60, 90, 120 s; status writes at 0, 45 and 75 s.
        writer.apply_watcher_event(&version("1"));
        tokio::time::sleep(Duration::from_secs(45)).await;
        writer.apply_watcher_event(&version("2"));
        tokio::time::sleep(Duration::from_secs(30)).await;
        writer.apply_watcher_event(&version("3"));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(picks.try_recv().is_err(), "picked while its status kept changing");
        // Untouched from the scan at 90 s to the one at 120 s: picked then.
        let (at, name) = picks.recv().await.unwrap();
        assert_eq!((at, name.as_str()), (4 * UNOBSERVED_SCAN, "prod"));
    }
}
