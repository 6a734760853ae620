//! What a CrossAccountDeployment wants deployed, before any AWS call: the S3
//! revision (inline, pinned from its RevisionSource, or promoted from
//! another CrossAccountDeployment; a rollback's last good revision while one
//! is in effect), its bundle type and the digest its marker carries.

use std::time::Duration;

use kube::{Api, ResourceExt};

use super::decide::wanted::{self, Promoted, PromotionInput, Rollback, RollbackInput, SourceView};
use super::marker::{self, Owner, REDEPLOY_ANNOTATION, ROLLBACK_ANNOTATION};
use super::pinned::pin;
use crate::api::{
    BundleType, CrossAccountDeployment, CrossAccountDeploymentStatus, Promotion, PromotionStatus, ResolvedRevision,
    RollbackStatus, S3Revision, parse_duration,
};
use crate::runtime::{Context, Error};
use crate::status::{self, Failure, Reason, Report};

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
    /// The rollback to record: in effect (`active`, `s3` is its revision) or
    /// ended (kept so that its token never rolls back again).
    pub rollback: Option<RollbackStatus>,
    /// With `spec.promotion`: where `s3` was promoted from.
    pub promotion: Option<PromotionStatus>,
    /// What the promotion says besides (where from, what soaks).
    pub note: Option<String>,
    /// Look again after at most this long (a soak ends).
    pub recheck: Option<Duration>,
}

/// What a reconcile wants: a revision to deploy, nothing yet (a promotion
/// whose source has nothing to promote), or a refusal. One lives on the
/// stack per reconcile, so its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Wanted {
    Deploy(Desired),
    Hold {
        report: Report,
        promotion: Option<PromotionStatus>,
    },
    Refused(Failure),
}

impl Desired {
    /// The rollback in effect, if any.
    pub fn rolling_back(&self) -> Option<&RollbackStatus> {
        self.rollback.as_ref().filter(|r| r.active)
    }

    /// The desired revision, or why it cannot be known yet (a missing or
    /// not yet Ready source, nothing promotable, an unknown bundle type).
    pub async fn of(
        obj: &CrossAccountDeployment,
        ctx: &Context,
        previous: &CrossAccountDeploymentStatus,
    ) -> Result<Wanted, Error> {
        let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
        let namespace = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
        let chosen = match revision(obj, ctx, previous).await? {
            Chosen::Revision(chosen) => chosen,
            Chosen::Hold { report, promotion } => return Ok(Wanted::Hold { report, promotion }),
            Chosen::Refused(failure) => return Ok(Wanted::Refused(failure)),
        };
        let Some(bundle_type) = chosen.s3.effective_bundle_type() else {
            return Ok(Wanted::Refused(Failure::permanent(
                Reason::InvalidSpec,
                "spec.revision.s3.bundleType is required when the key has no known extension",
            )));
        };
        let (s3, digest, rollback) = match with_rollback(obj, previous, chosen.s3, bundle_type) {
            Ok(decided) => decided,
            Err(failure) => return Ok(Wanted::Refused(failure)),
        };
        Ok(Wanted::Deploy(Desired {
            digest,
            bundle_type: s3
                .effective_bundle_type()
                .unwrap_or(bundle_type)
                .as_aws_str()
                .to_string(),
            location: match &s3.version {
                Some(v) => format!("s3://{}/{} (version {v})", s3.bucket, s3.key),
                None => format!("s3://{}/{}", s3.bucket, s3.key),
            },
            s3,
            source_digest: chosen.source_digest,
            owner: Owner::new(&namespace, &obj.name_any(), &uid),
            rollback,
            promotion: chosen.promotion,
            note: chosen.note,
            recheck: chosen.recheck,
        }))
    }
}

/// The spec's revision, or a rollback's while one is in effect: the S3
/// object, its digest, and the rollback to record.
fn with_rollback(
    obj: &CrossAccountDeployment,
    previous: &CrossAccountDeploymentStatus,
    spec_s3: S3Revision,
    bundle_type: BundleType,
) -> Result<(S3Revision, String, Option<RollbackStatus>), Failure> {
    let annotation = |key: &str| obj.annotations().get(key).map(String::as_str);
    let redeploy = annotation(REDEPLOY_ANNOTATION);
    let spec_digest = marker::desired_digest(&obj.spec, &spec_s3, redeploy, None);
    let decided = wanted::rollback(&RollbackInput {
        token: annotation(ROLLBACK_ANNOTATION),
        previous: previous.rollback.as_ref(),
        spec_digest: &spec_digest,
        spec_revision: &as_resolved(&spec_s3, bundle_type),
        last_successful: previous.last_successful_revision.as_ref(),
        history: &previous.history,
        now: status::now(),
    });
    match decided {
        Rollback::Spec(ended) => Ok((spec_s3, spec_digest, ended)),
        Rollback::Active(mut r) => {
            let s3 = exact_object(&r.to_revision, "the rollback's revision")?;
            r.digest = marker::desired_digest(&obj.spec, &s3, redeploy, Some(&r.token));
            Ok((s3, r.digest.clone(), Some(r)))
        }
        Rollback::Unavailable(failure) => Err(failure),
    }
}

/// The revision as the spec (or its source) names it, before S3 is asked.
fn as_resolved(s3: &S3Revision, bundle_type: BundleType) -> ResolvedRevision {
    ResolvedRevision {
        bucket: s3.bucket.clone(),
        key: s3.key.clone(),
        version_id: s3.version.clone(),
        e_tag: s3.e_tag.clone(),
        size: None,
        last_modified: None,
        bundle_type: bundle_type.as_aws_str().to_string(),
    }
}

