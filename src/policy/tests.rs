use serde_json::{Value, json};

use super::render::{Format, Kind, render};
use super::*;

const OPERATOR: &str = "arn:aws:iam::111111111111:user/crossdeploy-operator";
const ROLE: &str = "arn:aws:iam::222222222222:role/CrossDeployDeployer";
const INSTANCE: &str = "arn:aws:iam::222222222222:role/CodeDeployInstanceRole";

fn guide() -> Names {
    Names {
        operator_arn: OPERATOR.into(),
        role_arn: ROLE.into(),
        external_id: true,
        region: "us-east-1".into(),
        applications: vec!["webapp".into()],
        groups: vec!["webapp-prod".into()],
        configs: vec!["CodeDeployDefault.OneAtATime".into()],
        buckets: vec!["crossdeploy-revisions".into()],
        instance_role: Some(INSTANCE.into()),
        ..Default::default()
    }
}

fn value(doc: &Document) -> Value {
    serde_json::from_str(&doc.to_node().to_json()).unwrap()
}

#[test]
fn the_guides_world_needs_no_s3_for_the_role() {
    let n = guide();
    let trust = value(&trust(&n));
    assert_eq!(
        trust["Statement"][0],
        json!({"Sid": "TrustCrossdeployOperator", "Effect": "Allow", "Principal": {"AWS": OPERATOR},
               "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "${EXTERNAL_ID}"}}})
    );
    let perms = permissions(&n);
    assert_eq!(
        perms.sids(),
        [
            "ReadApplication",
            "ReadDeploymentGroup",
            "ReadDeploymentConfig",
            "DeployToGroup"
        ]
    );
    let text = perms.to_node().to_json();
    assert!(!text.contains("s3:"), "{text}");
    assert!(text.contains("arn:aws:codedeploy:us-east-1:222222222222:deploymentgroup:webapp/webapp-prod"));
    assert!(text.contains("arn:aws:codedeploy:us-east-1:222222222222:application:webapp"));
    assert!(text.contains("deploymentconfig:CodeDeployDefault.OneAtATime"));
    let op = operator(&n);
    assert_eq!(
        op.sids(),
        [
            "AssumeTargetRole",
            "ReadRevisions",
            "ListRevisionBuckets",
            "ReadBucketPolicies"
        ]
    );
    assert_eq!(value(&op)["Statement"][0]["Resource"], json!([ROLE]));
    assert_eq!(
        value(&op)["Statement"][1]["Resource"],
        json!(["arn:aws:s3:::crossdeploy-revisions/*"])
    );
    let bucket = bucket(&n, "crossdeploy-revisions").unwrap();
    let grant: Value = serde_json::from_str(&crate::revision::bucket_policy::grant_statement(
        INSTANCE,
        "crossdeploy-revisions",
    ))
    .unwrap();
    assert_eq!(value(&bucket)["Statement"][0], grant);
}

#[test]
fn a_production_bucket_is_read_by_the_role() {
    let mut n = guide();
    n.bucket_account = Some("222222222222".into());
    assert!(n.buckets_in_production());
    assert!(permissions(&n).statement(sid::READ_REVISIONS).is_some());
    assert_eq!(operator(&n).sids(), ["AssumeTargetRole"]);
    assert!(bucket(&n, "crossdeploy-revisions").is_none());
    let err = render(&n, Kind::Bucket, Format::Json, None).unwrap_err();
    assert!(err.contains("production account"), "{err}");
}

#[test]
fn session_tags_globs_and_chains() {
    let mut n = guide();
    n.session_tag_keys = vec!["team".into()];
    n.applications.clear();
    n.groups = vec!["*-prod".into()];
    n.role_chain = vec!["arn:aws:iam::333333333333:role/Hub".into()];
    assert_eq!(trust(&n).sids(), ["TrustCrossdeployOperator", "AllowSessionTags"]);
    assert_eq!(
        value(&trust(&n))["Statement"][1]["Principal"]["AWS"],
        json!("arn:aws:iam::333333333333:role/Hub")
    );
    let op = value(&operator(&n));
    assert_eq!(
        op["Statement"][0]["Action"],
        json!(["sts:AssumeRole", "sts:TagSession"])
    );
    assert_eq!(
        op["Statement"][0]["Resource"],
        json!(["arn:aws:iam::333333333333:role/Hub"])
    );
    assert_eq!(
        value(&permissions(&n))["Statement"][1]["Resource"],
        json!(["arn:aws:codedeploy:us-east-1:222222222222:deploymentgroup:*/*-prod"])
    );
    assert!(notes(&n).iter().any(|m| m.contains("Role chain")));
}

#[test]
fn without_removes_one_statement() {
    let n = guide();
    let op = operator(&n);
    let fewer = op.without(sid::LIST_BUCKETS).unwrap();
    assert_eq!(
        fewer.sids(),
        ["AssumeTargetRole", "ReadRevisions", "ReadBucketPolicies"]
    );
    assert!(bucket(&n, "b").unwrap().without(sid::BUCKET_GRANT).is_none());
}

#[test]
fn callers_become_principals() {
    assert_eq!(principal_of_caller(OPERATOR), OPERATOR);
    assert_eq!(
        principal_of_caller("arn:aws:sts::111111111111:assumed-role/crossdeploy-irsa/botocore-session-1"),
        "arn:aws:iam::111111111111:role/crossdeploy-irsa"
    );
}

#[test]
fn json_fills_in_the_external_id_only_when_given() {
    let n = guide();
    let with = render(&n, Kind::Trust, Format::Json, Some("s3cr3t")).unwrap();
    assert!(with.contains("\"sts:ExternalId\": \"s3cr3t\""), "{with}");
    let without = render(&n, Kind::Trust, Format::Json, None).unwrap();
    assert!(without.contains("${EXTERNAL_ID}"), "{without}");
    let all: Value = serde_json::from_str(&render(&n, Kind::All, Format::Json, None).unwrap()).unwrap();
    assert_eq!(all["production"]["permissionsPolicy"], value(&permissions(&n)));
    assert_eq!(all["development"]["operatorPolicy"], value(&operator(&n)));
    assert_eq!(
        all["development"]["bucketPolicies"]["crossdeploy-revisions"],
        value(&bucket(&n, "crossdeploy-revisions").unwrap())
    );
}

#[test]
fn cloudformation_holds_the_same_documents() {
    let n = guide();
    let text = render(&n, Kind::All, Format::Cloudformation, None).unwrap();
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| d.contains("Resources"))
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert!(text.contains("AWSTemplateFormatVersion: '2010-09-09'") && text.contains("Version: '2012-10-17'"));
    let role = &docs[0]["Resources"]["CrossDeployRole"]["Properties"];
    let mut trust_doc = value(&trust(&n));
    trust_doc["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = json!({"Ref": "ExternalId"});
    assert_eq!(role["AssumeRolePolicyDocument"], trust_doc);
    assert_eq!(role["Policies"][0]["PolicyDocument"], value(&permissions(&n)));
    assert_eq!(role["RoleName"], json!("CrossDeployDeployer"));
    assert_eq!(docs[0]["Parameters"]["ExternalId"]["NoEcho"], json!("true"));
    let dev = &docs[1]["Resources"];
    assert_eq!(
        dev["BucketPolicyCrossdeployRevisions"]["Properties"]["PolicyDocument"],
        value(&bucket(&n, "crossdeploy-revisions").unwrap())
    );
    assert_eq!(
        dev["CrossDeployOperatorPolicy"]["Properties"]["Users"],
        json!(["crossdeploy-operator"])
    );
    assert_eq!(
        dev["CrossDeployOperatorPolicy"]["Properties"]["PolicyDocument"],
        value(&operator(&n))
    );
}

#[test]
fn terraform_references_the_external_id_and_escapes_templates() {
    let mut n = guide();
    n.buckets = vec!["weird-${bucket}".into()];
    let text = render(&n, Kind::All, Format::Terraform, None).unwrap();
    assert!(
        text.contains("\"sts:ExternalId\" = var.crossdeploy_external_id"),
        "{text}"
    );
    assert!(text.contains("variable \"crossdeploy_external_id\""), "{text}");
    assert!(text.contains("arn:aws:s3:::weird-$${bucket}/*"), "{text}");
    for sid in [
        "TrustCrossdeployOperator",
        "DeployToGroup",
        "AssumeTargetRole",
        "Cross-account permissions",
    ] {
        assert!(text.contains(&format!("Sid = \"{sid}\"")), "{sid}: {text}");
    }
    assert!(text.contains("resource \"aws_iam_user_policy_attachment\" \"crossdeploy_operator\""));
    assert!(text.contains("role   = aws_iam_role.crossdeploy.id"));
    let only = render(&n, Kind::Permissions, Format::Terraform, None).unwrap();
    assert!(
        only.contains("role   = \"CrossDeployDeployer\"") && !only.contains("aws_iam_role\" "),
        "{only}"
    );
}
