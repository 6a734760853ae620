//! What a reconcile sees before deciding, gathered in the order that makes
//! each later step meaningful: tenancy (before any AWS call), credentials,
//! then the deployment itself. No decision is taken here.

use std::time::Duration;

use super::desired::Desired;
use super::marker;
use super::record::{since, view_from_record};
use crate::access::Admission;
use crate::access::target::{self, TargetAccess};
use crate::api::{CrossAccountDeployment, CrossAccountDeploymentStatus, DeploymentRecord, Phase, ResolvedRevision};
use crate::aws::codedeploy::{self, ACTIVE_STATUSES, DeploymentView};
use crate::aws::{AwsError, s3};
use crate::runtime::{Context, Error};
use crate::status::diagnosis::{Reader, Subject, diagnose};
use crate::status::{Failure, Reason};

/// Deployments created this long before the object still count as "ours"
/// when their description carries our marker (clock skew margin).
const MARKER_LOOKBACK: i64 = 600;

/// Where the deployment goes: the admitted TargetAccount's session, its
/// account and the region.
pub struct Place {
    pub access: TargetAccess,
    pub account_id: Option<String>,
    pub region: String,
}

/// What one reconcile observed. One lives on the stack per reconcile and is
/// never stored, so its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Observation {
    /// Refused before the target account was reached (tenancy, a missing
    /// TargetAccount, Secret or RevisionSource, an invalid spec).
    Refused(Failure),
    /// In the target account: where, and what was seen there.
    Reached { place: Place, seen: Seen },
}

/// What was seen in the target account.
pub enum Seen {
    Failed(Failure),
    /// `spec.suspend` and no deployment of ours: nothing was looked at.
    Suspended,
    /// Our deployment for the desired digest: known from status, or found by
    /// its marker.
    Ours {
        ours: DeploymentView,
        revision: Option<ResolvedRevision>,
        drift: Drift,
        superseded: Option<DeploymentView>,
    },
    /// Not created yet: the verified revision, and whatever occupies the group.
    NotCreated {
        revision: ResolvedRevision,
        other_active: Option<DeploymentView>,
        superseded: Option<DeploymentView>,
    },
}

/// The slow check that our succeeded deployment is still the group's latest.
#[derive(Clone, Debug, Default)]
pub struct Drift {
    /// The check ran in this reconcile.
    pub checked: bool,
    /// A later deployment that replaced ours.
    pub replaced_by: Option<String>,
}

impl Observation {
    pub fn place(&self) -> Option<&Place> {
        match self {
            Observation::Refused(_) => None,
            Observation::Reached { place, .. } => Some(place),
        }
    }
}

impl Seen {
    /// The previously tracked deployment, for an older digest, while it was
    /// still active: followed to its end so history stays complete.
    pub fn superseded(&self) -> Option<&DeploymentView> {
        match self {
            Seen::Ours { superseded, .. } | Seen::NotCreated { superseded, .. } => superseded.as_ref(),
            Seen::Failed(_) | Seen::Suspended => None,
        }
    }
}

pub async fn gather(
    obj: &CrossAccountDeployment,
    ctx: &Context,
    previous: &CrossAccountDeploymentStatus,
    desired: &Desired,
) -> Result<Observation, Error> {
    let namespace = obj.metadata.namespace.as_deref().unwrap_or_default();
    let access = match target::for_deployment(ctx, &obj.spec, namespace).await? {
        Admission::Admitted(access) => access,
        Admission::Refused(failure) => return Ok(Observation::Refused(failure)),
    };
    let spec = &access.target.spec;
    let place = Place {
        account_id: spec.account_id().map(str::to_string),
        region: obj.spec.region.clone().unwrap_or_else(|| spec.region.clone()),
        access,
    };
    let look = Look {
        obj,
        previous,
        desired,
        place: &place,
        drift_every: ctx.settings.drift_check,
    };
    let seen = match look.run().await {
        Ok(seen) => seen,
        Err(e) => {
            place.access.forget_if_expired(ctx, &e).await;
            Seen::Failed(diagnose(&e, &subject(&e, obj, &place, desired)))
        }
    };
    Ok(Observation::Reached { place, seen })
}

/// What a failed call of this reconcile was about, from its operation.
pub fn subject<'a>(
    err: &AwsError,
    obj: &'a CrossAccountDeployment,
    place: &'a Place,
    desired: &'a Desired,
) -> Subject<'a> {
    let role_arn = place.access.role_arn();
    if err.operation.starts_with("s3:") {
        Subject::Revision {
            reader: Reader::Deployer { role_arn },
            bucket: &desired.s3.bucket,
            location: &desired.location,
        }
    } else {
        Subject::CodeDeploy {
            role_arn,
            application: &obj.spec.application_name,
            group: &obj.spec.deployment_group_name,
        }
    }
}

/// One look at the target account.
struct Look<'a> {
    obj: &'a CrossAccountDeployment,
    previous: &'a CrossAccountDeploymentStatus,
    desired: &'a Desired,
    place: &'a Place,
    drift_every: Duration,
}

