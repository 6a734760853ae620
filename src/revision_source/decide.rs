//! What a RevisionSource poll found, judged: per TargetAccount, and overall
//! as the health, reason, message and next look. Pure, so table-tested.

use std::time::Duration;

use crate::api::{BucketPolicyGrant, ResolvedRevision, TargetVerification};
use crate::revision::step2::PolicyFinding;
use crate::status::backoff::retry_backoff;
use crate::status::{Failure, Health, Reason, Report};

/// One TargetAccount's verification and, when it did not pass, why.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetCheck {
    pub verification: TargetVerification,
    pub failure: Option<Failure>,
}

impl TargetCheck {
    /// A verification that passed earlier and is reused without AWS calls.
    pub fn reused(verification: TargetVerification) -> Self {
        Self {
            verification,
            failure: None,
        }
    }

    /// The TargetAccount could not be used at all (missing, not permitted,
    /// no ExternalId): nothing was checked and no AWS call was made.
    pub fn refused(name: &str, failure: Failure) -> Self {
        Self {
            verification: TargetVerification {
                target_account: name.to_string(),
                passed: false,
                reason: failure.reason.as_str().to_string(),
                message: failure.message.clone(),
                bucket_policy: BucketPolicyGrant::NotChecked,
                readable_by_role: None,
            },
            failure: Some(failure),
        }
    }

    /// Combine the bucket policy finding with HeadObject as the target role.
    /// A missing grant is reported first: it is the guide step the user must
    /// fix, and a 403 for the role usually follows from it.
    pub fn judge(name: &str, policy: PolicyFinding, readable: Result<(), Failure>) -> Self {
        let (grant, policy_note) = match &policy {
            PolicyFinding::NotRequired => (
                BucketPolicyGrant::NotRequired,
                "the bucket is in the same account, so no bucket policy grant is needed (guide step 2)".to_string(),
            ),
            PolicyFinding::Granted => (
                BucketPolicyGrant::Granted,
                "the bucket policy grants the instance profile role read access (guide step 2)".to_string(),
            ),
            PolicyFinding::NotGranted(m) => (BucketPolicyGrant::NotGranted, m.clone()),
            PolicyFinding::Undetermined(m) => (BucketPolicyGrant::Undetermined, m.clone()),
            PolicyFinding::NotChecked(m) => (BucketPolicyGrant::NotChecked, m.clone()),
            PolicyFinding::Failed(f) => (BucketPolicyGrant::NotChecked, f.message.clone()),
        };
        let readable_by_role = Some(readable.is_ok());
        let failure = match (policy, readable) {
            (PolicyFinding::NotGranted(m), head) => Some(Failure::permanent(
                Reason::BucketPolicyMissingGrant,
                match head {
                    Err(f) => format!("{m}. The role check failed as well: {}", f.message),
                    Ok(()) => m,
                },
            )),
            (_, Err(f)) => Some(f),
            (PolicyFinding::Failed(f), Ok(())) => Some(f),
            _ => None,
        };
        let verification = match &failure {
            Some(f) => TargetVerification {
                target_account: name.to_string(),
                passed: false,
                reason: f.reason.as_str().to_string(),
                message: f.message.clone(),
                bucket_policy: grant,
                readable_by_role,
            },
            None => TargetVerification {
                target_account: name.to_string(),
                passed: true,
                reason: Reason::Verified.as_str().to_string(),
                message: format!("its role can read the revision; {policy_note}"),
                bucket_policy: grant,
                readable_by_role,
            },
        };
        Self { verification, failure }
    }
}

/// Everything one poll observed.
pub struct Observed<'a> {
    pub suspend: bool,
    pub interval: Duration,
    /// Resolving the revision failed (tenancy, reader access, S3).
    pub failure: Option<&'a Failure>,
    pub revision: Option<&'a ResolvedRevision>,
    pub checks: &'a [TargetCheck],
    pub retry_attempt: u32,
}

pub fn decide(o: &Observed<'_>) -> Report {
    if o.suspend {
        // Nothing to poll: only a spec change wakes a suspended source.
        return Report {
            requeue: None,
            ..Report::new(
                Health::Suspended,
                Reason::Suspended,
                "spec.suspend is true: S3 is not polled; status.revision keeps the last resolved revision",
                o.interval,
            )
        };
    }
    if let Some(f) = o.failure {
        return from_failure(f.clone(), o);
    }
    if let Some(f) = failed_checks(o.checks) {
        return from_failure(f, o);
    }
    let Some(rev) = o.revision else {
        return from_failure(
            Failure::retryable(Reason::AwsUnavailable, "no revision was resolved; retrying"),
            o,
        );
    };
    Report::new(
        Health::Ready,
        Reason::RevisionResolved,
        ready_message(rev, o.checks),
        o.interval,
    )
}

