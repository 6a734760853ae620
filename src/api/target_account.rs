//! `TargetAccount`: one assumable IAM role in one AWS account, and the
//! namespaces allowed to deploy through it. Cluster-scoped and admin-owned, so
//! tenants can reference an account but never choose a role ARN themselves.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{SecretKeyRef, rules};

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
#[x_kube(validation = Rule::new("!has(self.roleChain) || self.roleChain.size() == 0 || !has(self.sessionDurationSeconds) || self.sessionDurationSeconds <= 3600").message("sessionDurationSeconds must be at most 3600 when roleChain is set: AWS limits chained role sessions to one hour").field_path(".sessionDurationSeconds"))]
pub struct TargetAccountSpec {
    /// ARN of the cross-account role to assume, e.g.
    /// `arn:aws:iam::222222222222:role/CrossDeployDeployer` (guide step 3).
    #[x_kube(validation = rules::role_arn("roleArn"))]
    #[schemars(length(min = 20, max = 2048))]
    pub role_arn: String,

    /// Secret (in the operator's namespace) holding the ExternalId that the
    /// role's trust policy requires. The ExternalId is never written inline,
    /// and the Secret must be labelled `crossdeploy.io/external-id: "true"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id_secret_ref: Option<SecretKeyRef>,

    /// Default AWS region for deployments into this account. Deployments may
    /// choose another region only when `allowedRegions` lists it.
    #[x_kube(validation = rules::region("region"))]
    #[schemars(length(min = 9, max = 32))]
    pub region: String,

    /// Lifetime of assumed-role sessions in seconds (900 to 43200; default
    /// 3600; at most 3600 with `roleChain`). AWS caps every chained role
    /// session at one hour, and a role assumed from an IRSA or EKS Pod
    /// Identity session is chained too: with those, keep this at 3600 or
    /// below. It must also not exceed the role's own maximum session
    /// duration. Credentials are refreshed a few minutes before they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 900, max = 43200))]
    pub session_duration_seconds: Option<i32>,

    /// Session tags passed to AssumeRole (the role's trust policy must allow
    /// sts:TagSession). Useful for ABAC and CloudTrail attribution. Keys are
    /// unique ignoring case, as STS compares them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    #[x_kube(validation = rules::session_tag_keys_unique())]
    pub session_tags: Vec<SessionTag>,

    /// Roles assumed in order before `roleArn` (role chaining, e.g. through a
    /// hub account). The ExternalId is sent only for `roleArn`. AWS limits
    /// chained sessions to one hour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 2048)))]
    #[x_kube(validation = rules::role_arns("roleChain"))]
    pub role_chain: Vec<String>,

    /// Namespaces whose CrossAccountDeployments may use this account.
    /// Required; an empty selector matches no namespace (deny by default).
    #[schemars(with = "NamespaceSelector")]
    pub namespace_selector: LabelSelector,

    /// Glob patterns (`*` wildcard) of CodeDeploy application names that may be
    /// deployed through this account. Empty allows every application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 100)))]
    #[x_kube(validation = rules::codedeploy_globs("allowedApplications"))]
    pub allowed_applications: Vec<String>,

    /// Glob patterns (`*` wildcard) of deployment group names that may be
    /// targeted. Empty allows every group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 100)))]
    #[x_kube(validation = rules::codedeploy_globs("allowedDeploymentGroups"))]
    pub allowed_deployment_groups: Vec<String>,

    /// Glob patterns (`*` wildcard) of the `deploymentConfigName`s a
    /// CrossAccountDeployment may choose, e.g. `CodeDeployDefault.OneAtATime`
    /// or `Custom.*`. A deployment that leaves `deploymentConfigName` out
    /// always passes: it gets the deployment group's own configuration, which
    /// the target account's owner set. Empty (the default): tenants may not
    /// choose a configuration at all; `["*"]` lets them choose any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 100)))]
    #[x_kube(validation = rules::codedeploy_globs("allowedDeploymentConfigs"))]
    pub allowed_deployment_configs: Vec<String>,

    /// Require every CrossAccountDeployment to set `autoRollback` with
    /// `enabled: true` and the event `DEPLOYMENT_FAILURE` (other events may be
    /// added). A deployment that leaves `autoRollback` out is refused: the
    /// group's own rollback settings are not visible without an AWS call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_auto_rollback: bool,

