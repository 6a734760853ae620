//! Reconciles CrossAccountDeployments: know what is desired, gather what is
//! observed, [`decide`], execute the one effect, write status.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, ResourceExt};
use tracing::{debug, instrument};

use super::cleanup::cleanup;
use super::decide::{
    Controls, Decision, Effect, Observed, SETTLED_RECHECK, Want, decide, decide_create_refused, decide_failure,
};
use super::desired::{Desired, Wanted};
use super::marker::{self, APPROVE_ANNOTATION, CONTINUE_ANNOTATION};
use super::observe::{self, Drift, Observation, Place, Seen};
use super::record::{build_status, held_status, since};
use crate::api::{
    CreateIntent, CrossAccountDeployment, CrossAccountDeploymentStatus, DeploymentStatus, ResolvedRevision,
    parse_duration,
};
use crate::aws::codedeploy::{self, CreateRequest, DeploymentView};
use crate::aws::fence::{TENURE_OVER, Tenure};
use crate::aws::{AwsError, ErrorClass};
use crate::runtime::reconcile::{conclude, observed, write_status, write_status_if_current};
use crate::runtime::{Context, Error, display_ref};
use crate::status::diagnosis::diagnose;
use crate::status::{self, Report};

pub const FINALIZER: &str = "crossdeploy.io/deployment";

pub async fn reconcile(obj: Arc<CrossAccountDeployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<CrossAccountDeployment> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(&obj, &ctx).await,
            Finalizer::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

#[instrument(skip_all, fields(object = %display_ref(obj), deployment_id = tracing::field::Empty))]
async fn apply(obj: &CrossAccountDeployment, ctx: &Context) -> Result<Action, Error> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let previous = obj.status.clone().unwrap_or_default();
    let desired = match Desired::of(obj, ctx, &previous).await? {
        Wanted::Deploy(desired) => desired,
        Wanted::Hold { report, promotion } => {
            // Nothing to deploy yet: no AWS call; the source is watched.
            ctx.note_attempt(&uid, false).await;
            let next = held_status(&previous, promotion);
            return finish(obj, ctx, &previous, next, &report).await;
        }
        Wanted::Refused(failure) => {
            // No AWS call until the revision is known; backoff only matters
            // for a not-yet-ready source, whose changes are watched anyway.
            let attempt = ctx.note_attempt(&uid, failure.retryable).await;
            let report = decide_failure(&failure, attempt).report;
            let next = build_status(&previous, &Observation::Refused(failure), None, &report);
            return finish(obj, ctx, &previous, next, &report).await;
        }
    };
    let attempt = ctx.attempts(&uid).await;
    let mut observation = observe::gather(obj, ctx, &previous, &desired).await?;
    let decision = decide(&observed_for(obj, ctx, &previous, &desired, &observation, attempt));
    let report = execute(obj, ctx, &previous, &desired, &mut observation, decision, attempt).await?;
    ctx.note_attempt(&uid, report.backs_off).await;
    let next = build_status(&previous, &observation, Some(&desired), &report);
    finish(obj, ctx, &previous, next, &report).await
}

/// The decider's view of an observation.
fn observed_for<'a>(
    obj: &'a CrossAccountDeployment,
    ctx: &Context,
    previous: &CrossAccountDeploymentStatus,
    desired: &'a Desired,
    observation: &'a Observation,
    attempt: u32,
) -> Observed<'a> {
    let mut o = Observed {
        suspend: obj.spec.suspend,
        on_active: obj.spec.on_active_deployment,
        failure: None,
        ours: None,
        other_active: None,
        active_for: std::time::Duration::ZERO,
        retry_attempt: attempt,
        replaced_by: None,
        rollback: None,
        notes: &[],
        settled_recheck: SETTLED_RECHECK.min(ctx.settings.drift_check),
        controls: controls(obj),
        want: Want {
            digest: &desired.digest,
            location: &desired.location,
            rollback: desired.rolling_back(),
            note: desired.note.as_deref(),
            recheck: desired.recheck,
        },
        other_is_ours: false,
        ready_for: std::time::Duration::ZERO,
        stopped_at_deadline: false,
        failed_targets: &[],
    };
    match observation {
        Observation::Refused(failure)
        | Observation::Reached {
            seen: Seen::Failed { failure, .. },
            ..
        } => o.failure = Some(failure.clone()),
        Observation::Reached { seen, .. } => seen_by_decider(&mut o, seen),
    }
    // Every later log line of this reconcile names the deployment.
    if let Some(d) = o.ours.or(o.other_active) {
        tracing::Span::current().record("deployment_id", d.id.as_str());
        o.active_for = since(d.create_time.as_ref());
    }
    // Blue/green: how long ours has been seen waiting in Ready.
    if let Some(d) = o.ours.filter(|d| d.status == DeploymentStatus::Ready) {
        let seen_ready = previous
            .current_deployment
            .as_ref()
            .filter(|c| c.id == d.id)
            .and_then(|c| c.ready_time.as_ref());
        o.ready_for = since(seen_ready);
    }
    o
}

