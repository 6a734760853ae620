//! The S3 revision a CrossAccountDeployment wants: given inline, or pinned
//! from the RevisionSource it references. Kubernetes reads only, no AWS call.

use kube::{Api, ResourceExt};

use crate::api::{CrossAccountDeployment, RevisionSource, S3Revision};
use crate::deployment::pinned::pin;
use crate::runtime::{Context, Error};
use crate::status::{Failure, Reason};

/// The revision, and the source revision digest it was pinned from.
pub type Wanted = (S3Revision, Option<String>);

pub async fn desired_revision(obj: &CrossAccountDeployment, ctx: &Context) -> Result<Result<Wanted, Failure>, Error> {
    let revision = &obj.spec.revision;
    if let Some(s3) = &revision.s3 {
        return Ok(Ok((s3.clone(), None)));
    }
    let Some(source_ref) = &revision.source_ref else {
        return Ok(Err(Failure::permanent(
            Reason::InvalidSpec,
            "exactly one of spec.revision.s3 and spec.revision.sourceRef is required",
        )));
    };
    let ns = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let sources: Api<RevisionSource> = Api::namespaced(ctx.client.clone(), &ns);
    let source = sources.get_opt(&source_ref.name).await?;
    Ok(pin(&source_ref.name, source.as_ref()).map(|p| (p.s3, Some(p.source_digest))))
}
