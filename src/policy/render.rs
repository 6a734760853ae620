//! The policies as JSON documents (what `aws iam put-role-policy` takes),
//! as Terraform and as CloudFormation. Production-account resources (the
//! cross-account role) and development-account resources (bucket policy,
//! operator policy) are kept apart: they are applied with different
//! credentials.

use super::node::Node;
use super::{Document, Names};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain IAM policy documents.
    Json,
    /// Terraform resources with the documents in `jsonencode(...)`.
    Terraform,
    /// CloudFormation templates (YAML), one per account.
    Cloudformation,
}

/// Which policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Every policy below, grouped by account.
    All,
    /// The cross-account role's trust policy (production account, guide step 3).
    Trust,
    /// The cross-account role's permissions (production account, guide step 3).
    Permissions,
    /// The revision bucket's policy (development account, guide step 2).
    Bucket,
    /// The operator's own identity policy (development account).
    Operator,
}

/// The rendered text; `Err` says why there is nothing to render.
pub fn render(n: &Names, kind: Kind, format: Format, external_id: Option<&str>) -> Result<String, String> {
    let secret = external_id.map(Node::str);
    match format {
        Format::Json => json(n, kind, secret.as_ref()),
        Format::Terraform => Ok(terraform(n, kind)),
        Format::Cloudformation => Ok(cloudformation(n, kind)),
    }
}

fn resolved(doc: &Document, secret: Option<&Node>) -> Node {
    let node = doc.to_node();
    match secret {
        Some(s) => node.resolve(s),
        None => node,
    }
}

/// The bucket policies to write, by bucket.
fn bucket_documents(n: &Names) -> Vec<(String, Document)> {
    n.buckets
        .iter()
        .filter_map(|b| super::bucket(n, b).map(|d| (b.clone(), d)))
        .collect()
}

fn json(n: &Names, kind: Kind, secret: Option<&Node>) -> Result<String, String> {
    let node = match kind {
        Kind::Trust => resolved(&super::trust(n), secret),
        Kind::Permissions => super::permissions(n).to_node(),
        Kind::Operator => super::operator(n).to_node(),
        Kind::Bucket => match bucket_documents(n).as_slice() {
            [] => return Err(no_bucket_policy(n)),
            [(_, doc)] => doc.to_node(),
            many => Node::Map(many.iter().map(|(b, d)| (b.clone(), d.to_node())).collect()),
        },
        Kind::All => all_json(n, secret),
    };
    Ok(format!("{}\n", node.to_json()))
}

fn no_bucket_policy(n: &Names) -> String {
    if n.buckets_in_production() {
        "no bucket policy is needed: the revision buckets are in the production account (guide step 2 does not \
         apply)"
            .into()
    } else if n.buckets.is_empty() {
        "name the revision bucket (--bucket, or --deployment)".into()
    } else {
        "name the production instance profile role (--instance-profile-role-arn, or the TargetAccount's \
         instanceProfileRoleArn)"
            .into()
    }
}

fn all_json(n: &Names, secret: Option<&Node>) -> Node {
    let buckets = Node::Map(bucket_documents(n).into_iter().map(|(b, d)| (b, d.to_node())).collect());
    Node::map([
        (
            "production",
            Node::map([
                ("account", Node::str(n.production_account())),
                ("roleArn", Node::str(&n.role_arn)),
                ("trustPolicy", resolved(&super::trust(n), secret)),
                ("permissionsPolicy", super::permissions(n).to_node()),
            ]),
        ),
        (
            "development",
            Node::map([
                ("account", Node::str(n.development_account())),
                ("operatorPrincipal", Node::str(&n.operator_arn)),
                ("operatorPolicy", super::operator(n).to_node()),
                ("bucketPolicies", buckets),
            ]),
        ),
        ("notes", Node::strs(&super::notes(n))),
    ])
}

/// (path, name) of an IAM role or user ARN.
fn path_and_name(arn: &str) -> (String, String) {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    let rest = resource.split_once('/').map_or(resource, |(_, r)| r);
    match rest.rsplit_once('/') {
        Some((path, name)) => (format!("/{path}/"), name.to_string()),
        None => ("/".to_string(), rest.to_string()),
    }
}

fn is_user(arn: &str) -> bool {
    arn.splitn(6, ':').nth(5).is_some_and(|r| r.starts_with("user/"))
}

// ---------------------------------------------------------------- Terraform

/// A Terraform identifier from any name.
fn tf_ident(prefix: &str, name: &str) -> String {
    let body: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}_{body}")
}

fn tf_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    // Template sequences are literal in a policy.
    out.replace("${", "$${").replace("%{", "%%{")
}

fn tf_key(k: &str) -> String {
    let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident { k.to_string() } else { tf_string(k) }
}

