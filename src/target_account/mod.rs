//! TargetAccount: one assumable IAM role in one AWS account. The controller
//! assumes the role once and asks STS who it is, so admins see a broken
//! trust policy or ExternalId before any tenant deploys.

mod decide;
mod reconcile;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{Controller, predicates, watcher};
use kube::{Api, ResourceExt};

use crate::api::TargetAccount;
use crate::runtime::triggers::hash_of;
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
    // A rotated, removed or unmarked ExternalId Secret is verified again at once.
    let operator_namespace = ctx.settings.operator_namespace.clone();
    let targets = Controller::for_stream(trigger, store.clone())
        // A spec change whose trigger was lost is found within 30 s.
        .reconcile_on(controller::unobserved(store.clone()))
        .watches_stream(
            ctx.feeds
                .secrets
                .changes(|s: &Secret| hash_of(&s.metadata.resource_version)),
            controller::dependents(store, move |ta: &TargetAccount, s: &Secret| {
                s.namespace().as_deref() == Some(operator_namespace.as_str())
                    && ta
                        .spec
                        .external_id_secret_ref
                        .as_ref()
                        .is_some_and(|r| r.name == s.name_any())
            }),
        );
    controller::drive(targets, reconcile::reconcile, ctx).await;
}
