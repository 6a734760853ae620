//! AWS access. Each service sits behind narrow functions that return
//! [`AwsError`], already classified, so controllers never look at SDK error
//! strings.

pub mod codedeploy;
pub mod fence;
pub mod gate;
pub mod poller;
pub mod s3;
pub mod session;
pub mod sts;

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

/// Bounds on every AWS call: a hung connection or a slow endpoint becomes a
/// retryable error instead of a reconcile that never ends.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(45);

/// The operator's own AWS configuration (aws-config's default credential
/// chain: env, IRSA web identity, EKS Pod Identity, instance profile) with
/// one HTTP client and TLS stack that every SDK client and every assumed-role
/// session derived from it shares, and timeouts on every call.
pub async fn base_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// How a failed AWS call should be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, connection failures: retry with backoff.
    Retryable,
    /// The session expired under us: drop cached credentials and retry.
    ExpiredCredentials,
    /// STS refused AssumeRole: the role's trust policy or ExternalId does not match.
    AssumeRoleDenied,
    /// The assumed role lacks a permission (identity policy or bucket policy).
    AccessDenied,
    /// The object, bucket or version does not exist.
    NotFound,
    ApplicationNotFound,
    DeploymentGroupNotFound,
    /// Another deployment is active in the group (CodeDeploy allows one).
    DeploymentLimitExceeded,
    /// Anything else AWS rejected: needs a human.
    Invalid,
}

/// A classified AWS failure. `message` is AWS's own text, which never contains
/// credentials; the ExternalId is never sent back by STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub operation: &'static str,
    pub class: ErrorClass,
    pub code: String,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}: {}", self.operation, self.code, self.message)
    }
}

impl StdError for AwsError {}

impl AwsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self.class, ErrorClass::Retryable | ErrorClass::ExpiredCredentials)
    }

    /// Classify any SDK error. Credential failures surface from whichever call
    /// first needed credentials, so the AssumeRole error is searched for in the
    /// source chain before the call's own error.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        if let Some(assume) = find_assume_role_error(&err) {
            return assume;
        }
        if in_chain::<fence::TenureOver>(&err) {
            // Refused before it left: nothing reached AWS.
            return Self {
                operation,
                class: ErrorClass::Retryable,
                code: fence::TENURE_OVER.into(),
                message: fence::TenureOver.to_string(),
            };
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        match &err {
            SdkError::ServiceError(ctx) => {
                let code = ctx.err().code().unwrap_or_default().to_string();
                let message = ctx.err().message().unwrap_or_default().to_string();
                Self::from_code(operation, code, message, status)
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => Self {
                operation,
                class: ErrorClass::Retryable,
                code: "NetworkError".into(),
                message: error_chain(&err),
            },
            _ => Self {
                operation,
                class: ErrorClass::Invalid,
                code: "RequestError".into(),
                message: error_chain(&err),
            },
        }
    }

    /// Classify by AWS error code, falling back to the HTTP status (HEAD
    /// responses carry no body, so S3 reports only 403/404 there).
    pub fn from_code(operation: &'static str, code: String, message: String, status: Option<u16>) -> Self {
        let class = match code.as_str() {
            "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "SlowDown"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalFailure"
            | "InternalError"
            | "InternalServiceError"
            | "RequestTimeout"
            | "IDPCommunicationError" => ErrorClass::Retryable,
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => ErrorClass::ExpiredCredentials,
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "Forbidden"
            | "InvalidAccessKeyId"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch" => ErrorClass::AccessDenied,
            "NoSuchKey" | "NoSuchBucket" | "NoSuchVersion" | "NotFound" => ErrorClass::NotFound,
            "ApplicationDoesNotExistException" => ErrorClass::ApplicationNotFound,
            "DeploymentGroupDoesNotExistException" => ErrorClass::DeploymentGroupNotFound,
            "DeploymentLimitExceededException" => ErrorClass::DeploymentLimitExceeded,
            _ => match status {
                Some(403) => ErrorClass::AccessDenied,
                Some(404) => ErrorClass::NotFound,
                Some(s) if s >= 500 || s == 429 => ErrorClass::Retryable,
                _ => ErrorClass::Invalid,
            },
        };
        let code = if code.is_empty() {
            status.map_or_else(|| "Unknown".to_string(), |s| format!("HTTP{s}"))
        } else {
            code
        };
        Self {
            operation,
            class,
            code,
            message,
        }
    }
}

