//! The CodeDeploy lifecycle as an explicit state machine: given what a
//! reconcile observed, decide the one next effect and the status to report.
//! Pure: no I/O, no clock, no randomness, so it is tested with tables.

use std::time::Duration;

use crate::api::{DeploymentStatus, OnActiveDeployment, Phase};
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
}

/// The single effect to execute after deciding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    CreateDeployment,
    StopDeployment { id: String },
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

/// Poll interval for an in-flight deployment: every few seconds at first,
/// slowing to 30 s as the deployment gets older (a fifth of its age).
pub fn poll_interval(active_for: Duration) -> Duration {
    (active_for / 5).clamp(MIN_POLL, MAX_POLL)
}

pub fn decide(o: &Observed<'_>) -> Decision {
    let mut decision = decide_without_notes(o);
    if !o.notes.is_empty() && decision.report.health != Health::Stalled {
        decision.report.message = format!("{}. Note: {}", decision.report.message, o.notes.join(". Note: "));
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
    untracked(o)
}

/// Nothing of ours for the desired digest: create it, or deal with what
/// occupies the group first.
fn untracked(o: &Observed<'_>) -> Decision {
    match (o.other_active, o.on_active) {
        (Some(other), OnActiveDeployment::Wait) => Decision::report(Report::new(
            Health::Progressing,
            Reason::WaitingForActiveDeployment,
            format!(
                "deployment {} ({}) is active in the group; waiting for it to finish (onActiveDeployment: Wait)",
                other.id, other.status
            ),
            poll_interval(o.active_for),
        )),
        // CodeDeploy's own deployments (scale-out, rollbacks, agent updates)
        // keep the fleet whole; they are waited for, never stopped.
        (Some(other), OnActiveDeployment::StopAndReplace) if other.creator != Creator::User => {
            Decision::report(Report::new(
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
            ))
        }
        (Some(other), OnActiveDeployment::StopAndReplace) => Decision {
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
        },
        (None, _) => Decision {
            effect: Effect::CreateDeployment,
            report: Report::new(
                Health::Progressing,
                Reason::DeploymentCreated,
                "creating the CodeDeploy deployment",
                MIN_POLL,
            ),
        },
    }
}

fn track(d: &DeploymentView, o: &Observed<'_>) -> Decision {
    Decision::report(tracked(d, o))
}

fn tracked(d: &DeploymentView, o: &Observed<'_>) -> Report {
    let (health, reason, message, requeue) = match d.status.phase() {
        Phase::Active if d.status == DeploymentStatus::Ready => (
            Health::Progressing,
            Reason::WaitingForTrafficReroute,
            format!(
                "deployment {} is Ready: the replacement instances are up and CodeDeploy waits for someone to \
                 reroute traffic to them{}. Continue it in the target account (aws deploy continue-deployment \
                 --deployment-id {} --deployment-wait-type READY_WAIT), or stop it to keep the original \
                 instances",
                d.id,
                instance_summary(d),
                d.id
            ),
            poll_interval(o.active_for),
        ),
        Phase::Active => (
            Health::Progressing,
            Reason::DeploymentInProgress,
            format!("deployment {} is {}{}", d.id, d.status, instance_summary(d)),
            poll_interval(o.active_for),
        ),
        Phase::Succeeded if o.replaced_by.is_some() => (
            Health::Stalled,
            Reason::DeploymentReplaced,
            replaced_message(d, o.replaced_by.unwrap_or_default()),
            o.settled_recheck,
        ),
        Phase::Succeeded => (
            Health::Ready,
            Reason::Succeeded,
            format!("deployment {} succeeded{}", d.id, instance_summary(d)),
            o.settled_recheck,
        ),
        Phase::Failed => (
            Health::Stalled,
            Reason::DeploymentFailed,
            failed_message(d, o.rollback),
            after_failure(o),
        ),
        Phase::Stopped => (
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
    Report::new(health, reason, message, requeue)
}

fn replaced_message(d: &DeploymentView, replaced_by: &str) -> String {
    format!(
        "deployment {} succeeded, but {replaced_by} was deployed to the group after it, so the group no longer \
         runs this revision. Set the annotation crossdeploy.io/redeploy to deploy it again, or update the spec",
        d.id
    )
}

fn failed_message(d: &DeploymentView, rollback: Option<&DeploymentView>) -> String {
    format!(
        "deployment {} failed: {}: {}{}. Fix the application or the revision, then deploy a new revision or set \
         the annotation crossdeploy.io/redeploy to retry",
        d.id,
        d.error_code.as_deref().unwrap_or("UNKNOWN"),
        d.error_message.as_deref().unwrap_or("CodeDeploy gave no message"),
        rolled_back(d, rollback),
    )
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
pub fn decide_create_refused(aws_message: &str, retry_attempt: u32) -> Decision {
    Decision::report(Report {
        backs_off: true,
        ..Report::new(
            Health::Progressing,
            Reason::WaitingForActiveDeployment,
            format!("CodeDeploy refused a new deployment for now: {aws_message}"),
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
        let first = decide_create_refused("limit", 0);
        let later = decide_create_refused("limit", 5);
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
}