/// The failures of the per-target checks as one, led by a permanent one: a
/// human must act on it, so it outranks transient ones.
fn failed_checks(checks: &[TargetCheck]) -> Option<Failure> {
    let failed: Vec<(&str, &Failure)> = checks
        .iter()
        .filter_map(|c| c.failure.as_ref().map(|f| (c.verification.target_account.as_str(), f)))
        .collect();
    let lead = failed.iter().find(|(_, f)| !f.retryable).or(failed.first())?.1;
    let message = failed
        .iter()
        .map(|(name, f)| {
            let named = format!("TargetAccount {name:?}");
            if f.message.contains(&named) {
                f.message.clone()
            } else {
                format!("{named}: {}", f.message)
            }
        })
        .collect::<Vec<_>>()
        .join(" | ");
    Some(Failure {
        message,
        ..lead.clone()
    })
}

/// Permanent failures are polled again at the user's pace: the fix is
/// usually an upload or a policy change that the next look should notice.
fn from_failure(f: Failure, o: &Observed<'_>) -> Report {
    Report::failure(&f, retry_backoff(o.retry_attempt).min(o.interval), o.interval)
}

fn ready_message(rev: &ResolvedRevision, checks: &[TargetCheck]) -> String {
    let mut msg = format!("resolved {}", describe(rev));
    let names: Vec<&str> = checks.iter().map(|c| c.verification.target_account.as_str()).collect();
    if !names.is_empty() {
        msg.push_str(&format!("; readable by the roles of {}", names.join(", ")));
    }
    for c in checks
        .iter()
        .filter(|c| c.verification.bucket_policy == BucketPolicyGrant::Undetermined)
    {
        msg.push_str(&format!(
            ". Note for TargetAccount {:?}: could not determine whether the bucket policy grants its instance \
             profile role read access (guide step 2): {}; check it by hand",
            c.verification.target_account, c.verification.message
        ));
    }
    msg
}