/// What the spec and the annotations ask of the lifecycle.
fn controls(obj: &CrossAccountDeployment) -> Controls<'_> {
    let spec = &obj.spec;
    let annotation = |key: &str| {
        obj.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    Controls {
        approval: spec.approval,
        approve: annotation(APPROVE_ANNOTATION),
        continue_id: annotation(CONTINUE_ANNOTATION),
        continue_after: spec
            .blue_green
            .as_ref()
            .and_then(|b| b.continue_after.as_deref())
            .and_then(parse_duration),
        progress_deadline: spec
            .progress_deadline_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(std::time::Duration::from_secs),
        auto_rollback: spec.auto_rollback.as_ref().is_some_and(|r| r.enabled),
    }
}

/// What was seen in the target account, for the decider.
fn seen_by_decider<'a>(o: &mut Observed<'a>, seen: &'a Seen) {
    o.notes = seen.check().map_or(&[], |c| c.notes.as_slice());
    match seen {
        Seen::Ours {
            ours,
            drift,
            rollback,
            failed_targets,
            stopped_at_deadline,
            ..
        } => {
            o.ours = Some(ours);
            o.replaced_by = drift.replaced_by.as_deref();
            o.rollback = rollback.as_ref();
            o.failed_targets = failed_targets;
            o.stopped_at_deadline = *stopped_at_deadline;
        }
        Seen::NotCreated {
            other_active,
            superseded,
            ..
        } => {
            o.other_active = other_active.as_ref();
            // Our own earlier deployment, still running.
            o.other_is_ours = other_active
                .as_ref()
                .zip(superseded.as_ref())
                .is_some_and(|(other, ours)| other.id == ours.id);
        }
        Seen::Failed { .. } | Seen::Suspended => {}
    }
}

/// Executes the decided effect; returns the report to write, which a
/// refused or failed effect replaces.
async fn execute(
    obj: &CrossAccountDeployment,
    ctx: &Context,
    previous: &CrossAccountDeploymentStatus,
    desired: &Desired,
    observation: &mut Observation,
    decision: Decision,
    attempt: u32,
) -> Result<Report, Error> {
    let Decision { effect, report } = decision;
    let tenure = match effect {
        Effect::None => Tenure::UNBOUNDED,
        _ => ctx.tenure().await?,
    };
    if effect == Effect::CreateDeployment {
        let step = Step {
            obj,
            ctx,
            desired,
            attempt,
            tenure,
        };
        return step.create(previous, observation, report).await;
    }
    let Observation::Reached { place, seen } = observation else {
        return match effect {
            Effect::None => Ok(report),
            _ => Err(Error::Invariant("an AWS effect decided without a target session")),
        };
    };
    let codedeploy = &place.access.clients.codedeploy;
    let result = match &effect {
        Effect::None | Effect::CreateDeployment => Ok(()),
        // No rollback of a deployment that is being replaced: its rollback
        // would occupy the group and be stopped in turn.
        Effect::StopDeployment { id } => codedeploy::stop_deployment(codedeploy, id, false, tenure).await,
        Effect::StopAtDeadline { id, auto_rollback } => {
            let stopped = codedeploy::stop_deployment(codedeploy, id, *auto_rollback, tenure).await;
            if stopped.is_ok() {
                seen.mark_stopped_at_deadline();
            }
            stopped
        }
        Effect::ContinueDeployment { id } => codedeploy::continue_deployment(codedeploy, id, tenure).await,
    };
    Ok(match result {
        Ok(()) => report,
        Err(e) if e.code == TENURE_OVER => return Err(Error::NotLeader),
        Err(e) => failed(obj, desired, place, &e, attempt),
    })
}

