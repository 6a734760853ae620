//! RevisionSource: where application revisions appear in S3 (guide steps 1
//! and 4), polled so that an upload becomes the next desired revision, and
//! checked against guide step 2 for the accounts that will deploy it.

mod decide;
mod digest;
mod reader;
mod reconcile;
mod resolve;
mod schedule;
mod selection;
mod semver;
mod verify;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::{Controller, predicates, watcher};
use kube::{Api, ResourceExt};

use crate::api::{RevisionSource, TargetAccount};
use crate::runtime::triggers::hash_of;
use crate::runtime::{Context, controller, scoped_api};

/// Runs the RevisionSource controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let sources: Api<RevisionSource> = scoped_api(&client, ctx.settings.watch_namespace.as_deref());
    // Status writes (lastCheckTime every interval) must not trigger a poll.
    let (store, trigger) = controller::primary(
        &ctx,
        sources,
        watcher::Config::default().any_semantic(),
        predicates::generation as fn(&RevisionSource) -> Option<u64>,
    );
    let sources = Controller::for_stream(trigger, store.clone())
        // A spec change whose trigger was lost is found within 30 s.
        .reconcile_on(controller::unobserved(store.clone()))
        // Only spec edits and deletions of a TargetAccount matter here, not
        // its periodic status writes.
        .watches_stream(
            ctx.feeds
                .targets
                .changes(|ta: &TargetAccount| hash_of(&ta.metadata.generation)),
            controller::dependents(store.clone(), |s: &RevisionSource, ta: &TargetAccount| {
                let name = ta.name_any();
                s.spec.read_as.as_ref().is_some_and(|r| r.name == name)
                    || s.spec.verify_for.iter().any(|r| r.name == name)
            }),
        )
        // Relabelling a namespace can grant or revoke a TargetAccount.
        .watches_stream(
            ctx.feeds
                .namespaces
                .changes(|ns: &Namespace| hash_of(&ns.metadata.labels)),
            controller::dependents(store, |s: &RevisionSource, ns: &Namespace| {
                s.namespace().as_deref() == Some(ns.name_any().as_str())
            }),
        );
    controller::drive(sources, reconcile::reconcile, ctx).await;
}
