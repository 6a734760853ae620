//! What a CrossAccountDeployment wants deployed, before any AWS call: the S3
//! revision (inline, or pinned from its RevisionSource), its bundle type and
//! the digest its marker carries.

use kube::ResourceExt;

use super::marker::{self, Owner, REDEPLOY_ANNOTATION};
use super::pinned::pin;
use crate::access::Admission;
use crate::api::{CrossAccountDeployment, S3Revision};
use crate::runtime::{Context, Error};
use crate::status::{Failure, Reason};

/// Everything about the desired state that does not need AWS.
pub struct Desired {
    pub s3: S3Revision,
    /// The RevisionSource revision digest `s3` was pinned from, if any.
    pub source_digest: Option<String>,
    pub bundle_type: String,
    pub digest: String,
    /// Whose marker the deployments carry.
    pub owner: Owner,
    /// `s3://bucket/key (version v)`, for messages.
    pub location: String,
}

impl Desired {
    /// The desired revision, or why it cannot be known yet (a missing or
    /// not yet Ready RevisionSource, an unknown bundle type).
    pub async fn of(obj: &CrossAccountDeployment, ctx: &Context) -> Result<Admission<Desired>, Error> {
        let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
        let namespace = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
        let (s3, source_digest) = match revision(obj, ctx).await? {
            Admission::Admitted(wanted) => wanted,
            Admission::Refused(failure) => return Ok(Admission::Refused(failure)),
        };
        let Some(bundle_type) = s3.effective_bundle_type() else {
            return Ok(Admission::Refused(Failure::permanent(
                Reason::InvalidSpec,
                "spec.revision.s3.bundleType is required when the key has no known extension",
            )));
        };
        let redeploy = obj.annotations().get(REDEPLOY_ANNOTATION).map(String::as_str);
        Ok(Admission::Admitted(Desired {
            digest: marker::desired_digest(&obj.spec, &s3, redeploy),
            bundle_type: bundle_type.as_aws_str().to_string(),
            location: match &s3.version {
                Some(v) => format!("s3://{}/{} (version {v})", s3.bucket, s3.key),
                None => format!("s3://{}/{}", s3.bucket, s3.key),
            },
            s3,
            source_digest,
            owner: Owner::new(&namespace, &obj.name_any(), &uid),
        }))
    }
}

/// The revision given inline, or pinned from the referenced RevisionSource
/// (with the source digest it was pinned from). Kubernetes reads only.
async fn revision(
    obj: &CrossAccountDeployment,
    ctx: &Context,
) -> Result<Admission<(S3Revision, Option<String>)>, Error> {
    let revision = &obj.spec.revision;
    if let Some(s3) = &revision.s3 {
        return Ok(Admission::Admitted((s3.clone(), None)));
    }
    let Some(source_ref) = &revision.source_ref else {
        return Ok(Admission::Refused(Failure::permanent(
            Reason::InvalidSpec,
            "exactly one of spec.revision.s3 and spec.revision.sourceRef is required",
        )));
    };
    let ns = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let source = ctx.feeds.sources.get(&source_ref.name, Some(&ns));
    Ok(match pin(&source_ref.name, source.as_deref()) {
        Ok(pinned) => Admission::Admitted((pinned.s3, Some(pinned.source_digest))),
        Err(failure) => Admission::Refused(failure),
    })
}
