//! The CodeDeploy lifecycle as an explicit state machine: given what a
//! reconcile observed, decide the one next effect and the status to report.
//! Pure: no I/O, no clock, no randomness, so it is tested with tables.
//! [`wanted`] decides, before that, what is to be deployed (promotion,
//! rollback).

pub mod wanted;

use std::time::Duration;

use crate::api::{Approval, DeploymentStatus, FailedTarget, OnActiveDeployment, Phase, RollbackStatus};
use crate::aws::codedeploy::{Creator, DeploymentView};
use crate::status::backoff::{STALLED_RETRY, retry_backoff};
use crate::status::{Failure, Health, Reason, Report};

/// What one reconcile saw, gathered by the shell before deciding.
#[derive(Debug)]
pub struct Observed<'a> {
    pub suspend: bool,
    pub on_active: OnActiveDeployment,
    /// A failure found while gathering (tenancy, credentials, revision, group).
    pub failure: Option<Failure>,
    /// The deployment that carries this object's marker for the desired digest.
    pub ours: Option<&'a DeploymentView>,
    /// Another deployment occupying the group.
    pub other_active: Option<&'a DeploymentView>,
    /// Seconds since the deployment being waited on was created.
    pub active_for: Duration,
    /// Consecutive transient failures so far, for backoff.
    pub retry_attempt: u32,
    /// A later deployment (not ours) that the drift check found in the group
    /// after ours succeeded.
    pub replaced_by: Option<&'a str>,
    /// CodeDeploy's automatic rollback of ours, when it failed or was stopped.
    pub rollback: Option<&'a DeploymentView>,
    /// What the revision check could not determine; said, never blocking.
    pub notes: &'a [String],
    /// How long a settled object waits before it is looked at again.
    pub settled_recheck: Duration,
    /// What the spec and annotations ask of the lifecycle.
    pub controls: Controls<'a>,
    /// What is to be deployed, as far as messages and gates need it.
    pub want: Want<'a>,
    /// `other_active` is this object's own earlier deployment.
    pub other_is_ours: bool,
    /// How long ours has been seen waiting in Ready.
    pub ready_for: Duration,
    /// crossdeploy stopped ours at the progress deadline.
    pub stopped_at_deadline: bool,
    /// Ours failed: what its failed instances reported.
    pub failed_targets: &'a [FailedTarget],
}

/// What the spec and the annotations ask of the lifecycle.
#[derive(Clone, Debug, Default)]
pub struct Controls<'a> {
    pub approval: Approval,
    /// `crossdeploy.io/approve`: the digest approved.
    pub approve: Option<&'a str>,
    /// `crossdeploy.io/continue`: the deployment id to continue.
    pub continue_id: Option<&'a str>,
    /// `spec.blueGreen.continueAfter`.
    pub continue_after: Option<Duration>,
    /// `spec.progressDeadlineSeconds`.
    pub progress_deadline: Option<Duration>,
    /// `spec.autoRollback.enabled`: a deadline stop rolls back.
    pub auto_rollback: bool,
}

/// What is to be deployed, for gates and messages.
#[derive(Clone, Debug, Default)]
pub struct Want<'a> {
    /// The desired digest (what `crossdeploy.io/approve` must carry).
    pub digest: &'a str,
    /// `s3://bucket/key (version v)`.
    pub location: &'a str,
    /// A rollback (`crossdeploy.io/rollback`) in effect.
    pub rollback: Option<&'a RollbackStatus>,
    /// Where a promoted revision came from, or what soaks; said, never blocking.
    pub note: Option<&'a str>,
    /// Look again after at most this long (a soak ends).
    pub recheck: Option<Duration>,
}

/// The single effect to execute after deciding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    CreateDeployment,
    /// Stop another deployment to replace it (never with a rollback: the
    /// rollback would occupy the group in turn).
    StopDeployment {
        id: String,
    },
    /// Stop ours: it is still active after the progress deadline.
    StopAtDeadline {
        id: String,
        auto_rollback: bool,
    },
    /// Blue/green: reroute traffic to ours, waiting in Ready.
    ContinueDeployment {
        id: String,
    },
}

/// The effect to execute and the status to report.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub effect: Effect,
    pub report: Report,
}

impl Decision {
    fn report(report: Report) -> Self {
        Self {
            effect: Effect::None,
            report,
        }
    }
}

/// How long a finished, healthy object waits before it is looked at again.
/// Nothing AWS-side is called then unless the spec changed.
pub const SETTLED_RECHECK: Duration = Duration::from_secs(30 * 60);
const MIN_POLL: Duration = Duration::from_secs(3);
const MAX_POLL: Duration = Duration::from_secs(30);
/// The log tail in a message: its last lines, at most this long.
const TAIL_LINES_IN_MESSAGE: usize = 5;
const TAIL_CHARS_IN_MESSAGE: usize = 600;
/// What an Event's note keeps (status::transition_event truncates there).
const EVENT_NOTE_LIMIT: usize = 1000;

/// Poll interval for an in-flight deployment: every few seconds at first,
/// slowing to 30 s as the deployment gets older (a fifth of its age).
pub fn poll_interval(active_for: Duration) -> Duration {
    (active_for / 5).clamp(MIN_POLL, MAX_POLL)
}

pub fn decide(o: &Observed<'_>) -> Decision {
    let mut decision = decide_without_notes(o);
    let report = &mut decision.report;
    if report.health != Health::Stalled {
        let notes = o.want.note.into_iter().chain(o.notes.iter().map(String::as_str));
        for note in notes {
            report.message = format!("{}. Note: {note}", report.message);
        }
    }
    if let Some(recheck) = o.want.recheck {
        report.requeue = Some(report.requeue.map_or(recheck, |r| r.min(recheck)));
    }
    decision
}

fn decide_without_notes(o: &Observed<'_>) -> Decision {
    if let Some(f) = &o.failure {
        return decide_failure(f, o.retry_attempt);
    }
    if let Some(d) = o.ours {
        return track(d, o);
    }
    if o.suspend {
        return Decision::report(Report::new(
            Health::Suspended,
            Reason::Suspended,
            "spec.suspend is true: no new deployment is started",
            o.settled_recheck,
        ));
    }
    if let Some(waiting) = awaiting_approval(o) {
        return Decision::report(waiting);
    }
    untracked(o)
}

