//! TargetAccount: one assumable IAM role in one AWS account. The controller
//! assumes the role once and asks STS who it is, so admins see a broken
//! trust policy or ExternalId before any tenant deploys.

mod reconcile;

use std::sync::Arc;

use futures::StreamExt;
use kube::Api;
use kube::runtime::reflector;
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};

use crate::api::TargetAccount;
use crate::runtime::Context;

/// Runs the TargetAccount controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let targets: Api<TargetAccount> = Api::all(ctx.client.clone());
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
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
        });
    target_controller.await;
}