/// HCL for a node, the ExternalId as `var.crossdeploy_external_id`.
fn hcl(node: &Node, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match node {
        Node::Str(s) => out.push_str(&tf_string(s)),
        Node::Secret => out.push_str("var.crossdeploy_external_id"),
        Node::List(items) => {
            out.push_str("[\n");
            for item in items {
                out.push_str(&pad);
                hcl(item, indent + 1, out);
                out.push_str(",\n");
            }
            out.push_str(&end);
            out.push(']');
        }
        Node::Map(entries) => {
            out.push_str("{\n");
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(&tf_key(k));
                out.push_str(" = ");
                hcl(v, indent + 1, out);
                out.push('\n');
            }
            out.push_str(&end);
            out.push('}');
        }
    }
}

fn jsonencode(doc: &Document) -> String {
    let mut out = String::from("jsonencode(");
    hcl(&doc.to_node(), 1, &mut out);
    out.push(')');
    out
}

fn terraform(n: &Names, kind: Kind) -> String {
    let mut out = String::new();
    for note in super::notes(n) {
        out.push_str(&format!("# note: {note}\n"));
    }
    if matches!(kind, Kind::All | Kind::Trust | Kind::Permissions) {
        out.push_str(&tf_production(n, kind));
    }
    if matches!(kind, Kind::All | Kind::Bucket | Kind::Operator) {
        out.push_str(&tf_development(n, kind));
    }
    out
}

/// A Terraform block with aligned attributes.
fn tf_block(head: &str, attrs: &[(&str, String)]) -> String {
    let width = attrs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!("{head} {{\n");
    for (k, v) in attrs {
        out.push_str(&format!("  {k:<width$} = {v}\n"));
    }
    out.push_str("}\n");
    out
}

fn tf_resource(type_: &str, name: &str, attrs: &[(&str, String)]) -> String {
    tf_block(&format!("resource {} {}", tf_string(type_), tf_string(name)), attrs)
}

fn tf_production(n: &Names, kind: Kind) -> String {
    let (path, name) = path_and_name(&n.role_arn);
    let mut out = format!(
        "\n# production account {}: the cross-account role of guide step 3\n",
        n.production_account()
    );
    let trust = super::trust(n);
    if kind != Kind::Permissions {
        if trust.to_node().has_secret() {
            let variable = tf_block(
                "variable \"crossdeploy_external_id\"",
                &[
                    ("type", "string".to_string()),
                    ("sensitive", "true".to_string()),
                    ("description", tf_string("The ExternalId in the TargetAccount's Secret")),
                ],
            );
            out.push_str(&format!("{variable}\n"));
        }
        out.push_str(&tf_resource(
            "aws_iam_role",
            "crossdeploy",
            &[
                ("name", tf_string(&name)),
                ("path", tf_string(&path)),
                ("assume_role_policy", jsonencode(&trust)),
            ],
        ));
    }
    if kind != Kind::Trust {
        let role = if kind == Kind::All {
            "aws_iam_role.crossdeploy.id".to_string()
        } else {
            tf_string(&name)
        };
        out.push_str(&format!(
            "\n{}",
            tf_resource(
                "aws_iam_role_policy",
                "crossdeploy",
                &[
                    ("name", tf_string("crossdeploy-deploy")),
                    ("role", role),
                    ("policy", jsonencode(&super::permissions(n))),
                ],
            )
        ));
    }
    out
}

fn tf_development(n: &Names, kind: Kind) -> String {
    let mut out = format!(
        "\n# development account {}: guide step 2 and the operator's own identity\n",
        n.development_account()
    );
    if kind != Kind::Operator {
        for (bucket, doc) in bucket_documents(n) {
            out.push_str("# replaces the bucket's policy: merge with statements it already has\n");
            let attrs = [("bucket", tf_string(&bucket)), ("policy", jsonencode(&doc))];
            out.push_str(&tf_resource(
                "aws_s3_bucket_policy",
                &tf_ident("revisions", &bucket),
                &attrs,
            ));
            out.push('\n');
        }
    }
    if kind != Kind::Bucket {
        let (_, who) = path_and_name(&n.operator_arn);
        let (attachment, field) = if is_user(&n.operator_arn) {
            ("aws_iam_user_policy_attachment", "user")
        } else {
            ("aws_iam_role_policy_attachment", "role")
        };
        let policy = [
            ("name", tf_string("crossdeploy-operator")),
            ("policy", jsonencode(&super::operator(n))),
        ];
        out.push_str(&tf_resource("aws_iam_policy", "crossdeploy_operator", &policy));
        let attach = [
            (field, tf_string(&who)),
            ("policy_arn", "aws_iam_policy.crossdeploy_operator.arn".to_string()),
        ];
        out.push_str(&format!(
            "\n{}",
            tf_resource(attachment, "crossdeploy_operator", &attach)
        ));
    }
    out
}

// ----------------------------------------------------------- CloudFormation

fn cfn_secret() -> Node {
    Node::map([("Ref", Node::str("ExternalId"))])
}

fn cfn_logical_id(prefix: &str, name: &str) -> String {
    let mut id = String::from(prefix);
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    id
}

