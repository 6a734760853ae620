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
use kube::Api;
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, Predicate, predicates, watcher};

use crate::api::{CrossAccountDeployment, RevisionSource, TargetAccount};
use crate::runtime::triggers::{changed_or_deleted, hash_of};
use crate::runtime::{Context, controller, scoped_api};

pub use marker::{APPROVE_ANNOTATION, CONTINUE_ANNOTATION, Owner, REDEPLOY_ANNOTATION, ROLLBACK_ANNOTATION};
pub use reconcile::FINALIZER;

/// Runs the CrossAccountDeployment controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let watch_ns = ctx.settings.watch_namespace.as_deref();
    let deployments: Api<CrossAccountDeployment> = scoped_api(&client, watch_ns);
    let promotion_sources = deployments.clone();

    // Finalizer and annotation (redeploy) changes count besides the spec.
    // Streaming lists: the initial list arrives object by object, not as
    // pages held whole, which is most of the memory peak at 10,000 objects.
    let (store, trigger) = controller::primary(
        &ctx,
        deployments,
        watcher::Config::default().streaming_lists(),
        (predicates::generation as fn(&CrossAccountDeployment) -> Option<u64>)
            .combine(predicates::finalizers as fn(&CrossAccountDeployment) -> Option<u64>)
            .combine(predicates::annotations as fn(&CrossAccountDeployment) -> Option<u64>),
    );
    controller::mark_ready_when_synced(store.clone(), ctx.ready.clone());
    let deployments = Controller::for_stream(trigger, store.clone())
        // A spec change whose trigger was lost is found within 30 s.
        .reconcile_on(controller::unobserved(store.clone()))
        // A TargetAccount edit (selector, allow-lists, role) re-evaluates the
        // deployments that reference it, without a restart. Keyed on
        // generation: its status writes must not wake every deployment.
        .watches_stream(
            ctx.feeds
                .targets
                .changes(|ta: &TargetAccount| hash_of(&ta.metadata.generation)),
            controller::dependents(store.clone(), |d: &CrossAccountDeployment, ta: &TargetAccount| {
                Some(&d.spec.target_account_ref.name) == ta.metadata.name.as_ref()
            }),
        )
        // Relabelling a namespace can grant or revoke access; nothing else
        // about a namespace matters here.
        .watches_stream(
            ctx.feeds
                .namespaces
                .changes(|ns: &Namespace| hash_of(&ns.metadata.labels)),
            controller::dependents(store.clone(), |d: &CrossAccountDeployment, ns: &Namespace| {
                d.metadata.namespace.is_some() && d.metadata.namespace == ns.metadata.name
            }),
        )
        // A source's new revision or readiness re-evaluates the deployments
        // that reference it: continuous delivery without re-listing.
        .watches_stream(
            ctx.feeds.sources.changes(source_key),
            controller::dependents(store.clone(), |d: &CrossAccountDeployment, rs: &RevisionSource| {
                d.spec
                    .revision
                    .as_ref()
                    .and_then(|r| r.source_ref.as_ref())
                    .is_some_and(|r| Some(&r.name) == rs.metadata.name.as_ref())
                    && d.metadata.namespace == rs.metadata.namespace
            }),
        );
    let deployments = watch_promotion_sources(deployments, store, promotion_sources);
    controller::drive(deployments, reconcile::reconcile, ctx).await;
}

/// A promotion source's deployment outcome (and its own promotion settings,
/// for cycles) re-evaluates the objects promoted from it.
fn watch_promotion_sources(
    controller: Controller<CrossAccountDeployment>,
    store: Store<CrossAccountDeployment>,
    deployments: Api<CrossAccountDeployment>,
) -> Controller<CrossAccountDeployment> {
    controller.watches_stream(
        promotion_source_changes(deployments),
        // Every status change of every deployment is matched against the
        // whole store here: the promotion test comes first and nothing is
        // cloned, so 10,000 objects without promotion cost a pointer check each.
        controller::dependents(store, |d: &CrossAccountDeployment, from: &CrossAccountDeployment| {
            d.spec
                .promotion
                .as_ref()
                .is_some_and(|p| Some(&p.from.name) == from.metadata.name.as_ref())
                && d.metadata.namespace == from.metadata.namespace
        }),
    )
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

/// CrossAccountDeployment changes that concern the objects promoted from
/// it: its current deployment and readiness, and its own promotion source
/// (a new cycle), not every poll's status write.
fn promotion_source_changes(
    deployments: Api<CrossAccountDeployment>,
) -> impl futures::Stream<Item = Result<CrossAccountDeployment, watcher::Error>> + Send + 'static {
    changed_or_deleted(
        deployments,
        watcher::Config::default().streaming_lists(),
        |d: &CrossAccountDeployment| {
            let status = d.status.as_ref();
            let current = status.and_then(|s| s.current_deployment.as_ref());
            hash_of(&(
                d.metadata.generation,
                d.spec.promotion.as_ref().map(|p| p.from.name.clone()),
                status.and_then(|s| s.observed_generation),
                current.map(|c| (c.id.clone(), c.status.as_ref().map(|s| s.to_string()))),
                status.map(|s| {
                    s.conditions
                        .iter()
                        .map(|c| (c.type_.clone(), c.status.clone()))
                        .collect::<Vec<_>>()
                }),
            ))
        },
    )
}
