//! The status language every crossdeploy resource speaks: kstatus conditions
//! (`Ready`, `Reconciling`, `Stalled`) built from one decision, and the Event
//! that announces each transition. This is the only place conditions are made.

pub mod backoff;
pub mod diagnosis;
pub mod redact;

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::events::{Event, EventType};

use crate::api::ConditionStatus;
use crate::api::condition_type::{READY, RECONCILING, STALLED};

/// The current time as the API server stores it (whole seconds). Comparing a
/// freshly built status with the stored one must not see a difference that
/// is only sub-second precision, or every reconcile would write status.
pub fn now() -> Time {
    let secs = k8s_openapi::jiff::Timestamp::now().as_second();
    Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now()))
}

/// Overall health, mapped onto the three kstatus conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Desired state reached: Ready=True.
    Ready,
    /// Work under way or transient trouble: Reconciling=True.
    Progressing,
    /// Needs a human: Stalled=True.
    Stalled,
    /// `spec.suspend`: nothing happens, nothing is wrong.
    Suspended,
}

impl Health {
    /// The condition that is True for this health (a metrics label).
    pub fn condition(self) -> &'static str {
        match self {
            Health::Ready => "Ready",
            Health::Progressing => "Reconciling",
            Health::Stalled => "Stalled",
            Health::Suspended => "Suspended",
        }
    }
}

/// Machine-readable condition reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Succeeded,
    Verified,
    DeploymentCreated,
    DeploymentInProgress,
    WaitingForActiveDeployment,
    /// Blue/green: replacement instances are ready; a person reroutes traffic.
    WaitingForTrafficReroute,
    ReplacingActiveDeployment,
    Suspended,
    AwsUnavailable,
    TargetAccountNotFound,
    TargetAccountNotPermitted,
    ExternalIdSecretMissing,
    /// The ExternalId Secret lacks the label `crossdeploy.io/external-id: "true"`.
    ExternalIdSecretNotMarked,
    AssumeRoleDenied,
    RevisionNotFound,
    RevisionNotReadable,
    RevisionChanged,
    ApplicationNotFound,
    DeploymentGroupNotFound,
    CodeDeployAccessDenied,
    DeploymentFailed,
    DeploymentStopped,
    DeploymentReplaced,
    AwsRequestRejected,
    InvalidSpec,
    RevisionResolved,
    ObjectNotFound,
    BucketAccessDenied,
    NotReadableByTarget,
    BucketPolicyMissingGrant,
    RevisionSourceNotFound,
    RevisionSourceNotReady,
    /// `approval: Manual`: the desired revision waits for
    /// `crossdeploy.io/approve` (Argo CD: Suspended).
    AwaitingApproval,
    /// Blue/green: crossdeploy continued a deployment waiting in Ready.
    DeploymentContinued,
    /// A deployment was still active after `progressDeadlineSeconds` and
    /// was stopped.
    ProgressDeadlineExceeded,
    /// `promotion`: the source has no revision that succeeded and soaked yet.
    WaitingForPromotion,
    PromotionSourceNotFound,
    PromotionCycle,
    /// `crossdeploy.io/rollback`: the last good revision is being deployed.
    RollingBack,
    /// The rollback deployment succeeded; the spec's revision is not deployed.
    RolledBack,
    /// `crossdeploy.io/rollback` with no earlier successful revision.
    RollbackUnavailable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Succeeded => "Succeeded",
            Reason::Verified => "Verified",
            Reason::DeploymentCreated => "DeploymentCreated",
            Reason::DeploymentInProgress => "DeploymentInProgress",
            Reason::WaitingForActiveDeployment => "WaitingForActiveDeployment",
            Reason::WaitingForTrafficReroute => "WaitingForTrafficReroute",
            Reason::ReplacingActiveDeployment => "ReplacingActiveDeployment",
            Reason::Suspended => "Suspended",
            Reason::AwsUnavailable => "AwsUnavailable",
            Reason::TargetAccountNotFound => "TargetAccountNotFound",
            Reason::TargetAccountNotPermitted => "TargetAccountNotPermitted",
            Reason::ExternalIdSecretMissing => "ExternalIdSecretMissing",
            Reason::ExternalIdSecretNotMarked => "ExternalIdSecretNotMarked",
            Reason::AssumeRoleDenied => "AssumeRoleDenied",
            Reason::RevisionNotFound => "RevisionNotFound",
            Reason::RevisionNotReadable => "RevisionNotReadable",
            Reason::RevisionChanged => "RevisionChanged",
            Reason::ApplicationNotFound => "ApplicationNotFound",
            Reason::DeploymentGroupNotFound => "DeploymentGroupNotFound",
            Reason::CodeDeployAccessDenied => "CodeDeployAccessDenied",
            Reason::DeploymentFailed => "DeploymentFailed",
            Reason::DeploymentStopped => "DeploymentStopped",
            Reason::DeploymentReplaced => "DeploymentReplaced",
            Reason::AwsRequestRejected => "AwsRequestRejected",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::RevisionResolved => "RevisionResolved",
            Reason::ObjectNotFound => "ObjectNotFound",
            Reason::BucketAccessDenied => "BucketAccessDenied",
            Reason::NotReadableByTarget => "NotReadableByTarget",
            Reason::BucketPolicyMissingGrant => "BucketPolicyMissingGrant",
            Reason::RevisionSourceNotFound => "RevisionSourceNotFound",
            Reason::RevisionSourceNotReady => "RevisionSourceNotReady",
            Reason::AwaitingApproval => "AwaitingApproval",
            Reason::DeploymentContinued => "DeploymentContinued",
            Reason::ProgressDeadlineExceeded => "ProgressDeadlineExceeded",
            Reason::WaitingForPromotion => "WaitingForPromotion",
            Reason::PromotionSourceNotFound => "PromotionSourceNotFound",
            Reason::PromotionCycle => "PromotionCycle",
            Reason::RollingBack => "RollingBack",
            Reason::RolledBack => "RolledBack",
            Reason::RollbackUnavailable => "RollbackUnavailable",
        }
    }
}

