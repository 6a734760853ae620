//! TargetAccount: one assumable IAM role in one AWS account. The controller
//! assumes the role once and asks STS who it is, so admins see a broken
//! trust policy or ExternalId before any tenant deploys.

mod decide;
mod reconcile;

use std::sync::Arc;

use kube::Api;
use kube::runtime::{Controller, predicates, watcher};

use crate::api::TargetAccount;
use crate::runtime::{Context, controller};

/// Runs the TargetAccount controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let targets: Api<TargetAccount> = Api::all(ctx.client.clone());
    let mut config = watcher::Config::default();
    if let Some(selector) = &ctx.settings.target_account_selector {
        config = config.labels(selector);
    }
    // Verification writes status every time; only spec changes (and the
    // periodic requeue) may start another one, or it would loop.
    let (store, trigger) = controller::primary(
        &ctx,
        targets,
        config,
        predicates::generation as fn(&TargetAccount) -> Option<u64>,
    );
    controller::drive(Controller::for_stream(trigger, store), reconcile::reconcile, ctx).await;
}
