//! CodeDeploy in the target account (guide steps 3 and 5).

use aws_sdk_codedeploy::config::retry::RetryConfig;
use aws_sdk_codedeploy::types::{
    Alarm, AlarmConfiguration as AwsAlarmConfiguration, AutoRollbackConfiguration,
    AutoRollbackEvent as AwsRollbackEvent, BundleType, DeploymentInfo, DeploymentStatus as AwsStatus, DeploymentTarget,
    DeploymentWaitType, Ec2TagFilter, Ec2TagFilterType, FileExistsBehavior, LifecycleEventStatus, RevisionLocation,
    RevisionLocationType, S3Location, TargetFilterName, TargetInstances as AwsTargetInstances, TimeRange,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::fence::Tenure;
use super::gate::Gated;
use super::s3::to_time;
use super::{AwsError, Classify};

/// CodeDeploy in one account and region, behind its rate limit.
pub type Client = Gated<aws_sdk_codedeploy::Client>;
use crate::api::{AlarmConfiguration, DeploymentOverview, DeploymentStatus, ResolvedRevision, TargetInstances};

/// CodeDeploy statuses in which a deployment still occupies its group.
pub const ACTIVE_STATUSES: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

/// BatchGetDeployments accepts at most this many ids per call.
const BATCH_GET_LIMIT: usize = 25;

/// Who started a deployment (DeploymentInfo.creator). Only `User`
/// deployments can be crossdeploy's; the others are CodeDeploy's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Creator {
    /// CreateDeployment by a person or a tool (crossdeploy among them).
    #[default]
    User,
    /// Auto Scaling scale-out: the group's last successful revision onto new instances.
    Autoscaling,
    /// An automatic rollback of a failed or stopped deployment.
    CodeDeployRollback,
    /// The CodeDeploy agent updating outdated instances.
    CodeDeployAutoUpdate,
    Other(String),
}

impl Creator {
    fn from_aws(s: &str) -> Self {
        match s {
            "user" => Self::User,
            "autoscaling" => Self::Autoscaling,
            "codeDeployRollback" => Self::CodeDeployRollback,
            "CodeDeployAutoUpdate" => Self::CodeDeployAutoUpdate,
            other => Self::Other(other.to_string()),
        }
    }

    /// What CodeDeploy calls it, for messages.
    pub fn as_str(&self) -> &str {
        match self {
            Self::User => "user",
            Self::Autoscaling => "autoscaling",
            Self::CodeDeployRollback => "codeDeployRollback",
            Self::CodeDeployAutoUpdate => "CodeDeployAutoUpdate",
            Self::Other(s) => s,
        }
    }
}

/// The S3 object a deployment deploys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    pub e_tag: Option<String>,
}

impl S3Object {
    /// The same object: bucket and key, and version and ETag where both
    /// sides name one (CodeDeploy echoes what the request gave).
    pub fn same_as(&self, other: &S3Object) -> bool {
        let agree = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a.trim_matches('"') == b.trim_matches('"'),
            _ => true,
        };
        self.bucket == other.bucket
            && self.key == other.key
            && agree(&self.version, &other.version)
            && agree(&self.e_tag, &other.e_tag)
    }
}

/// The parts of a CodeDeploy deployment crossdeploy acts on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentView {
    pub id: String,
    pub status: DeploymentStatus,
    pub creator: Creator,
    /// The S3 revision it deploys (None for other revision types).
    pub revision: Option<S3Object>,
    pub description: String,
    pub create_time: Option<Time>,
    pub complete_time: Option<Time>,
    pub overview: Option<DeploymentOverview>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub rollback_deployment_id: Option<String>,
}

impl From<&DeploymentInfo> for DeploymentView {
    fn from(d: &DeploymentInfo) -> Self {
        Self {
            id: d.deployment_id().unwrap_or_default().to_string(),
            status: d.status().map_or(DeploymentStatus::Other(String::new()), |s| {
                DeploymentStatus::from(s.as_str())
            }),
            creator: d.creator().map_or(Creator::User, |c| Creator::from_aws(c.as_str())),
            revision: d.revision().and_then(|r| r.s3_location()).map(|s| S3Object {
                bucket: s.bucket().unwrap_or_default().to_string(),
                key: s.key().unwrap_or_default().to_string(),
                version: s.version().map(str::to_string),
                e_tag: s.e_tag().map(str::to_string),
            }),
            description: d.description().unwrap_or_default().to_string(),
            create_time: d.create_time().and_then(to_time),
            complete_time: d.complete_time().and_then(to_time),
            overview: d.deployment_overview().map(|o| DeploymentOverview {
                pending: o.pending,
                in_progress: o.in_progress,
                succeeded: o.succeeded,
                failed: o.failed,
                skipped: o.skipped,
                ready: o.ready,
            }),
            error_code: d
                .error_information()
                .and_then(|e| e.code())
                .map(|c| c.as_str().to_string()),
            error_message: d.error_information().and_then(|e| e.message()).map(str::to_string),
            rollback_deployment_id: d
                .rollback_info()
                .and_then(|r| r.rollback_deployment_id())
                .map(str::to_string),
        }
    }
}

