//! `RevisionSource`: where application revisions appear in S3 (guide steps 1
//! and 4), polled so that an upload becomes the next desired revision, and
//! checked against guide step 2 for the accounts that will deploy it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BundleType, ResolvedRevision, TargetAccountRef, rules};

/// Poll interval when `spec.interval` is omitted.
pub const DEFAULT_INTERVAL_SECONDS: i32 = 300;

/// An S3 location (one key, or the newest/highest revision under a prefix)
/// that is watched for new application revisions.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "crossdeploy.io",
    version = "v1alpha1",
    kind = "RevisionSource",
    namespaced,
    shortname = "xrs",
    category = "crossdeploy",
    status = "RevisionSourceStatus",
    printcolumn = r#"{"name":"Bucket","type":"string","jsonPath":".spec.s3.bucket"}"#,
    printcolumn = r#"{"name":"Key","type":"string","jsonPath":".status.revision.key"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.revision.versionId","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Checked","type":"date","jsonPath":".status.lastCheckTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.selection) || has(self.s3.prefix)").message("selection applies only to s3.prefix"))]
#[x_kube(validation = Rule::new("has(self.bundleType) || !has(self.s3.key) || self.s3.key.matches('(?i)[.](zip|tar|tgz|tar[.]gz|yaml|yml|json)$')").message("bundleType is required when s3.key does not end in .zip, .tar, .tgz, .tar.gz, .yaml, .yml or .json"))]
pub struct RevisionSourceSpec {
    /// Where the revisions are stored (guide step 1).
    pub s3: S3Source,

    /// Which object under `s3.prefix` is the revision: `NewestLastModified`
    /// (default) or `HighestSemver` (the highest semantic version found in the
    /// key, e.g. webapp-1.10.0.zip over webapp-1.9.0.zip; keys without one are
    /// ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,

    /// Bundle type; inferred from the key's extension (.zip, .tar, .tgz,
    /// .tar.gz, .yaml, .yml, .json) when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_type: Option<BundleType>,

    /// TargetAccount whose role lists and reads the bucket, and whose account
    /// is taken as the bucket's owner. Default: the operator's own identity,
    /// which is only used when some `verifyFor` TargetAccount selects this
    /// namespace (otherwise the source is Stalled, TargetAccountNotPermitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_as: Option<TargetAccountRef>,

    /// TargetAccounts that will deploy this revision: their role must be able
    /// to read it, and, across accounts, the bucket policy must grant their
    /// instanceProfileRoleArn read access (guide step 2). Without `readAs`, at
    /// least one of them must select this namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub verify_for: Vec<TargetAccountRef>,

    /// Seconds between two looks at the bucket (10 to 86400; default 300).
    #[serde(default = "default_interval")]
    #[schemars(range(min = 10, max = 86400))]
    pub interval: i32,

    /// Stop polling; the last resolved revision stays in status.
    #[serde(default)]
    pub suspend: bool,
}

fn default_interval() -> i32 {
    DEFAULT_INTERVAL_SECONDS
}

/// An S3 bucket and either one key or a prefix to choose from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.key) != has(self.prefix)").message("exactly one of s3.key and s3.prefix must be set"))]
#[x_kube(validation = Rule::new("!has(self.versionId) || has(self.key)").message("s3.versionId requires s3.key"))]
pub struct S3Source {
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
    /// Object key of the revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.size() >= 1").message("s3.key must not be empty"))]
    #[schemars(length(max = 1024))]
    pub key: Option<String>,
    /// Key prefix; the revision is chosen among the objects under it by `selection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.size() >= 1").message("s3.prefix must not be empty"))]
    #[schemars(length(max = 1024))]
    pub prefix: Option<String>,
    /// Region of the bucket; defaults to the region of the identity reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::region("s3.region"))]
    #[schemars(length(min = 9, max = 32))]
    pub region: Option<String>,
    /// Pin one version of `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = rules::not_empty("s3.versionId"))]
    pub version_id: Option<String>,
}

/// How the revision is chosen among the objects under `s3.prefix`:
/// `NewestLastModified` (default), or `HighestSemver`, the highest semantic
/// version found in the key (webapp-1.10.0.zip over webapp-1.9.0.zip; keys
/// without one are ignored).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Selection {
    /// The object modified last.
    #[default]
    NewestLastModified,
    /// The object whose key holds the highest semantic version.
    HighestSemver,
}

/// Observed state of a RevisionSource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionSourceStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`, per kstatus.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The revision currently found in S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<ResolvedRevision>,
    /// Digest of `revision` (bucket, key, versionId, eTag, bundle type);
    /// deployments record which digest they deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_digest: Option<String>,
    /// When S3 was last looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<Time>,
    /// Per `verifyFor` TargetAccount: can it read the revision?
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<TargetVerification>,
    /// Digest of what `verifications` were made for (revision, spec
    /// generation, TargetAccounts); they are redone when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_digest: Option<String>,
    /// When `verifications` were made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
    /// Generation of the spec that `revision` was resolved and verified for;
    /// while a poll of that spec is only retrying, deployments keep using it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_generation: Option<i64>,
}

super::has_conditions!(RevisionSourceStatus);

/// Whether one TargetAccount can deploy the resolved revision.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetVerification {
    /// Name of the TargetAccount.
    pub target_account: String,
    /// True when nothing found stands in the way of a deployment.
    pub passed: bool,
    /// Machine-readable outcome, a condition reason (e.g. `Verified`,
    /// `NotReadableByTarget`, `BucketPolicyMissingGrant`).
    pub reason: String,
    /// What was found and, when something is missing, how to fix it.
    pub message: String,
    /// Guide step 2: does the bucket policy grant the TargetAccount's
    /// instanceProfileRoleArn read access to the revision?
    pub bucket_policy: BucketPolicyGrant,
    /// HeadObject as the TargetAccount's role: true readable, false refused,
    /// absent when not checked. CodeDeploy does not need the role to read
    /// the revision (the instances fetch it), so false is only a note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readable_by_role: Option<bool>,
    /// What could not be determined; nothing here fails the verification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// How a revision was checked against what CodeDeploy needs: the object
/// exists (guide step 4) and the production instance profile may read it
/// (guide step 2). Only a determined failure stops a deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionCheck {
    /// The identity that confirmed the object exists; absent when none that
    /// crossdeploy may use could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_by: Option<String>,
    /// Guide step 2: does the bucket policy grant the TargetAccount's
    /// instanceProfileRoleArn read access?
    pub bucket_policy: BucketPolicyGrant,
    /// What could not be determined, and why; nothing here stops a deployment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Outcome of the guide step 2 check for one TargetAccount.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum BucketPolicyGrant {
    /// The bucket policy grants the instance profile role what it needs.
    Granted,
    /// It does not (or explicitly denies it).
    NotGranted,
    /// The policy uses constructs crossdeploy does not evaluate (Condition,
    /// NotAction, NotPrincipal, NotResource, ...), or could not be read.
    Undetermined,
    /// The bucket is in the TargetAccount's own account: no grant needed.
    NotRequired,
    /// Not checked (no instanceProfileRoleArn, or an earlier step failed).
    #[default]
    NotChecked,
}

impl RevisionSourceSpec {
    /// The selection in effect for a prefix.
    pub fn effective_selection(&self) -> Selection {
        self.selection.unwrap_or_default()
    }

    /// The bundle type of `key`: the spec's, else inferred from the extension.
    pub fn bundle_type_for(&self, key: &str) -> Option<BundleType> {
        self.bundle_type.or_else(|| BundleType::from_key(key))
    }
}
