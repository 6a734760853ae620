//! STS beyond AssumeRole (which aws-config's provider calls for us): who an
//! identity is.

use super::gate::Gated;
use super::{AwsError, Classify};

/// STS as one identity, behind its account's rate limit.
pub type Client = Gated<aws_sdk_sts::Client>;

/// The account of the identity `sts` signs as (sts:GetCallerIdentity).
pub async fn account_of(sts: &Client) -> Result<String, AwsError> {
    sts.ready("sts:GetCallerIdentity").await;
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .classify("sts:GetCallerIdentity")?;
    Ok(out.account().unwrap_or_default().to_string())
}
