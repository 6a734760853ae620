//! The policies the cross-account guide asks a person to write, filled in
//! (`crossdeploy policy`): the cross-account role's trust policy and a
//! least-privilege permissions policy for it (guide step 3), the bucket
//! policy of guide step 2, and the operator's own identity policy.
//!
//! Least privilege, against the guide's AmazonS3FullAccess and
//! AWSCodeDeployDeployerAccess: CodeDeploy actions only on the named
//! application, group and deployment config ARNs, and no S3 at all for the
//! cross-account role when the revisions live in the development account.
//! CodeDeploy never fetches a bundle with the caller's credentials (the
//! instances do, with their instance profile: guide step 2), and crossdeploy
//! checks revisions with its own identity, which lives in that account. Only
//! a bucket in the production account is read by the role instead (the
//! operator's identity cannot read it without a bucket policy grant).
//!
//! Every statement has a `Sid` that `crossdeploy doctor` names when the
//! statement is missing: each one is probed by some step.

pub mod cli;
pub mod node;
pub mod render;

use node::Node;

use crate::revision::bucket_policy;

/// Statement ids, shared with `crossdeploy doctor`'s fixes.
pub mod sid {
    /// Trust policy: the operator (or the last role of a chain) may assume the role.
    pub const TRUST_OPERATOR: &str = "TrustCrossdeployOperator";
    /// Trust policy: ... with session tags.
    pub const SESSION_TAGS: &str = "AllowSessionTags";
    /// Role: the application (GetApplication, and the revision registration CreateDeployment needs).
    pub const READ_APPLICATION: &str = "ReadApplication";
    /// Role: GetDeploymentGroup.
    pub const READ_GROUP: &str = "ReadDeploymentGroup";
    /// Role: GetDeploymentConfig.
    pub const READ_CONFIG: &str = "ReadDeploymentConfig";
    /// Role: create, follow, stop and continue deployments in the group.
    pub const DEPLOY: &str = "DeployToGroup";
    /// Operator: sts:AssumeRole on the cross-account role.
    pub const ASSUME: &str = "AssumeTargetRole";
    /// Whoever checks revisions: HeadObject/GetObject on the objects.
    pub const READ_REVISIONS: &str = "ReadRevisions";
    /// Whoever checks revisions: HeadBucket, ListObjectsV2 (and 404 instead of 403 for a missing key).
    pub const LIST_BUCKETS: &str = "ListRevisionBuckets";
    /// Whoever checks revisions: GetBucketPolicy (guide step 2, offline).
    pub const READ_BUCKET_POLICY: &str = "ReadBucketPolicies";
    /// Bucket policy: guide step 2's statement, as `bucket_policy::grant_statement` writes it.
    pub const BUCKET_GRANT: &str = "Cross-account permissions";
}

/// What the policies are about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// The operator's own identity (IAM user or role ARN): the principal the
    /// cross-account role trusts.
    pub operator_arn: String,
    /// The cross-account role (guide step 3).
    pub role_arn: String,
    /// Roles assumed before `role_arn`; the last one is the principal trusted.
    pub role_chain: Vec<String>,
    /// Whether the trust policy requires an ExternalId (its value is never
    /// part of the model: it is a [`Node::Secret`]).
    pub external_id: bool,
    /// Session tag keys passed to AssumeRole (they need sts:TagSession).
    pub session_tag_keys: Vec<String>,
    pub region: String,
    /// Application names or `*` globs; none means every application.
    pub applications: Vec<String>,
    /// Deployment group names or globs; none means every group.
    pub groups: Vec<String>,
    /// Deployment configs the deployments name; none means any.
    pub configs: Vec<String>,
    /// Revision buckets.
    pub buckets: Vec<String>,
    /// The account owning the buckets; None: the operator's (the guide's
    /// development account).
    pub bucket_account: Option<String>,
    /// The production instance profile's role (guide step 2).
    pub instance_role: Option<String>,
}

/// A policy document: `{"Version": "2012-10-17", "Statement": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    pub statements: Vec<Node>,
}

impl Document {
    pub fn to_node(&self) -> Node {
        Node::map([
            ("Version", Node::str("2012-10-17")),
            ("Statement", Node::List(self.statements.clone())),
        ])
    }

    /// The statement with this Sid.
    pub fn statement(&self, sid: &str) -> Option<&Node> {
        self.statements
            .iter()
            .find(|s| s.get("Sid").and_then(Node::as_str) == Some(sid))
    }

    /// The Sids, in order.
    pub fn sids(&self) -> Vec<String> {
        self.statements
            .iter()
            .filter_map(|s| s.get("Sid").and_then(Node::as_str).map(str::to_string))
            .collect()
    }

    /// The document without the statement `sid` (None: it was the only one).
    pub fn without(&self, sid: &str) -> Option<Document> {
        let statements: Vec<Node> = self
            .statements
            .iter()
            .filter(|s| s.get("Sid").and_then(Node::as_str) != Some(sid))
            .cloned()
            .collect();
        (!statements.is_empty()).then_some(Document { statements })
    }
}