/// What one reconcile concluded, for any kind: the health and reason the
/// conditions carry, the message for humans, and when to look again.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub health: Health,
    pub reason: Reason,
    pub message: String,
    /// None: only a change to the object or to what it watches wakes it.
    pub requeue: Option<Duration>,
    /// A transient failure: the next attempt backs off further.
    pub backs_off: bool,
    /// The transition Event's note when it should not be the message (an
    /// Event keeps 1 KB: a long message is condensed for it).
    pub event_note: Option<String>,
}

impl Report {
    pub fn new(health: Health, reason: Reason, message: impl Into<String>, requeue: Duration) -> Self {
        Self {
            health,
            reason,
            message: message.into(),
            requeue: Some(requeue),
            backs_off: false,
            event_note: None,
        }
    }

    /// A failure: transient ones keep the object Reconciling and back off
    /// (`transient_retry`); permanent ones need a human and make it Stalled,
    /// looked at again after `stalled_retry`.
    pub fn failure(f: &Failure, transient_retry: Duration, stalled_retry: Duration) -> Self {
        if f.retryable {
            Self {
                backs_off: true,
                ..Self::new(Health::Progressing, f.reason, f.message.clone(), transient_retry)
            }
        } else {
            Self::new(Health::Stalled, f.reason, f.message.clone(), stalled_retry)
        }
    }
}

/// A problem found while observing, with the message a human needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
    pub retryable: bool,
}

impl Failure {
    pub fn permanent(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retryable: false,
        }
    }
    pub fn retryable(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retryable: true,
        }
    }
}

/// The three kstatus conditions for a health/reason/message. Conditions whose
/// status did not change keep their lastTransitionTime.
pub fn conditions(
    previous: &[Condition],
    health: Health,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match health {
        Health::Ready => (true, false, false),
        Health::Progressing => (false, true, false),
        Health::Stalled => (false, false, true),
        Health::Suspended => (false, false, false),
    };
    let make = |type_: &str, on: bool| {
        let status = ConditionStatus::of(on).as_str();
        let last_transition_time = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.as_str().to_string(),
            message: truncate(message, 32 * 1024),
            observed_generation: generation,
            last_transition_time,
        }
    };
    vec![
        make(READY, ready),
        make(RECONCILING, reconciling),
        make(STALLED, stalled),
    ]
}

