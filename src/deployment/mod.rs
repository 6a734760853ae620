//! CrossAccountDeployment: "deploy revision X of application A to group G in
//! account P" (guide step 5), continuously reconciled. `reconcile` is the
//! shell (gather, execute one effect, write status); `decide` is the pure
//! CodeDeploy lifecycle state machine; `marker` makes creation exactly-once.

mod cleanup;
mod decide;
mod desired;
mod marker;
mod observe;
mod pinned;
mod reconcile;
mod record;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::{Controller, Predicate, predicates, watcher};
use kube::{Api, ResourceExt};

use crate::api::{CrossAccountDeployment, RevisionSource, TargetAccount};
use crate::runtime::triggers::hash_of;
use crate::runtime::{Context, controller, scoped_api};

pub use marker::{Owner, REDEPLOY_ANNOTATION};
pub use reconcile::FINALIZER;

/// Runs the CrossAccountDeployment controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let watch_ns = ctx.settings.watch_namespace.as_deref();
    let deployments: Api<CrossAccountDeployment> = scoped_api(&client, watch_ns);

    // Finalizer and annotation (redeploy) changes count besides the spec.
    let (store, trigger) = controller::primary(
        &ctx,
        deployments,
        watcher::Config::default().any_semantic(),
        (predicates::generation as fn(&CrossAccountDeployment) -> Option<u64>)
            .combine(predicates::finalizers as fn(&CrossAccountDeployment) -> Option<u64>)
            .combine(predicates::annotations as fn(&CrossAccountDeployment) -> Option<u64>),
    );
    controller::mark_ready_when_synced(store.clone(), ctx.ready.clone());
    let deployments = Controller::for_stream(trigger, store.clone())
        // A TargetAccount edit (selector, allow-lists, role) re-evaluates the
        // deployments that reference it, without a restart. Keyed on
        // generation: its status writes must not wake every deployment.
        .watches_stream(
            ctx.feeds
                .targets
                .changes(|ta: &TargetAccount| hash_of(&ta.metadata.generation)),
            controller::dependents(store.clone(), |d: &CrossAccountDeployment, ta: &TargetAccount| {
                d.spec.target_account_ref.name == ta.name_any()
            }),
        )
        // Relabelling a namespace can grant or revoke access; nothing else
        // about a namespace matters here.
        .watches_stream(
            ctx.feeds
                .namespaces
                .changes(|ns: &Namespace| hash_of(&ns.metadata.labels)),
            controller::dependents(store.clone(), |d: &CrossAccountDeployment, ns: &Namespace| {
                d.namespace().as_deref() == Some(ns.name_any().as_str())
            }),
        )
        // A source's new revision or readiness re-evaluates the deployments
        // that reference it: continuous delivery without re-listing.
        .watches_stream(
            ctx.feeds.sources.changes(source_key),
            controller::dependents(store, |d: &CrossAccountDeployment, rs: &RevisionSource| {
                d.namespace() == rs.namespace()
                    && d.spec
                        .revision
                        .source_ref
                        .as_ref()
                        .is_some_and(|r| r.name == rs.name_any())
            }),
        );
    controller::drive(deployments, reconcile::reconcile, ctx).await;
}

/// What of a RevisionSource concerns the deployments referencing it: a new
/// revision or readiness, not the lastCheckTime written on every poll.
fn source_key(s: &RevisionSource) -> u64 {
    let status = s.status.as_ref();
    hash_of(&(
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
}