/// The report for an effect AWS refused.
fn failed(obj: &CrossAccountDeployment, desired: &Desired, place: &Place, e: &AwsError, attempt: u32) -> Report {
    decide_failure(&diagnose(e, &observe::subject(e, obj, place, desired)), attempt).report
}

/// What executing an effect needs besides the observation.
struct Step<'a> {
    obj: &'a CrossAccountDeployment,
    ctx: &'a Context,
    desired: &'a Desired,
    attempt: u32,
    tenure: Tenure,
}

impl Step<'_> {
    /// The intent goes into status before the request: if the answer is
    /// lost, the next reconcile searches for the marker, and only then.
    async fn write_intent(
        &self,
        previous: &CrossAccountDeploymentStatus,
        observation: &mut Observation,
        report: &Report,
    ) -> Result<(), Error> {
        let Observation::Reached {
            seen: Seen::NotCreated { intent, .. },
            ..
        } = observation
        else {
            return Err(Error::Invariant("CreateDeployment decided without a verified revision"));
        };
        *intent = Some(CreateIntent {
            digest: self.desired.digest.clone(),
            time: status::now(),
        });
        let with_intent = build_status(previous, observation, Some(self.desired), report);
        // Only on top of the status this decision was made from: a copy
        // without the intent of a CreateDeployment already sent must not
        // send another.
        write_status_if_current(self.ctx, self.obj, &observed(self.obj, previous, with_intent, report)).await
    }

    fn created_message(&self, id: &str) -> String {
        let created = match self.desired.rolling_back() {
            Some(r) => format!(
                "rolling back from {} to {} (crossdeploy.io/rollback={}): created deployment {id}",
                r.from_revision.key, r.to_revision.key, r.token
            ),
            None => format!("created deployment {id}"),
        };
        match &self.desired.note {
            Some(note) => format!("{created}. Note: {note}"),
            None => created,
        }
    }

    /// The deployment CodeDeploy named when it refused ours, to say whose it
    /// is; not knowing is fine.
    async fn blocker(&self, place: &Place, id: Option<&str>) -> Option<DeploymentView> {
        let codedeploy = &place.access.clients.codedeploy;
        self.ctx.poller.get(codedeploy, place.access.clients.id, id?).await.ok()
    }

    /// The report for a CreateDeployment that did not start a deployment.
    async fn refused(
        &self,
        place: &Place,
        e: AwsError,
        intent: &mut Option<CreateIntent>,
        blocked_by: &mut Option<String>,
    ) -> Result<Report, Error> {
        // Refused for sure: nothing was created. A lost answer (a timeout,
        // a 5xx) keeps the intent.
        if !matches!(e.class, ErrorClass::Retryable | ErrorClass::ExpiredCredentials) {
            *intent = None;
        }
        if e.class == ErrorClass::DeploymentLimitExceeded {
            *blocked_by = active_deployment_named(&e.message);
            let blocker = self.blocker(place, blocked_by.as_deref()).await;
            return Ok(decide_create_refused(&e.message, blocker.as_ref(), self.attempt).report);
        }
        Ok(failed(self.obj, self.desired, place, &e, self.attempt))
    }

    /// CreateDeployment; on success the observation holds it as ours and its
    /// id is in status at once: the marker makes a crash before this point
    /// safe, and this write makes it cheap.
    async fn create(
        &self,
        previous: &CrossAccountDeploymentStatus,
        observation: &mut Observation,
        mut report: Report,
    ) -> Result<Report, Error> {
        self.write_intent(previous, observation, &report).await?;
        let Observation::Reached { place, seen } = observation else {
            return Err(Error::Invariant("the observation changed while creating"));
        };
        let Seen::NotCreated {
            revision,
            check,
            superseded,
            intent,
            blocked_by,
            ..
        } = seen
        else {
            return Err(Error::Invariant("the observation changed while creating"));
        };
        let view = match create(self.obj, place, revision, self.desired, self.tenure).await {
            Ok(view) => view,
            // Not sent: the intent stays, for whichever replica leads.
            Err(e) if e.code == TENURE_OVER => return Err(Error::NotLeader),
            Err(e) => return self.refused(place, e, intent, blocked_by).await,
        };
        tracing::Span::current().record("deployment_id", view.id.as_str());
        self.ctx.metrics.deployment_created();
        if self.ctx.settings.crash_after_create {
            // Test-only crash point (see Settings::crash_after_create).
            std::process::exit(86);
        }
        report.message = self.created_message(&view.id);
        *seen = Seen::Ours {
            ours: view,
            revision: Some(revision.clone()),
            check: Some(check.clone()),
            drift: Drift::default(),
            rollback: None,
            superseded: superseded.take(),
            failed_targets: Vec::new(),
            stopped_at_deadline: false,
        };
        let quick = build_status(previous, observation, Some(self.desired), &report);
        write_status(self.ctx, self.obj, &observed(self.obj, previous, quick, &report)).await?;
        Ok(report)
    }
}