/// `approval: Manual` and the desired digest is not the one approved. A
/// rollback is itself a person's decision and needs no approval.
fn awaiting_approval(o: &Observed<'_>) -> Option<Report> {
    let c = &o.controls;
    if c.approval != Approval::Manual || o.want.rollback.is_some() || c.approve == Some(o.want.digest) {
        return None;
    }
    let stale = c
        .approve
        .map(|a| format!(" (crossdeploy.io/approve carries {a}, which approves another revision or settings)"))
        .unwrap_or_default();
    Some(Report::new(
        Health::Progressing,
        Reason::AwaitingApproval,
        format!(
            "{} waits for approval (approval: Manual){stale}: set the annotation crossdeploy.io/approve={} \
             (status.approval.pendingDigest) to deploy it",
            o.want.location, o.want.digest
        ),
        o.settled_recheck,
    ))
}

/// Nothing of ours for the desired digest: create it, or deal with what
/// occupies the group first.
fn untracked(o: &Observed<'_>) -> Decision {
    match (o.other_active, o.on_active) {
        // A rollback does not wait for the deployment it rolls back from.
        (Some(other), _) if o.other_is_ours && other.creator == Creator::User && o.want.rollback.is_some() => {
            Decision {
                effect: Effect::StopDeployment { id: other.id.clone() },
                report: Report::new(
                    Health::Progressing,
                    Reason::RollingBack,
                    format!(
                        "{}: stopping deployment {} ({}) first",
                        rolling_back_text(o.want.rollback),
                        other.id,
                        other.status
                    ),
                    MIN_POLL,
                ),
            }
        }
        (Some(other), OnActiveDeployment::Wait) => Decision::report(Report::new(
            Health::Progressing,
            Reason::WaitingForActiveDeployment,
            format!(
                "deployment {} ({}) is active in the group; waiting for it to finish (onActiveDeployment: Wait)",
                other.id, other.status
            ),
            poll_interval(o.active_for),
        )),
        (Some(other), OnActiveDeployment::StopAndReplace) => replace(other, o),
        (None, _) => create(o),
    }
}

/// `onActiveDeployment: StopAndReplace`. CodeDeploy's own deployments
/// (scale-out, rollbacks, agent updates) keep the fleet whole; they are
/// waited for, never stopped.
fn replace(other: &DeploymentView, o: &Observed<'_>) -> Decision {
    if other.creator != Creator::User {
        return Decision::report(Report::new(
            Health::Progressing,
            Reason::WaitingForActiveDeployment,
            format!(
                "deployment {} ({}) was started by CodeDeploy itself (creator {}); crossdeploy never stops \
                 CodeDeploy's own deployments and waits for it to finish",
                other.id,
                other.status,
                other.creator.as_str()
            ),
            poll_interval(o.active_for),
        ));
    }
    Decision {
        effect: Effect::StopDeployment { id: other.id.clone() },
        report: Report::new(
            Health::Progressing,
            Reason::ReplacingActiveDeployment,
            format!(
                "stopping active deployment {} to replace it (onActiveDeployment: StopAndReplace)",
                other.id
            ),
            MIN_POLL,
        ),
    }
}

fn create(o: &Observed<'_>) -> Decision {
    let report = match o.want.rollback {
        Some(_) => Report::new(
            Health::Progressing,
            Reason::RollingBack,
            format!("{}: creating the deployment", rolling_back_text(o.want.rollback)),
            MIN_POLL,
        ),
        None => Report::new(
            Health::Progressing,
            Reason::DeploymentCreated,
            "creating the CodeDeploy deployment",
            MIN_POLL,
        ),
    };
    Decision {
        effect: Effect::CreateDeployment,
        report,
    }
}

/// "rolling back from app/v2.zip to app/v1.zip (crossdeploy.io/rollback=t1)".
fn rolling_back_text(r: Option<&RollbackStatus>) -> String {
    r.map_or_else(String::new, |r| {
        format!(
            "rolling back from {} to {} (crossdeploy.io/rollback={})",
            r.from_revision.key, r.to_revision.key, r.token
        )
    })
}

fn track(d: &DeploymentView, o: &Observed<'_>) -> Decision {
    match d.status.phase() {
        Phase::Active => active(d, o),
        _ => Decision::report(finished(d, o)),
    }
}

/// Ours is running: the deadline first, then continuing a blue/green
/// deployment waiting in Ready, else poll.
fn active(d: &DeploymentView, o: &Observed<'_>) -> Decision {
    let c = &o.controls;
    let until_deadline = c.progress_deadline.map(|limit| limit.saturating_sub(o.active_for));
    if let (Some(limit), Some(Duration::ZERO)) = (c.progress_deadline, until_deadline) {
        return Decision {
            effect: Effect::StopAtDeadline {
                id: d.id.clone(),
                auto_rollback: c.auto_rollback,
            },
            report: Report::new(
                Health::Stalled,
                Reason::ProgressDeadlineExceeded,
                format!(
                    "deployment {} was still {} {}s after it was created (progressDeadlineSeconds: {}): stopping \
                     it{}",
                    d.id,
                    d.status,
                    o.active_for.as_secs(),
                    limit.as_secs(),
                    if c.auto_rollback {
                        ", with CodeDeploy's automatic rollback (autoRollback.enabled)"
                    } else {
                        " (no rollback: autoRollback is not enabled)"
                    }
                ),
                MIN_POLL,
            ),
        };
    }
    let poll = until_deadline.map_or(poll_interval(o.active_for), |left| {
        poll_interval(o.active_for).min(left.max(Duration::from_secs(1)))
    });
    if d.status == DeploymentStatus::Ready {
        return ready(d, o, poll);
    }
    let (reason, message) = match o.want.rollback {
        Some(r) => (
            Reason::RollingBack,
            format!(
                "{}: deployment {} is {}{}",
                rolling_back_text(Some(r)),
                d.id,
                d.status,
                instance_summary(d)
            ),
        ),
        None => (
            Reason::DeploymentInProgress,
            format!("deployment {} is {}{}", d.id, d.status, instance_summary(d)),
        ),
    };
    Decision::report(Report::new(Health::Progressing, reason, message, poll))
}