    /// Glob patterns (`*` wildcard) of regions, besides `region`, that a
    /// CrossAccountDeployment may choose with its own `region`, e.g.
    /// `eu-west-1` or `eu-*`. Empty (the default): only `region`; `["*"]`
    /// allows any region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(max = 32)))]
    #[x_kube(validation = rules::region_globs("allowedRegions"))]
    pub allowed_regions: Vec<String>,

    /// The S3 revisions that namespaces using this account may name, read and
    /// deploy: buckets, each with optional key globs. Every S3 call made for
    /// a tenant — by the operator's own identity, a `readAs` role or this
    /// role — is checked against it first; outside it the object is
    /// `TargetAccountNotPermitted` and no AWS call is made. Empty (the
    /// default): no revision at all, as `namespaceSelector` selects no
    /// namespace by default, so a new TargetAccount never lets one team read
    /// another's releases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub allowed_revision_buckets: Vec<RevisionBucketRule>,

    /// ARN of the production account's EC2 instance-profile role (guide step 2);
    /// used to check that revision buckets grant it read access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::role_arn("instanceProfileRoleArn"))]
    #[schemars(length(min = 20, max = 2048))]
    pub instance_profile_role_arn: Option<String>,
}

/// A revision bucket a TargetAccount allows, optionally narrowed to keys.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
pub struct RevisionBucketRule {
    /// Bucket name (exact).
    #[x_kube(validation = rules::bucket_shape())]
    #[schemars(length(max = 63))]
    pub bucket: String,
    /// Key globs (`*` wildcard, e.g. `team-a/*`); empty allows every key in
    /// the bucket. A RevisionSource prefix is allowed when a glob of the form
    /// `<literal prefix>*` covers it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(max = 1024)))]
    pub keys: Vec<String>,
}

/// One STS session tag.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, KubeSchema)]
pub struct SessionTag {
    /// Tag key (1-128 letters, digits, spaces or `_ . : / = + - @`; not
    /// starting with `aws:`).
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = rules::session_tag_key())]
    pub key: String,
    /// Tag value (up to 256 of the same characters).
    #[schemars(length(max = 256))]
    #[x_kube(validation = rules::session_tag_value())]
    pub value: String,
}

/// The schema of `namespaceSelector`: a Kubernetes label selector (the field
/// is a `LabelSelector`), with admission for what would otherwise only match
/// nothing at run time.
#[derive(Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct NamespaceSelector {
    /// Labels the namespace must carry, all of them (ANDed with
    /// `matchExpressions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    match_labels: Option<BTreeMap<String, LabelValue>>,
    /// Label requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    match_expressions: Option<Vec<SelectorRequirement>>,
}

/// One label requirement: `In`/`NotIn` need `values`; `Exists` and
/// `DoesNotExist` take none.
#[derive(Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("self.operator in ['In', 'NotIn'] ? (has(self.values) && self.values.size() > 0) : (!has(self.values) || self.values.size() == 0)").message("values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist").field_path(".values"))]
#[allow(dead_code)]
struct SelectorRequirement {
    /// The label key.
    #[schemars(length(min = 1, max = 317))]
    #[x_kube(validation = rules::label_key("key"))]
    key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    operator: SelectorOperator,
    /// Label values (`In`, `NotIn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    #[x_kube(validation = rules::label_values("values"))]
    values: Option<Vec<String>>,
}

// Keys are not checked at admission: CEL cannot bound the size of a map's
// keys (the API server refuses the rule's cost), and a malformed key only
// ever selects nothing.
/// A label value: at most 63 letters, digits, `-`, `_` or `.`, starting and
/// ending with a letter or digit.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[allow(dead_code)]
struct LabelValue(#[schemars(length(max = 63), pattern(rules::LABEL_VALUE))] String);

#[derive(Serialize, Deserialize, JsonSchema)]
#[allow(dead_code)]
enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
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
    /// Digest of what that verification depended on (the spec generation and
    /// the ExternalId Secret's version): it is repeated when either changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_digest: Option<String>,
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
