//! RevisionSource: where application revisions appear in S3 (guide steps 1
//! and 4), polled so that an upload becomes the next desired revision, and
//! checked against guide step 2 for the accounts that will deploy it.

mod decide;
mod diagnosis;
mod digest;
mod reader;
mod reconcile;
mod resolve;
mod schedule;
mod selection;
mod semver;
mod verify;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Api, ResourceExt};

use crate::api::{RevisionSource, TargetAccount};
use crate::runtime::triggers::{changed_or_deleted, hash_of};
use crate::runtime::{Context, scoped_api};

/// Runs the RevisionSource controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let sources: Api<RevisionSource> = scoped_api(&client, ctx.settings.watch_namespace.as_deref());
    // Status writes (lastCheckTime every interval) must not trigger a poll.
    let (store, writer) = reflector::store();
    let trigger = watcher(sources, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation as fn(&RevisionSource) -> Option<u64>,
            Default::default(),
        );
    let by_target = store.clone();
    let by_namespace = store.clone();
    let targets: Api<TargetAccount> = Api::all(client.clone());
    let namespaces: Api<Namespace> = Api::all(client);
    Controller::for_stream(trigger, store)
        // Only spec edits and deletions of a TargetAccount matter here, not
        // its periodic status writes.
        .watches_stream(
            changed_or_deleted(targets, watcher::Config::default(), |ta: &TargetAccount| {
                hash_of(&ta.metadata.generation)
            }),
            move |ta: TargetAccount| {
                let name = ta.name_any();
                by_target
                    .state()
                    .into_iter()
                    .filter(move |s| {
                        s.spec.read_as.as_ref().is_some_and(|r| r.name == name)
                            || s.spec.verify_for.iter().any(|r| r.name == name)
                    })
                    .map(|s| ObjectRef::from_obj(&*s))
                    .collect::<Vec<_>>()
            },
        )
        // Relabelling a namespace can grant or revoke a TargetAccount.
        .watches(namespaces, watcher::Config::default(), move |ns: Namespace| {
            let name = ns.name_any();
            by_namespace
                .state()
                .into_iter()
                .filter(move |s| s.namespace().as_deref() == Some(name.as_str()))
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
        })
        .await;
}