/// Account id of an ARN.
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| a.len() == 12)
}

fn partition_of(arn: &str) -> &str {
    arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
}

/// The IAM principal behind a caller ARN as STS reports it: an assumed-role
/// session (`arn:aws:sts::A:assumed-role/R/session`) is the role
/// `arn:aws:iam::A:role/R` (a role path, if any, is not in the session ARN).
pub fn principal_of_caller(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if let [_, partition, "sts", _, account, resource] = parts.as_slice()
        && let Some(rest) = resource.strip_prefix("assumed-role/")
        && let Some(role) = rest.split('/').next()
    {
        return format!("arn:{partition}:iam::{account}:role/{role}");
    }
    arn.to_string()
}

impl Names {
    fn partition(&self) -> &str {
        partition_of(&self.role_arn)
    }

    /// The production account (the cross-account role's).
    pub fn production_account(&self) -> &str {
        account_of(&self.role_arn).unwrap_or_default()
    }

    /// The development account (the operator's).
    pub fn development_account(&self) -> &str {
        account_of(&self.operator_arn).unwrap_or_default()
    }

    /// Do the buckets live in the production account (read by the role)?
    pub fn buckets_in_production(&self) -> bool {
        self.bucket_account.as_deref() == Some(self.production_account())
            && self.production_account() != self.development_account()
    }

    /// The principal the role trusts: the operator, or the last hop of a chain.
    pub fn trusted_principal(&self) -> &str {
        self.role_chain.last().map_or(&self.operator_arn, String::as_str)
    }

    /// The role the operator itself assumes: the first hop.
    pub fn first_hop(&self) -> &str {
        self.role_chain.first().map_or(&self.role_arn, String::as_str)
    }

    fn codedeploy_arn(&self, resource: &str) -> String {
        format!(
            "arn:{}:codedeploy:{}:{}:{resource}",
            self.partition(),
            self.region,
            self.production_account()
        )
    }

    fn or_any(names: &[String]) -> Vec<String> {
        if names.is_empty() {
            vec!["*".to_string()]
        } else {
            names.to_vec()
        }
    }

    pub fn application_arns(&self) -> Vec<String> {
        Self::or_any(&self.applications)
            .iter()
            .map(|a| self.codedeploy_arn(&format!("application:{a}")))
            .collect()
    }

    pub fn group_arns(&self) -> Vec<String> {
        let groups = Self::or_any(&self.groups);
        Self::or_any(&self.applications)
            .iter()
            .flat_map(|a| groups.iter().map(move |g| format!("deploymentgroup:{a}/{g}")))
            .map(|r| self.codedeploy_arn(&r))
            .collect()
    }

    pub fn config_arns(&self) -> Vec<String> {
        Self::or_any(&self.configs)
            .iter()
            .map(|c| self.codedeploy_arn(&format!("deploymentconfig:{c}")))
            .collect()
    }

    fn bucket_arns(&self, objects: bool) -> Vec<String> {
        let suffix = if objects { "/*" } else { "" };
        self.buckets
            .iter()
            .map(|b| format!("arn:{}:s3:::{b}{suffix}", self.partition()))
            .collect()
    }
}

fn allow(sid: &str, actions: &[&str], resources: &[String]) -> Node {
    Node::map([
        ("Sid", Node::str(sid)),
        ("Effect", Node::str("Allow")),
        ("Action", Node::strs(actions)),
        ("Resource", Node::strs(resources)),
    ])
}

fn trust_statement(sid: &str, principal: &str, action: &str, condition: Option<Node>) -> Node {
    let mut entries = vec![
        ("Sid".to_string(), Node::str(sid)),
        ("Effect".to_string(), Node::str("Allow")),
        ("Principal".to_string(), Node::map([("AWS", Node::str(principal))])),
        ("Action".to_string(), Node::str(action)),
    ];
    if let Some(c) = condition {
        entries.push(("Condition".to_string(), c));
    }
    Node::Map(entries)
}

/// The cross-account role's trust policy (guide step 3): the operator's
/// identity may assume it with the ExternalId, and tag its session.
pub fn trust(n: &Names) -> Document {
    let condition = n
        .external_id
        .then(|| Node::map([("StringEquals", Node::map([("sts:ExternalId", Node::Secret)]))]));
    let principal = n.trusted_principal();
    let mut statements = vec![trust_statement(
        sid::TRUST_OPERATOR,
        principal,
        "sts:AssumeRole",
        condition,
    )];
    if !n.session_tag_keys.is_empty() {
        statements.push(trust_statement(sid::SESSION_TAGS, principal, "sts:TagSession", None));
    }
    Document { statements }
}

/// The actions crossdeploy calls on a deployment group.
pub const DEPLOY_ACTIONS: [&str; 8] = [
    "codedeploy:CreateDeployment",
    "codedeploy:GetDeployment",
    "codedeploy:BatchGetDeployments",
    "codedeploy:ListDeployments",
    "codedeploy:StopDeployment",
    "codedeploy:ContinueDeployment",
    "codedeploy:ListDeploymentTargets",
    "codedeploy:BatchGetDeploymentTargets",
];

