//! Reconciles RevisionSources: look at S3 once per interval, verify the
//! resolved revision for the verifyFor TargetAccounts when it (or the spec)
//! changed, and publish it in status for the deployments that reference it.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::{info, instrument};

use super::decide::{Observed, TargetCheck, decide, describe};
use super::digest::revision_digest;
use super::reader::{Access, Reader, gather};
use super::resolve::{Resolved, resolve};
use super::schedule::{needs_verification, wait_before_poll};
use super::verify::verify;
use crate::access::Admission;
use crate::api::{ResolvedRevision, RevisionSource, RevisionSourceStatus};
use crate::runtime::reconcile::{conclude, requeue_with_jitter};
use crate::runtime::{Context, Error, display_ref};
use crate::status::{self, Failure, Report};

pub async fn reconcile(obj: Arc<RevisionSource>, ctx: Arc<Context>) -> Result<Action, Error> {
    poll(&obj, &ctx).await
}

/// What this reconcile learned, for the status write.
#[derive(Default)]
struct Learned {
    /// S3 was contacted (lastCheckTime moves).
    looked: bool,
    revision: Option<ResolvedRevision>,
    /// Fresh verifications and the digest of their inputs.
    verified: Option<(Vec<TargetCheck>, String)>,
}

#[instrument(skip_all, fields(object = %display_ref(obj)))]
async fn poll(obj: &RevisionSource, ctx: &Context) -> Result<Action, Error> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let ns = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let previous = obj.status.clone().unwrap_or_default();
    let spec = &obj.spec;
    let judge = Judge {
        suspend: spec.suspend,
        interval: Duration::from_secs(u64::try_from(spec.interval.max(10)).unwrap_or(300)),
        attempt: ctx.attempts(&uid).await,
    };
    if spec.suspend {
        let report = judge.report(None, None, &[]);
        return finish(obj, ctx, &previous, Learned::default(), report).await;
    }
    let access = gather(ctx, spec, &ns).await?;
    let all_usable = matches!(access.reader, Admission::Admitted(_)) && access.targets.iter().all(Result::is_ok);
    let generation = obj.metadata.generation;
    let unchanged = access
        .inputs
        .verification_digest(previous.revision_digest.as_deref().unwrap_or_default(), generation);
    if all_usable
        && let Some(wait) = wait_before_poll(&previous, generation, &unchanged, judge.interval, Timestamp::now())
    {
        tracing::debug!(wait_secs = wait.as_secs(), "looked recently; no AWS call");
        return Ok(requeue_with_jitter(wait));
    }
    let (learned, report) = match &access.reader {
        Admission::Admitted(reader) => look(ctx, obj, &previous, reader, &access, &judge).await,
        Admission::Refused(f) => (Learned::default(), judge.report(Some(f), None, &[])),
    };
    ctx.note_attempt(&uid, report.backs_off).await;
    finish(obj, ctx, &previous, learned, report).await
}

/// Turns what a poll found into its report.
struct Judge {
    suspend: bool,
    interval: Duration,
    attempt: u32,
}

impl Judge {
    fn report(&self, failure: Option<&Failure>, revision: Option<&ResolvedRevision>, checks: &[TargetCheck]) -> Report {
        decide(&Observed {
            suspend: self.suspend,
            interval: self.interval,
            failure,
            revision,
            checks,
            retry_attempt: self.attempt,
        })
    }
}

/// One look at S3 and, when their inputs changed (or some did not pass),
/// the verifications of the resolved revision.
async fn look(
    ctx: &Context,
    obj: &RevisionSource,
    previous: &RevisionSourceStatus,
    reader: &Reader,
    access: &Access,
    judge: &Judge,
) -> (Learned, Report) {
    let mut learned = Learned {
        looked: true,
        ..Learned::default()
    };
    let (rev, kms_key) = match resolve(&obj.spec, reader, previous.revision.as_ref()).await {
        Resolved::Found(rev, kms_key) => (rev, kms_key),
        Resolved::Failed(f, err) => {
            if let Some(e) = err {
                reader.forget_if_expired(ctx, &e).await;
            }
            return (learned, judge.report(Some(&f), None, &[]));
        }
    };
    let all_usable = access.targets.iter().all(Result::is_ok);
    let digest = access
        .inputs
        .verification_digest(&revision_digest(&rev), obj.metadata.generation);
    let checks = if needs_verification(previous, &digest, Timestamp::now()) || !all_usable {
        let checks = verify(ctx, reader, &access.targets, &rev, kms_key.as_deref()).await;
        learned.verified = Some((checks.clone(), digest));
        checks
    } else {
        previous
            .verifications
            .iter()
            .cloned()
            .map(TargetCheck::reused)
            .collect()
    };
    let report = judge.report(None, Some(&rev), &checks);
    learned.revision = Some(rev);
    (learned, report)
}

/// Write status and Events, then schedule the next look.
async fn finish(
    obj: &RevisionSource,
    ctx: &Context,
    previous: &RevisionSourceStatus,
    learned: Learned,
    report: Report,
) -> Result<Action, Error> {
    let now = status::now();
    let mut next = previous.clone();
    if learned.looked {
        next.last_check_time = Some(now.clone());
    }
    if let Some(rev) = learned.revision {
        next.revision_digest = Some(revision_digest(&rev));
        next.revision = Some(rev);
        next.resolved_generation = obj.metadata.generation;
    }
    if let Some((checks, digest)) = learned.verified {
        next.verifications = checks.into_iter().map(|c| c.verification).collect();
        next.verification_digest = Some(digest);
        next.last_verified_time = Some(now);
    }
    if next.revision_digest != previous.revision_digest
        && let (Some(rev), Some(digest)) = (&next.revision, &next.revision_digest)
    {
        let note = format!(
            "new revision {} (eTag {})",
            describe(rev),
            rev.e_tag.as_deref().unwrap_or("unknown")
        );
        info!(revision = %describe(rev), "new revision");
        ctx.publish(obj, &status::new_revision_event(&note, digest)).await;
    }
    conclude(ctx, obj, previous, next, &report, "Poll").await
}