impl Look<'_> {
    async fn run(&self) -> Result<Seen, AwsError> {
        if let Some(current) = self.tracked() {
            return self.follow(current).await;
        }
        if self.obj.spec.suspend {
            return Ok(Seen::Suspended);
        }
        let clients = &self.place.access.clients;
        let revision = s3::head_revision(&clients.s3, &self.desired.s3, &self.desired.bundle_type).await?;
        if let Some(changed) = self.etag_mismatch(&revision) {
            return Ok(Seen::Failed(changed));
        }
        let (application, group) = self.group();
        codedeploy::check_deployment_group(&clients.codedeploy, application, group).await?;
        let ours = self.find_ours().await?;
        let other_active = match &ours {
            Some(_) => None,
            None => codedeploy::list_deployments(&clients.codedeploy, application, group, &ACTIVE_STATUSES, None)
                .await?
                .into_iter()
                .next(),
        };
        let superseded = self.superseded(ours.as_ref(), other_active.as_ref()).await?;
        Ok(match ours {
            Some(ours) => Seen::Ours {
                ours,
                revision: Some(revision),
                drift: Drift::default(),
                superseded,
            },
            None => Seen::NotCreated {
                revision,
                other_active,
                superseded,
            },
        })
    }

    fn group(&self) -> (&str, &str) {
        (&self.obj.spec.application_name, &self.obj.spec.deployment_group_name)
    }

    /// The deployment status already knows for this digest, in this place. A
    /// record from another account or region (the TargetAccount or region
    /// changed) says nothing about this one; records without them predate
    /// the fields and are trusted.
    fn tracked(&self) -> Option<&DeploymentRecord> {
        let place = self.place;
        self.previous.current_deployment.as_ref().filter(|c| {
            c.digest == self.desired.digest
                && c.account_id
                    .as_ref()
                    .is_none_or(|a| Some(a) == place.account_id.as_ref())
                && c.region.as_ref().is_none_or(|r| *r == place.region)
        })
    }

    /// Our known deployment: polled while active; finished deployments never
    /// change, so they cost no call but the slow drift check.
    async fn follow(&self, current: &DeploymentRecord) -> Result<Seen, AwsError> {
        let codedeploy = &self.place.access.clients.codedeploy;
        let status = current.status.clone().unwrap_or_default();
        let ours = match status.phase() {
            Phase::Active => codedeploy::get_deployment(codedeploy, &current.id).await?,
            _ => view_from_record(current),
        };
        let mut drift = Drift {
            checked: false,
            replaced_by: current.replaced_by.clone(),
        };
        let due = self
            .previous
            .last_drift_check_time
            .as_ref()
            .is_none_or(|t| since(Some(t)) >= self.drift_every);
        if status.phase() == Phase::Succeeded && due {
            let (application, group) = self.group();
            let last = codedeploy::last_attempted_deployment(codedeploy, application, group).await?;
            drift.checked = true;
            drift.replaced_by = last.filter(|id| id != &current.id);
        }
        Ok(Seen::Ours {
            ours,
            revision: self.previous.revision.clone(),
            drift,
            superseded: None,
        })
    }

    /// The object was replaced after the spec pinned its ETag (guide step 4).
    fn etag_mismatch(&self, revision: &ResolvedRevision) -> Option<Failure> {
        let expected = self.desired.s3.e_tag.as_deref()?;
        let found = revision.e_tag.as_deref().map(|e| e.trim_matches('"'));
        (found != Some(expected.trim_matches('"'))).then(|| {
            Failure::permanent(
                Reason::RevisionChanged,
                format!(
                    "s3://{}/{} has ETag {} but spec.revision.s3.eTag is {expected}: the object was replaced \
                     after the spec was written (guide step 4). Pin spec.revision.s3.version or update the eTag",
                    revision.bucket,
                    revision.key,
                    revision.e_tag.as_deref().unwrap_or("none")
                ),
            )
        })
    }

    /// Exactly once: a deployment carrying our marker may exist although
    /// status does not know it (crash after CreateDeployment, lost status
    /// write). It can only be newer than the last deployment status knows.
    async fn find_ours(&self) -> Result<Option<DeploymentView>, AwsError> {
        let lookback = self
            .previous
            .current_deployment
            .as_ref()
            .and_then(|c| c.create_time.as_ref())
            .or(self.obj.metadata.creation_timestamp.as_ref())
            .map(|t| aws_smithy_types::DateTime::from_secs(t.0.as_second() - MARKER_LOOKBACK));
        let (application, group) = self.group();
        let codedeploy = &self.place.access.clients.codedeploy;
        let recent = codedeploy::list_deployments(codedeploy, application, group, &[], lookback).await?;
        // Only this object's newest deployment counts: after v1 -> v2 -> v1
        // the old v1 deployment carries the same marker but is not what runs.
        let (uid, digest) = (&self.desired.uid, &self.desired.digest);
        Ok(recent
            .into_iter()
            .find(|d| marker::owned_by(&d.description, uid))
            .filter(|d| marker::carries_marker(&d.description, uid, digest)))
    }

    /// The deployment status tracked before, for an older digest, if it was
    /// still active then.
    async fn superseded(
        &self,
        ours: Option<&DeploymentView>,
        other_active: Option<&DeploymentView>,
    ) -> Result<Option<DeploymentView>, AwsError> {
        let Some(old) = self
            .previous
            .current_deployment
            .as_ref()
            .filter(|c| c.status.as_ref().is_some_and(|s| s.is_active()))
            .filter(|c| ours.is_none_or(|o| o.id != c.id))
        else {
            return Ok(None);
        };
        if let Some(still_active) = other_active.filter(|a| a.id == old.id) {
            return Ok(Some(still_active.clone()));
        }
        let codedeploy = &self.place.access.clients.codedeploy;
        Ok(Some(codedeploy::get_deployment(codedeploy, &old.id).await?))
    }
}
