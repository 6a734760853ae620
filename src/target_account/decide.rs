//! What a TargetAccount verification means: pure, so table-tested.

use std::time::Duration;

use crate::status::backoff::{STALLED_RETRY, retry_backoff};
use crate::status::{Failure, Health, Reason, Report};

/// A verified account is re-checked this often (one STS call).
pub const REVERIFY: Duration = Duration::from_secs(30 * 60);

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
}