fn template(description: String, parameters: Option<Node>, resources: Vec<(String, Node)>) -> Node {
    let mut entries = vec![
        ("AWSTemplateFormatVersion".to_string(), Node::str("2010-09-09")),
        ("Description".to_string(), Node::str(description)),
    ];
    if let Some(p) = parameters {
        entries.push(("Parameters".to_string(), p));
    }
    entries.push(("Resources".to_string(), Node::Map(resources)));
    Node::Map(entries)
}

fn resource(type_: &str, properties: Vec<(&str, Node)>) -> Node {
    Node::map([("Type", Node::str(type_)), ("Properties", Node::map(properties))])
}

fn cloudformation(n: &Names, kind: Kind) -> String {
    let mut docs = Vec::new();
    if matches!(kind, Kind::All | Kind::Trust | Kind::Permissions) {
        docs.push(cfn_production(n, kind));
    }
    if matches!(kind, Kind::All | Kind::Bucket | Kind::Operator) {
        docs.push(cfn_development(n, kind));
    }
    let mut out = String::new();
    for note in super::notes(n) {
        out.push_str(&format!("# note: {note}\n"));
    }
    for (comment, doc) in docs {
        out.push_str(&format!("---\n# {comment}\n"));
        out.push_str(&quote_dates(&serde_norway::to_string(&doc).unwrap_or_default()));
    }
    out
}

/// `2010-09-09` and `2012-10-17` quoted: a YAML 1.1 reader would take an
/// unquoted one for a date.
fn quote_dates(yaml: &str) -> String {
    yaml.lines()
        .map(|line| {
            let date = ["2010-09-09", "2012-10-17"]
                .into_iter()
                .find(|d| line.ends_with(&format!(": {d}")));
            match date {
                Some(d) => format!("{}'{d}'\n", &line[..line.len() - d.len()]),
                None => format!("{line}\n"),
            }
        })
        .collect()
}

fn cfn_production(n: &Names, kind: Kind) -> (String, Node) {
    let (path, name) = path_and_name(&n.role_arn);
    let trust = super::trust(n).to_node().resolve(&cfn_secret());
    let permissions = super::permissions(n).to_node();
    let policy = Node::map([
        ("PolicyName", Node::str("crossdeploy-deploy")),
        ("PolicyDocument", permissions.clone()),
    ]);
    let resources = if kind == Kind::Permissions {
        vec![(
            "CrossDeployDeployPolicy".to_string(),
            resource(
                "AWS::IAM::Policy",
                vec![
                    ("PolicyName", Node::str("crossdeploy-deploy")),
                    ("Roles", Node::strs(&[name])),
                    ("PolicyDocument", permissions),
                ],
            ),
        )]
    } else {
        let mut props = vec![
            ("RoleName", Node::str(&name)),
            ("Path", Node::str(path)),
            ("AssumeRolePolicyDocument", trust),
        ];
        if kind == Kind::All {
            props.push(("Policies", Node::List(vec![policy])));
        }
        vec![("CrossDeployRole".to_string(), resource("AWS::IAM::Role", props))]
    };
    let parameters = super::trust(n).to_node().has_secret().then(|| {
        Node::map([(
            "ExternalId",
            Node::map([
                ("Type", Node::str("String")),
                ("NoEcho", Node::str("true")),
                ("Description", Node::str("The ExternalId in the TargetAccount's Secret")),
            ]),
        )])
    });
    let what = format!(
        "production account {}: the cross-account role of guide step 3",
        n.production_account()
    );
    let parameters = if kind == Kind::Permissions { None } else { parameters };
    (
        what.clone(),
        template(format!("crossdeploy: {what}"), parameters, resources),
    )
}

fn cfn_development(n: &Names, kind: Kind) -> (String, Node) {
    let mut resources = Vec::new();
    if kind != Kind::Operator {
        for (bucket, doc) in bucket_documents(n) {
            resources.push((
                cfn_logical_id("BucketPolicy", &bucket),
                resource(
                    "AWS::S3::BucketPolicy",
                    vec![("Bucket", Node::str(bucket)), ("PolicyDocument", doc.to_node())],
                ),
            ));
        }
    }
    if kind != Kind::Bucket {
        let (_, who) = path_and_name(&n.operator_arn);
        let attach = if is_user(&n.operator_arn) { "Users" } else { "Roles" };
        resources.push((
            "CrossDeployOperatorPolicy".to_string(),
            resource(
                "AWS::IAM::ManagedPolicy",
                vec![
                    ("ManagedPolicyName", Node::str("crossdeploy-operator")),
                    (attach, Node::strs(&[who])),
                    ("PolicyDocument", super::operator(n).to_node()),
                ],
            ),
        ));
    }
    let what = format!(
        "development account {}: guide step 2 (bucket policy; merge with existing statements) and the operator's \
         own identity",
        n.development_account()
    );
    (what.clone(), template(format!("crossdeploy: {what}"), None, resources))
}
