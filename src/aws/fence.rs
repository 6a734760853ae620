//! AWS writes only within a proven tenure. CodeDeploy has no fencing token:
//! a replica that proved it led, then froze (SIGSTOP, a long pause, a node
//! partition) and resumed after another replica took over, would still send
//! the CreateDeployment it had prepared. A [`Tenure`] says until when the
//! last proof holds; the SDK interceptor checks it at the last moment before
//! the request leaves, so only a pause of microseconds is unguarded.

use std::fmt;
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Until when this replica may write to AWS. Measured on the monotonic
/// clock, which keeps running while the process is stopped: a replica
/// frozen past its tenure finds it over when it resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tenure {
    until: Option<Instant>,
}

impl Tenure {
    /// No leader election: this replica is the only writer.
    pub const UNBOUNDED: Self = Self { until: None };

    pub fn until(until: Instant) -> Self {
        Self { until: Some(until) }
    }

    pub fn is_open(&self) -> bool {
        self.until.is_none_or(|until| Instant::now() < until)
    }
}

/// The code of the [`crate::aws::AwsError`] for a request stopped by its
/// tenure.
pub const TENURE_OVER: &str = "TenureOver";

/// The error a request fails with when its tenure ended before it left.
#[derive(Debug)]
pub struct TenureOver;

impl fmt::Display for TenureOver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not sent: this replica's proof of leadership expired before the request left")
    }
}

impl std::error::Error for TenureOver {}

impl Intercept for Tenure {
    fn name(&self) -> &'static str {
        "crossdeploy::Tenure"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.is_open() {
            Ok(())
        } else {
            Err(Box::new(TenureOver))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn unbounded_is_always_open_and_a_past_deadline_is_closed() {
        assert!(Tenure::UNBOUNDED.is_open());
        assert!(Tenure::until(Instant::now() + Duration::from_secs(60)).is_open());
        let past = Instant::now().checked_sub(Duration::from_millis(1));
        assert!(past.is_some_and(|p| !Tenure::until(p).is_open()));
    }

    /// The SDK asks the interceptor after signing, and an over tenure stops
    /// the request there: the classified error says so, and nothing is sent
    /// (the endpoint is a port nobody listens on, which would fail otherwise
    /// with a connection error).
    #[tokio::test]
    async fn an_over_tenure_stops_the_request_before_it_leaves() {
        use aws_credential_types::Credentials;
        use aws_sdk_codedeploy::config::{BehaviorVersion, Region};

        use crate::aws::Classify;

        let config = aws_sdk_codedeploy::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "not-a-secret", None, None, "test"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let client = aws_sdk_codedeploy::Client::from_conf(config);
        let over = Tenure::until(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
        let err = client
            .stop_deployment()
            .deployment_id("d-EXAMPLE11")
            .customize()
            .interceptor(over)
            .send()
            .await
            .classify("codedeploy:StopDeployment")
            .unwrap_err();
        assert_eq!(err.code, TENURE_OVER, "{err}");
    }
}