/// `s3://bucket/key (version v)`, for messages and Events.
pub fn describe(rev: &ResolvedRevision) -> String {
    match &rev.version_id {
        Some(v) => format!("s3://{}/{} (version {v})", rev.bucket, rev.key),
        None => format!("s3://{}/{}", rev.bucket, rev.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev() -> ResolvedRevision {
        ResolvedRevision {
            bucket: "revs".into(),
            key: "app/app-1.0.0.zip".into(),
            version_id: Some("v1".into()),
            bundle_type: "zip".into(),
            ..Default::default()
        }
    }

    fn observed<'a>(
        failure: Option<&'a Failure>,
        revision: Option<&'a ResolvedRevision>,
        checks: &'a [TargetCheck],
    ) -> Observed<'a> {
        Observed {
            suspend: false,
            interval: Duration::from_secs(60),
            failure,
            revision,
            checks,
            retry_attempt: 2,
        }
    }

    fn denied() -> Failure {
        Failure::permanent(Reason::NotReadableByTarget, "403")
    }

    struct Case {
        policy: PolicyFinding,
        head: Result<(), Failure>,
        passed: bool,
        reason: &'static str,
        grant: BucketPolicyGrant,
    }

    #[test]
    fn target_judgement_table() {
        let transient = Failure::retryable(Reason::AwsUnavailable, "slow down");
        let cases = [
            Case {
                policy: PolicyFinding::Granted,
                head: Ok(()),
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::Granted,
            },
            Case {
                policy: PolicyFinding::NotRequired,
                head: Ok(()),
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::NotRequired,
            },
            Case {
                policy: PolicyFinding::Undetermined("Condition".into()),
                head: Ok(()),
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::Undetermined,
            },
            Case {
                policy: PolicyFinding::NotChecked("no role".into()),
                head: Ok(()),
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::NotChecked,
            },
            Case {
                policy: PolicyFinding::NotGranted("add X".into()),
                head: Ok(()),
                passed: false,
                reason: "BucketPolicyMissingGrant",
                grant: BucketPolicyGrant::NotGranted,
            },
            Case {
                policy: PolicyFinding::NotGranted("add X".into()),
                head: Err(denied()),
                passed: false,
                reason: "BucketPolicyMissingGrant",
                grant: BucketPolicyGrant::NotGranted,
            },
            Case {
                policy: PolicyFinding::Granted,
                head: Err(denied()),
                passed: false,
                reason: "NotReadableByTarget",
                grant: BucketPolicyGrant::Granted,
            },
            Case {
                policy: PolicyFinding::Failed(transient.clone()),
                head: Ok(()),
                passed: false,
                reason: "AwsUnavailable",
                grant: BucketPolicyGrant::NotChecked,
            },
            Case {
                policy: PolicyFinding::Failed(transient),
                head: Err(denied()),
                passed: false,
                reason: "NotReadableByTarget",
                grant: BucketPolicyGrant::NotChecked,
            },
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let c = TargetCheck::judge("prod", case.policy, case.head);
            let v = &c.verification;
            assert_eq!(
                (v.passed, v.reason.as_str(), v.bucket_policy),
                (case.passed, case.reason, case.grant),
                "case {i}"
            );
            assert_eq!(c.failure.is_none(), case.passed, "case {i}");
        }
        let both = TargetCheck::judge("prod", PolicyFinding::NotGranted("add X".into()), Err(denied()));
        assert!(both.verification.message.contains("add X") && both.verification.message.contains("403"));
        assert_eq!(both.verification.readable_by_role, Some(false));
    }

    #[test]
    fn overall_verdict_table() {
        let r = rev();
        let ok = TargetCheck::judge("prod", PolicyFinding::Granted, Ok(()));
        let unsure = TargetCheck::judge("stage", PolicyFinding::Undetermined("has a Condition".into()), Ok(()));
        let broken = TargetCheck::judge("prod", PolicyFinding::Granted, Err(denied()));
        let flaky = TargetCheck::judge(
            "stage",
            PolicyFinding::Failed(Failure::retryable(Reason::AwsUnavailable, "throttled")),
            Ok(()),
        );
        let missing = Failure::permanent(Reason::ObjectNotFound, "gone");
        let slow = Failure::retryable(Reason::AwsUnavailable, "throttled");

        let d = decide(&observed(None, Some(&r), std::slice::from_ref(&ok)));
        assert_eq!((d.health, d.reason), (Health::Ready, Reason::RevisionResolved));
        assert_eq!(d.requeue, Some(Duration::from_secs(60)));
        assert!(
            d.message.contains("s3://revs/app/app-1.0.0.zip (version v1)"),
            "{}",
            d.message
        );

        let checks = [ok.clone(), unsure];
        let d = decide(&observed(None, Some(&r), &checks));
        assert_eq!(d.health, Health::Ready, "could-not-determine is a note, not a failure");
        assert!(
            d.message.contains("could not determine") && d.message.contains("has a Condition"),
            "{}",
            d.message
        );

        let d = decide(&observed(Some(&missing), Some(&r), std::slice::from_ref(&ok)));
        assert_eq!((d.health, d.reason), (Health::Stalled, Reason::ObjectNotFound));
        assert_eq!(d.requeue, Some(Duration::from_secs(60)));

        let d = decide(&observed(Some(&slow), Some(&r), &[]));
        assert_eq!((d.health, d.reason), (Health::Progressing, Reason::AwsUnavailable));
        assert_eq!(d.requeue, Some(Duration::from_secs(8)));

        let checks = [flaky.clone(), broken];
        let d = decide(&observed(None, Some(&r), &checks));
        assert_eq!((d.health, d.reason), (Health::Stalled, Reason::NotReadableByTarget));
        assert!(
            d.message.contains("\"prod\"") && d.message.contains("\"stage\""),
            "{}",
            d.message
        );

        let d = decide(&observed(None, Some(&r), std::slice::from_ref(&flaky)));
        assert_eq!((d.health, d.reason), (Health::Progressing, Reason::AwsUnavailable));

        let mut suspended = observed(Some(&missing), None, &[]);
        suspended.suspend = true;
        let d = decide(&suspended);
        assert_eq!(
            (d.health, d.reason, d.requeue),
            (Health::Suspended, Reason::Suspended, None)
        );
    }

    #[test]
    fn refused_targets_are_not_checked() {
        let c = TargetCheck::refused(
            "prod",
            Failure::permanent(Reason::TargetAccountNotPermitted, "not this namespace"),
        );
        assert!(!c.verification.passed);
        assert_eq!(c.verification.readable_by_role, None);
        assert_eq!(c.verification.bucket_policy, BucketPolicyGrant::NotChecked);
        let r = rev();
        let d = decide(&observed(None, Some(&r), std::slice::from_ref(&c)));
        assert_eq!(
            (d.health, d.reason),
            (Health::Stalled, Reason::TargetAccountNotPermitted)
        );
    }
}
