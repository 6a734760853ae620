//! Reconciles CrossAccountDeployments: gather observations, decide with
//! [`decide`], execute the one effect, write status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, ResourceExt};
use tracing::{info, instrument};

use super::decide::{
    Decision, Effect, Observed, Phase, SETTLED_RECHECK, decide, decide_create_refused, decide_failure,
};
use super::marker::{self, REDEPLOY_ANNOTATION};
use super::source_ref;
use crate::access::target::{self, TargetAccess};
use crate::access::{self, Refusal};
use crate::api::{
    CrossAccountDeployment, CrossAccountDeploymentStatus, DeletionPolicy, DeploymentRecord, HistoryEntry,
    ResolvedRevision, S3Revision,
};
use crate::aws::codedeploy::{self, ACTIVE_STATUSES, CreateRequest, DeploymentView};
use crate::aws::session::TargetClients;
use crate::aws::{AwsError, ErrorClass, s3};
use crate::runtime::reconcile::{conclude, observed, write_status};
use crate::runtime::{Context, Error, display_ref};
use crate::status::diagnosis::{Reader, Subject, diagnose};
use crate::status::{self, Failure, Reason};

pub const FINALIZER: &str = "crossdeploy.io/deployment";
const HISTORY_LIMIT: usize = 10;
/// Deletion gives up on AWS after this many failed attempts, so a broken
/// account never blocks namespace deletion.
const CLEANUP_ATTEMPTS: u32 = 5;
/// Deployments created this long before the object still count as "ours"
/// when their description carries our marker (clock skew margin).
const MARKER_LOOKBACK: i64 = 600;

