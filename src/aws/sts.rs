//! STS beyond AssumeRole (which aws-config's provider calls for us): who an
//! identity is.

use super::gate::Gated;
use super::{AwsError, Classify};

/// STS as one identity, behind its account's rate limit.
pub type Client = Gated<aws_sdk_sts::Client>;

/// The account of the identity `sts` signs as (sts:GetCallerIdentity).
pub async fn account_of(sts: &Client) -> Result<String, AwsError> {
    caller(sts).await.map(|c| c.account)
}

/// Who an identity is, as STS says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    /// A user or role ARN, or an assumed-role session ARN.
    pub arn: String,
}

/// The identity `sts` signs as (sts:GetCallerIdentity).
pub async fn caller(sts: &Client) -> Result<Caller, AwsError> {
    sts.ready("sts:GetCallerIdentity").await;
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .classify("sts:GetCallerIdentity")?;
    Ok(Caller {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}