/// Blue/green, replacement instances ready: continue when
/// `crossdeploy.io/continue` names this deployment or `continueAfter` has
/// passed; nothing else continues it.
fn ready(d: &DeploymentView, o: &Observed<'_>, poll: Duration) -> Decision {
    let c = &o.controls;
    let by = if c.continue_id == Some(d.id.as_str()) {
        Some(format!("crossdeploy.io/continue={}", d.id))
    } else {
        c.continue_after
            .filter(|after| o.ready_for >= *after)
            .map(|after| format!("blueGreen.continueAfter: {}s passed in Ready", after.as_secs()))
    };
    if let Some(by) = by {
        return Decision {
            effect: Effect::ContinueDeployment { id: d.id.clone() },
            report: Report::new(
                Health::Progressing,
                Reason::DeploymentContinued,
                format!(
                    "continuing deployment {} ({by}): CodeDeploy reroutes traffic to the replacement instances",
                    d.id
                ),
                MIN_POLL,
            ),
        };
    }
    let (when, poll) = match c.continue_after {
        Some(after) => {
            let left = after.saturating_sub(o.ready_for);
            (
                format!(
                    "; crossdeploy continues it in {}s (blueGreen.continueAfter)",
                    left.as_secs()
                ),
                poll.min(left.max(Duration::from_secs(1))),
            )
        }
        None => (String::new(), poll),
    };
    Decision::report(Report::new(
        Health::Progressing,
        Reason::WaitingForTrafficReroute,
        format!(
            "deployment {} is Ready: the replacement instances are up and CodeDeploy waits for someone to reroute \
             traffic to them{}{when}. Continue it with the annotation crossdeploy.io/continue={} (or aws deploy \
             continue-deployment --deployment-id {} --deployment-wait-type READY_WAIT in the target account), or \
             stop it to keep the original instances",
            d.id,
            instance_summary(d),
            d.id,
            d.id
        ),
        poll,
    ))
}

fn finished(d: &DeploymentView, o: &Observed<'_>) -> Report {
    let (health, reason, message, requeue) = match d.status.phase() {
        Phase::Succeeded if o.replaced_by.is_some() => (
            Health::Stalled,
            Reason::DeploymentReplaced,
            replaced_message(d, o.replaced_by.unwrap_or_default()),
            o.settled_recheck,
        ),
        Phase::Succeeded => match o.want.rollback {
            Some(r) => (
                Health::Stalled,
                Reason::RolledBack,
                rolled_back_message(d, r),
                o.settled_recheck,
            ),
            None => (
                Health::Ready,
                Reason::Succeeded,
                format!("deployment {} succeeded{}", d.id, instance_summary(d)),
                o.settled_recheck,
            ),
        },
        Phase::Failed => (
            Health::Stalled,
            Reason::DeploymentFailed,
            failed_message(d, o),
            after_failure(o),
        ),
        Phase::Stopped if stopped_at_deadline(d, o) => (
            Health::Stalled,
            Reason::ProgressDeadlineExceeded,
            format!(
                "deployment {} was stopped because it was still active after progressDeadlineSeconds ({}s){}. \
                 Deploy a new revision or set the annotation crossdeploy.io/redeploy to retry",
                d.id,
                o.controls.progress_deadline.map_or(0, |l| l.as_secs()),
                rolled_back(d, o.rollback),
            ),
            after_failure(o),
        ),
        Phase::Stopped | Phase::Active => (
            Health::Stalled,
            Reason::DeploymentStopped,
            format!(
                "deployment {} was stopped{}. Deploy a new revision or set the annotation \
                 crossdeploy.io/redeploy to retry",
                d.id,
                rolled_back(d, o.rollback),
            ),
            after_failure(o),
        ),
    };
    Report {
        event_note: (reason == Reason::DeploymentFailed).then(|| failure_note(d, o)),
        ..Report::new(health, reason, message, requeue)
    }
}

/// Stopped by crossdeploy at the deadline: as status recorded, or (after a
/// crash before that record) as its lifetime says.
fn stopped_at_deadline(d: &DeploymentView, o: &Observed<'_>) -> bool {
    let lifetime = match (&d.create_time, &d.complete_time) {
        (Some(created), Some(done)) => u64::try_from(done.0.as_second() - created.0.as_second()).ok(),
        _ => None,
    };
    o.stopped_at_deadline
        || o.controls
            .progress_deadline
            .zip(lifetime)
            .is_some_and(|(limit, lived)| lived >= limit.as_secs())
}

fn rolled_back_message(d: &DeploymentView, r: &RollbackStatus) -> String {
    format!(
        "rolled back from {} to {} with deployment {}, which succeeded (crossdeploy.io/rollback={}). The spec still \
         asks for {}, which is not deployed: change the spec (a new revision, or the annotation \
         crossdeploy.io/redeploy) to deploy again",
        r.from_revision.key, r.to_revision.key, d.id, r.token, r.from_revision.key
    )
}

fn replaced_message(d: &DeploymentView, replaced_by: &str) -> String {
    format!(
        "deployment {} succeeded, but {replaced_by} was deployed to the group after it, so the group no longer \
         runs this revision. Set the annotation crossdeploy.io/redeploy to deploy it again, or update the spec",
        d.id
    )
}

/// What failed, where, and what to do: CodeDeploy's error, its rollback,
/// the failed instances (lifecycle event, script, diagnostics) and, with
/// `diagnostics.logTail`, the end of the first one's log (masked before it
/// got here).
fn failed_message(d: &DeploymentView, o: &Observed<'_>) -> String {
    let tail = log_tail(o.failed_targets, TAIL_LINES_IN_MESSAGE, TAIL_CHARS_IN_MESSAGE);
    format!(
        "{}deployment {} failed: {}: {}{}{}{tail}. Fix the application or the revision, then deploy a new \
         revision or set the annotation crossdeploy.io/redeploy to retry",
        rollback_failed(o),
        d.id,
        d.error_code.as_deref().unwrap_or("UNKNOWN"),
        d.error_message.as_deref().unwrap_or("CodeDeploy gave no message"),
        rolled_back(d, o.rollback),
        failed_instances(d, o.failed_targets, true),
    )
}