pub async fn reconcile(obj: Arc<CrossAccountDeployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<CrossAccountDeployment> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(obj, &ctx).await,
            Finalizer::Cleanup(obj) => cleanup(obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// What the gathering phase found, before deciding.
#[derive(Default)]
struct Gathered {
    failure: Option<Failure>,
    account_id: Option<String>,
    region: Option<String>,
    role_arn: Option<String>,
    clients: Option<TargetClients>,
    revision: Option<ResolvedRevision>,
    ours: Option<DeploymentView>,
    other_active: Option<DeploymentView>,
    /// A later deployment that replaced our succeeded one in the group.
    replaced_by: Option<String>,
    /// The drift check ran in this reconcile.
    drift_checked: bool,
    /// The previously tracked deployment, for an older digest, while it was
    /// still active: followed to its end so history stays complete.
    superseded: Option<DeploymentView>,
}

/// Everything about the desired state that does not need AWS.
struct Desired<'a> {
    s3: &'a S3Revision,
    /// The RevisionSource revision digest `s3` was pinned from, if any.
    source_digest: Option<String>,
    bundle_type: String,
    digest: String,
    uid: String,
    /// `s3://bucket/key (version v)`, for messages.
    location: String,
}

#[instrument(skip_all, fields(object = %display_ref(&*obj), deployment_id = tracing::field::Empty))]
async fn apply(obj: Arc<CrossAccountDeployment>, ctx: &Context) -> Result<Action, Error> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let previous = obj.status.clone().unwrap_or_default();
    let (s3_rev, source_digest) = match source_ref::desired_revision(&obj, ctx).await? {
        Ok(wanted) => wanted,
        Err(failure) => {
            // No AWS call until the revision is known; backoff only matters
            // for a not-yet-ready source, whose changes are watched anyway.
            let attempt = ctx.note_attempt(&uid, failure.retryable).await;
            let decision = decide_failure(&failure, attempt);
            return finish(&obj, ctx, &previous, Gathered::default(), None, decision).await;
        }
    };
    let s3_rev = &s3_rev;
    let Some(bundle_type) = s3_rev.effective_bundle_type() else {
        let failure = Failure::permanent(
            Reason::InvalidSpec,
            "spec.revision.s3.bundleType is required when the key has no known extension",
        );
        return finish(
            &obj,
            ctx,
            &previous,
            Gathered::default(),
            None,
            decide_failure(&failure, 0),
        )
        .await;
    };
    let redeploy = obj.annotations().get(REDEPLOY_ANNOTATION).map(String::as_str);
    let desired = Desired {
        s3: s3_rev,
        bundle_type: bundle_type.as_aws_str().to_string(),
        digest: marker::desired_digest(&obj.spec, s3_rev, redeploy),
        uid,
        source_digest,
        location: match &s3_rev.version {
            Some(v) => format!("s3://{}/{} (version {v})", s3_rev.bucket, s3_rev.key),
            None => format!("s3://{}/{}", s3_rev.bucket, s3_rev.key),
        },
    };

    let attempt = ctx.attempts(&desired.uid).await;
    let mut g = gather(&obj, ctx, &previous, &desired).await?;
    // Every later log line of this reconcile names the deployment.
    if let Some(d) = g.ours.as_ref().or(g.other_active.as_ref()) {
        tracing::Span::current().record("deployment_id", d.id.as_str());
    }
    let active_for = since(
        g.ours
            .as_ref()
            .or(g.other_active.as_ref())
            .and_then(|d| d.create_time.as_ref()),
    );
    let mut decision = decide(&Observed {
        suspend: obj.spec.suspend,
        on_active: obj.spec.on_active_deployment,
        failure: g.failure.clone(),
        ours: g.ours.as_ref(),
        other_active: g.other_active.as_ref(),
        active_for,
        retry_attempt: attempt,
        replaced_by: g.replaced_by.as_deref(),
        settled_recheck: SETTLED_RECHECK.min(ctx.settings.drift_check),
    });

    match decision.effect.clone() {
        Effect::None => {}
        Effect::CreateDeployment => match create(&obj, &g, &desired).await {
            Ok(view) => {
                tracing::Span::current().record("deployment_id", view.id.as_str());
                ctx.metrics.deployment_created();
                if ctx.settings.crash_after_create {
                    // Test-only crash point (see Settings::crash_after_create).
                    std::process::exit(86);
                }
                decision.report.message = format!("created deployment {}", view.id);
                g.ours = Some(view);
                // The id goes into status at once: the marker makes a crash
                // before this point safe, and this write makes it cheap.
                let quick = build_status(&previous, &g, Some(&desired));
                write_status(ctx, &*obj, &observed(&*obj, &previous, quick, &decision.report)).await?;
            }
            Err(e) if e.class == ErrorClass::DeploymentLimitExceeded => {
                decision = decide_create_refused(&e.message, attempt);
            }
            Err(e) => decision = decide_failure(&diagnose(&e, &subject(&e, &obj, &g, &desired)), attempt),
        },
        Effect::StopDeployment { id } => {
            let clients = g.clients.as_ref().ok_or(Error::MissingField("target session"))?;
            // No rollback of a deployment that is being replaced: its
            // rollback would occupy the group and be stopped in turn.
            if let Err(e) = codedeploy::stop_deployment(&clients.codedeploy, &id, false).await {
                decision = decide_failure(&diagnose(&e, &subject(&e, &obj, &g, &desired)), attempt);
            }
        }
    }

    ctx.note_attempt(&desired.uid, decision.report.backs_off).await;
    finish(&obj, ctx, &previous, g, Some(&desired), decision).await
}

/// The TargetAccount's session for this object, or why it may not be used.
/// Tenancy is decided before anything else, and no AWS call is made here.
async fn open_target(obj: &CrossAccountDeployment, ctx: &Context) -> Result<Result<TargetAccess, Failure>, Error> {
    let spec = &obj.spec;
    let ns = obj.namespace().unwrap_or_default();
    let target = match target::lookup(ctx, &spec.target_account_ref.name).await? {
        Ok(target) => target,
        Err(failure) => return Ok(Err(failure)),
    };
    let ns_labels = target::namespace_labels(ctx, &ns).await?;
    if let Err(refusal) = access::check(
        &target.spec,
        &ns_labels,
        &spec.application_name,
        &spec.deployment_group_name,
    ) {
        let what = match refusal {
            Refusal::Namespace => format!("namespace {ns:?} is not selected by its namespaceSelector"),
            Refusal::Application => format!("application {:?} is not in allowedApplications", spec.application_name),
            Refusal::DeploymentGroup => {
                format!(
                    "deployment group {:?} is not in allowedDeploymentGroups",
                    spec.deployment_group_name
                )
            }
        };
        return Ok(Err(Failure::permanent(
            Reason::TargetAccountNotPermitted,
            format!(
                "TargetAccount {:?} refuses this deployment: {what}; ask a platform admin",
                target.name_any()
            ),
        )));
    }
    let region = spec.region.as_deref();
    Ok(target::open(ctx, target, &ns, region)
        .await?
        .map_err(|(_, failure)| failure))
}

