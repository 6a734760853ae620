//! The status fields of a CrossAccountDeployment besides its conditions:
//! the current deployment, history and last successful revision, built from
//! what a reconcile observed.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::desired::Desired;
use super::observe::{Observation, Place, Seen};
use crate::api::{
    ApprovalStatus, CrossAccountDeploymentStatus, DeploymentRecord, DeploymentStatus, HistoryEntry, Phase,
    PromotionStatus, ResolvedRevision,
};
use crate::aws::codedeploy::{Creator, DeploymentView};
use crate::status::{self, Reason, Report};

const HISTORY_LIMIT: usize = 10;

/// Everything in status but the conditions, from what was observed.
pub fn build_status(
    previous: &CrossAccountDeploymentStatus,
    observation: &Observation,
    desired: Option<&Desired>,
    report: &Report,
) -> CrossAccountDeploymentStatus {
    let mut next = previous.clone();
    if let Some(desired) = desired {
        next.desired_digest = Some(desired.digest.clone());
        next.source_revision_digest.clone_from(&desired.source_digest);
        next.rollback.clone_from(&desired.rollback);
        next.promotion.clone_from(&desired.promotion);
        next.approval = approval(previous, observation, desired, report);
    }
    let Observation::Reached { place, seen } = observation else {
        return next;
    };
    if place.account_id.is_some() {
        next.account_id.clone_from(&place.account_id);
    }
    if let Some(sup) = seen.superseded() {
        follow_superseded(&mut next, previous, sup, matches!(seen, Seen::Ours { .. }));
    }
    if let Some(check) = seen.check() {
        next.revision_check = Some(check.clone());
    }
    match (seen, desired) {
        (
            Seen::NotCreated {
                revision,
                intent,
                blocked_by,
                ..
            },
            _,
        ) => {
            next.revision = Some(revision.clone());
            next.create_intent.clone_from(intent);
            next.blocked_by.clone_from(blocked_by);
        }
        (Seen::Ours { .. }, Some(desired)) => {
            record_ours(&mut next, previous, place, seen, desired);
            next.create_intent = None;
            next.blocked_by = None;
        }
        _ => {}
    }
    next
}

/// Nothing to deploy yet (a promotion whose source has nothing to promote):
/// only what the promotion says changes.
pub fn held_status(
    previous: &CrossAccountDeploymentStatus,
    promotion: Option<PromotionStatus>,
) -> CrossAccountDeploymentStatus {
    CrossAccountDeploymentStatus {
        promotion,
        ..previous.clone()
    }
}

/// `status.approval`: the digest waiting for `crossdeploy.io/approve`, kept
/// until a deployment for it exists or another digest is desired.
fn approval(
    previous: &CrossAccountDeploymentStatus,
    observation: &Observation,
    desired: &Desired,
    report: &Report,
) -> Option<ApprovalStatus> {
    if report.reason == Reason::AwaitingApproval {
        return Some(ApprovalStatus {
            pending_digest: Some(desired.digest.clone()),
        });
    }
    if let Observation::Reached {
        seen: Seen::Ours { .. },
        ..
    } = observation
    {
        return None;
    }
    previous
        .approval
        .clone()
        .filter(|a| a.pending_digest.as_deref() == Some(desired.digest.as_str()))
}

/// Our deployment becomes the current one (and history, when it finished).
fn record_ours(
    next: &mut CrossAccountDeploymentStatus,
    previous: &CrossAccountDeploymentStatus,
    place: &Place,
    seen: &Seen,
    desired: &Desired,
) {
    let Seen::Ours {
        ours,
        revision,
        drift,
        rollback,
        failed_targets,
        stopped_at_deadline,
        ..
    } = seen
    else {
        return;
    };
    let before = previous.current_deployment.as_ref().filter(|c| c.id == ours.id);
    let ready_time = before
        .and_then(|c| c.ready_time.clone())
        .or_else(|| (ours.status == DeploymentStatus::Ready).then(status::now));
    if let Some(rev) = revision {
        next.revision = Some(rev.clone());
    }
    if drift.checked {
        next.last_drift_check_time = Some(status::now());
    }
    let rev = next.revision.clone().unwrap_or_default();
    record_if_finished(next, previous, ours, &rev);
    // Seeing ours succeed is as good as a drift check: it was the group's
    // latest deployment a moment ago.
    if ours.status == DeploymentStatus::Succeeded && !was(previous, ours) {
        next.last_drift_check_time = Some(status::now());
    }
    next.current_deployment = Some(DeploymentRecord {
        account_id: place.account_id.clone(),
        region: Some(place.region.clone()),
        revision: Some(rev),
        replaced_by: drift.replaced_by.clone(),
        rollback_status: rollback.as_ref().map(|r| r.status.clone()),
        rollback_revision_key: rollback
            .as_ref()
            .and_then(|r| r.revision.as_ref())
            .map(|r| r.key.clone()),
        ready_time,
        progress_deadline_exceeded: *stopped_at_deadline,
        failed_targets: failed_targets.clone(),
        ..record_from_view(ours, &desired.digest, &DeploymentRecord::default())
    });
}

