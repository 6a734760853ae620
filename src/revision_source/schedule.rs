//! How often a RevisionSource costs AWS calls: one look at S3 per interval,
//! and the per-target verification only when its inputs changed, when it did
//! not pass, or after REVERIFY (so a bucket policy broken later is noticed).

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::api::{HasConditions, RevisionSourceStatus, condition_type};

/// A passed verification is repeated this often even when nothing changed.
pub const REVERIFY: Duration = Duration::from_secs(60 * 60);

/// Some(wait) when the last look is recent enough that this reconcile (a
/// restart, an unrelated watch event) should make no AWS call at all.
pub fn wait_before_poll(
    prev: &RevisionSourceStatus,
    generation: Option<i64>,
    verification_digest: &str,
    interval: Duration,
    now: Timestamp,
) -> Option<Duration> {
    let settled = prev.observed_generation == generation
        && prev.is_condition_true(condition_type::READY)
        && prev.verification_digest.as_deref() == Some(verification_digest);
    if !settled {
        return None;
    }
    let since = elapsed(prev.last_check_time.as_ref().map(|t| t.0)?, now);
    interval.checked_sub(since).filter(|d| !d.is_zero())
}

pub fn needs_verification(prev: &RevisionSourceStatus, verification_digest: &str, now: Timestamp) -> bool {
    prev.verification_digest.as_deref() != Some(verification_digest)
        || prev.verifications.iter().any(|v| !v.passed)
        || prev
            .last_verified_time
            .as_ref()
            .is_none_or(|t| elapsed(t.0, now) >= REVERIFY)
}

fn elapsed(then: Timestamp, now: Timestamp) -> Duration {
    Duration::from_secs(u64::try_from(now.as_second() - then.as_second()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TargetVerification;
    use crate::status::{Health, Reason, conditions};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn status(health: Health, checked: i64) -> RevisionSourceStatus {
        RevisionSourceStatus {
            observed_generation: Some(1),
            conditions: conditions(&[], health, Reason::RevisionResolved, "", Some(1), &Time(at(0))),
            last_check_time: Some(Time(at(checked))),
            verification_digest: Some("v".into()),
            last_verified_time: Some(Time(at(checked))),
            verifications: vec![TargetVerification {
                passed: true,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn recent_healthy_looks_are_not_repeated() {
        let interval = Duration::from_secs(60);
        let ready = status(Health::Ready, 1000);
        assert_eq!(
            wait_before_poll(&ready, Some(1), "v", interval, at(1010)),
            Some(Duration::from_secs(50))
        );
        // (status, generation, digest, now) that must poll now
        let stalled = status(Health::Stalled, 1000);
        let rows = [
            (&ready, Some(1), "v", 1060),
            (&ready, Some(1), "v", 2000),
            (&ready, Some(2), "v", 1010),
            (&ready, Some(1), "w", 1010),
            (&stalled, Some(1), "v", 1010),
        ];
        for (i, (s, generation, digest, now)) in rows.into_iter().enumerate() {
            assert_eq!(
                wait_before_poll(s, generation, digest, interval, at(now)),
                None,
                "row {i}"
            );
        }
        assert_eq!(
            wait_before_poll(&RevisionSourceStatus::default(), Some(1), "v", interval, at(0)),
            None
        );
    }

    #[test]
    fn verification_is_repeated_only_when_needed() {
        let s = status(Health::Ready, 1000);
        assert!(!needs_verification(&s, "v", at(1000 + 60)));
        assert!(needs_verification(&s, "w", at(1000 + 60)));
        assert!(needs_verification(&s, "v", at(1000 + REVERIFY.as_secs() as i64)));
        let mut failed = s.clone();
        failed.verifications[0].passed = false;
        assert!(needs_verification(&failed, "v", at(1000 + 60)));
        assert!(needs_verification(&RevisionSourceStatus::default(), "v", at(0)));
    }
}