/// What GetDeploymentGroup says about a group that matters here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupView {
    /// The deployment most recently started in the group, whoever started it.
    pub last_attempted: Option<String>,
    pub last_successful: Option<String>,
    /// The group's deployment config (used when a deployment names none).
    pub deployment_config: Option<String>,
}

/// The group (proving application and group exist and the role may read
/// them) and its latest deployments.
pub async fn deployment_group(cd: &Client, application: &str, group: &str) -> Result<GroupView, AwsError> {
    cd.ready("codedeploy:GetDeploymentGroup").await;
    let out = cd
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await
        .classify("codedeploy:GetDeploymentGroup")?;
    let info = out.deployment_group_info();
    let id = |d: Option<&aws_sdk_codedeploy::types::LastDeploymentInfo>| {
        d.and_then(|d| d.deployment_id()).map(str::to_string)
    };
    Ok(GroupView {
        last_attempted: id(info.and_then(|g| g.last_attempted_deployment())),
        last_successful: id(info.and_then(|g| g.last_successful_deployment())),
        deployment_config: info.and_then(|g| g.deployment_config_name()).map(str::to_string),
    })
}

/// The application's compute platform (proving it exists and the role may
/// read it: GetApplication).
pub async fn application(cd: &Client, application: &str) -> Result<Option<String>, AwsError> {
    cd.ready("codedeploy:GetApplication").await;
    let out = cd
        .get_application()
        .application_name(application)
        .send()
        .await
        .classify("codedeploy:GetApplication")?;
    Ok(out
        .application()
        .and_then(|a| a.compute_platform())
        .map(|p| p.as_str().to_string()))
}

