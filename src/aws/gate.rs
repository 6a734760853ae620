//! A rate limit on AWS calls per (account, region), shared by every session
//! into that account: many tenants deploying into one account must stay
//! within that account's API limits together, so throttling is avoided
//! rather than retried.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota};

/// The limiter every session shares.
pub struct Gates {
    limiter: DefaultKeyedRateLimiter<(String, String)>,
}

impl Gates {
    /// `per_second` calls per (account, region), with bursts of as many.
    pub fn new(per_second: u32) -> Arc<Self> {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate)),
        })
    }

    /// The gate of one account and region.
    pub fn gate(self: &Arc<Self>, account: &str, region: &str) -> Gate {
        Gate {
            gates: self.clone(),
            key: (account.to_string(), region.to_string()),
        }
    }
}

/// The rate limit one client's calls go through.
#[derive(Clone)]
pub struct Gate {
    gates: Arc<Gates>,
    key: (String, String),
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gate({}/{})", self.key.0, self.key.1)
    }
}

impl Gate {
    /// Waits until this account may make another call; counts the waits.
    pub async fn ready(&self, operation: &'static str) {
        let limiter = &self.gates.limiter;
        if limiter.check_key(&self.key).is_err() {
            crate::runtime::metrics::aws_call_delayed(operation);
            limiter.until_key_ready(&self.key).await;
        }
    }
}

/// An SDK client and the rate limit of the account it acts in. Derefs to
/// the client; every call in `aws::*` waits for [`Gated::ready`] first.
#[derive(Clone, Debug)]
pub struct Gated<C> {
    client: C,
    gate: Gate,
}

impl<C> Gated<C> {
    pub fn new(client: C, gate: Gate) -> Self {
        Self { client, gate }
    }

    pub async fn ready(&self, operation: &'static str) {
        self.gate.ready(operation).await;
    }
}

impl<C> Deref for Gated<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_account_has_its_own_budget() {
        let gates = Gates::new(2);
        let a = gates.gate("111111111111", "us-east-1");
        let b = gates.gate("222222222222", "us-east-1");
        let started = std::time::Instant::now();
        for _ in 0..2 {
            a.ready("op").await;
            b.ready("op").await;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_millis(200),
            "bursts pass at once"
        );
        let limiter = &gates.limiter;
        assert!(limiter.check_key(&a.key).is_err(), "a's budget is spent");
        assert!(limiter.check_key(&("333333333333".into(), "us-east-1".into())).is_ok());
    }
}
