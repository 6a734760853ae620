//! `CrossAccountDeployment`: "deploy revision X of application A to group G in
//! account P" (guide step 5), continuously reconciled.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RevisionCheck, TargetAccountRef, rules};

/// Desired CodeDeploy deployment of one revision into a deployment group of
/// another AWS account.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "crossdeploy.io",
    version = "v1alpha1",
    kind = "CrossAccountDeployment",
    namespaced,
    shortname = "xdeploy",
    shortname = "xad",
    category = "crossdeploy",
    status = "CrossAccountDeploymentStatus",
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Application","type":"string","jsonPath":".spec.applicationName"}"#,
    printcolumn = r#"{"name":"Group","type":"string","jsonPath":".spec.deploymentGroupName"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.revision.key"}"#,
    printcolumn = r#"{"name":"Deployment","type":"string","jsonPath":".status.currentDeployment.id"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.currentDeployment.status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.revision) != has(self.promotion)").message("exactly one of revision and promotion must be set"))]
#[x_kube(validation = Rule::new("!has(self.blueGreen) || !has(self.blueGreen.continueAfter) || !has(self.progressDeadlineSeconds) || duration(self.blueGreen.continueAfter).getSeconds() < self.progressDeadlineSeconds").message("blueGreen.continueAfter must be shorter than progressDeadlineSeconds: the deadline counts the time a deployment waits in Ready"))]
pub struct CrossAccountDeploymentSpec {
    /// The TargetAccount (cluster-scoped) whose role is assumed to deploy.
    pub target_account_ref: TargetAccountRef,

    /// Region of the CodeDeploy application; defaults to the TargetAccount's
    /// region. Another region must be listed in the TargetAccount's
    /// `allowedRegions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::region("region"))]
    #[schemars(length(min = 9, max = 32))]
    pub region: Option<String>,

    /// CodeDeploy application name in the target account (guide step 3).
    #[x_kube(validation = rules::codedeploy_name("applicationName"))]
    #[schemars(length(max = 100))]
    pub application_name: String,

    /// CodeDeploy deployment group name in the target account (guide step 3).
    #[x_kube(validation = rules::codedeploy_name("deploymentGroupName"))]
    #[schemars(length(max = 100))]
    pub deployment_group_name: String,

    /// Deployment configuration, e.g. `CodeDeployDefault.OneAtATime`; the
    /// group's own configuration is used when omitted. A configuration named
    /// here must be allowed by the TargetAccount's `allowedDeploymentConfigs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::codedeploy_name("deploymentConfigName"))]
    #[schemars(length(max = 100))]
    pub deployment_config_name: Option<String>,

    /// Which revision to deploy (guide step 4). Exactly one of `revision`
    /// and `promotion` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<RevisionSpec>,

    /// Free text added to the CodeDeploy deployment's description (crossdeploy
    /// appends its own marker `[crossdeploy:...]`, which the text must not
    /// contain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.size() <= 400").message("description must be at most 400 characters"))]
    #[x_kube(validation = rules::no_marker("description"))]
    #[schemars(length(max = 400))]
    pub description: Option<String>,

    /// Automatic rollback settings passed to CodeDeploy (the group's own when
    /// omitted). A TargetAccount with `requireAutoRollback` requires
    /// `enabled: true` with the event `DEPLOYMENT_FAILURE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<AutoRollback>,

    /// What the CodeDeploy agent does with files that already exist on the
    /// instance and were not part of the previous deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_exists_behavior: Option<FileExistsBehavior>,

    /// Let the deployment continue when the ApplicationStop hook fails.
    #[serde(default)]
    pub ignore_application_stop_failures: bool,

    /// What to do when another deployment is already running in the group:
    /// `Wait` for it to finish (default) or `StopAndReplace` it.
    #[serde(default)]
    pub on_active_deployment: OnActiveDeployment,

    /// What to do with an in-flight deployment when this object is deleted:
    /// `Orphan` leaves it running (default), `StopInFlight` stops it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Stop starting new deployments; an in-flight one is still tracked.
    #[serde(default)]
    pub suspend: bool,

