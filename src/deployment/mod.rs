//! CrossAccountDeployment: "deploy revision X of application A to group G in
//! account P" (guide step 5), continuously reconciled. `reconcile` is the
//! shell (gather, execute one effect, write status); `decide` is the pure
//! CodeDeploy lifecycle state machine; `marker` makes creation exactly-once.

mod decide;
mod marker;
mod pinned;
mod reconcile;
mod source_ref;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, Predicate, WatchStreamExt, predicates, watcher};
use kube::{Api, ResourceExt};

use crate::api::{CrossAccountDeployment, RevisionSource, TargetAccount};
use crate::runtime::triggers::{self, changed_or_deleted};
use crate::runtime::{Context, scoped_api};

pub use marker::REDEPLOY_ANNOTATION;
pub use reconcile::FINALIZER;

/// Runs the CrossAccountDeployment controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let watch_ns = ctx.settings.watch_namespace.as_deref();
    let deployments: Api<CrossAccountDeployment> = scoped_api(&client, watch_ns);
    let sources: Api<RevisionSource> = scoped_api(&client, watch_ns);
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
        .watches_stream(source_changes(sources), move |rs: RevisionSource| {
            let (ns, name) = (rs.namespace(), rs.name_any());
            store_for_sources
                .state()
                .into_iter()
                .filter(move |d| {
                    d.namespace() == ns && d.spec.revision.source_ref.as_ref().is_some_and(|r| r.name == name)
                })
                .map(|d| ObjectRef::from_obj(&*d))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
        });
    deployment_controller.await;
}

/// RevisionSource changes that concern the deployments referencing it: a new
/// revision or readiness, not the lastCheckTime written on every poll.
fn source_changes(
    sources: Api<RevisionSource>,
) -> impl futures::Stream<Item = Result<RevisionSource, watcher::Error>> + Send + 'static {
    changed_or_deleted(sources, watcher::Config::default(), |s: &RevisionSource| {
        let status = s.status.as_ref();
        triggers::hash_of(&(
            s.metadata.generation,
            status.and_then(|s| s.observed_generation),
            status.and_then(|s| s.revision_digest.clone()),
            status.map(|s| {
                s.conditions
                    .iter()
                    .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
                    .collect::<Vec<_>>()
            }),
        ))
    })
}