/// The failure Event's note, condensed for its 1 KB: the error code, the
/// rollback, which instances failed where (target, lifecycle event, script,
/// diagnostic code) and the log tail in what room is left.
fn failure_note(d: &DeploymentView, o: &Observed<'_>) -> String {
    let head = format!(
        "{}deployment {} failed: {}{}{}",
        rollback_failed(o),
        d.id,
        d.error_code.as_deref().unwrap_or("UNKNOWN"),
        rolled_back(d, o.rollback),
        failed_instances(d, o.failed_targets, false),
    );
    let room = EVENT_NOTE_LIMIT.saturating_sub(head.len() + 60);
    format!("{head}{}", log_tail(o.failed_targets, TAIL_LINES_IN_MESSAGE, room))
}

fn rollback_failed(o: &Observed<'_>) -> String {
    o.want.rollback.map_or_else(String::new, |r| {
        format!(
            "the rollback to {} (crossdeploy.io/rollback={}) failed: ",
            r.to_revision.key, r.token
        )
    })
}

/// "; 12 instances failed (5 read into status.currentDeployment.failedTargets):
/// i-1, i-2 at ApplicationStart: scripts/start.sh: ScriptFailed: …". Instances
/// that failed alike are named together; `detailed` adds CodeDeploy's
/// diagnostic message.
fn failed_instances(d: &DeploymentView, targets: &[FailedTarget], detailed: bool) -> String {
    if targets.is_empty() {
        return String::new();
    }
    let failed = d.overview.as_ref().map_or(targets.len(), |o| {
        usize::try_from(o.failed).unwrap_or(0).max(targets.len())
    });
    let mut groups: Vec<(Vec<&str>, &FailedTarget)> = Vec::new();
    for t in targets {
        let alike = |g: &&mut (Vec<&str>, &FailedTarget)| {
            (&g.1.lifecycle_event, &g.1.script_name, &g.1.error_code, &g.1.message)
                == (&t.lifecycle_event, &t.script_name, &t.error_code, &t.message)
        };
        match groups.iter_mut().find(alike) {
            Some(group) => group.0.push(&t.target_id),
            None => groups.push((vec![&t.target_id], t)),
        }
    }
    let described: Vec<String> = groups
        .iter()
        .map(|(ids, t)| {
            let what = [t.script_name.as_deref(), t.error_code.as_deref()]
                .into_iter()
                .chain(detailed.then_some(t.message.as_deref()))
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let event = t.lifecycle_event.as_deref().unwrap_or("an unknown lifecycle event");
            format!("{} at {event}: {what}", ids.join(", "))
        })
        .collect();
    let plural = if failed == 1 { "instance" } else { "instances" };
    let read = if failed > targets.len() {
        format!(" ({} read into status.currentDeployment.failedTargets)", targets.len())
    } else {
        String::new()
    };
    format!("; {failed} {plural} failed{read}: {}", described.join("; "))
}

/// "; log tail of i-1: … | …": the first log tail's last lines, in `room`.
fn log_tail(targets: &[FailedTarget], lines: usize, room: usize) -> String {
    let Some((t, text)) = targets.iter().find_map(|t| t.log_tail.as_deref().map(|text| (t, text))) else {
        return String::new();
    };
    let (end, _) = crate::status::redact::tail(text, lines, room);
    if end.is_empty() {
        return String::new();
    }
    format!("; log tail of {}: {}", t.target_id, end.replace('\n', " | "))
}

/// "; CodeDeploy rolled it back to <key> with d-RB (Succeeded)", when it did.
fn rolled_back(d: &DeploymentView, rollback: Option<&DeploymentView>) -> String {
    let Some(id) = d.rollback_deployment_id.as_deref() else {
        return String::new();
    };
    let Some(r) = rollback.filter(|r| r.id == id) else {
        return format!("; CodeDeploy rolls it back with deployment {id}");
    };
    let to = r
        .revision
        .as_ref()
        .map(|rev| format!(" to {}", rev.key))
        .unwrap_or_default();
    match r.status.phase() {
        Phase::Active => format!(
            "; CodeDeploy is rolling it back{to} with deployment {id} ({})",
            r.status
        ),
        Phase::Succeeded => format!("; CodeDeploy rolled it back{to} with deployment {id}, which succeeded"),
        _ => format!("; CodeDeploy's rollback{to} with deployment {id} ended {}", r.status),
    }
}

/// A failed or stopped deployment is looked at again once its rollback has
/// ended; until then the rollback is polled.
fn after_failure(o: &Observed<'_>) -> Duration {
    match o.rollback {
        Some(r) if r.status.is_active() => poll_interval(o.active_for),
        _ => o.settled_recheck,
    }
}

/// Transient failures keep the object Reconciling with growing backoff;
/// permanent ones need a human and make it Stalled, retried slowly.
pub fn decide_failure(f: &Failure, retry_attempt: u32) -> Decision {
    Decision::report(Report::failure(f, retry_backoff(retry_attempt), STALLED_RETRY))
}

/// CreateDeployment was refused with DeploymentLimitExceeded: another
/// deployment won the race for the group, or an account-level limit was hit.
/// Either way wait, backing off, and decide again from fresh observations.
/// `blocker`, when known, is the deployment CodeDeploy named.
pub fn decide_create_refused(aws_message: &str, blocker: Option<&DeploymentView>, retry_attempt: u32) -> Decision {
    let whose = match blocker {
        Some(b) if b.creator != Creator::User => format!(
            "; deployment {} ({}) was started by CodeDeploy itself (creator {}), which crossdeploy never stops and \
             waits for",
            b.id,
            b.status,
            b.creator.as_str()
        ),
        _ => String::new(),
    };
    Decision::report(Report {
        backs_off: true,
        ..Report::new(
            Health::Progressing,
            Reason::WaitingForActiveDeployment,
            format!("CodeDeploy refused a new deployment for now: {aws_message}{whose}"),
            retry_backoff(retry_attempt).max(MIN_POLL),
        )
    })
}

