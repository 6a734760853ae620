//! What a TargetAccount verification means: pure, so table-tested.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::api::{HasConditions, TargetAccountStatus, condition_type};
use crate::status::backoff::{STALLED_RETRY, retry_backoff};
use crate::status::{Failure, Health, Reason, Report};

/// A verified account is re-checked this often (one STS call).
pub const REVERIFY: Duration = Duration::from_secs(30 * 60);

/// Some(wait) when the same inputs (`digest`) were verified Ready less than
/// [`REVERIFY`] ago: nothing to do until then.
pub fn verified_recently(previous: &TargetAccountStatus, digest: &str, now: Timestamp) -> Option<Duration> {
    if previous.verification_digest.as_deref() != Some(digest) || !previous.is_condition_true(condition_type::READY) {
        return None;
    }
    let verified = previous.last_verified_time.as_ref()?.0.as_second();
    let elapsed = Duration::from_secs(u64::try_from(now.as_second() - verified).unwrap_or(0));
    REVERIFY.checked_sub(elapsed).filter(|d| !d.is_zero())
}

/// What assuming the role showed.
pub enum Observed<'a> {
    /// STS answered GetCallerIdentity as the assumed role.
    Identified { account: &'a str },
    /// The role could not be used (missing Secret, AssumeRole refused, ...).
    Failed(&'a Failure),
}

/// The report, and the verified account id when the role is usable.
pub fn decide(role_arn: &str, expected_account: Option<&str>, o: &Observed<'_>, attempt: u32) -> (Report, bool) {
    match o {
        Observed::Identified { account } if expected_account.is_some_and(|e| e != *account) => (
            Report::new(
                Health::Stalled,
                Reason::AssumeRoleDenied,
                format!(
                    "assumed role reports account {account}, but roleArn names {}",
                    expected_account.unwrap_or_default()
                ),
                STALLED_RETRY,
            ),
            false,
        ),
        Observed::Identified { account } => (
            Report::new(
                Health::Ready,
                Reason::Verified,
                format!("assumed {role_arn} in account {account}"),
                REVERIFY,
            ),
            true,
        ),
        Observed::Failed(f) => (Report::failure(f, retry_backoff(attempt), STALLED_RETRY), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::222222222222:role/Deployer";

    struct Case<'a> {
        observed: Observed<'a>,
        health: Health,
        reason: Reason,
        verified: bool,
        requeue: Duration,
    }

    #[test]
    fn verification_table() {
        let denied = Failure::permanent(Reason::AssumeRoleDenied, "denied");
        let missing = Failure::permanent(Reason::ExternalIdSecretMissing, "no Secret");
        let throttled = Failure::retryable(Reason::AwsUnavailable, "slow down");
        let cases = [
            Case {
                observed: Observed::Identified {
                    account: "222222222222",
                },
                health: Health::Ready,
                reason: Reason::Verified,
                verified: true,
                requeue: REVERIFY,
            },
            Case {
                observed: Observed::Identified {
                    account: "333333333333",
                },
                health: Health::Stalled,
                reason: Reason::AssumeRoleDenied,
                verified: false,
                requeue: STALLED_RETRY,
            },
            Case {
                observed: Observed::Failed(&denied),
                health: Health::Stalled,
                reason: Reason::AssumeRoleDenied,
                verified: false,
                requeue: STALLED_RETRY,
            },
            Case {
                observed: Observed::Failed(&missing),
                health: Health::Stalled,
                reason: Reason::ExternalIdSecretMissing,
                verified: false,
                requeue: STALLED_RETRY,
            },
            Case {
                observed: Observed::Failed(&throttled),
                health: Health::Progressing,
                reason: Reason::AwsUnavailable,
                verified: false,
                requeue: Duration::from_secs(8),
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let (report, verified) = decide(ROLE, Some("222222222222"), &c.observed, 2);
            assert_eq!(
                (report.health, report.reason, verified, report.requeue),
                (c.health, c.reason, c.verified, Some(c.requeue)),
                "case {i}: {}",
                report.message
            );
        }
    }

    #[test]
    fn the_messages_name_role_and_accounts() {
        let (ok, _) = decide(
            ROLE,
            Some("222222222222"),
            &Observed::Identified {
                account: "222222222222",
            },
            0,
        );
        assert!(
            ok.message.contains(ROLE) && ok.message.contains("222222222222"),
            "{}",
            ok.message
        );
        let (wrong, _) = decide(
            ROLE,
            Some("222222222222"),
            &Observed::Identified {
                account: "444444444444",
            },
            0,
        );
        assert!(wrong.message.contains("444444444444") && wrong.message.contains("222222222222"));
    }

    #[test]
    fn a_recent_verification_is_not_repeated() {
        let at = |secs| Timestamp::from_second(secs).unwrap();
        let time = |secs| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(secs));
        let (ready, _) = decide(
            ROLE,
            None,
            &Observed::Identified {
                account: "222222222222",
            },
            0,
        );
        let status = TargetAccountStatus {
            observed_generation: Some(2),
            verification_digest: Some("d2".into()),
            last_verified_time: Some(time(1000)),
            conditions: crate::status::conditions(&[], ready.health, ready.reason, "", Some(2), &time(1000)),
            ..Default::default()
        };
        assert_eq!(
            verified_recently(&status, "d2", at(1060)),
            Some(REVERIFY - Duration::from_secs(60))
        );
        assert_eq!(
            verified_recently(&status, "d3", at(1060)),
            None,
            "a new spec or Secret is verified"
        );
        let due = at(1000 + REVERIFY.as_secs() as i64);
        assert_eq!(verified_recently(&status, "d2", due), None, "verified again when due");
        assert_eq!(verified_recently(&TargetAccountStatus::default(), "d1", at(0)), None);
    }
}