/// A deployment config's minimum healthy hosts, as "TYPE VALUE" (proving it
/// exists and the role may read it: GetDeploymentConfig).
pub async fn deployment_config(cd: &Client, name: &str) -> Result<Option<String>, AwsError> {
    cd.ready("codedeploy:GetDeploymentConfig").await;
    let out = cd
        .get_deployment_config()
        .deployment_config_name(name)
        .send()
        .await
        .classify("codedeploy:GetDeploymentConfig")?;
    Ok(out
        .deployment_config_info()
        .and_then(|c| c.minimum_healthy_hosts())
        .map(|m| format!("{} {}", m.r#type().map(|t| t.as_str()).unwrap_or_default(), m.value())))
}

pub async fn get_deployment(cd: &Client, id: &str) -> Result<DeploymentView, AwsError> {
    cd.ready("codedeploy:GetDeployment").await;
    let out = cd
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .classify("codedeploy:GetDeployment")?;
    out.deployment_info().map(DeploymentView::from).ok_or_else(|| AwsError {
        operation: "codedeploy:GetDeployment",
        class: super::ErrorClass::Retryable,
        code: "EmptyResponse".into(),
        message: format!("no deploymentInfo returned for {id}"),
    })
}

/// Deployments of the group created since `since`, optionally only those in
/// `statuses`, with their details. Newest first.
pub async fn list_deployments(
    cd: &Client,
    application: &str,
    group: &str,
    statuses: &[DeploymentStatus],
    since: Option<aws_smithy_types::DateTime>,
) -> Result<Vec<DeploymentView>, AwsError> {
    let ids = list_deployment_ids(cd, application, group, statuses, since).await?;
    batch_get(cd, &ids).await
}

/// Ids of the group's deployments created since `since`, optionally only
/// those in `statuses` (ListDeployments, all pages).
pub async fn list_deployment_ids(
    cd: &Client,
    application: &str,
    group: &str,
    statuses: &[DeploymentStatus],
    since: Option<aws_smithy_types::DateTime>,
) -> Result<Vec<String>, AwsError> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        cd.ready("codedeploy:ListDeployments").await;
        let out = cd
            .list_deployments()
            .application_name(application)
            .deployment_group_name(group)
            .set_include_only_statuses(
                (!statuses.is_empty()).then(|| statuses.iter().map(|s| AwsStatus::from(s.as_str())).collect()),
            )
            .set_create_time_range(since.map(|s| TimeRange::builder().start(s).build()))
            .set_next_token(next.take())
            .send()
            .await
            .classify("codedeploy:ListDeployments")?;
        ids.extend(out.deployments().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(ids)
}

/// The deployments with these ids (BatchGetDeployments, 25 per call), newest
/// first.
pub async fn batch_get(cd: &Client, ids: &[String]) -> Result<Vec<DeploymentView>, AwsError> {
    let mut views = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(BATCH_GET_LIMIT) {
        cd.ready("codedeploy:BatchGetDeployments").await;
        let out = cd
            .batch_get_deployments()
            .set_deployment_ids(Some(chunk.to_vec()))
            .send()
            .await
            .classify("codedeploy:BatchGetDeployments")?;
        views.extend(out.deployments_info().iter().map(DeploymentView::from));
    }
    views.sort_by(|a, b| b.create_time.cmp(&a.create_time));
    Ok(views)
}

/// Everything CreateDeployment needs.
pub struct CreateRequest<'a> {
    pub application: &'a str,
    pub group: &'a str,
    pub config: Option<&'a str>,
    pub revision: &'a ResolvedRevision,
    pub description: String,
    pub auto_rollback: Option<(bool, Vec<&'static str>)>,
    pub file_exists_behavior: Option<&'static str>,
    pub ignore_application_stop_failures: bool,
    pub override_alarm_configuration: Option<&'a AlarmConfiguration>,
    pub update_outdated_instances_only: bool,
    pub target_instances: Option<&'a TargetInstances>,
    /// Sent only while this replica's leadership proof holds.
    pub tenure: Tenure,
}

/// Starts a deployment and returns its id.
pub async fn create_deployment(cd: &Client, req: &CreateRequest<'_>) -> Result<String, AwsError> {
    cd.ready("codedeploy:CreateDeployment").await;
    let rev = req.revision;
    let location = RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(
            S3Location::builder()
                .bucket(&rev.bucket)
                .key(&rev.key)
                .bundle_type(BundleType::from(rev.bundle_type.as_str()))
                .set_version(rev.version_id.clone())
                .set_e_tag(rev.e_tag.as_ref().map(|e| e.trim_matches('"').to_string()))
                .build(),
        )
        .build();
    let rollback = req.auto_rollback.as_ref().map(|(enabled, events)| {
        AutoRollbackConfiguration::builder()
            .enabled(*enabled)
            .set_events(Some(events.iter().map(|e| AwsRollbackEvent::from(*e)).collect()))
            .build()
    });
    let out = cd
        .create_deployment()
        .application_name(req.application)
        .deployment_group_name(req.group)
        .set_deployment_config_name(req.config.map(str::to_string))
        .revision(location)
        .description(&req.description)
        .set_auto_rollback_configuration(rollback)
        .set_file_exists_behavior(req.file_exists_behavior.map(FileExistsBehavior::from))
        .ignore_application_stop_failures(req.ignore_application_stop_failures)
        .set_override_alarm_configuration(req.override_alarm_configuration.map(alarm_configuration))
        .set_update_outdated_instances_only(req.update_outdated_instances_only.then_some(true))
        .set_target_instances(req.target_instances.map(target_instances))
        // Not idempotent: a retried request after a timeout could start a
        // second deployment. The marker search is the only retry path.
        .customize()
        .config_override(aws_sdk_codedeploy::config::Builder::default().retry_config(RetryConfig::disabled()))
        .interceptor(req.tenure)
        .send()
        .await
        .classify("codedeploy:CreateDeployment")?;
    out.deployment_id().map(str::to_string).ok_or_else(|| AwsError {
        operation: "codedeploy:CreateDeployment",
        class: super::ErrorClass::Invalid,
        code: "EmptyResponse".into(),
        message: "CreateDeployment returned no deployment id".into(),
    })
}

fn alarm_configuration(a: &AlarmConfiguration) -> AwsAlarmConfiguration {
    AwsAlarmConfiguration::builder()
        .enabled(a.enabled)
        .ignore_poll_alarm_failure(a.ignore_poll_alarm_failure)
        .set_alarms(Some(
            a.alarms
                .iter()
                .map(|alarm| Alarm::builder().name(&alarm.name).build())
                .collect(),
        ))
        .build()
}

fn target_instances(t: &TargetInstances) -> AwsTargetInstances {
    let filters = t.tag_filters.iter().map(|f| {
        Ec2TagFilter::builder()
            .set_key(f.key.clone())
            .set_value(f.value.clone())
            .set_type(f.type_.map(|t| Ec2TagFilterType::from(t.as_aws_str())))
            .build()
    });
    AwsTargetInstances::builder()
        .set_tag_filters((!t.tag_filters.is_empty()).then(|| filters.collect()))
        .set_auto_scaling_groups((!t.auto_scaling_groups.is_empty()).then(|| t.auto_scaling_groups.clone()))
        .build()
}

/// Stops a deployment; CodeDeploy rolls back when `auto_rollback` is set.
/// A deployment that finished in the meantime is already where we want it.
pub async fn stop_deployment(cd: &Client, id: &str, auto_rollback: bool, tenure: Tenure) -> Result<(), AwsError> {
    cd.ready("codedeploy:StopDeployment").await;
    let result = cd
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(auto_rollback)
        .customize()
        .interceptor(tenure)
        .send()
        .await
        .map(|_| ())
        .classify("codedeploy:StopDeployment");
    match result {
        Err(e) if e.code == "DeploymentAlreadyCompletedException" => Ok(()),
        other => other,
    }
}

/// Continues a blue/green deployment waiting in Ready (READY_WAIT: reroute
/// traffic now). One that is no longer Ready (continued or stopped in the
/// meantime, or finished) is left to the next poll.
pub async fn continue_deployment(cd: &Client, id: &str, tenure: Tenure) -> Result<(), AwsError> {
    cd.ready("codedeploy:ContinueDeployment").await;
    let result = cd
        .continue_deployment()
        .deployment_id(id)
        .deployment_wait_type(DeploymentWaitType::ReadyWait)
        .customize()
        .interceptor(tenure)
        .send()
        .await
        .map(|_| ())
        .classify("codedeploy:ContinueDeployment");
    match result {
        Err(e)
            if e.code == "DeploymentAlreadyCompletedException" || e.code == "DeploymentIsNotInReadyStateException" =>
        {
            Ok(())
        }
        other => other,
    }
}

/// BatchGetDeploymentTargets accepts at most this many ids per call.
const BATCH_GET_TARGETS_LIMIT: usize = 25;

/// A failed instance of a deployment and what CodeDeploy says about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedTargetView {
    pub target_id: String,
    /// The first lifecycle event that failed, with its diagnostics.
    pub lifecycle_event: Option<String>,
    pub script_name: Option<String>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    /// As CodeDeploy returns it: unmasked. Callers mask it before use.
    pub log_tail: Option<String>,
}

impl From<&DeploymentTarget> for FailedTargetView {
    fn from(t: &DeploymentTarget) -> Self {
        let Some(instance) = t.instance_target() else {
            return Self::default();
        };
        let failed = instance
            .lifecycle_events()
            .iter()
            .find(|e| e.status() == Some(&LifecycleEventStatus::Failed));
        let diagnostics = failed.and_then(|e| e.diagnostics());
        Self {
            target_id: instance.target_id().unwrap_or_default().to_string(),
            lifecycle_event: failed.and_then(|e| e.lifecycle_event_name()).map(str::to_string),
            script_name: diagnostics
                .and_then(|d| d.script_name())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            error_code: diagnostics.and_then(|d| d.error_code()).map(|c| c.as_str().to_string()),
            message: diagnostics.and_then(|d| d.message()).map(str::to_string),
            log_tail: diagnostics
                .and_then(|d| d.log_tail())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        }
    }
}

/// The failed instance targets of a deployment, at most `limit` of them:
/// ListDeploymentTargets filtered to `Failed` (paged only until `limit` ids
/// are known), then BatchGetDeploymentTargets (25 ids per call).
pub async fn failed_targets(cd: &Client, id: &str, limit: usize) -> Result<Vec<FailedTargetView>, AwsError> {
    let mut ids: Vec<String> = Vec::new();
    let mut next: Option<String> = None;
    while ids.len() < limit {
        cd.ready("codedeploy:ListDeploymentTargets").await;
        let out = cd
            .list_deployment_targets()
            .deployment_id(id)
            .target_filters(TargetFilterName::TargetStatus, vec!["Failed".to_string()])
            .set_next_token(next.take())
            .send()
            .await
            .classify("codedeploy:ListDeploymentTargets")?;
        ids.extend(out.target_ids().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    ids.truncate(limit);
    let mut targets = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(BATCH_GET_TARGETS_LIMIT) {
        cd.ready("codedeploy:BatchGetDeploymentTargets").await;
        let out = cd
            .batch_get_deployment_targets()
            .deployment_id(id)
            .set_target_ids(Some(chunk.to_vec()))
            .send()
            .await
            .classify("codedeploy:BatchGetDeploymentTargets")?;
        targets.extend(
            out.deployment_targets()
                .iter()
                .map(FailedTargetView::from)
                .filter(|t| !t.target_id.is_empty()),
        );
    }
    Ok(targets)
}