    /// Deploy what another CrossAccountDeployment of this namespace deployed
    /// successfully (typically staging, in another account), instead of
    /// `revision`: exactly the S3 object (bucket, key, version, ETag) of its
    /// current deployment once that has Succeeded and stayed Succeeded for
    /// `soakTime`. Never a failed, running or newer-but-unfinished one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,

    /// `Automatic` (default): each new desired revision is deployed at once.
    /// `Manual`: it waits (reason `AwaitingApproval`) until the annotation
    /// `crossdeploy.io/approve` carries the digest in
    /// `status.approval.pendingDigest`, so an approval never releases a later
    /// revision. A rollback (`crossdeploy.io/rollback`) needs no approval.
    #[serde(default)]
    pub approval: Approval,

    /// Blue/green deployments: when to continue one that waits in
    /// CodeDeploy's `Ready` state (replacement instances up, traffic not
    /// rerouted). Without it only the annotation `crossdeploy.io/continue`,
    /// set to the deployment id, continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreen>,

    /// A deployment of this object still active this many seconds after it
    /// was created (time waiting in `Ready` included) is stopped, with
    /// CodeDeploy's rollback when `autoRollback.enabled`, and the object is
    /// Stalled with reason `ProgressDeadlineExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 604800))]
    pub progress_deadline_seconds: Option<i64>,

    /// What status and the failure Event show about a failed deployment's
    /// instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Diagnostics>,

    /// CodeDeploy's `overrideAlarmConfiguration`: the CloudWatch alarms of
    /// this deployment instead of the group's (e.g. to turn alarm polling
    /// off for a deployment of a revision known to work). CodeDeploy then
    /// also requires `codedeploy:UpdateDeploymentGroup` on the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_alarm_configuration: Option<AlarmConfiguration>,

    /// CodeDeploy's `updateOutdatedInstancesOnly`: deploy only to the
    /// instances that do not run the group's last deployed revision.
    #[serde(default)]
    pub update_outdated_instances_only: bool,

    /// CodeDeploy's `targetInstances`: the instances of a blue/green
    /// deployment's replacement environment, by EC2 tag filters or Auto
    /// Scaling groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_instances: Option<TargetInstances>,
}

/// Where the revision comes from: exactly one of `s3` or `sourceRef`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.s3) != has(self.sourceRef)").message("exactly one of revision.s3 and revision.sourceRef must be set"))]
pub struct RevisionSpec {
    /// A bundle in S3, given inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Revision>,
    /// A RevisionSource in the same namespace: each revision it resolves is
    /// deployed once (continuous delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<RevisionSourceRef>,
}

/// Reference to a `RevisionSource` in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct RevisionSourceRef {
    /// Name of the RevisionSource.
    #[x_kube(validation = rules::object_name("name"))]
    #[schemars(length(max = 253))]
    pub name: String,
}

/// An application revision stored in S3 (guide steps 1 and 4).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.bundleType) || self.key.endsWith('.zip') || self.key.endsWith('.tar') || self.key.endsWith('.tgz') || self.key.endsWith('.tar.gz') || self.key.endsWith('.yaml') || self.key.endsWith('.yml') || self.key.endsWith('.json')").message("revision.s3.bundleType is required when the key does not end in .zip, .tar, .tgz, .tar.gz, .yaml, .yml or .json"))]
pub struct S3Revision {
    /// Bucket name, by S3's naming rules for general purpose buckets (3 to 63
    /// lowercase letters, digits, dots, hyphens; no IP addresses, reserved
    /// prefixes or suffixes).
    #[x_kube(validation = rules::bucket_shape())]
    #[x_kube(validation = rules::bucket_no_adjacent_periods())]
    #[x_kube(validation = rules::bucket_not_an_ip_address())]
    #[x_kube(validation = rules::bucket_no_reserved_prefix())]
    #[x_kube(validation = rules::bucket_no_reserved_suffix())]
    #[schemars(length(max = 63))]
    pub bucket: String,
    /// Object key of the bundle.
    #[x_kube(validation = Rule::new("self.size() >= 1 && self.size() <= 1024").message("key must be 1 to 1024 characters"))]
    #[schemars(length(max = 1024))]
    pub key: String,
    /// Pin a specific S3 object version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = rules::not_empty("version"))]
    pub version: Option<String>,
    /// Expected ETag; the revision is refused when the object's ETag differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = rules::not_empty("eTag"))]
    pub e_tag: Option<String>,
    /// Bundle type; inferred from the key's extension when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_type: Option<BundleType>,
}

