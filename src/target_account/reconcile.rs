//! Verifies TargetAccounts: assume the role once and ask STS who we are, so
//! admins see a broken trust policy or ExternalId before any tenant deploys.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::instrument;

use k8s_openapi::jiff::Timestamp;

use super::decide::{Observed, decide, verified_recently};
use crate::access::{Admission, target};
use crate::api::TargetAccount;
use crate::aws::sts;
use crate::runtime::reconcile::{conclude, requeue_with_jitter};
use crate::runtime::triggers::hash_of;
use crate::runtime::{Context, Error};
use crate::status;
use crate::status::diagnosis::{Subject, diagnose};

#[instrument(skip_all, fields(target_account = %obj.name_any()))]
pub async fn reconcile(obj: Arc<TargetAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let previous = obj.status.clone().unwrap_or_default();
    let digest = inputs_digest(&obj, &ctx);
    if let Some(wait) = verified_recently(&previous, &digest, Timestamp::now()) {
        // An operator restart must not cost an STS call per account.
        return Ok(requeue_with_jitter(wait));
    }
    let outcome = assume_and_identify(&obj, &ctx).await?;
    let transient = matches!(&outcome, Admission::Refused(f) if f.retryable);
    let attempt = ctx.note_attempt(&uid, transient).await;
    let observed = match &outcome {
        Admission::Admitted(account) => Observed::Identified { account },
        Admission::Refused(failure) => Observed::Failed(failure),
    };
    let (report, verified) = decide(&obj.spec.role_arn, obj.spec.account_id(), &observed, attempt);
    let mut next = previous.clone();
    if verified && let Admission::Admitted(account) = outcome {
        next.account_id = Some(account);
        next.last_verified_time = Some(status::now());
        next.verification_digest = Some(digest);
    }
    conclude(&ctx, &*obj, &previous, next, &report, "Verify").await
}

/// What a verification depends on: the spec, and the version of the
/// ExternalId Secret (a rotated or removed Secret is verified again).
fn inputs_digest(obj: &TargetAccount, ctx: &Context) -> String {
    let secret_version = obj.spec.external_id_secret_ref.as_ref().and_then(|r| {
        ctx.feeds
            .secrets
            .get(&r.name, Some(&ctx.settings.operator_namespace))
            .and_then(|s| s.metadata.resource_version.clone())
    });
    format!(
        "{:016x}",
        hash_of(&(obj.metadata.generation, obj.metadata.uid.as_deref(), secret_version))
    )
}

/// The account STS names, or the failure to report.
async fn assume_and_identify(obj: &TargetAccount, ctx: &Context) -> Result<Admission<String>, Error> {
    let access = match target::open(ctx, obj.clone(), "verify", None).await? {
        Admission::Admitted(access) => access,
        Admission::Refused(failure) => return Ok(Admission::Refused(failure)),
    };
    Ok(match sts::account_of(&access.clients.sts).await {
        Ok(account) => Admission::Admitted(account),
        Err(e) => {
            access.forget_if_expired(ctx, &e).await;
            let subject = Subject::Role {
                role_arn: &obj.spec.role_arn,
            };
            Admission::Refused(diagnose(&e, &subject))
        }
    })
}