/// A revision recorded in status, as the exact S3 object to deploy again.
fn exact_object(rev: &ResolvedRevision, what: &str) -> Result<S3Revision, Failure> {
    let Some(bundle_type) = BundleType::from_aws_str(&rev.bundle_type) else {
        return Err(Failure::permanent(
            Reason::InvalidSpec,
            format!(
                "{what} s3://{}/{} has unknown bundle type {:?}",
                rev.bucket, rev.key, rev.bundle_type
            ),
        ));
    };
    Ok(S3Revision {
        bucket: rev.bucket.clone(),
        key: rev.key.clone(),
        version: rev.version_id.clone(),
        e_tag: rev.e_tag.clone(),
        bundle_type: Some(bundle_type),
    })
}

/// The revision the spec's source of revisions yields.
struct Revision {
    s3: S3Revision,
    source_digest: Option<String>,
    promotion: Option<PromotionStatus>,
    note: Option<String>,
    recheck: Option<Duration>,
}

impl Revision {
    fn of(s3: S3Revision, source_digest: Option<String>) -> Self {
        Self {
            s3,
            source_digest,
            promotion: None,
            note: None,
            recheck: None,
        }
    }
}

enum Chosen {
    Revision(Revision),
    Hold {
        report: Report,
        promotion: Option<PromotionStatus>,
    },
    Refused(Failure),
}

/// The revision given inline, pinned from the referenced RevisionSource
/// (with the source digest it was pinned from), or promoted from another
/// CrossAccountDeployment. Kubernetes reads only.
async fn revision(
    obj: &CrossAccountDeployment,
    ctx: &Context,
    previous: &CrossAccountDeploymentStatus,
) -> Result<Chosen, Error> {
    if let Some(promotion) = &obj.spec.promotion {
        return promoted(obj, ctx, promotion, previous).await;
    }
    let Some(revision) = &obj.spec.revision else {
        return Ok(Chosen::Refused(Failure::permanent(
            Reason::InvalidSpec,
            "exactly one of spec.revision and spec.promotion is required",
        )));
    };
    if let Some(s3) = &revision.s3 {
        return Ok(Chosen::Revision(Revision::of(s3.clone(), None)));
    }
    let Some(source_ref) = &revision.source_ref else {
        return Ok(Chosen::Refused(Failure::permanent(
            Reason::InvalidSpec,
            "exactly one of spec.revision.s3 and spec.revision.sourceRef is required",
        )));
    };
    let ns = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let source = ctx.feeds.sources.get(&source_ref.name, Some(&ns));
    Ok(match pin(&source_ref.name, source.as_deref()) {
        Ok(pinned) => Chosen::Revision(Revision::of(pinned.s3, Some(pinned.source_digest))),
        Err(failure) => Chosen::Refused(failure),
    })
}

/// `spec.promotion`: read the source and the chain behind it, then let the
/// pure promotion decision choose.
async fn promoted(
    obj: &CrossAccountDeployment,
    ctx: &Context,
    promotion: &Promotion,
    previous: &CrossAccountDeploymentStatus,
) -> Result<Chosen, Error> {
    let ns = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<CrossAccountDeployment> = Api::namespaced(ctx.client.clone(), &ns);
    let from = &promotion.from.name;
    let source = api.get_opt(from).await?;
    let chain = chain(&api, obj.name_any(), source.as_ref()).await?;
    let verdict = wanted::promotion(&PromotionInput {
        from,
        source: source.as_ref().map(|s| SourceView {
            generation: s.metadata.generation,
            status: s.status.as_ref(),
        }),
        chain: &chain,
        soak: promotion
            .soak_time
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or_default(),
        previous: previous.promotion.as_ref(),
        now: status::now().0,
    });
    Ok(match verdict {
        Promoted::Deploy {
            revision,
            status,
            note,
            recheck,
        } => match exact_object(&revision, &format!("the revision promoted from {from}")) {
            Ok(s3) => Chosen::Revision(Revision {
                s3,
                source_digest: None,
                promotion: Some(status),
                note: Some(note),
                recheck,
            }),
            Err(failure) => Chosen::Refused(failure),
        },
        Promoted::Wait { report, status } => Chosen::Hold {
            report,
            promotion: Some(status),
        },
        Promoted::Refused(failure) => Chosen::Refused(failure),
    })
}

/// The names along `spec.promotion.from`, starting with this object, until
/// an object without promotion, a missing one, a repeated name or the
/// longest chain allowed (one GET per hop).
async fn chain(
    api: &Api<CrossAccountDeployment>,
    me: String,
    first: Option<&CrossAccountDeployment>,
) -> Result<Vec<String>, Error> {
    let mut names = vec![me];
    let mut next = first.cloned();
    while let Some(obj) = next.take() {
        let name = obj.name_any();
        let repeated = names.contains(&name);
        names.push(name);
        if repeated || names.len() > wanted::MAX_PROMOTION_CHAIN {
            break;
        }
        let Some(promotion) = &obj.spec.promotion else {
            break;
        };
        if names.contains(&promotion.from.name) {
            names.push(promotion.from.name.clone());
            break;
        }
        next = api.get_opt(&promotion.from.name).await?;
    }
    Ok(names)
}