/// CodeDeploy bundle types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BundleType {
    Zip,
    Tar,
    Tgz,
    #[serde(rename = "YAML")]
    Yaml,
    #[serde(rename = "JSON")]
    Json,
}

impl BundleType {
    /// Infer from a key's extension, as CodeDeploy's own CLI does.
    pub fn from_key(key: &str) -> Option<Self> {
        let key = key.to_ascii_lowercase();
        [
            (".tar.gz", Self::Tgz),
            (".tgz", Self::Tgz),
            (".tar", Self::Tar),
            (".zip", Self::Zip),
            (".yaml", Self::Yaml),
            (".yml", Self::Yaml),
            (".json", Self::Json),
        ]
        .into_iter()
        .find_map(|(ext, bt)| key.ends_with(ext).then_some(bt))
    }

    /// Inverse of [`BundleType::as_aws_str`] (status holds the AWS spelling).
    pub fn from_aws_str(s: &str) -> Option<Self> {
        [Self::Zip, Self::Tar, Self::Tgz, Self::Yaml, Self::Json]
            .into_iter()
            .find(|b| b.as_aws_str() == s)
    }

    /// The value CodeDeploy's API expects.
    pub fn as_aws_str(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::Tar => "tar",
            Self::Tgz => "tgz",
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        }
    }
}

impl S3Revision {
    pub fn effective_bundle_type(&self) -> Option<BundleType> {
        self.bundle_type.or_else(|| BundleType::from_key(&self.key))
    }
}

/// CodeDeploy automatic rollback configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoRollback {
    /// Roll back automatically when one of `events` happens.
    pub enabled: bool,
    /// Events that trigger a rollback.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<AutoRollbackEvent>,
}

/// Events that trigger an automatic rollback.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[allow(clippy::enum_variant_names)]
pub enum AutoRollbackEvent {
    #[serde(rename = "DEPLOYMENT_FAILURE")]
    DeploymentFailure,
    #[serde(rename = "DEPLOYMENT_STOP_ON_ALARM")]
    DeploymentStopOnAlarm,
    #[serde(rename = "DEPLOYMENT_STOP_ON_REQUEST")]
    DeploymentStopOnRequest,
}

impl AutoRollbackEvent {
    pub fn as_aws_str(self) -> &'static str {
        match self {
            Self::DeploymentFailure => "DEPLOYMENT_FAILURE",
            Self::DeploymentStopOnAlarm => "DEPLOYMENT_STOP_ON_ALARM",
            Self::DeploymentStopOnRequest => "DEPLOYMENT_STOP_ON_REQUEST",
        }
    }
}

/// CodeDeploy's fileExistsBehavior.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum FileExistsBehavior {
    Disallow,
    Overwrite,
    Retain,
}

impl FileExistsBehavior {
    pub fn as_aws_str(self) -> &'static str {
        match self {
            Self::Disallow => "DISALLOW",
            Self::Overwrite => "OVERWRITE",
            Self::Retain => "RETAIN",
        }
    }
}

/// Behaviour when the group already runs a deployment crossdeploy did not start
/// for this revision. CodeDeploy allows one active deployment per group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OnActiveDeployment {
    /// Queue behind the active deployment and start once it has finished.
    #[default]
    Wait,
    /// Stop the active deployment, then start this one.
    StopAndReplace,
}

/// Behaviour on deletion of the CrossAccountDeployment.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave any in-flight deployment running.
    #[default]
    Orphan,
    /// Stop an in-flight deployment (rolling back per `autoRollback`).
    StopInFlight,
}

