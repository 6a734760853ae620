//! `TargetAccount`: one assumable IAM role in one AWS account, and the
//! namespaces allowed to deploy through it. Cluster-scoped and admin-owned, so
//! tenants can reference an account but never choose a role ARN themselves.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretKeyRef;

/// An IAM role in another AWS account that crossdeploy may assume (guide step 3's
/// cross-account role), and which namespaces may use it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "crossdeploy.io",
    version = "v1alpha1",
    kind = "TargetAccount",
    shortname = "xta",
    category = "crossdeploy",
    status = "TargetAccountStatus",
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".spec.roleArn"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TargetAccountSpec {
    /// ARN of the cross-account role to assume, e.g.
    /// `arn:aws:iam::222222222222:role/CrossDeployDeployer` (guide step 3).
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$')").message("roleArn must look like arn:aws:iam::<12-digit account>:role/<name>"))]
    #[schemars(length(min = 20, max = 2048))]
    pub role_arn: String,

    /// Secret (in the operator's namespace) holding the ExternalId that the
    /// role's trust policy requires. The ExternalId is never written inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id_secret_ref: Option<SecretKeyRef>,

    /// Default AWS region for deployments into this account.
    #[x_kube(validation = Rule::new("self.matches('^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$')").message("region must look like us-east-1"))]
    #[schemars(length(min = 9, max = 32))]
    pub region: String,

    /// Lifetime of assumed-role sessions in seconds (900 to 43200; default 3600).
    /// Credentials are refreshed a few minutes before they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 900, max = 43200))]
    pub session_duration_seconds: Option<i32>,

    /// Session tags passed to AssumeRole (the role's trust policy must allow
    /// sts:TagSession). Useful for ABAC and CloudTrail attribution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub session_tags: Vec<SessionTag>,

    /// Roles assumed in order before `roleArn` (role chaining, e.g. through a
    /// hub account). The ExternalId is sent only for `roleArn`. AWS limits
    /// chained sessions to one hour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 2048)))]
    #[x_kube(validation = Rule::new("self.all(r, r.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$'))").message("every roleChain entry must be a role ARN"))]
    pub role_chain: Vec<String>,

    /// Namespaces whose CrossAccountDeployments may use this account.
    /// Required; an empty selector matches no namespace (deny by default).
    pub namespace_selector: LabelSelector,

    /// Glob patterns (`*` wildcard) of CodeDeploy application names that may be
    /// deployed through this account. Empty allows every application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_applications: Vec<String>,

    /// Glob patterns (`*` wildcard) of deployment group names that may be
    /// targeted. Empty allows every group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_deployment_groups: Vec<String>,

    /// ARN of the production account's EC2 instance-profile role (guide step 2);
    /// used to check that revision buckets grant it read access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$')").message("instanceProfileRoleArn must be a role ARN"))]
    #[schemars(length(min = 20, max = 2048))]
    pub instance_profile_role_arn: Option<String>,
}

/// One STS session tag.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct SessionTag {
    /// Tag key (1-128 characters).
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
    /// Tag value (up to 256 characters).
    #[schemars(length(max = 256))]
    pub value: String,
}

/// Observed state of a TargetAccount.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetAccountStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Account id reported by STS GetCallerIdentity after assuming the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// When the role was last assumed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
    /// `Ready`, `Reconciling` and `Stalled`, per kstatus.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

super::has_conditions!(TargetAccountStatus);

impl TargetAccountSpec {
    /// Account id encoded in the role ARN (validated at admission).
    pub fn account_id(&self) -> Option<&str> {
        self.role_arn.split(':').nth(4).filter(|a| a.len() == 12)
    }
}