fn instance_summary(d: &DeploymentView) -> String {
    d.overview.as_ref().map_or_else(String::new, |o| {
        let total = o.pending + o.in_progress + o.succeeded + o.failed + o.skipped + o.ready;
        format!(" ({}/{} instances succeeded, {} failed)", o.succeeded, total, o.failed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DeploymentOverview;
    use crate::aws::codedeploy::S3Object;

    fn dep(id: &str, status: &str) -> DeploymentView {
        DeploymentView {
            id: id.into(),
            status: status.into(),
            ..Default::default()
        }
    }

    fn observed<'a>(ours: Option<&'a DeploymentView>, other: Option<&'a DeploymentView>) -> Observed<'a> {
        Observed {
            suspend: false,
            on_active: OnActiveDeployment::Wait,
            failure: None,
            ours,
            other_active: other,
            active_for: Duration::ZERO,
            retry_attempt: 0,
            replaced_by: None,
            rollback: None,
            notes: &[],
            settled_recheck: SETTLED_RECHECK,
            controls: Controls::default(),
            want: Want {
                digest: "d1",
                location: "s3://revs/app/v2.zip",
                ..Default::default()
            },
            other_is_ours: false,
            ready_for: Duration::ZERO,
            stopped_at_deadline: false,
            failed_targets: &[],
        }
    }

    #[test]
    fn statuses_map_to_phases() {
        for s in ["Created", "Queued", "InProgress", "Baking", "Ready", "SomethingNew"] {
            assert_eq!(DeploymentStatus::from(s).phase(), Phase::Active, "{s}");
        }
        for (s, phase) in [
            ("Succeeded", Phase::Succeeded),
            ("Failed", Phase::Failed),
            ("Stopped", Phase::Stopped),
        ] {
            let status = DeploymentStatus::from(s);
            assert_eq!(status.phase(), phase);
            assert_eq!(status.as_str(), s, "round-trips");
        }
        assert_eq!(DeploymentStatus::from("SomethingNew").as_str(), "SomethingNew");
    }

    struct Case<'a> {
        ours: Option<&'a DeploymentView>,
        other: Option<&'a DeploymentView>,
        on_active: OnActiveDeployment,
        suspend: bool,
        effect: Effect,
        health: Health,
        reason: Reason,
    }

    #[test]
    fn decision_table() {
        let active = dep("d-OURS", "InProgress");
        let done = dep("d-OURS", "Succeeded");
        let other = dep("d-OTHER", "InProgress");
        let stopped = DeploymentView {
            rollback_deployment_id: Some("d-RB".into()),
            ..dep("d-OURS", "Stopped")
        };
        let wait = OnActiveDeployment::Wait;
        let replace = OnActiveDeployment::StopAndReplace;
        let cases = [
            Case {
                ours: None,
                other: None,
                on_active: wait,
                suspend: false,
                effect: Effect::CreateDeployment,
                health: Health::Progressing,
                reason: Reason::DeploymentCreated,
            },
            Case {
                ours: None,
                other: Some(&other),
                on_active: wait,
                suspend: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::WaitingForActiveDeployment,
            },
            Case {
                ours: None,
                other: Some(&other),
                on_active: replace,
                suspend: false,
                effect: Effect::StopDeployment { id: "d-OTHER".into() },
                health: Health::Progressing,
                reason: Reason::ReplacingActiveDeployment,
            },
            Case {
                ours: None,
                other: None,
                on_active: wait,
                suspend: true,
                effect: Effect::None,
                health: Health::Suspended,
                reason: Reason::Suspended,
            },
            Case {
                ours: None,
                other: Some(&other),
                on_active: replace,
                suspend: true,
                effect: Effect::None,
                health: Health::Suspended,
                reason: Reason::Suspended,
            },
            // Ours is tracked even while suspended, and never re-created.
            Case {
                ours: Some(&active),
                other: None,
                on_active: wait,
                suspend: true,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::DeploymentInProgress,
            },
            Case {
                ours: Some(&active),
                other: Some(&other),
                on_active: replace,
                suspend: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::DeploymentInProgress,
            },
            Case {
                ours: Some(&done),
                other: None,
                on_active: wait,
                suspend: false,
                effect: Effect::None,
                health: Health::Ready,
                reason: Reason::Succeeded,
            },
            Case {
                ours: Some(&stopped),
                other: None,
                on_active: wait,
                suspend: false,
                effect: Effect::None,
                health: Health::Stalled,
                reason: Reason::DeploymentStopped,
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let mut o = observed(c.ours, c.other);
            o.on_active = c.on_active;
            o.suspend = c.suspend;
            let d = decide(&o);
            assert_eq!(
                (d.effect, d.report.health, d.report.reason),
                (c.effect, c.health, c.reason),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_replaced_deployment_is_stalled_until_redeployed() {
        let done = dep("d-OURS", "Succeeded");
        let mut o = observed(Some(&done), None);
        o.replaced_by = Some("d-OTHER");
        let d = decide(&o);
        assert_eq!(
            (d.effect, d.report.health, d.report.reason),
            (Effect::None, Health::Stalled, Reason::DeploymentReplaced)
        );
        let msg = &d.report.message;
        assert!(
            msg.contains("d-OTHER") && msg.contains("crossdeploy.io/redeploy"),
            "{msg}"
        );
        o.replaced_by = None;
        assert_eq!(decide(&o).report.health, Health::Ready);
    }

    #[test]
    fn failed_deployment_reports_codedeploy_error() {
        let failed = DeploymentView {
            error_code: Some("HEALTH_CONSTRAINTS".into()),
            error_message: Some("too many instances failed".into()),
            overview: Some(DeploymentOverview {
                failed: 2,
                succeeded: 1,
                ..Default::default()
            }),
            ..dep("d-F", "Failed")
        };
        let d = decide(&observed(Some(&failed), None));
        assert_eq!(d.report.health, Health::Stalled);
        assert_eq!(d.report.reason, Reason::DeploymentFailed);
        let msg = &d.report.message;
        assert!(msg.contains("HEALTH_CONSTRAINTS: too many instances failed"), "{msg}");
        assert_eq!(
            d.effect,
            Effect::None,
            "a failed deployment is never retried on its own"
        );
    }

    #[test]
    fn failures_win_over_everything_and_classify_backoff() {
        let active = dep("d-OURS", "InProgress");
        let mut o = observed(Some(&active), None);
        o.failure = Some(Failure::permanent(Reason::AssumeRoleDenied, "denied"));
        let r = decide(&o).report;
        assert_eq!(
            (r.health, r.reason, r.requeue),
            (Health::Stalled, Reason::AssumeRoleDenied, Some(STALLED_RETRY))
        );
        o.failure = Some(Failure::retryable(Reason::AwsUnavailable, "throttled"));
        o.retry_attempt = 3;
        let d = decide(&o);
        assert_eq!(
            (d.report.health, d.report.requeue),
            (Health::Progressing, Some(Duration::from_secs(16)))
        );
        assert_eq!(d.effect, Effect::None);
    }

    #[test]
    fn refused_creates_wait_with_growing_backoff() {
        let first = decide_create_refused("limit", None, 0);
        let later = decide_create_refused("limit", None, 5);
        assert_eq!(
            (first.effect, first.report.reason),
            (Effect::None, Reason::WaitingForActiveDeployment)
        );
        assert!(first.report.backs_off && first.report.requeue >= Some(MIN_POLL));
        assert!(later.report.requeue > first.report.requeue);
    }

    #[test]
    fn only_failures_back_off() {
        let done = dep("d-OURS", "Succeeded");
        assert!(!decide(&observed(Some(&done), None)).report.backs_off);
        assert!(!decide(&observed(None, None)).report.backs_off);
        let mut o = observed(None, None);
        o.failure = Some(Failure::retryable(Reason::AwsUnavailable, "throttled"));
        assert!(decide(&o).report.backs_off);
        o.failure = Some(Failure::permanent(Reason::AssumeRoleDenied, "denied"));
        assert!(
            !decide(&o).report.backs_off,
            "permanent failures retry at a fixed slow pace"
        );
    }

    #[test]
    fn polling_backs_off_within_bounds() {
        assert_eq!(poll_interval(Duration::ZERO), Duration::from_secs(3));
        assert_eq!(poll_interval(Duration::from_secs(50)), Duration::from_secs(10));
        assert_eq!(poll_interval(Duration::from_secs(3600)), Duration::from_secs(30));
        let backoffs: Vec<u64> = (0..12).map(|a| retry_backoff(a).as_secs()).collect();
        assert_eq!(&backoffs[..4], &[2, 4, 8, 16]);
        assert!(backoffs.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(retry_backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn codedeploys_own_deployments_are_waited_for_never_stopped() {
        let scale_out = DeploymentView {
            creator: Creator::Autoscaling,
            ..dep("d-ASG", "InProgress")
        };
        let mut o = observed(None, Some(&scale_out));
        o.on_active = OnActiveDeployment::StopAndReplace;
        let d = decide(&o);
        assert_eq!(
            (d.effect, d.report.reason),
            (Effect::None, Reason::WaitingForActiveDeployment)
        );
        assert!(d.report.message.contains("autoscaling"), "{}", d.report.message);
    }

    #[test]
    fn a_blue_green_deployment_waiting_for_traffic_says_what_to_do() {
        let ready = dep("d-BG", "Ready");
        let d = decide(&observed(Some(&ready), None));
        assert_eq!(
            (d.report.health, d.report.reason),
            (Health::Progressing, Reason::WaitingForTrafficReroute)
        );
        assert!(d.report.message.contains("continue-deployment"), "{}", d.report.message);
    }

    #[test]
    fn a_rollback_is_followed_and_reported() {
        let failed = DeploymentView {
            rollback_deployment_id: Some("d-RB".into()),
            error_code: Some("HEALTH_CONSTRAINTS".into()),
            ..dep("d-F", "Failed")
        };
        let rolling = DeploymentView {
            creator: Creator::CodeDeployRollback,
            revision: Some(S3Object {
                bucket: "revs".into(),
                key: "webapp/webapp-1.0.0.zip".into(),
                ..Default::default()
            }),
            ..dep("d-RB", "InProgress")
        };
        let mut o = observed(Some(&failed), None);
        o.rollback = Some(&rolling);
        let d = decide(&o);
        assert_eq!(
            (d.report.health, d.report.reason),
            (Health::Stalled, Reason::DeploymentFailed)
        );
        assert!(
            d.report.message.contains("rolling it back to webapp/webapp-1.0.0.zip"),
            "{}",
            d.report.message
        );
        assert!(d.report.requeue < Some(SETTLED_RECHECK), "an active rollback is polled");
        let done = DeploymentView {
            status: DeploymentStatus::Succeeded,
            ..rolling.clone()
        };
        o.rollback = Some(&done);
        let d = decide(&o);
        assert!(
            d.report
                .message
                .contains("rolled it back to webapp/webapp-1.0.0.zip with deployment d-RB, which succeeded"),
            "{}",
            d.report.message
        );
        assert_eq!(d.report.requeue, Some(SETTLED_RECHECK));
    }

    #[test]
    fn notes_are_said_but_never_stop_anything() {
        let notes = vec!["could not determine the grant".to_string()];
        let mut o = observed(None, None);
        o.notes = &notes;
        let d = decide(&o);
        assert_eq!(d.effect, Effect::CreateDeployment);
        assert!(
            d.report.message.contains("Note: could not determine the grant"),
            "{}",
            d.report.message
        );
    }

    fn rollback_to_v1() -> RollbackStatus {
        RollbackStatus {
            token: "t1".into(),
            active: true,
            from_revision: crate::api::ResolvedRevision {
                key: "app/v2.zip".into(),
                ..Default::default()
            },
            to_revision: crate::api::ResolvedRevision {
                key: "app/v1.zip".into(),
                ..Default::default()
            },
            from_digest: "d2".into(),
            digest: "rb".into(),
            ..Default::default()
        }
    }

    /// One row of the progressive-delivery table: what was seen, what the
    /// spec and annotations ask, what is decided.
    struct Gate<'a> {
        name: &'a str,
        ours: Option<&'a DeploymentView>,
        other: Option<&'a DeploymentView>,
        other_is_ours: bool,
        controls: Controls<'a>,
        rollback: Option<&'a RollbackStatus>,
        active_for: u64,
        ready_for: u64,
        stopped_at_deadline: bool,
        effect: Effect,
        health: Health,
        reason: Reason,
    }

    #[test]
    fn progressive_delivery_table() {
        let running = DeploymentView {
            create_time: Some(at(0)),
            ..dep("d-OURS", "InProgress")
        };
        let ready = dep("d-OURS", "Ready");
        let done = dep("d-OURS", "Succeeded");
        let stopped_early = DeploymentView {
            create_time: Some(at(0)),
            complete_time: Some(at(5)),
            ..dep("d-OURS", "Stopped")
        };
        let stopped_late = DeploymentView {
            complete_time: Some(at(700)),
            ..stopped_early.clone()
        };
        let old = dep("d-OLD", "InProgress");
        let rb = rollback_to_v1();
        let manual = Controls {
            approval: Approval::Manual,
            ..Default::default()
        };
        let deadline = Controls {
            progress_deadline: Some(Duration::from_secs(600)),
            auto_rollback: true,
            ..Default::default()
        };
        let none = Controls::default();
        let cases = [
            Gate {
                name: "manual approval, not approved: wait",
                ours: None,
                other: None,
                other_is_ours: false,
                controls: manual.clone(),
                rollback: None,
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::AwaitingApproval,
            },
            Gate {
                name: "a stale approval releases nothing",
                ours: None,
                other: None,
                other_is_ours: false,
                controls: Controls {
                    approve: Some("d0"),
                    ..manual.clone()
                },
                rollback: None,
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::AwaitingApproval,
            },
            Gate {
                name: "approved digest: created",
                ours: None,
                other: None,
                other_is_ours: false,
                controls: Controls {
                    approve: Some("d1"),
                    ..manual.clone()
                },
                rollback: None,
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::CreateDeployment,
                health: Health::Progressing,
                reason: Reason::DeploymentCreated,
            },
            Gate {
                name: "approval waits before anything else is stopped",
                ours: None,
                other: Some(&old),
                other_is_ours: false,
                controls: manual.clone(),
                rollback: None,
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::AwaitingApproval,
            },
            Gate {
                name: "ours exists: tracked without approval",
                ours: Some(&running),
                other: None,
                other_is_ours: false,
                controls: manual.clone(),
                rollback: None,
                active_for: 10,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::DeploymentInProgress,
            },
            Gate {
                name: "a rollback needs no approval",
                ours: None,
                other: None,
                other_is_ours: false,
                controls: manual.clone(),
                rollback: Some(&rb),
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::CreateDeployment,
                health: Health::Progressing,
                reason: Reason::RollingBack,
            },
            Gate {
                name: "a rollback stops our own deployment it rolls back from",
                ours: None,
                other: Some(&old),
                other_is_ours: true,
                controls: none.clone(),
                rollback: Some(&rb),
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::StopDeployment { id: "d-OLD".into() },
                health: Health::Progressing,
                reason: Reason::RollingBack,
            },
            Gate {
                name: "a rollback waits for someone else's deployment",
                ours: None,
                other: Some(&old),
                other_is_ours: false,
                controls: none.clone(),
                rollback: Some(&rb),
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::WaitingForActiveDeployment,
            },
            Gate {
                name: "the rollback deployment running",
                ours: Some(&running),
                other: None,
                other_is_ours: false,
                controls: none.clone(),
                rollback: Some(&rb),
                active_for: 10,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::RollingBack,
            },
            Gate {
                name: "the rollback deployment succeeded: the spec is not deployed",
                ours: Some(&done),
                other: None,
                other_is_ours: false,
                controls: none.clone(),
                rollback: Some(&rb),
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Stalled,
                reason: Reason::RolledBack,
            },
            Gate {
                name: "within the deadline",
                ours: Some(&running),
                other: None,
                other_is_ours: false,
                controls: deadline.clone(),
                rollback: None,
                active_for: 599,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::DeploymentInProgress,
            },
            Gate {
                name: "past the deadline: stopped with rollback",
                ours: Some(&running),
                other: None,
                other_is_ours: false,
                controls: deadline.clone(),
                rollback: None,
                active_for: 600,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::StopAtDeadline {
                    id: "d-OURS".into(),
                    auto_rollback: true,
                },
                health: Health::Stalled,
                reason: Reason::ProgressDeadlineExceeded,
            },
            Gate {
                name: "past the deadline without autoRollback: stopped without",
                ours: Some(&ready),
                other: None,
                other_is_ours: false,
                controls: Controls {
                    auto_rollback: false,
                    continue_after: Some(Duration::from_secs(60)),
                    ..deadline.clone()
                },
                rollback: None,
                active_for: 900,
                ready_for: 900,
                stopped_at_deadline: false,
                effect: Effect::StopAtDeadline {
                    id: "d-OURS".into(),
                    auto_rollback: false,
                },
                health: Health::Stalled,
                reason: Reason::ProgressDeadlineExceeded,
            },
            Gate {
                name: "stopped at the deadline, as recorded",
                ours: Some(&stopped_early),
                other: None,
                other_is_ours: false,
                controls: deadline.clone(),
                rollback: None,
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: true,
                effect: Effect::None,
                health: Health::Stalled,
                reason: Reason::ProgressDeadlineExceeded,
            },
            Gate {
                name: "stopped at the deadline, status lost: its lifetime says so",
                ours: Some(&stopped_late),
                other: None,
                other_is_ours: false,
                controls: deadline.clone(),
                rollback: None,
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Stalled,
                reason: Reason::ProgressDeadlineExceeded,
            },
            Gate {
                name: "stopped early by someone else",
                ours: Some(&stopped_early),
                other: None,
                other_is_ours: false,
                controls: deadline.clone(),
                rollback: None,
                active_for: 0,
                ready_for: 0,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Stalled,
                reason: Reason::DeploymentStopped,
            },
            Gate {
                name: "Ready, nothing asks to continue",
                ours: Some(&ready),
                other: None,
                other_is_ours: false,
                controls: none.clone(),
                rollback: None,
                active_for: 100,
                ready_for: 100,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::WaitingForTrafficReroute,
            },
            Gate {
                name: "Ready, continue annotation names another deployment",
                ours: Some(&ready),
                other: None,
                other_is_ours: false,
                controls: Controls {
                    continue_id: Some("d-EARLIER"),
                    ..Default::default()
                },
                rollback: None,
                active_for: 100,
                ready_for: 100,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::WaitingForTrafficReroute,
            },
            Gate {
                name: "Ready, continue annotation names it",
                ours: Some(&ready),
                other: None,
                other_is_ours: false,
                controls: Controls {
                    continue_id: Some("d-OURS"),
                    ..Default::default()
                },
                rollback: None,
                active_for: 100,
                ready_for: 1,
                stopped_at_deadline: false,
                effect: Effect::ContinueDeployment { id: "d-OURS".into() },
                health: Health::Progressing,
                reason: Reason::DeploymentContinued,
            },
            Gate {
                name: "Ready, continueAfter not yet passed",
                ours: Some(&ready),
                other: None,
                other_is_ours: false,
                controls: Controls {
                    continue_after: Some(Duration::from_secs(60)),
                    ..Default::default()
                },
                rollback: None,
                active_for: 100,
                ready_for: 59,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::WaitingForTrafficReroute,
            },
            Gate {
                name: "Ready, continueAfter passed",
                ours: Some(&ready),
                other: None,
                other_is_ours: false,
                controls: Controls {
                    continue_after: Some(Duration::from_secs(60)),
                    ..Default::default()
                },
                rollback: None,
                active_for: 100,
                ready_for: 60,
                stopped_at_deadline: false,
                effect: Effect::ContinueDeployment { id: "d-OURS".into() },
                health: Health::Progressing,
                reason: Reason::DeploymentContinued,
            },
            Gate {
                name: "a continue annotation never touches a deployment that is not Ready",
                ours: Some(&running),
                other: None,
                other_is_ours: false,
                controls: Controls {
                    continue_id: Some("d-OURS"),
                    continue_after: Some(Duration::ZERO),
                    ..Default::default()
                },
                rollback: None,
                active_for: 100,
                ready_for: 100,
                stopped_at_deadline: false,
                effect: Effect::None,
                health: Health::Progressing,
                reason: Reason::DeploymentInProgress,
            },
        ];
        for c in cases {
            let mut o = observed(c.ours, c.other);
            o.other_is_ours = c.other_is_ours;
            o.controls = c.controls.clone();
            o.want.rollback = c.rollback;
            o.active_for = Duration::from_secs(c.active_for);
            o.ready_for = Duration::from_secs(c.ready_for);
            o.stopped_at_deadline = c.stopped_at_deadline;
            let d = decide(&o);
            assert_eq!(
                (d.effect, d.report.health, d.report.reason),
                (c.effect, c.health, c.reason),
                "{}: {}",
                c.name,
                d.report.message
            );
        }
    }

    fn at(secs: i64) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn approval_names_the_digest_to_approve() {
        let mut o = observed(None, None);
        o.controls = Controls {
            approval: Approval::Manual,
            approve: Some("d0"),
            ..Default::default()
        };
        let msg = decide(&o).report.message;
        assert!(
            msg.contains("crossdeploy.io/approve=d1") && msg.contains("s3://revs/app/v2.zip") && msg.contains("d0"),
            "{msg}"
        );
    }

    #[test]
    fn waits_are_polled_no_later_than_the_deadline_or_the_continue() {
        let ready = DeploymentView {
            create_time: Some(at(0)),
            ..dep("d-OURS", "Ready")
        };
        let mut o = observed(Some(&ready), None);
        o.active_for = Duration::from_secs(3000);
        o.ready_for = Duration::from_secs(2990);
        o.controls = Controls {
            continue_after: Some(Duration::from_secs(2995)),
            progress_deadline: Some(Duration::from_secs(4000)),
            ..Default::default()
        };
        let d = decide(&o);
        assert_eq!(d.report.requeue, Some(Duration::from_secs(5)), "{}", d.report.message);
        assert!(d.report.message.contains("continues it in 5s"), "{}", d.report.message);
        o.controls.continue_after = None;
        o.controls.progress_deadline = Some(Duration::from_secs(3010));
        assert_eq!(decide(&o).report.requeue, Some(Duration::from_secs(10)));
    }

    #[test]
    fn a_failure_names_its_instances_and_the_masked_log_tail() {
        let failed = DeploymentView {
            error_code: Some("HEALTH_CONSTRAINTS".into()),
            error_message: Some("too many instances failed".into()),
            overview: Some(DeploymentOverview {
                failed: 7,
                ..Default::default()
            }),
            ..dep("d-F", "Failed")
        };
        let target = |id: &str, event: &str, tail: Option<&str>| FailedTarget {
            target_id: id.into(),
            lifecycle_event: Some(event.into()),
            script_name: Some("scripts/start.sh".into()),
            error_code: Some("ScriptFailed".into()),
            message: Some("exit code 1".into()),
            log_tail: tail.map(str::to_string),
        };
        let long_line = "x".repeat(2000);
        let tail = format!("{long_line}\none\ntwo\npassword=****\nlast line");
        let targets = [
            target("i-1", "ApplicationStart", Some(&tail)),
            target("i-2", "ApplicationStart", None),
            target("i-3", "ValidateService", None),
        ];
        let mut o = observed(Some(&failed), None);
        o.failed_targets = &targets;
        let report = decide(&o).report;
        let msg = &report.message;
        for expected in [
            "7 instances failed (3 read into status.currentDeployment.failedTargets): i-1, i-2 at ApplicationStart: \
             scripts/start.sh: ScriptFailed: exit code 1; i-3 at ValidateService",
            "log tail of i-1: one | two | password=**** | last line",
            "too many instances failed",
        ] {
            assert!(msg.contains(expected), "{expected:?} missing from {msg}");
        }
        assert!(!msg.contains("xxx"), "the tail keeps whole last lines: {msg}");
        let advice = msg.find("Fix the application").unwrap();
        assert!(msg.find("log tail").unwrap() < advice, "diagnostics come first: {msg}");
        // The Event: condensed to fit its 1 KB with the tail.
        let note = report.event_note.as_deref().expect("a condensed Event note");
        assert!(note.len() <= EVENT_NOTE_LIMIT, "{}", note.len());
        for expected in [
            "deployment d-F failed: HEALTH_CONSTRAINTS",
            "i-1, i-2 at ApplicationStart: scripts/start.sh: ScriptFailed; i-3 at ValidateService",
            "log tail of i-1: ",
            "password=**** | last line",
        ] {
            assert!(note.contains(expected), "{expected:?} missing from {note}");
        }
        assert!(!note.contains("exit code 1"), "{note}");
    }

    #[test]
    fn a_promotion_note_is_said_and_its_soak_end_is_a_recheck() {
        let done = dep("d-OURS", "Succeeded");
        let mut o = observed(Some(&done), None);
        o.want.note = Some("promoted from staging's deployment d-S1");
        o.want.recheck = Some(Duration::from_secs(42));
        let d = decide(&o);
        assert_eq!(
            (d.report.health, d.report.requeue),
            (Health::Ready, Some(Duration::from_secs(42)))
        );
        assert!(
            d.report
                .message
                .ends_with("Note: promoted from staging's deployment d-S1"),
            "{}",
            d.report.message
        );
    }
}