/// Observed state of a CrossAccountDeployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossAccountDeploymentStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`, per kstatus.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// AWS account deployed into (from the TargetAccount's role ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The desired revision as resolved in S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<ResolvedRevision>,
    /// How the desired revision was checked against what CodeDeploy needs
    /// (guide steps 2 and 4), by which identity, and what could not be
    /// determined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_check: Option<RevisionCheck>,
    /// Digest of the desired revision and deployment settings; the marker in
    /// the CodeDeploy description carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_digest: Option<String>,
    /// With `revision.sourceRef`: the RevisionSource's `revisionDigest` that
    /// the desired revision was pinned from (so, with `currentDeployment`,
    /// which source revision is deployed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_revision_digest: Option<String>,
    /// The CodeDeploy deployment for the desired digest (or the one last tracked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_deployment: Option<DeploymentRecord>,
    /// The revision of the last deployment that Succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_revision: Option<ResolvedRevision>,
    /// When the group was last checked for a deployment that replaced ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift_check_time: Option<Time>,
    /// The most recent finished deployments, newest first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// Written right before CreateDeployment and cleared once the deployment
    /// id is recorded: only when a crash (or a lost answer) leaves it behind
    /// does the next reconcile search CodeDeploy for the marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<CreateIntent>,
    /// The active deployment CodeDeploy named when it refused a new one (one
    /// active deployment per group): polled until it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// With `approval: Manual`: what waits for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalStatus>,
    /// With `promotion`: the source object and deployment the desired
    /// revision was promoted from, and a newer one that is soaking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<PromotionStatus>,
    /// The last rollback requested with the annotation
    /// `crossdeploy.io/rollback`: of what, to what, and whether it is still
    /// what this object deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackStatus>,
}

super::has_conditions!(CrossAccountDeploymentStatus);

/// A revision as found in S3.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRevision {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Time>,
    pub bundle_type: String,
}

/// A CodeDeploy deployment status. Stored as CodeDeploy spells it; a status
/// this version does not know is kept verbatim and treated as still running.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DeploymentStatus {
    Created,
    Queued,
    InProgress,
    Baking,
    /// Blue/green: replacement instances are ready, traffic not yet rerouted.
    Ready,
    Succeeded,
    Failed,
    Stopped,
    Other(String),
}

/// Where a deployment is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Created, Queued, InProgress, Baking or Ready: it occupies the group.
    Active,
    Succeeded,
    Failed,
    Stopped,
}

/// A deployment just created.
impl Default for DeploymentStatus {
    fn default() -> Self {
        Self::Created
    }
}

impl DeploymentStatus {
    const NAMED: [(&'static str, DeploymentStatus); 8] = [
        ("Created", Self::Created),
        ("Queued", Self::Queued),
        ("InProgress", Self::InProgress),
        ("Baking", Self::Baking),
        ("Ready", Self::Ready),
        ("Succeeded", Self::Succeeded),
        ("Failed", Self::Failed),
        ("Stopped", Self::Stopped),
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(s) => s,
            known => Self::NAMED
                .iter()
                .find(|(_, s)| s == known)
                .map_or("", |(name, _)| name),
        }
    }

    /// Unknown future statuses count as still running: polling a finished
    /// deployment costs a call, declaring a running one done could start a
    /// second deployment.
    pub fn phase(&self) -> Phase {
        match self {
            Self::Succeeded => Phase::Succeeded,
            Self::Failed => Phase::Failed,
            Self::Stopped => Phase::Stopped,
            _ => Phase::Active,
        }
    }

    pub fn is_active(&self) -> bool {
        self.phase() == Phase::Active
    }
}