/// The Event for a transition, or None when reason and health are unchanged
/// (so repeated polls of the same state do not spam Events). Its note is the
/// condition message, or `note` when the decision condensed one for it.
pub fn transition_event(previous: &[Condition], next: &[Condition], action: &str, note: Option<&str>) -> Option<Event> {
    let key = |cs: &[Condition]| {
        cs.iter()
            .filter(|c| ConditionStatus::True.is(c))
            .map(|c| (c.type_.clone(), c.reason.clone()))
            .collect::<Vec<_>>()
    };
    let reason_of = |cs: &[Condition]| cs.first().map(|c| (c.reason.clone(), c.message.clone()));
    if key(previous) == key(next) && reason_of(previous).map(|r| r.0) == reason_of(next).map(|r| r.0) {
        return None;
    }
    let (reason, message) = reason_of(next)?;
    let stalled = next.iter().any(|c| c.type_ == STALLED && ConditionStatus::True.is(c));
    Some(Event {
        type_: if stalled { EventType::Warning } else { EventType::Normal },
        reason,
        note: Some(truncate(note.unwrap_or(&message), 1000)),
        action: action.to_string(),
        secondary: None,
    })
}

/// Event reason for checks that could not be decided (never a stop).
pub const CHECK_UNDETERMINED: &str = "CheckUndetermined";

/// A Warning Event when notes appear that were not there before: what could
/// not be determined is said once, not on every poll.
pub fn notes_event(previous: &[String], next: &[String]) -> Option<Event> {
    let new: Vec<&String> = next.iter().filter(|n| !previous.contains(n)).collect();
    if new.is_empty() {
        return None;
    }
    let note = new.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" | ");
    Some(Event {
        type_: EventType::Warning,
        reason: CHECK_UNDETERMINED.into(),
        note: Some(truncate(&note, 1000)),
        action: "Check".into(),
        secondary: None,
    })
}

/// Event reason announcing that a RevisionSource resolved a different revision.
pub const NEW_REVISION: &str = "NewRevision";

/// The Event for a newly resolved revision (independent of condition
/// transitions: a new upload may leave the source Ready throughout).
pub fn new_revision_event(description: &str, revision_digest: &str) -> Event {
    Event {
        type_: EventType::Normal,
        reason: NEW_REVISION.into(),
        note: Some(truncate(description, 1000)),
        // kube's Recorder folds Events with the same reason and action into
        // one series that keeps the first note; each revision needs its own.
        action: format!("Resolve-{revision_digest}"),
        secondary: None,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    fn status_of<'a>(cs: &'a [Condition], t: &str) -> &'a str {
        &cs.iter().find(|c| c.type_ == t).unwrap().status
    }

    #[test]
    fn health_maps_to_exactly_one_true_condition() {
        for (health, expect) in [
            (Health::Ready, Some(READY)),
            (Health::Progressing, Some(RECONCILING)),
            (Health::Stalled, Some(STALLED)),
            (Health::Suspended, None),
        ] {
            let cs = conditions(&[], health, Reason::Succeeded, "m", Some(3), &at(0));
            let trues: Vec<_> = cs
                .iter()
                .filter(|c| c.status == "True")
                .map(|c| c.type_.as_str())
                .collect();
            assert_eq!(trues, expect.into_iter().collect::<Vec<_>>());
            assert!(cs.iter().all(|c| c.observed_generation == Some(3)));
        }
    }

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let first = conditions(
            &[],
            Health::Progressing,
            Reason::DeploymentCreated,
            "a",
            Some(1),
            &at(10),
        );
        let second = conditions(
            &first,
            Health::Progressing,
            Reason::DeploymentInProgress,
            "b",
            Some(1),
            &at(20),
        );
        assert_eq!(second[1].last_transition_time, at(10));
        let third = conditions(&second, Health::Ready, Reason::Succeeded, "c", Some(1), &at(30));
        assert_eq!(status_of(&third, READY), "True");
        assert_eq!(third[0].last_transition_time, at(30));
        assert_eq!(third[1].last_transition_time, at(30));
    }

    #[test]
    fn events_only_on_transitions() {
        let a = conditions(
            &[],
            Health::Progressing,
            Reason::DeploymentInProgress,
            "1/2",
            Some(1),
            &at(0),
        );
        let b = conditions(
            &a,
            Health::Progressing,
            Reason::DeploymentInProgress,
            "2/2",
            Some(1),
            &at(1),
        );
        assert!(transition_event(&a, &b, "Track", None).is_none());
        let c = conditions(&b, Health::Stalled, Reason::DeploymentFailed, "boom", Some(1), &at(2));
        let ev = transition_event(&b, &c, "Track", None).unwrap();
        assert_eq!(ev.reason, "DeploymentFailed");
        assert_eq!(ev.type_, EventType::Warning);
        assert!(transition_event(&[], &a, "Track", None).is_some());
        let ev = transition_event(&b, &c, "Track", Some("condensed")).unwrap();
        assert_eq!(ev.note.as_deref(), Some("condensed"));
    }
}
