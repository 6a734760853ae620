//! Guide steps 1 and 4 as one look at S3: which revision is there now.
//! A key costs one HeadObject; a prefix one ListObjectsV2 walk, plus one
//! HeadObject (for the version id) only when the chosen object changed.

use crate::api::{ResolvedRevision, RevisionSourceSpec, S3Revision, Selection};
use crate::aws::s3::{self, ObjectSummary};
use crate::revision_source::selection::select;
use crate::status::diagnosis::{Reader as Caller, Subject, diagnose};
use crate::status::{Failure, Reason};

use super::reader::Reader;

pub enum Resolved {
    /// The revision, and its KMS key when it is SSE-KMS encrypted.
    Found(ResolvedRevision, Option<String>),
    Failed(Failure, Option<crate::aws::AwsError>),
}

pub async fn resolve(spec: &RevisionSourceSpec, reader: &Reader, previous: Option<&ResolvedRevision>) -> Resolved {
    let bucket = &spec.s3.bucket;
    let (key, version) = match (&spec.s3.key, &spec.s3.prefix) {
        (Some(key), _) => (key.clone(), spec.s3.version_id.clone()),
        (None, Some(prefix)) => match choose(spec, reader, prefix, previous).await {
            Chosen::Key(key) => (key, None),
            Chosen::Unchanged(rev) => return Resolved::Found(rev, None),
            Chosen::Failed(resolved) => return resolved,
        },
        (None, None) => {
            return Resolved::Failed(
                Failure::permanent(
                    Reason::InvalidSpec,
                    "exactly one of spec.s3.key and spec.s3.prefix must be set",
                ),
                None,
            );
        }
    };
    let Some(bundle_type) = spec.bundle_type_for(&key) else {
        return Resolved::Failed(
            Failure::permanent(
                Reason::InvalidSpec,
                format!(
                    "the selected key {key:?} has no known bundle extension (.zip, .tar, .tgz, .tar.gz, .yaml, \
                     .yml, .json); set spec.bundleType or keep other files out of the prefix"
                ),
            ),
            None,
        );
    };
    let wanted = S3Revision {
        bucket: bucket.clone(),
        key: key.clone(),
        version,
        e_tag: None,
        bundle_type: Some(bundle_type),
    };
    match s3::head(reader.s3(), &wanted, bundle_type.as_aws_str()).await {
        Ok(head) => Resolved::Found(head.revision, head.kms_key),
        Err(e) => {
            let location = match &wanted.version {
                Some(v) => format!("s3://{bucket}/{key} (version {v})"),
                None => format!("s3://{bucket}/{key}"),
            };
            failed(e, reader, bucket, &location)
        }
    }
}

/// The object chosen under a prefix.
enum Chosen {
    Key(String),
    /// The same object as last time: no HeadObject needed.
    Unchanged(ResolvedRevision),
    Failed(Resolved),
}

async fn choose(
    spec: &RevisionSourceSpec,
    reader: &Reader,
    prefix: &str,
    previous: Option<&ResolvedRevision>,
) -> Chosen {
    let bucket = &spec.s3.bucket;
    let objects = match s3::list_objects(reader.s3(), bucket, prefix).await {
        Ok(o) => o,
        Err(e) => return Chosen::Failed(failed(e, reader, bucket, &format!("s3://{bucket}/{prefix}"))),
    };
    let selection = spec.effective_selection();
    let Some(chosen) = select(&objects, prefix, selection) else {
        return Chosen::Failed(Resolved::Failed(
            no_candidate(bucket, prefix, selection, objects.len()),
            None,
        ));
    };
    if let Some(prev) = previous.filter(|p| same_object(p, bucket, chosen))
        && let Some(bundle_type) = spec.bundle_type_for(&chosen.key)
    {
        return Chosen::Unchanged(ResolvedRevision {
            bundle_type: bundle_type.as_aws_str().to_string(),
            ..prev.clone()
        });
    }
    Chosen::Key(chosen.key.clone())
}

fn failed(e: crate::aws::AwsError, reader: &Reader, bucket: &str, location: &str) -> Resolved {
    let who = reader.describe();
    let subject = Subject::Revision {
        reader: Caller::Source { identity: &who },
        bucket,
        location,
    };
    let failure = diagnose(&e, &subject);
    Resolved::Failed(failure, Some(e))
}

/// ListObjectsV2 and HeadObject disagree on lastModified precision, so an
/// object is "the same" by key, ETag and size.
fn same_object(prev: &ResolvedRevision, bucket: &str, o: &ObjectSummary) -> bool {
    let etag = |e: Option<&String>| e.map(|e| e.trim_matches('"').to_string());
    prev.bucket == bucket
        && prev.key == o.key
        && etag(prev.e_tag.as_ref()) == etag(o.e_tag.as_ref())
        && prev.size == o.size
}

fn no_candidate(bucket: &str, prefix: &str, selection: Selection, listed: usize) -> Failure {
    let what = match selection {
        Selection::NewestLastModified => "no object".to_string(),
        Selection::HighestSemver => {
            format!("none of the {listed} objects has a semantic version in its key, so nothing")
        }
    };
    Failure::permanent(
        Reason::ObjectNotFound,
        format!(
            "{what} under s3://{bucket}/{prefix} can be selected. Guide step 4: upload a revision there, or fix spec.s3.prefix"
        ),
    )
}
