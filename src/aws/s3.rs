//! S3: what a revision is (guide step 4) and who may read it (guide step 2).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::gate::Gated;
use super::{AwsError, Classify};

/// S3 as one identity, behind its account's rate limit.
pub type Client = Gated<aws_sdk_s3::Client>;
use crate::api::{ResolvedRevision, S3Revision};

/// An object as HeadObject describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub revision: ResolvedRevision,
    /// The KMS key of an SSE-KMS object: the instances need kms:Decrypt too.
    pub kms_key: Option<String>,
}

/// HeadObject: the object exists and this identity may read it.
pub async fn head(s3: &Client, rev: &S3Revision, bundle_type: &str) -> Result<Head, AwsError> {
    s3.ready("s3:HeadObject").await;
    let out = s3
        .head_object()
        .bucket(&rev.bucket)
        .key(&rev.key)
        .set_version_id(rev.version.clone())
        .send()
        .await
        .classify("s3:HeadObject")?;
    let kms = out
        .server_side_encryption()
        .is_some_and(|e| e.as_str().starts_with("aws:kms"));
    Ok(Head {
        revision: ResolvedRevision {
            bucket: rev.bucket.clone(),
            key: rev.key.clone(),
            version_id: out.version_id().map(str::to_string).filter(|v| v != "null"),
            e_tag: out.e_tag().map(str::to_string),
            size: out.content_length(),
            last_modified: out.last_modified().and_then(to_time),
            bundle_type: bundle_type.to_string(),
        },
        kms_key: kms.then(|| {
            out.ssekms_key_id()
                .unwrap_or("the bucket's default KMS key")
                .to_string()
        }),
    })
}

/// One object as ListObjectsV2 reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub e_tag: Option<String>,
    pub size: Option<i64>,
    pub last_modified: Option<Time>,
}

/// A prefix holding more objects than this is refused rather than walked on
/// every poll: it is almost certainly not a revisions prefix.
const MAX_LIST_PAGES: usize = 100;

/// Every object under `prefix` (ListObjectsV2, all pages).
pub async fn list_objects(s3: &Client, bucket: &str, prefix: &str) -> Result<Vec<ObjectSummary>, AwsError> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        s3.ready("s3:ListObjectsV2").await;
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .classify("s3:ListObjectsV2")?;
        objects.extend(out.contents().iter().map(|o| ObjectSummary {
            key: o.key().unwrap_or_default().to_string(),
            e_tag: o.e_tag().map(str::to_string),
            size: o.size(),
            last_modified: o.last_modified().and_then(to_time),
        }));
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) && !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(objects),
        }
    }
    Err(AwsError {
        operation: "s3:ListObjectsV2",
        class: super::ErrorClass::Invalid,
        code: "TooManyObjects".into(),
        message: format!("more than {MAX_LIST_PAGES} pages of objects under s3://{bucket}/{prefix}; narrow the prefix"),
    })
}

/// The bucket's policy document; None when the bucket has no policy. Only
/// identities of the bucket owner's account may read it: `expected_owner`
/// makes S3 refuse when the bucket belongs to another account.
pub async fn get_bucket_policy(
    s3: &Client,
    bucket: &str,
    expected_owner: Option<&str>,
) -> Result<Option<String>, AwsError> {
    s3.ready("s3:GetBucketPolicy").await;
    match s3
        .get_bucket_policy()
        .bucket(bucket)
        .set_expected_bucket_owner(expected_owner.map(str::to_string))
        .send()
        .await
        .classify("s3:GetBucketPolicy")
    {
        Ok(out) => Ok(out.policy().map(str::to_string)),
        Err(e) if e.code == "NoSuchBucketPolicy" => Ok(None),
        Err(e) => Err(e),
    }
}

/// HeadBucket: the bucket exists, belongs to `expected_owner` (when given)
/// and this identity may list it (s3:ListBucket).
pub async fn head_bucket(s3: &Client, bucket: &str, expected_owner: Option<&str>) -> Result<(), AwsError> {
    s3.ready("s3:HeadBucket").await;
    s3.head_bucket()
        .bucket(bucket)
        .set_expected_bucket_owner(expected_owner.map(str::to_string))
        .send()
        .await
        .classify("s3:HeadBucket")
        .map(|_| ())
}

/// Whole seconds, as the API server stores times (see status::now).
pub(crate) fn to_time(dt: &aws_smithy_types::DateTime) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_second(dt.secs()).ok().map(Time)
}
