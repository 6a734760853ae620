//! What a RevisionSource poll found, judged: per TargetAccount, and overall
//! as the health, reason, message and next look. Pure, so table-tested.

use std::time::Duration;

use crate::api::{BucketPolicyGrant, ResolvedRevision, TargetVerification};
use crate::revision::check::{self, ObjectSeen};
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
                notes: Vec::new(),
            },
            failure: Some(failure),
        }
    }

    /// Combine guide step 2 (the bucket policy grants the TargetAccount's
    /// instance profile role) with HeadObject as the TargetAccount's role.
    /// The role's own read is not needed by CodeDeploy (the instances fetch
    /// the bundle), so a refused read is a note; only a determined failure
    /// (a missing grant, a role that cannot be assumed) fails.
    pub fn judge(
        name: &str,
        policy: PolicyFinding,
        role_read: RoleRead,
        kms_key: Option<&str>,
        location: &str,
    ) -> Self {
        let object = ObjectSeen::Found {
            by: "the source's reader",
            kms_key,
        };
        let (check, policy_failure) = check::judge(location, &object, &policy);
        let mut notes = check.notes;
        let (readable_by_role, role_failure) = match role_read {
            RoleRead::Readable => (Some(true), None),
            RoleRead::Refused(note) => {
                notes.push(note);
                (Some(false), None)
            }
            RoleRead::Failed(f) => (None, Some(f)),
        };
        let failure = policy_failure.or(role_failure);
        let verification = TargetVerification {
            target_account: name.to_string(),
            passed: failure.is_none(),
            reason: failure
                .as_ref()
                .map_or(Reason::Verified, |f| f.reason)
                .as_str()
                .to_string(),
            message: failure
                .as_ref()
                .map_or_else(|| passed_message(&policy), |f| f.message.clone()),
            bucket_policy: check.bucket_policy,
            readable_by_role,
            notes,
        };
        Self { verification, failure }
    }
}

/// HeadObject as a verifyFor TargetAccount's role.
#[derive(Clone, Debug, PartialEq)]
pub enum RoleRead {
    Readable,
    /// Refused (AccessDenied): a note, since CodeDeploy does not need it.
    Refused(String),
    /// The role could not be used (AssumeRole refused) or AWS was unavailable.
    Failed(Failure),
}

fn passed_message(policy: &PolicyFinding) -> String {
    match policy {
        PolicyFinding::NotRequired => {
            "the bucket is in the same account, so no bucket policy grant is needed (guide step 2)".into()
        }
        PolicyFinding::Granted => {
            "the bucket policy grants the instance profile role read access (guide step 2)".into()
        }
        _ => "nothing found stands in the way of a deployment; see the notes".into(),
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
        msg.push_str(&format!("; deployable by TargetAccounts {}", names.join(", ")));
    }
    for c in checks {
        for note in &c.verification.notes {
            msg.push_str(&format!(
                ". Note for TargetAccount {:?}: {note}",
                c.verification.target_account
            ));
        }
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

    fn judge(policy: PolicyFinding, role_read: RoleRead) -> TargetCheck {
        TargetCheck::judge("prod", policy, role_read, None, "s3://revs/app.zip")
    }

    fn refused() -> RoleRead {
        RoleRead::Refused("its role cannot read it (HTTP403)".into())
    }

    struct Case {
        policy: PolicyFinding,
        role_read: RoleRead,
        passed: bool,
        reason: &'static str,
        grant: BucketPolicyGrant,
        notes: usize,
    }

    #[test]
    fn target_judgement_table() {
        let transient = Failure::retryable(Reason::AwsUnavailable, "slow down");
        let assume_denied = Failure::permanent(Reason::AssumeRoleDenied, "trust policy");
        let cases = [
            Case {
                policy: PolicyFinding::Granted,
                role_read: RoleRead::Readable,
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::Granted,
                notes: 0,
            },
            // The guide to the letter: only the instance profile is granted.
            Case {
                policy: PolicyFinding::Granted,
                role_read: refused(),
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::Granted,
                notes: 1,
            },
            Case {
                policy: PolicyFinding::NotRequired,
                role_read: RoleRead::Readable,
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::NotRequired,
                notes: 0,
            },
            Case {
                policy: PolicyFinding::Undetermined("Condition".into()),
                role_read: RoleRead::Readable,
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::Undetermined,
                notes: 1,
            },
            Case {
                policy: PolicyFinding::NotChecked("no role".into()),
                role_read: RoleRead::Readable,
                passed: true,
                reason: "Verified",
                grant: BucketPolicyGrant::NotChecked,
                notes: 1,
            },
            Case {
                policy: PolicyFinding::NotGranted("add X".into()),
                role_read: RoleRead::Readable,
                passed: false,
                reason: "BucketPolicyMissingGrant",
                grant: BucketPolicyGrant::NotGranted,
                notes: 0,
            },
            Case {
                policy: PolicyFinding::NotGranted("add X".into()),
                role_read: refused(),
                passed: false,
                reason: "BucketPolicyMissingGrant",
                grant: BucketPolicyGrant::NotGranted,
                notes: 1,
            },
            Case {
                policy: PolicyFinding::Granted,
                role_read: RoleRead::Failed(assume_denied),
                passed: false,
                reason: "AssumeRoleDenied",
                grant: BucketPolicyGrant::Granted,
                notes: 0,
            },
            Case {
                policy: PolicyFinding::Failed(transient.clone()),
                role_read: RoleRead::Readable,
                passed: false,
                reason: "AwsUnavailable",
                grant: BucketPolicyGrant::NotChecked,
                notes: 0,
            },
            Case {
                policy: PolicyFinding::Granted,
                role_read: RoleRead::Failed(transient),
                passed: false,
                reason: "AwsUnavailable",
                grant: BucketPolicyGrant::Granted,
                notes: 0,
            },
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let c = judge(case.policy, case.role_read);
            let v = &c.verification;
            assert_eq!(
                (v.passed, v.reason.as_str(), v.bucket_policy, v.notes.len()),
                (case.passed, case.reason, case.grant, case.notes),
                "case {i}: {v:?}"
            );
            assert_eq!(c.failure.is_none(), case.passed, "case {i}");
        }
        let both = judge(PolicyFinding::NotGranted("add X".into()), refused());
        assert!(both.verification.message.contains("add X"), "{:?}", both.verification);
        assert_eq!(both.verification.readable_by_role, Some(false));
    }

    #[test]
    fn overall_verdict_table() {
        let r = rev();
        let ok = judge(PolicyFinding::Granted, RoleRead::Readable);
        let unsure = TargetCheck::judge(
            "stage",
            PolicyFinding::Undetermined("has a Condition".into()),
            RoleRead::Readable,
            None,
            "s3://revs/app.zip",
        );
        let broken = judge(PolicyFinding::NotGranted("add X".into()), RoleRead::Readable);
        let flaky = TargetCheck::judge(
            "stage",
            PolicyFinding::Failed(Failure::retryable(Reason::AwsUnavailable, "throttled")),
            RoleRead::Readable,
            None,
            "s3://revs/app.zip",
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
        assert_eq!(
            (d.health, d.reason),
            (Health::Stalled, Reason::BucketPolicyMissingGrant)
        );
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
