//! STS beyond AssumeRole (which aws-config's provider calls for us): who an
//! identity is.

use super::{AwsError, Classify};

/// The account of the identity `sts` signs as (sts:GetCallerIdentity).
pub async fn account_of(sts: &aws_sdk_sts::Client) -> Result<String, AwsError> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .classify("sts:GetCallerIdentity")?;
    Ok(out.account().unwrap_or_default().to_string())
}