/// Observe, in the order that makes every later step meaningful: tenancy
/// (before any AWS call), credentials, then the deployment itself.
async fn gather(
    obj: &CrossAccountDeployment,
    ctx: &Context,
    previous: &CrossAccountDeploymentStatus,
    desired: &Desired<'_>,
) -> Result<Gathered, Error> {
    let mut g = Gathered::default();
    let access = match open_target(obj, ctx).await? {
        Ok(access) => access,
        Err(failure) => {
            g.failure = Some(failure);
            return Ok(g);
        }
    };
    let target = &access.target.spec;
    g.account_id = target.account_id().map(str::to_string);
    g.role_arn = Some(target.role_arn.clone());
    g.region = Some(obj.spec.region.clone().unwrap_or_else(|| target.region.clone()));
    g.clients = Some(access.clients.clone());

    let drift_check = ctx.settings.drift_check;
    if let Err(e) = observe_deployments(obj, previous, desired, &access.clients, drift_check, &mut g).await {
        access.forget_if_expired(ctx, &e).await;
        g.failure = Some(diagnose(&e, &subject(&e, obj, &g, desired)));
    }
    Ok(g)
}

async fn observe_deployments(
    obj: &CrossAccountDeployment,
    previous: &CrossAccountDeploymentStatus,
    desired: &Desired<'_>,
    clients: &TargetClients,
    drift_check: Duration,
    g: &mut Gathered,
) -> Result<(), AwsError> {
    let spec = &obj.spec;
    // Status first: the deployment for this digest is already known.
    // A record from another account or region (the TargetAccount or region
    // changed) says nothing about this one; records without them predate the
    // fields and are trusted.
    let same_place = |c: &DeploymentRecord| {
        c.account_id.as_ref().is_none_or(|a| Some(a) == g.account_id.as_ref())
            && c.region.as_ref().is_none_or(|r| Some(r) == g.region.as_ref())
    };
    if let Some(current) = previous
        .current_deployment
        .as_ref()
        .filter(|c| c.digest == desired.digest && same_place(c))
    {
        g.revision = previous.revision.clone();
        let finished = current
            .status
            .as_deref()
            .map(Phase::of)
            .is_some_and(|p| p != Phase::Active);
        g.ours = Some(if finished {
            // Finished deployments never change: no AWS call but the slow
            // drift check below.
            view_from_record(current)
        } else {
            codedeploy::get_deployment(&clients.codedeploy, &current.id).await?
        });
        g.replaced_by.clone_from(&current.replaced_by);
        let due = previous
            .last_drift_check_time
            .as_ref()
            .is_none_or(|t| since(Some(t)) >= drift_check);
        if current.status.as_deref() == Some("Succeeded") && due {
            let last = codedeploy::last_attempted_deployment(
                &clients.codedeploy,
                &spec.application_name,
                &spec.deployment_group_name,
            )
            .await?;
            g.drift_checked = true;
            g.replaced_by = last.filter(|id| id != &current.id);
        }
        return Ok(());
    }
    if spec.suspend {
        return Ok(());
    }
    let revision = s3::head_revision(&clients.s3, desired.s3, &desired.bundle_type).await?;
    if let Some(expected) = &desired.s3.e_tag
        && revision.e_tag.as_deref().map(|e| e.trim_matches('"')) != Some(expected.trim_matches('"'))
    {
        g.failure = Some(Failure::permanent(
            Reason::RevisionChanged,
            format!(
                "s3://{}/{} has ETag {} but spec.revision.s3.eTag is {expected}: the object was replaced after \
                 the spec was written (guide step 4). Pin spec.revision.s3.version or update the eTag",
                revision.bucket,
                revision.key,
                revision.e_tag.as_deref().unwrap_or("none")
            ),
        ));
        return Ok(());
    }
    g.revision = Some(revision);
    codedeploy::check_deployment_group(&clients.codedeploy, &spec.application_name, &spec.deployment_group_name)
        .await?;

    // Exactly once: a deployment carrying our marker may exist although status
    // does not know it (crash after CreateDeployment, lost status write). It
    // can only be newer than the last deployment status knows of.
    let lookback = previous
        .current_deployment
        .as_ref()
        .and_then(|c| c.create_time.as_ref())
        .or(obj.metadata.creation_timestamp.as_ref())
        .map(|t| aws_smithy_types::DateTime::from_secs(t.0.as_second() - MARKER_LOOKBACK));
    let recent = codedeploy::list_deployments(
        &clients.codedeploy,
        &spec.application_name,
        &spec.deployment_group_name,
        &[],
        lookback,
    )
    .await?;
    // Only this object's newest deployment counts: after v1 -> v2 -> v1 the
    // old v1 deployment carries the same marker but is not what runs now.
    g.ours = recent
        .iter()
        .find(|d| marker::owned_by(&d.description, &desired.uid))
        .filter(|d| marker::carries_marker(&d.description, &desired.uid, &desired.digest))
        .cloned();
    if g.ours.is_none() {
        let active = codedeploy::list_deployments(
            &clients.codedeploy,
            &spec.application_name,
            &spec.deployment_group_name,
            &ACTIVE_STATUSES,
            None,
        )
        .await?;
        g.other_active = active.into_iter().next();
    }
    if let Some(old) = previous
        .current_deployment
        .as_ref()
        .filter(|c| c.status.as_deref().map(Phase::of) == Some(Phase::Active))
        .filter(|c| g.ours.as_ref().is_none_or(|o| o.id != c.id))
    {
        g.superseded = match g.other_active.as_ref().filter(|a| a.id == old.id) {
            Some(still_active) => Some(still_active.clone()),
            None => Some(codedeploy::get_deployment(&clients.codedeploy, &old.id).await?),
        };
    }
    Ok(())
}