/// Read access to revisions for whoever checks them (guide steps 1, 2, 4).
fn revision_reads(n: &Names) -> Vec<Node> {
    if n.buckets.is_empty() {
        return Vec::new();
    }
    vec![
        allow(
            sid::READ_REVISIONS,
            &["s3:GetObject", "s3:GetObjectVersion"],
            &n.bucket_arns(true),
        ),
        allow(sid::LIST_BUCKETS, &["s3:ListBucket"], &n.bucket_arns(false)),
        allow(sid::READ_BUCKET_POLICY, &["s3:GetBucketPolicy"], &n.bucket_arns(false)),
    ]
}

/// The cross-account role's permissions (guide step 3), instead of the
/// guide's AWSCodeDeployDeployerAccess and AmazonS3FullAccess.
pub fn permissions(n: &Names) -> Document {
    let mut statements = vec![
        allow(
            sid::READ_APPLICATION,
            &[
                "codedeploy:GetApplication",
                "codedeploy:GetApplicationRevision",
                "codedeploy:RegisterApplicationRevision",
            ],
            &n.application_arns(),
        ),
        allow(sid::READ_GROUP, &["codedeploy:GetDeploymentGroup"], &n.group_arns()),
        allow(sid::READ_CONFIG, &["codedeploy:GetDeploymentConfig"], &n.config_arns()),
        allow(sid::DEPLOY, &DEPLOY_ACTIONS, &n.group_arns()),
    ];
    if n.buckets_in_production() {
        statements.extend(revision_reads(n));
    }
    Document { statements }
}

/// Guide step 2 for one bucket of the development account: the statement
/// `bucket_policy::grant_statement` writes. None when no grant is needed
/// (the bucket is in the production account) or nothing names the role.
pub fn bucket(n: &Names, bucket: &str) -> Option<Document> {
    if n.buckets_in_production() {
        return None;
    }
    let role = n.instance_role.as_deref()?;
    let statement: Node = serde_json::from_str(&bucket_policy::grant_statement(role, bucket)).ok()?;
    Some(Document {
        statements: vec![statement],
    })
}

/// The operator's own identity policy (development account).
pub fn operator(n: &Names) -> Document {
    let mut actions = vec!["sts:AssumeRole"];
    if !n.session_tag_keys.is_empty() {
        actions.push("sts:TagSession");
    }
    let mut statements = vec![allow(sid::ASSUME, &actions, &[n.first_hop().to_string()])];
    if !n.buckets_in_production() {
        statements.extend(revision_reads(n));
    }
    Document { statements }
}

/// Why the policies look the way they do, for the person applying them.
pub fn notes(n: &Names) -> Vec<String> {
    let mut notes = Vec::new();
    if n.buckets_in_production() {
        notes.push(
            "The revision buckets are in the production account: the cross-account role reads them \
             (ReadRevisions, ListRevisionBuckets, ReadBucketPolicies), no bucket policy is needed (guide step \
             2 does not apply), and the operator's own identity needs no S3 permission."
                .to_string(),
        );
    } else {
        notes.push(
            "The cross-account role gets no S3 permission (the guide attaches AmazonS3FullAccess): CodeDeploy \
             never fetches a bundle with the caller's credentials, the instances do with their instance \
             profile (guide step 2, the bucket policy), and crossdeploy checks revisions with its own \
             identity in the development account (ReadRevisions, ListRevisionBuckets, ReadBucketPolicies of \
             the operator policy)."
                .to_string(),
        );
    }
    if n.instance_role.is_none() && !n.buckets_in_production() && !n.buckets.is_empty() {
        notes.push(
            "No instance profile role was given (--instance-profile-role-arn or the TargetAccount's \
             instanceProfileRoleArn), so no bucket policy was written for guide step 2."
                .to_string(),
        );
    }
    notes.push(
        "A bucket has one policy: add the statement to the bucket's existing policy rather than replacing it."
            .to_string(),
    );
    notes.push(
        "sts:GetCallerIdentity is not in any policy: AWS answers it for every identity, without a permission."
            .to_string(),
    );
    notes.push(format!(
        "{} includes StopDeployment (onActiveDeployment StopAndReplace, deletionPolicy StopInFlight, progress \
         deadlines) and ContinueDeployment (blue/green); ReadApplication includes GetApplicationRevision and \
         RegisterApplicationRevision, which CreateDeployment needs on the application.",
        sid::DEPLOY
    ));
    if !n.role_chain.is_empty() {
        notes.push(format!(
            "Role chain: the operator policy allows the first hop {}; each hop must allow sts:AssumeRole on the \
             next, and the cross-account role trusts the last hop {}.",
            n.first_hop(),
            n.trusted_principal()
        ));
    }
    if !n.external_id {
        notes.push(
            "No ExternalId: the trust policy has no sts:ExternalId condition. Set externalIdSecretRef on the \
             TargetAccount and generate again."
                .to_string(),
        );
    }
    notes
}

#[cfg(test)]
mod tests;
