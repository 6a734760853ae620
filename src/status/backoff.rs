//! How long to wait before trying again after a transient failure.

use std::time::Duration;

/// Permanent failures are retried this slowly: a human has to act first.
pub const STALLED_RETRY: Duration = Duration::from_secs(5 * 60);

const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// Exponential backoff for transient failures: 2 s, 4 s, 8 s ... 5 min.
pub fn retry_backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempt.saturating_add(1))).min(MAX_BACKOFF)
}
