//! What a reconcile sees before deciding, gathered in the order that makes
//! each later step meaningful: tenancy (before any AWS call), credentials,
//! the revision (what CodeDeploy needs of it), then the group. No decision
//! is taken here.

use super::desired::Desired;
use super::record::{since, view_from_record};
use crate::access::target::{self, TargetAccess};
use crate::access::{self, Admission, S3Location};
use crate::api::{
    CreateIntent, CrossAccountDeployment, CrossAccountDeploymentStatus, DeploymentRecord, DeploymentStatus,
    FailedTarget, Phase, ResolvedRevision, RevisionCheck,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::aws::codedeploy::{self, DeploymentView, S3Object};
use crate::aws::{AwsError, ErrorClass, s3};
use crate::revision::check::{self, ObjectSeen};
use crate::revision::look::{self, Existence, Looker};
use crate::revision::step2::PolicyFinding;
use crate::runtime::{Context, Error};
use crate::status::Failure;
use crate::status::diagnosis::{Reader, Subject, diagnose};
use crate::status::redact::{mask_secrets, tail};

/// Deployments created this long before the object still count as "ours"
/// when their description carries our marker (clock skew margin).
const MARKER_LOOKBACK: i64 = 600;

/// Failed instances read per failed deployment (status and Event stay small).
pub const MAX_FAILED_TARGETS: usize = 5;
/// A failed instance's log tail in status: its last lines, at most this long.
const LOG_TAIL_LINES: usize = 20;
const LOG_TAIL_CHARS: usize = 1024;

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

/// What was seen in the target account (never stored either).
#[allow(clippy::large_enum_variant)]
pub enum Seen {
    /// Observing failed, or the revision check found what stops a deployment.
    Failed {
        failure: Failure,
        check: Option<RevisionCheck>,
    },
    /// `spec.suspend` and no deployment of ours: nothing was looked at.
    Suspended,
    /// Our deployment for the desired digest: known from status, or found by
    /// its marker.
    Ours {
        ours: DeploymentView,
        revision: Option<ResolvedRevision>,
        check: Option<RevisionCheck>,
        drift: Drift,
        /// CodeDeploy's automatic rollback of ours, followed to its end.
        rollback: Option<DeploymentView>,
        superseded: Option<DeploymentView>,
        /// Ours failed: its failed instances (read once, then from status).
        failed_targets: Vec<FailedTarget>,
        /// crossdeploy stopped ours at the progress deadline (as recorded, or
        /// just now).
        stopped_at_deadline: bool,
    },
    /// Not created yet: the checked revision, and whatever occupies the group.
    NotCreated {
        revision: ResolvedRevision,
        check: RevisionCheck,
        other_active: Option<DeploymentView>,
        superseded: Option<DeploymentView>,
        /// Set by a CreateDeployment whose outcome is unknown (a timeout, a
        /// 5xx): the intent stays in status, so the marker is searched.
        intent: Option<CreateIntent>,
        /// The active deployment CodeDeploy named when it refused ours.
        blocked_by: Option<String>,
    },
}

/// The slow check that our succeeded deployment is still what the group runs.
#[derive(Clone, Debug, Default)]
pub struct Drift {
    /// The check ran in this reconcile.
    pub checked: bool,
    /// A later user deployment of another revision that replaced ours.
    pub replaced_by: Option<String>,
}

impl Seen {
    fn failed(failure: Failure) -> Self {
        Seen::Failed { failure, check: None }
    }

    /// crossdeploy has just stopped ours at the progress deadline.
    pub fn mark_stopped_at_deadline(&mut self) {
        if let Seen::Ours {
            stopped_at_deadline, ..
        } = self
        {
            *stopped_at_deadline = true;
        }
    }

    /// The previously tracked deployment, for an older digest, while it was
    /// still active: followed to its end so history stays complete.
    pub fn superseded(&self) -> Option<&DeploymentView> {
        match self {
            Seen::Ours { superseded, .. } | Seen::NotCreated { superseded, .. } => superseded.as_ref(),
            Seen::Failed { .. } | Seen::Suspended => None,
        }
    }

    /// The revision check in effect, fresh or as status recorded it.
    pub fn check(&self) -> Option<&RevisionCheck> {
        match self {
            Seen::Failed { check, .. } | Seen::Ours { check, .. } => check.as_ref(),
            Seen::NotCreated { check, .. } => Some(check),
            Seen::Suspended => None,
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
    // No identity reads a revision the TargetAccount does not allow.
    let location = S3Location::Object {
        bucket: &desired.s3.bucket,
        key: &desired.s3.key,
    };
    if let Err(refusal) = access::check_revision(&access.target.spec, location) {
        return Ok(Observation::Refused(target::not_permitted(
            &access.target,
            &refusal,
            namespace,
        )));
    }
    let spec = &access.target.spec;
    let place = Place {
        account_id: spec.account_id().map(str::to_string),
        region: obj.spec.region.clone().unwrap_or_else(|| spec.region.clone()),
        access,
    };
    let look = Look {
        obj,
        ctx,
        previous,
        desired,
        place: &place,
    };
    let seen = match look.run().await {
        Ok(seen) => seen,
        Err(e) => {
            place.access.forget_if_expired(ctx, &e).await;
            Seen::failed(diagnose(&e, &subject(&e, obj, &place, desired)))
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
    ctx: &'a Context,
    previous: &'a CrossAccountDeploymentStatus,
    desired: &'a Desired,
    place: &'a Place,
}

impl Look<'_> {
    async fn run(&self) -> Result<Seen, AwsError> {
        if let Some(current) = self.tracked() {
            return self.follow(current).await;
        }
        if self.obj.spec.suspend {
            return Ok(Seen::Suspended);
        }
        let (revision, check) = match self.check_revision().await? {
            Ok(checked) => checked,
            Err(blocked) => return Ok(blocked),
        };
        let Some(ours) = self.find_ours(&revision).await? else {
            // What occupies the group is known without listing it: our own
            // previous deployment, or the one CodeDeploy named when it last
            // refused ours. Anything else shows when CreateDeployment is
            // refused.
            let superseded = self.superseded(None).await?;
            let blocker = self.blocker(superseded.as_ref()).await?;
            let other_active = superseded
                .iter()
                .chain(blocker.iter())
                .find(|d| d.status.is_active())
                .cloned();
            return Ok(Seen::NotCreated {
                superseded,
                revision,
                check,
                blocked_by: other_active.as_ref().map(|d| d.id.clone()),
                other_active,
                intent: None,
            });
        };
        Ok(Seen::Ours {
            rollback: self.rollback_of(&ours, None).await?,
            superseded: self.superseded(Some(&ours)).await?,
            failed_targets: self.failed_targets(&ours, None).await,
            stopped_at_deadline: false,
            ours,
            revision: Some(revision),
            check: Some(check),
            drift: Drift::default(),
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
    /// change, so they cost no call but the slow drift check and, after a
    /// failure, following CodeDeploy's rollback to its end.
    async fn follow(&self, current: &DeploymentRecord) -> Result<Seen, AwsError> {
        let codedeploy = &self.place.access.clients.codedeploy;
        let recorded = current.status.clone().unwrap_or_default().phase();
        let ours = match recorded {
            Phase::Active => {
                let session = self.place.access.clients.id;
                self.ctx.poller.get(codedeploy, session, &current.id).await?
            }
            _ => view_from_record(current),
        };
        // Seeing ours succeed just now is as good as a drift check; the slow
        // check is for deployments that succeeded before.
        let drift = match recorded {
            Phase::Succeeded => self.drift(current).await?,
            _ => Drift::default(),
        };
        Ok(Seen::Ours {
            rollback: self.rollback_of(&ours, Some(current)).await?,
            failed_targets: self.failed_targets(&ours, Some(current)).await,
            stopped_at_deadline: current.progress_deadline_exceeded,
            ours,
            revision: self.previous.revision.clone(),
            check: self.previous.revision_check.clone(),
            drift,
            superseded: None,
        })
    }

    /// A failed deployment's failed instances, read once: from status when
    /// it recorded the failure, else from CodeDeploy (ListDeploymentTargets
    /// filtered to Failed, BatchGetDeploymentTargets, at most
    /// [`MAX_FAILED_TARGETS`]). Best effort: the failure itself is known
    /// without them, so an error here is logged, not reported.
    async fn failed_targets(&self, ours: &DeploymentView, record: Option<&DeploymentRecord>) -> Vec<FailedTarget> {
        if ours.status != DeploymentStatus::Failed {
            return Vec::new();
        }
        if let Some(r) = record.filter(|r| r.id == ours.id && r.status.as_ref() == Some(&DeploymentStatus::Failed)) {
            return r.failed_targets.clone();
        }
        let codedeploy = &self.place.access.clients.codedeploy;
        let with_tail = self.obj.spec.diagnostics.as_ref().is_some_and(|d| d.log_tail);
        match codedeploy::failed_targets(codedeploy, &ours.id, MAX_FAILED_TARGETS).await {
            Ok(views) => views.iter().map(|v| diagnosed(v, with_tail)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the failed deployment's instances");
                Vec::new()
            }
        }
    }

    /// Is ours still what the group runs? One GetDeploymentGroup per drift
    /// period. Deployments CodeDeploy made itself (scale-out, rollbacks,
    /// agent updates) and deployments of our very revision are not drift.
    async fn drift(&self, current: &DeploymentRecord) -> Result<Drift, AwsError> {
        let due = self
            .previous
            .last_drift_check_time
            .as_ref()
            .is_none_or(|t| since(Some(t)) >= self.ctx.settings.drift_check);
        if !due {
            return Ok(Drift {
                checked: false,
                replaced_by: current.replaced_by.clone(),
            });
        }
        let (application, group) = self.group();
        let codedeploy = &self.place.access.clients.codedeploy;
        let group_view = codedeploy::deployment_group(codedeploy, application, group).await?;
        let replaced_by = match group_view.last_attempted.filter(|id| *id != current.id) {
            None => None,
            Some(id) => codedeploy::get_deployment(codedeploy, &id)
                .await
                .map(|last| self.replaces_ours(&last).then_some(id))?,
        };
        Ok(Drift {
            checked: true,
            replaced_by,
        })
    }

    fn replaces_ours(&self, last: &DeploymentView) -> bool {
        let ours = self
            .previous
            .revision
            .as_ref()
            .map_or_else(|| self.revision_as_specified(), Clone::clone);
        last.creator == codedeploy::Creator::User
            && !last.revision.as_ref().is_some_and(|r| r.same_as(&object_of(&ours)))
    }

    /// CodeDeploy's rollback of ours, while it matters: fetched until it has
    /// ended (a finished one is read from the record).
    async fn rollback_of(
        &self,
        ours: &DeploymentView,
        record: Option<&DeploymentRecord>,
    ) -> Result<Option<DeploymentView>, AwsError> {
        let Some(id) = ours.rollback_deployment_id.as_deref() else {
            return Ok(None);
        };
        if let Some(r) = record.filter(|r| r.rollback_deployment_id.as_deref() == Some(id))
            && let Some(status) = r.rollback_status.as_ref().filter(|s| !s.is_active())
        {
            return Ok(Some(DeploymentView {
                id: id.to_string(),
                status: status.clone(),
                revision: r.rollback_revision_key.as_ref().map(|key| S3Object {
                    key: key.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
        let codedeploy = &self.place.access.clients.codedeploy;
        Ok(Some(codedeploy::get_deployment(codedeploy, id).await?))
    }

    /// What CodeDeploy needs of the revision, with whichever identity may
    /// look: Ok((revision, check)), or Err(a Seen that stops the deployment).
    async fn check_revision(&self) -> Result<Result<(ResolvedRevision, RevisionCheck), Seen>, AwsError> {
        let own_s3 = self.ctx.sessions.own_s3(Some(&self.place.region));
        let own_account = self.ctx.sessions.own_account().await.ok();
        let access = &self.place.access;
        let role = Looker::cross_account_role(access.role_arn(), self.place.account_id.clone(), &access.clients.s3);
        let operator = Looker::operator(own_account, &own_s3);
        let desired = self.desired;
        let memory = &self.ctx.revisions;
        let existence = look::existence(memory, &[role, operator], &desired.s3, &desired.bundle_type).await;
        let (revision, object) = match &existence {
            Existence::Found { head, by } => (
                head.revision.clone(),
                ObjectSeen::Found {
                    by,
                    kms_key: head.kms_key.as_deref(),
                },
            ),
            Existence::Unknown(why) => (self.revision_as_specified(), ObjectSeen::Unknown(why)),
            Existence::Missing { error, .. } => {
                return Ok(Err(Seen::failed(diagnose(error, &self.revision_subject()))));
            }
            Existence::Failed { error, .. } => return Err(error.clone()),
        };
        if let Some(changed) = check::etag_mismatch(desired.s3.e_tag.as_deref(), &revision) {
            return Ok(Err(Seen::failed(changed)));
        }
        let policy = self.instance_profile_grant(&own_s3, &revision).await;
        let (check, failure) = check::judge(&desired.location, &object, &policy);
        Ok(match failure {
            Some(failure) => Err(Seen::Failed {
                failure,
                check: Some(check),
            }),
            None => Ok((revision, check)),
        })
    }

    fn revision_subject(&self) -> Subject<'_> {
        Subject::Revision {
            reader: Reader::Deployer {
                role_arn: self.place.access.role_arn(),
            },
            bucket: &self.desired.s3.bucket,
            location: &self.desired.location,
        }
    }

    /// The revision as the spec names it, when nobody may look at it.
    fn revision_as_specified(&self) -> ResolvedRevision {
        let s3 = &self.desired.s3;
        ResolvedRevision {
            bucket: s3.bucket.clone(),
            key: s3.key.clone(),
            version_id: s3.version.clone(),
            e_tag: s3.e_tag.clone(),
            size: None,
            last_modified: None,
            bundle_type: self.desired.bundle_type.clone(),
        }
    }

    /// Guide step 2, as `look::instance_profile_grant` decides it for every caller.
    async fn instance_profile_grant(&self, own_s3: &s3::Client, revision: &ResolvedRevision) -> PolicyFinding {
        let access = &self.place.access;
        let instance_role = access.target.spec.instance_profile_role_arn.as_deref();
        let lookers = [
            Looker::operator(self.ctx.sessions.own_account().await.ok(), own_s3),
            Looker::cross_account_role(access.role_arn(), self.place.account_id.clone(), &access.clients.s3),
        ];
        let memory = &self.ctx.revisions;
        look::instance_profile_grant(memory, &lookers, instance_role, revision, &self.revision_subject())
            .await
            .finding
    }

    /// Exactly once, without listing the group on every rollout: a
    /// deployment carrying our marker can exist although status does not
    /// know it only when a CreateDeployment was sent and its id not recorded
    /// (the intent is still in status: a crash, a lost answer), or when this
    /// object was deleted and created again (it has no status: Argo CD
    /// Replace, a migration, a restore). Only this object's newest user
    /// deployment of the desired revision and digest counts: after v1 -> v2
    /// -> v1 the old v1 deployment is not what runs now.
    async fn find_ours(&self, revision: &ResolvedRevision) -> Result<Option<DeploymentView>, AwsError> {
        let ids = match &self.previous.create_intent {
            Some(intent) if intent.digest == self.desired.digest => self.created_since(&intent.time).await?,
            _ if self.previous.current_deployment.is_none() && self.previous.history.is_empty() => {
                self.group_latest().await?
            }
            _ => return Ok(None),
        };
        if ids.is_empty() {
            return Ok(None);
        }
        let owner = &self.desired.owner;
        let wanted = object_of(revision);
        let codedeploy = &self.place.access.clients.codedeploy;
        Ok(codedeploy::batch_get(codedeploy, &ids)
            .await?
            .into_iter()
            .filter(|d| d.creator == codedeploy::Creator::User)
            .find(|d| owner.owns(&d.description))
            .filter(|d| owner.marked(&d.description, &self.desired.digest))
            .filter(|d| d.revision.as_ref().is_none_or(|r| r.same_as(&wanted))))
    }

    /// The group's deployments created since a little before `time`.
    async fn created_since(&self, time: &Time) -> Result<Vec<String>, AwsError> {
        let since = aws_smithy_types::DateTime::from_secs(time.0.as_second() - MARKER_LOOKBACK);
        let (application, group) = self.group();
        let codedeploy = &self.place.access.clients.codedeploy;
        codedeploy::list_deployment_ids(codedeploy, application, group, &[], Some(since)).await
    }

    /// The group's latest attempted and successful deployments: what a
    /// recreated object adopts.
    async fn group_latest(&self) -> Result<Vec<String>, AwsError> {
        let (application, group) = self.group();
        let codedeploy = &self.place.access.clients.codedeploy;
        let view = codedeploy::deployment_group(codedeploy, application, group).await?;
        let mut ids: Vec<String> = view.last_attempted.into_iter().collect();
        ids.extend(view.last_successful.filter(|s| !ids.contains(s)));
        Ok(ids)
    }

    /// The deployment CodeDeploy named when it last refused ours, while it
    /// is still active (polled in batches).
    async fn blocker(&self, superseded: Option<&DeploymentView>) -> Result<Option<DeploymentView>, AwsError> {
        let Some(id) = self.previous.blocked_by.as_deref() else {
            return Ok(None);
        };
        if superseded.is_some_and(|s| s.id == id) {
            return Ok(None);
        }
        let session = self.place.access.clients.id;
        let codedeploy = &self.place.access.clients.codedeploy;
        match self.ctx.poller.get(codedeploy, session, id).await {
            Ok(view) => Ok(Some(view).filter(|v| v.status.is_active())),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The deployment status tracked before, for an older digest, if it was
    /// still active then.
    async fn superseded(&self, ours: Option<&DeploymentView>) -> Result<Option<DeploymentView>, AwsError> {
        let Some(old) = self
            .previous
            .current_deployment
            .as_ref()
            .filter(|c| c.status.as_ref().is_some_and(|s| s.is_active()))
            .filter(|c| ours.is_none_or(|o| o.id != c.id))
        else {
            return Ok(None);
        };
        let session = self.place.access.clients.id;
        let codedeploy = &self.place.access.clients.codedeploy;
        match self.ctx.poller.get(codedeploy, session, &old.id).await {
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            other => other.map(Some),
        }
    }
}

/// The S3 object of a revision, as CodeDeploy reports what it deploys.
fn object_of(rev: &ResolvedRevision) -> S3Object {
    S3Object {
        bucket: rev.bucket.clone(),
        key: rev.key.clone(),
        version: rev.version_id.clone(),
        e_tag: rev.e_tag.clone(),
    }
}

/// A failed instance as status and the failure Event show it: CodeDeploy's
/// diagnostics, masked; the log tail only when asked for, masked before it
/// is cut to its last lines.
fn diagnosed(v: &codedeploy::FailedTargetView, with_tail: bool) -> FailedTarget {
    FailedTarget {
        target_id: v.target_id.clone(),
        lifecycle_event: v.lifecycle_event.clone(),
        script_name: v.script_name.clone(),
        error_code: v.error_code.clone(),
        message: v.message.as_deref().map(mask_secrets),
        log_tail: v
            .log_tail
            .as_deref()
            .filter(|_| with_tail)
            .map(|t| tail(&mask_secrets(t), LOG_TAIL_LINES, LOG_TAIL_CHARS).0),
    }
}