impl From<String> for DeploymentStatus {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<&str> for DeploymentStatus {
    fn from(s: &str) -> Self {
        Self::NAMED
            .iter()
            .find(|(name, _)| *name == s)
            .map_or_else(|| Self::Other(s.to_string()), |(_, status)| status.clone())
    }
}

impl From<DeploymentStatus> for String {
    fn from(s: DeploymentStatus) -> Self {
        s.as_str().to_string()
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JsonSchema for DeploymentStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DeploymentStatus".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

/// One CodeDeploy deployment as last observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// CodeDeploy deployment id (d-XXXXXXXXX).
    pub id: String,
    /// The desired digest this deployment was created for.
    pub digest: String,
    /// CodeDeploy status: Created, Queued, InProgress, Baking, Ready, Succeeded, Failed, Stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<Time>,
    /// Instance counts from CodeDeploy's deploymentOverview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<DeploymentOverview>,
    /// CodeDeploy errorInformation.code, when the deployment failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// CodeDeploy errorInformation.message, when the deployment failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Id of the rollback deployment CodeDeploy started, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_deployment_id: Option<String>,
    /// Status of that rollback deployment, followed to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_status: Option<DeploymentStatus>,
    /// The key of the revision the rollback deployed (what the group runs now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_revision_key: Option<String>,
    /// AWS account the deployment runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Region the deployment runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The revision this deployment deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<ResolvedRevision>,
    /// A later deployment that replaced this one in the group (drift check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Blue/green: when crossdeploy first saw this deployment wait in
    /// `Ready` (`blueGreen.continueAfter` counts from then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_time: Option<Time>,
    /// crossdeploy stopped this deployment because it was still active
    /// after `progressDeadlineSeconds`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub progress_deadline_exceeded: bool,
    /// When it failed: its failed instances (at most 5), each with the
    /// lifecycle event that failed and CodeDeploy's diagnostics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_targets: Vec<FailedTarget>,
}

/// Instance counts of a deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentOverview {
    pub pending: i64,
    pub in_progress: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    pub ready: i64,
}

/// A CreateDeployment about to be sent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateIntent {
    /// The desired digest the deployment's marker carries.
    pub digest: String,
    /// When the request was about to be sent (deployments of the marker are
    /// searched from a little before).
    pub time: Time,
}

/// A finished deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub deployment_id: String,
    pub status: DeploymentStatus,
    pub revision_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<Time>,
    /// The rest of the revision, so that a rollback can deploy it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_e_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_bundle_type: Option<String>,
}

/// Where a promoted CrossAccountDeployment takes its revision from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    /// The CrossAccountDeployment in this namespace whose succeeded revision
    /// is deployed. Chains (dev → staging → prod) work; a cycle is refused
    /// (reason `PromotionCycle`).
    pub from: PromotionSourceRef,
    /// How long the revision must have stayed Succeeded there before it is
    /// promoted, counted from that deployment's completion: a duration of
    /// hours, minutes and seconds such as `30m`, `1h30m` or `90s` (default:
    /// no soak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]{1,7}[hms])+$')").message("soakTime must be a duration of whole hours, minutes and seconds, such as 30m, 1h30m or 90s"))]
    #[schemars(length(max = 32))]
    pub soak_time: Option<String>,
}

/// Reference to another CrossAccountDeployment in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct PromotionSourceRef {
    /// Name of the CrossAccountDeployment promoted from.
    #[x_kube(validation = Rule::new("self.size() > 0 && self.size() <= 253").message("promotion.from.name must be a non-empty object name"))]
    #[schemars(length(max = 253))]
    pub name: String,
}

/// Whether a new desired revision needs a person's approval.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Approval {
    /// Deploy each new desired revision at once.
    #[default]
    Automatic,
    /// Wait until `crossdeploy.io/approve` carries the desired digest.
    Manual,
}

/// Blue/green settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreen {
    /// Continue a deployment this long after crossdeploy first saw it wait
    /// in `Ready` (a duration such as `10m`, `1h` or `30s`; `0s` continues
    /// at once). Without it only `crossdeploy.io/continue` continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]{1,7}[hms])+$')").message("continueAfter must be a duration of whole hours, minutes and seconds, such as 10m, 1h or 30s"))]
    #[schemars(length(max = 32))]
    pub continue_after: Option<String>,
}

/// What is reported about a failed deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostics {
    /// Also show the end of each failed instance's lifecycle-event log (the
    /// script output CodeDeploy keeps, at most 4 KB), truncated, with
    /// secret-looking strings (AWS keys, `password=`, tokens, private keys)
    /// masked. Off by default: scripts print what they print.
    #[serde(default)]
    pub log_tail: bool,
}

/// CodeDeploy's AlarmConfiguration for one deployment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlarmConfiguration {
    /// Whether CodeDeploy watches the alarms during this deployment; `false`
    /// turns alarm polling off.
    pub enabled: bool,
    /// Continue the deployment when the alarms' states cannot be read from
    /// CloudWatch.
    #[serde(default)]
    pub ignore_poll_alarm_failure: bool,
    /// The CloudWatch alarms (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub alarms: Vec<Alarm>,
}

/// A CloudWatch alarm.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct Alarm {
    /// The alarm's name.
    #[x_kube(validation = Rule::new("self.size() >= 1 && self.size() <= 255").message("alarm name must be 1 to 255 characters"))]
    #[schemars(length(max = 255))]
    pub name: String,
}