async fn create(obj: &CrossAccountDeployment, g: &Gathered, desired: &Desired<'_>) -> Result<DeploymentView, AwsError> {
    let (Some(clients), Some(revision)) = (g.clients.as_ref(), g.revision.as_ref()) else {
        return Err(AwsError {
            operation: "codedeploy:CreateDeployment",
            class: ErrorClass::Invalid,
            code: "Internal".into(),
            message: "create decided without a verified revision".into(),
        });
    };
    let spec = &obj.spec;
    let req = CreateRequest {
        application: &spec.application_name,
        group: &spec.deployment_group_name,
        config: spec.deployment_config_name.as_deref(),
        revision,
        description: marker::description(spec.description.as_deref(), &desired.uid, &desired.digest),
        auto_rollback: spec
            .auto_rollback
            .as_ref()
            .map(|r| (r.enabled, r.events.iter().map(|e| e.as_aws_str()).collect())),
        file_exists_behavior: spec.file_exists_behavior.map(|f| f.as_aws_str()),
        ignore_application_stop_failures: spec.ignore_application_stop_failures,
    };
    let id = codedeploy::create_deployment(&clients.codedeploy, &req).await?;
    info!(deployment_id = %id, "created CodeDeploy deployment");
    Ok(DeploymentView {
        id,
        status: "Created".into(),
        description: req.description,
        create_time: Some(status::now()),
        ..Default::default()
    })
}

/// Write status and the transition Event, then schedule the next look.
async fn finish(
    obj: &CrossAccountDeployment,
    ctx: &Context,
    previous: &CrossAccountDeploymentStatus,
    g: Gathered,
    desired: Option<&Desired<'_>>,
    decision: Decision,
) -> Result<Action, Error> {
    let next = build_status(previous, &g, desired);
    if next.current_deployment.as_ref().map(|c| (&c.id, &c.status))
        != previous.current_deployment.as_ref().map(|c| (&c.id, &c.status))
        && let Some(c) = &next.current_deployment
        && c.status.as_deref().is_some_and(|s| Phase::of(s) != Phase::Active)
    {
        ctx.metrics.deployment_finished(c.status.as_deref().unwrap_or_default());
    }
    conclude(ctx, obj, previous, next, &decision.report, "Reconcile").await
}

