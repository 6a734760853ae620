//! Verifies TargetAccounts: assume the role once and ask STS who we are, so
//! admins see a broken trust policy or ExternalId before any tenant deploys.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use tracing::{instrument, warn};

use crate::access::target;
use crate::api::TargetAccount;
use crate::aws::Classify;
use crate::runtime::{Context, Error, apply_status, requeue_with_jitter};
use crate::status::backoff::{STALLED_RETRY, retry_backoff};
use crate::status::diagnosis::{Subject, diagnose};
use crate::status::{self, Failure, Health, Reason};

/// A verified account is re-checked this often (one STS call).
const REVERIFY: Duration = Duration::from_secs(30 * 60);

#[instrument(skip_all, fields(target_account = %obj.name_any()))]
pub async fn reconcile(obj: Arc<TargetAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = verify(&obj, &ctx).await;
    ctx.metrics
        .observe_reconcile("TargetAccount", result.is_ok(), started.elapsed());
    result
}

pub fn error_policy(obj: Arc<TargetAccount>, err: &Error, _ctx: Arc<Context>) -> Action {
    warn!(target_account = %obj.name_any(), error = %err, "reconcile failed; retrying");
    requeue_with_jitter(Duration::from_secs(10))
}

async fn verify(obj: &TargetAccount, ctx: &Context) -> Result<Action, Error> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let previous = obj.status.clone().unwrap_or_default();
    let outcome = assume_and_identify(obj, ctx).await?;
    let attempt = ctx.note_attempt(&uid, matches!(&outcome, Err(f) if f.retryable)).await;
    let (health, reason, message, account_id, requeue) = match outcome {
        Ok(account) => {
            let expected = obj.spec.account_id();
            if expected.is_some_and(|e| e != account) {
                let msg = format!(
                    "assumed role reports account {account}, but roleArn names {}",
                    expected.unwrap_or_default()
                );
                (
                    Health::Stalled,
                    Reason::AssumeRoleDenied,
                    msg,
                    Some(account),
                    STALLED_RETRY,
                )
            } else {
                let msg = format!("assumed {} in account {account}", obj.spec.role_arn);
                (Health::Ready, Reason::Verified, msg, Some(account), REVERIFY)
            }
        }
        Err(f) if f.retryable => (Health::Progressing, f.reason, f.message, None, retry_backoff(attempt)),
        Err(f) => (Health::Stalled, f.reason, f.message, None, STALLED_RETRY),
    };
    ctx.metrics
        .object_condition("TargetAccount", &uid, Some(health.condition()));
    let now = status::now();
    let mut next = previous.clone();
    next.observed_generation = obj.metadata.generation;
    next.conditions = status::conditions(
        &previous.conditions,
        health,
        reason,
        &message,
        obj.metadata.generation,
        &now,
    );
    if health == Health::Ready {
        next.account_id = account_id;
        next.last_verified_time = Some(now);
    }
    if let Some(ev) = status::transition_event(&previous.conditions, &next.conditions, "Verify") {
        ctx.publish(obj, &ev).await;
    }
    if next != previous {
        apply_status(&Api::<TargetAccount>::all(ctx.client.clone()), &obj.name_any(), &next).await?;
    }
    Ok(requeue_with_jitter(requeue))
}

/// Ok(account id) or the failure to report.
async fn assume_and_identify(obj: &TargetAccount, ctx: &Context) -> Result<Result<String, Failure>, Error> {
    let access = match target::open(ctx, obj.clone(), "verify", None).await? {
        Ok(access) => access,
        Err((_, failure)) => return Ok(Err(failure)),
    };
    let identity = access
        .clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .classify("sts:GetCallerIdentity");
    Ok(match identity {
        Ok(out) => Ok(out.account().unwrap_or_default().to_string()),
        Err(e) => {
            access.forget_if_expired(ctx, &e).await;
            let subject = Subject {
                role_arn: &obj.spec.role_arn,
                bucket: "",
                key: "",
                version: None,
                application: "",
                group: "",
            };
            Err(diagnose(&e, &subject))
        }
    })
}