fn in_chain<T: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<T>() {
            return true;
        }
        cur = e.source();
    }
    false
}

fn find_assume_role_error(err: &(dyn StdError + 'static)) -> Option<AwsError> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(sdk) = e.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            let status = sdk.raw_response().map(|r| r.status().as_u16());
            let mut classified = match sdk {
                SdkError::ServiceError(ctx) => AwsError::from_code(
                    "sts:AssumeRole",
                    ctx.err().code().unwrap_or_default().to_string(),
                    ctx.err().message().unwrap_or_default().to_string(),
                    status,
                ),
                other => AwsError {
                    operation: "sts:AssumeRole",
                    class: ErrorClass::Retryable,
                    code: "NetworkError".into(),
                    message: error_chain(other),
                },
            };
            if classified.class == ErrorClass::AccessDenied {
                classified.class = ErrorClass::AssumeRoleDenied;
            }
            return Some(classified);
        }
        cur = e.source();
    }
    None
}

/// Classifies an SDK call's error and counts the call in the
/// `crossdeploy_aws_calls` metric; every AWS call ends in `.classify(op)`.
pub trait Classify<T> {
    fn classify(self, operation: &'static str) -> Result<T, AwsError>;
}

impl<T, E> Classify<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    fn classify(self, operation: &'static str) -> Result<T, AwsError> {
        let result = self.map_err(|e| AwsError::from_sdk(operation, e));
        crate::runtime::metrics::aws_call(operation, result.as_ref().err().map(|e| e.class.as_str()));
        result
    }
}

impl ErrorClass {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorClass::Retryable => "Retryable",
            ErrorClass::ExpiredCredentials => "ExpiredCredentials",
            ErrorClass::AssumeRoleDenied => "AssumeRoleDenied",
            ErrorClass::AccessDenied => "AccessDenied",
            ErrorClass::NotFound => "NotFound",
            ErrorClass::ApplicationNotFound => "ApplicationNotFound",
            ErrorClass::DeploymentGroupNotFound => "DeploymentGroupNotFound",
            ErrorClass::DeploymentLimitExceeded => "DeploymentLimitExceeded",
            ErrorClass::Invalid => "Invalid",
        }
    }
}

/// Render an error and its sources on one line ("a: b: c").
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(code: &str, status: Option<u16>) -> ErrorClass {
        AwsError::from_code("op", code.into(), String::new(), status).class
    }

    #[test]
    fn codes_are_classified() {
        assert_eq!(class("ThrottlingException", Some(400)), ErrorClass::Retryable);
        assert_eq!(class("ExpiredToken", Some(400)), ErrorClass::ExpiredCredentials);
        assert_eq!(class("AccessDenied", Some(403)), ErrorClass::AccessDenied);
        assert_eq!(
            class("DeploymentGroupDoesNotExistException", Some(400)),
            ErrorClass::DeploymentGroupNotFound
        );
        assert_eq!(
            class("ApplicationDoesNotExistException", Some(400)),
            ErrorClass::ApplicationNotFound
        );
        assert_eq!(
            class("DeploymentLimitExceededException", Some(400)),
            ErrorClass::DeploymentLimitExceeded
        );
        assert_eq!(class("InvalidRevisionException", Some(400)), ErrorClass::Invalid);
    }

    #[test]
    fn head_responses_fall_back_to_status() {
        assert_eq!(class("", Some(404)), ErrorClass::NotFound);
        assert_eq!(class("", Some(403)), ErrorClass::AccessDenied);
        assert_eq!(class("", Some(503)), ErrorClass::Retryable);
        assert_eq!(class("", Some(429)), ErrorClass::Retryable);
        assert_eq!(
            AwsError::from_code("op", String::new(), String::new(), Some(404)).code,
            "HTTP404"
        );
    }

    #[test]
    fn only_transient_classes_are_retryable() {
        let e = |class| AwsError {
            operation: "op",
            class,
            code: String::new(),
            message: String::new(),
        };
        assert!(e(ErrorClass::Retryable).is_retryable());
        assert!(e(ErrorClass::ExpiredCredentials).is_retryable());
        assert!(!e(ErrorClass::AccessDenied).is_retryable());
        assert!(!e(ErrorClass::AssumeRoleDenied).is_retryable());
    }
}