/// Everything in status but the conditions, from what was observed.
fn build_status(
    previous: &CrossAccountDeploymentStatus,
    g: &Gathered,
    desired: Option<&Desired<'_>>,
) -> CrossAccountDeploymentStatus {
    let now = status::now();
    let mut next = previous.clone();
    if g.account_id.is_some() {
        next.account_id.clone_from(&g.account_id);
    }
    if g.drift_checked {
        next.last_drift_check_time = Some(now.clone());
    }
    if let Some(desired) = desired {
        next.desired_digest = Some(desired.digest.clone());
        next.source_revision_digest.clone_from(&desired.source_digest);
    }
    if let Some(rev) = &g.revision {
        next.revision = Some(rev.clone());
    }
    if let (Some(sup), Some(old)) = (&g.superseded, &previous.current_deployment) {
        // Its revision is the one recorded with it (older records: the one
        // status showed before this reconcile).
        let rev = old
            .revision
            .clone()
            .or_else(|| previous.revision.clone())
            .unwrap_or_default();
        record_if_finished(&mut next, previous, sup, &rev);
        if g.ours.is_none() {
            next.current_deployment = Some(record_from_view(sup, &old.digest, old));
        }
    }
    if let (Some(ours), Some(desired)) = (&g.ours, desired) {
        let rev = next.revision.clone().unwrap_or_default();
        record_if_finished(&mut next, previous, ours, &rev);
        let mut record = record_from_view(ours, &desired.digest, &DeploymentRecord::default());
        record.account_id.clone_from(&g.account_id);
        record.region.clone_from(&g.region);
        record.revision = Some(rev);
        record.replaced_by.clone_from(&g.replaced_by);
        // Seeing ours succeed is as good as a drift check: it was the
        // group's latest deployment a moment ago.
        let just_succeeded = ours.status == "Succeeded"
            && previous
                .current_deployment
                .as_ref()
                .map(|c| (&c.id, c.status.as_deref()))
                != Some((&ours.id, Some("Succeeded")));
        if just_succeeded {
            next.last_drift_check_time = Some(now.clone());
        }
        next.current_deployment = Some(record);
    }
    next
}

/// A deployment that just finished moves into history once, and a success
/// becomes the last successful revision.
fn record_if_finished(
    next: &mut CrossAccountDeploymentStatus,
    previous: &CrossAccountDeploymentStatus,
    d: &DeploymentView,
    rev: &ResolvedRevision,
) {
    if Phase::of(&d.status) == Phase::Active || previous.history.iter().any(|h| h.deployment_id == d.id) {
        return;
    }
    next.history.insert(
        0,
        HistoryEntry {
            deployment_id: d.id.clone(),
            status: d.status.clone(),
            revision_key: rev.key.clone(),
            revision_version_id: rev.version_id.clone(),
            complete_time: d.complete_time.clone(),
        },
    );
    next.history.truncate(HISTORY_LIMIT);
    if d.status == "Succeeded" {
        next.last_successful_revision = Some(rev.clone());
    }
}

/// The record of a deployment as observed; account and region come from
/// `base` (the record it replaces) unless the caller sets them.
fn record_from_view(d: &DeploymentView, digest: &str, base: &DeploymentRecord) -> DeploymentRecord {
    DeploymentRecord {
        id: d.id.clone(),
        digest: digest.to_string(),
        status: Some(d.status.clone()),
        create_time: d.create_time.clone(),
        complete_time: d.complete_time.clone(),
        overview: d.overview.clone(),
        error_code: d.error_code.clone(),
        error_message: d.error_message.clone(),
        rollback_deployment_id: d.rollback_deployment_id.clone(),
        account_id: base.account_id.clone(),
        region: base.region.clone(),
        revision: base.revision.clone(),
        replaced_by: base.replaced_by.clone(),
    }
}

fn view_from_record(r: &DeploymentRecord) -> DeploymentView {
    DeploymentView {
        id: r.id.clone(),
        status: r.status.clone().unwrap_or_default(),
        description: String::new(),
        create_time: r.create_time.clone(),
        complete_time: r.complete_time.clone(),
        overview: r.overview.clone(),
        error_code: r.error_code.clone(),
        error_message: r.error_message.clone(),
        rollback_deployment_id: r.rollback_deployment_id.clone(),
    }
}