/// CodeDeploy's TargetInstances.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.tagFilters) && size(self.tagFilters) > 0) || (has(self.autoScalingGroups) && size(self.autoScalingGroups) > 0)").message("targetInstances needs tagFilters or autoScalingGroups"))]
pub struct TargetInstances {
    /// EC2 tag filters selecting the instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub tag_filters: Vec<Ec2TagFilter>,
    /// Names of Auto Scaling groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 255)))]
    pub auto_scaling_groups: Vec<String>,
}

/// An EC2 tag filter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.key) || has(self.value)").message("a tag filter needs a key or a value"))]
pub struct Ec2TagFilter {
    /// The tag key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub key: Option<String>,
    /// The tag value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub value: Option<String>,
    /// `KEY_ONLY`, `VALUE_ONLY` or `KEY_AND_VALUE`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<TagFilterType>,
}

/// How an EC2 tag filter matches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[allow(clippy::enum_variant_names)]
pub enum TagFilterType {
    #[serde(rename = "KEY_ONLY")]
    KeyOnly,
    #[serde(rename = "VALUE_ONLY")]
    ValueOnly,
    #[serde(rename = "KEY_AND_VALUE")]
    KeyAndValue,
}

impl TagFilterType {
    pub fn as_aws_str(self) -> &'static str {
        match self {
            Self::KeyOnly => "KEY_ONLY",
            Self::ValueOnly => "VALUE_ONLY",
            Self::KeyAndValue => "KEY_AND_VALUE",
        }
    }
}

/// A duration as `soakTime` and `continueAfter` spell it (`1h30m`, `90s`):
/// whole hours, minutes and seconds. None when it is not one.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(d))?);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    (number.is_none() && !s.is_empty()).then_some(std::time::Duration::from_secs(total))
}

/// What waits for approval (`approval: Manual`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStatus {
    /// The digest of the desired revision and settings that waits: set the
    /// annotation `crossdeploy.io/approve` to exactly this value to deploy
    /// it. Absent when nothing waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_digest: Option<String>,
}

/// Where the desired revision of a promoted object comes from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// The CrossAccountDeployment promoted from.
    pub from: String,
    /// Its deployment whose revision this object deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// When that deployment succeeded there (the soak counts from then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_time: Option<Time>,
    /// The promoted revision, exactly as it succeeded there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<ResolvedRevision>,
    /// A newer deployment that succeeded there and is soaking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soaking_deployment_id: Option<String>,
    /// When the soaking revision may be promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_until: Option<Time>,
}

/// A rollback requested with `crossdeploy.io/rollback`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackStatus {
    /// The annotation's value it was made for: each new value rolls back once.
    pub token: String,
    /// When crossdeploy first saw the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_time: Option<Time>,
    /// True while the rollback is what this object deploys: until the spec's
    /// revision or deployment settings change, or `crossdeploy.io/redeploy`
    /// does.
    pub active: bool,
    /// The revision rolled back from (what the spec asks for).
    pub from_revision: ResolvedRevision,
    /// The digest of the spec's deployment rolled back from.
    pub from_digest: String,
    /// The last good revision the rollback deploys.
    pub to_revision: ResolvedRevision,
    /// The digest the rollback deployment's marker carries.
    pub digest: String,
}

/// A failed instance of a failed deployment, as CodeDeploy reports it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedTarget {
    /// The target (the EC2 or on-premises instance id).
    pub target_id: String,
    /// The lifecycle event that failed, e.g. `ApplicationStart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<String>,
    /// The AppSpec hook script that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_name: Option<String>,
    /// CodeDeploy's diagnostic error code, e.g. `ScriptFailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// CodeDeploy's diagnostic message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// With `diagnostics.logTail`: the end of the script's log, truncated,
    /// secret-looking strings masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_admission_accepts_them() {
        for (text, secs) in [
            ("0s", 0),
            ("90s", 90),
            ("10m", 600),
            ("1h30m", 5400),
            ("2h", 7200),
            ("1m1s", 61),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(std::time::Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "10", "m", "1.5h", "-1s", "1d", "1h 2m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