/// The active deployment a DeploymentLimitExceededException names ("The
/// Deployment Group 'G' already has an active Deployment 'd-XXXXXXXXX'").
fn active_deployment_named(message: &str) -> Option<String> {
    message
        .split(['\'', '"', ' '])
        .find(|w| w.starts_with("d-") && w.len() > 2 && w[2..].chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_string)
}

async fn create(
    obj: &CrossAccountDeployment,
    place: &Place,
    revision: &ResolvedRevision,
    desired: &Desired,
    tenure: Tenure,
) -> Result<DeploymentView, AwsError> {
    let spec = &obj.spec;
    let req = CreateRequest {
        application: &spec.application_name,
        group: &spec.deployment_group_name,
        config: spec.deployment_config_name.as_deref(),
        revision,
        description: marker::description(spec.description.as_deref(), &desired.owner, &desired.digest),
        auto_rollback: spec
            .auto_rollback
            .as_ref()
            .map(|r| (r.enabled, r.events.iter().map(|e| e.as_aws_str()).collect())),
        file_exists_behavior: spec.file_exists_behavior.map(|f| f.as_aws_str()),
        ignore_application_stop_failures: spec.ignore_application_stop_failures,
        override_alarm_configuration: spec.override_alarm_configuration.as_ref(),
        update_outdated_instances_only: spec.update_outdated_instances_only,
        target_instances: spec.target_instances.as_ref(),
        tenure,
    };
    let id = codedeploy::create_deployment(&place.access.clients.codedeploy, &req).await?;
    debug!(deployment_id = %id, "created CodeDeploy deployment");
    Ok(DeploymentView {
        id,
        status: DeploymentStatus::Created,
        description: req.description,
        create_time: Some(status::now()),
        ..Default::default()
    })
}

/// Count a deployment seen finishing, then the shared end of a reconcile.
async fn finish(
    obj: &CrossAccountDeployment,
    ctx: &Context,
    previous: &CrossAccountDeploymentStatus,
    next: CrossAccountDeploymentStatus,
    report: &Report,
) -> Result<Action, Error> {
    let seen =
        |s: &CrossAccountDeploymentStatus| s.current_deployment.as_ref().map(|c| (c.id.clone(), c.status.clone()));
    if seen(&next) != seen(previous)
        && let Some(status) = next.current_deployment.as_ref().and_then(|c| c.status.as_ref())
        && !status.is_active()
    {
        ctx.metrics.deployment_finished(status.as_str());
    }
    let notes =
        |s: &CrossAccountDeploymentStatus| s.revision_check.as_ref().map(|c| c.notes.clone()).unwrap_or_default();
    if let Some(ev) = status::notes_event(&notes(previous), &notes(&next)) {
        ctx.publish(obj, &ev).await;
    }
    conclude(ctx, obj, previous, next, report, "Reconcile").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocking_deployment_is_read_from_codedeploys_refusal() {
        let aws = "The Deployment Group 'webapp-prod' already has an active Deployment 'd-ABC123XYZ'";
        assert_eq!(active_deployment_named(aws).as_deref(), Some("d-ABC123XYZ"));
        assert_eq!(active_deployment_named("account limit reached"), None);
    }
}