/// Status already showed `d` with its current status.
fn was(previous: &CrossAccountDeploymentStatus, d: &DeploymentView) -> bool {
    previous
        .current_deployment
        .as_ref()
        .is_some_and(|c| c.id == d.id && c.status.as_ref() == Some(&d.status))
}

/// The deployment tracked before, for an older digest, until it ends: into
/// history when it finished, and shown as current while nothing of ours is.
fn follow_superseded(
    next: &mut CrossAccountDeploymentStatus,
    previous: &CrossAccountDeploymentStatus,
    sup: &DeploymentView,
    ours_known: bool,
) {
    let Some(old) = &previous.current_deployment else {
        return;
    };
    // Its revision is the one recorded with it (older records: the one
    // status showed before this reconcile).
    let rev = old
        .revision
        .clone()
        .or_else(|| previous.revision.clone())
        .unwrap_or_default();
    record_if_finished(next, previous, sup, &rev);
    if !ours_known {
        next.current_deployment = Some(record_from_view(sup, &old.digest, old));
    }
}

/// A deployment that just finished moves into history once, and a success
/// becomes the last successful revision.
fn record_if_finished(
    next: &mut CrossAccountDeploymentStatus,
    previous: &CrossAccountDeploymentStatus,
    d: &DeploymentView,
    rev: &ResolvedRevision,
) {
    if d.status.is_active() || previous.history.iter().any(|h| h.deployment_id == d.id) {
        return;
    }
    next.history.insert(
        0,
        HistoryEntry {
            deployment_id: d.id.clone(),
            status: d.status.clone(),
            revision_key: rev.key.clone(),
            revision_version_id: rev.version_id.clone(),
            complete_time: d.complete_time.clone(),
            revision_bucket: Some(rev.bucket.clone()).filter(|b| !b.is_empty()),
            revision_e_tag: rev.e_tag.clone(),
            revision_bundle_type: Some(rev.bundle_type.clone()).filter(|b| !b.is_empty()),
        },
    );
    next.history.truncate(HISTORY_LIMIT);
    if d.status.phase() == Phase::Succeeded {
        next.last_successful_revision = Some(rev.clone());
    }
}

/// The record of a deployment as observed; account, region, revision and
/// drift come from `base` (the record it replaces).
pub fn record_from_view(d: &DeploymentView, digest: &str, base: &DeploymentRecord) -> DeploymentRecord {
    DeploymentRecord {
        id: d.id.clone(),
        digest: digest.to_string(),
        status: Some(d.status.clone()),
        create_time: d.create_time.clone(),
        complete_time: d.complete_time.clone(),
        overview: d.overview.clone(),
        error_code: d.error_code.clone(),
        error_message: d.error_message.clone(),
        rollback_deployment_id: d.rollback_deployment_id.clone(),
        rollback_status: base.rollback_status.clone(),
        rollback_revision_key: base.rollback_revision_key.clone(),
        account_id: base.account_id.clone(),
        region: base.region.clone(),
        revision: base.revision.clone(),
        replaced_by: base.replaced_by.clone(),
        ready_time: base.ready_time.clone(),
        progress_deadline_exceeded: base.progress_deadline_exceeded,
        failed_targets: base.failed_targets.clone(),
    }
}

/// A finished deployment as status recorded it (finished ones never change).
pub fn view_from_record(r: &DeploymentRecord) -> DeploymentView {
    DeploymentView {
        id: r.id.clone(),
        status: r.status.clone().unwrap_or_default(),
        creator: Creator::User,
        revision: None,
        description: String::new(),
        create_time: r.create_time.clone(),
        complete_time: r.complete_time.clone(),
        overview: r.overview.clone(),
        error_code: r.error_code.clone(),
        error_message: r.error_message.clone(),
        rollback_deployment_id: r.rollback_deployment_id.clone(),
    }
}

/// How long ago `t` was (zero when unknown or in the future).
pub fn since(t: Option<&Time>) -> Duration {
    t.and_then(|t| {
        let elapsed = k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second();
        u64::try_from(elapsed).ok()
    })
    .map_or(Duration::ZERO, Duration::from_secs)
}
