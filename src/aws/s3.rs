//! S3: proving that the target role can read a revision (guide steps 2 and 4).

use aws_sdk_s3::Client;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{AwsError, Classify};
use crate::api::{ResolvedRevision, S3Revision};

/// HeadObject as the target role: the object exists, the role (and, cross
/// account, the bucket policy) allow reading it. Returns what was found.
pub async fn head_revision(s3: &Client, rev: &S3Revision, bundle_type: &str) -> Result<ResolvedRevision, AwsError> {
    let out = s3
        .head_object()
        .bucket(&rev.bucket)
        .key(&rev.key)
        .set_version_id(rev.version.clone())
        .send()
        .await
        .classify("s3:HeadObject")?;
    Ok(ResolvedRevision {
        bucket: rev.bucket.clone(),
        key: rev.key.clone(),
        version_id: out.version_id().map(str::to_string).filter(|v| v != "null"),
        e_tag: out.e_tag().map(str::to_string),
        size: out.content_length(),
        last_modified: out.last_modified().and_then(to_time),
        bundle_type: bundle_type.to_string(),
    })
}

pub(crate) fn to_time(dt: &aws_smithy_types::DateTime) -> Option<Time> {
    let nanos = i32::try_from(dt.subsec_nanos()).ok()?;
    k8s_openapi::jiff::Timestamp::new(dt.secs(), nanos).ok().map(Time)
}