/// Deletion: stop the in-flight deployment when asked to, but never hang on AWS.
#[instrument(skip_all, fields(object = %display_ref(&*obj), deployment_id = tracing::field::Empty))]
async fn cleanup(obj: Arc<CrossAccountDeployment>, ctx: &Context) -> Result<Action, Error> {
    // Own counter: backoff from earlier transient failures must not use up
    // the deletion's attempts.
    let key = format!("{}/cleanup", obj.uid().unwrap_or_default());
    ctx.metrics
        .object_condition("CrossAccountDeployment", &obj.uid().unwrap_or_default(), None);
    ctx.forget(&obj.uid().unwrap_or_default()).await;
    let Some(current) = obj
        .status
        .as_ref()
        .and_then(|s| s.current_deployment.as_ref())
        .filter(|c| c.status.as_deref().map(Phase::of) == Some(Phase::Active))
    else {
        return Ok(Action::await_change());
    };
    tracing::Span::current().record("deployment_id", current.id.as_str());
    if obj.spec.deletion_policy == DeletionPolicy::Orphan {
        publish(
            ctx,
            &obj,
            EventType::Normal,
            "DeploymentOrphaned",
            &format!("deployment {} keeps running (deletionPolicy: Orphan)", current.id),
        )
        .await;
        return Ok(Action::await_change());
    }
    match stop_for_cleanup(&obj, ctx, &current.id).await {
        Ok(()) => {
            ctx.forget(&key).await;
            publish(
                ctx,
                &obj,
                EventType::Normal,
                "DeploymentStopped",
                &format!(
                    "stopped in-flight deployment {} (deletionPolicy: StopInFlight)",
                    current.id
                ),
            )
            .await;
            Ok(Action::await_change())
        }
        Err(e) => {
            let attempt = ctx.note_attempt(&key, true).await;
            if attempt + 1 >= CLEANUP_ATTEMPTS {
                ctx.forget(&key).await;
                publish(
                    ctx,
                    &obj,
                    EventType::Warning,
                    "DeploymentLeftRunning",
                    &format!(
                        "could not stop deployment {} after {CLEANUP_ATTEMPTS} attempts ({e}); it was left running",
                        current.id
                    ),
                )
                .await;
                Ok(Action::await_change())
            } else {
                Err(Error::Aws(e))
            }
        }
    }
}

async fn stop_for_cleanup(obj: &CrossAccountDeployment, ctx: &Context, id: &str) -> Result<(), AwsError> {
    let unavailable = |message: String| AwsError {
        operation: "codedeploy:StopDeployment",
        class: ErrorClass::Invalid,
        code: "NoSession".into(),
        message,
    };
    let access = open_target(obj, ctx)
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .map_err(|f| unavailable(f.message))?;
    let codedeploy = &access.clients.codedeploy;
    let result = async {
        let live = codedeploy::get_deployment(codedeploy, id).await?;
        if Phase::of(&live.status) != Phase::Active {
            return Ok(());
        }
        let rollback = obj.spec.auto_rollback.as_ref().is_some_and(|r| r.enabled);
        codedeploy::stop_deployment(codedeploy, id, rollback).await
    }
    .await;
    if let Err(e) = &result {
        access.forget_if_expired(ctx, e).await;
    }
    result
}

/// What a failed call of this reconcile was about, from its operation.
fn subject<'a>(
    err: &AwsError,
    obj: &'a CrossAccountDeployment,
    g: &'a Gathered,
    desired: &'a Desired<'_>,
) -> Subject<'a> {
    let role_arn = g.role_arn.as_deref().unwrap_or("the target role");
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

fn since(t: Option<&Time>) -> Duration {
    t.and_then(|t| {
        let elapsed = k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second();
        u64::try_from(elapsed).ok()
    })
    .map_or(Duration::ZERO, Duration::from_secs)
}

async fn publish(ctx: &Context, obj: &CrossAccountDeployment, type_: EventType, reason: &str, note: &str) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.into()),
        action: reason.into(),
        secondary: None,
    };
    ctx.publish(obj, &ev).await;
}
