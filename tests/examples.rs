//! The examples and the README's admin section agree with the tenancy rules
//! (issue 12), without a cluster: the TargetAccount they show has every
//! limit, its ExternalId Secret is labelled, and it admits the deployments
//! shown next to it. tests/e2e/admission.rs proves the API server accepts
//! them too.

// A test that cannot unwrap has failed; its panic message says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::Value;

use crossdeploy::api::{CrossAccountDeploymentSpec, EXTERNAL_ID_SECRET_LABEL, TargetAccountSpec};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn docs(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter_map(|d| serde_norway::from_str::<Value>(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

fn file(rel: &str) -> Vec<Value> {
    docs(&std::fs::read_to_string(format!("{REPO}/{rel}")).unwrap())
}

/// The YAML blocks of README.md's "From the guide to YAML" section.
fn readme_blocks() -> Vec<Value> {
    let readme = std::fs::read_to_string(format!("{REPO}/README.md")).unwrap();
    let section = &readme[readme.find("**Platform admin, once per account**").unwrap()..];
    let section = &section[..section.find("### Continuous delivery").unwrap()];
    section
        .split("```yaml")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .flat_map(docs)
        .collect()
}

fn of_kind<'a>(objs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| o["kind"] == kind).collect()
}

fn labels(obj: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(obj["metadata"]["labels"].clone()).unwrap_or_default()
}

#[test]
fn the_admin_examples_show_every_limit_and_a_marked_secret() {
    for (name, objs) in [
        ("examples/01", file("examples/01-platform-admin.yaml")),
        ("README", readme_blocks()),
    ] {
        let target = of_kind(&objs, "TargetAccount")[0];
        for field in [
            "namespaceSelector",
            "allowedApplications",
            "allowedDeploymentConfigs",
            "allowedRegions",
            "requireAutoRollback",
            "allowedRevisionBuckets",
        ] {
            assert!(
                target["spec"].get(field).is_some(),
                "{name}: TargetAccount without {field}"
            );
        }
        let secret = of_kind(&objs, "Secret")[0];
        assert_eq!(
            labels(secret).get(EXTERNAL_ID_SECRET_LABEL).map(String::as_str),
            Some("true"),
            "{name}: the ExternalId Secret is marked"
        );
    }
    let readme = std::fs::read_to_string(format!("{REPO}/README.md")).unwrap();
    assert!(
        readme.contains("allowedRevisionBuckets"),
        "README: the bucket limit has its line"
    );
}

#[test]
fn the_example_target_account_admits_the_example_deployments() {
    let admin = file("examples/01-platform-admin.yaml");
    let target: TargetAccountSpec =
        serde_json::from_value(of_kind(&admin, "TargetAccount")[0]["spec"].clone()).unwrap();
    let namespace = labels(
        of_kind(&admin, "Namespace")
            .iter()
            .find(|n| n["metadata"]["name"] == "webapp")
            .unwrap(),
    );
    let mut deployments = file("examples/02-webapp-deployment.yaml");
    deployments.extend(file("examples/03-revision-source.yaml"));
    let deployments = of_kind(&deployments, "CrossAccountDeployment");
    assert_eq!(deployments.len(), 2);
    for d in deployments {
        let spec: CrossAccountDeploymentSpec = serde_json::from_value(d["spec"].clone()).unwrap();
        assert_eq!(crossdeploy::access::check(&target, &namespace, &spec), Ok(()), "{d}");
        assert_allowed_revision(&target, &spec);
    }

    let readme = readme_blocks();
    let target: TargetAccountSpec =
        serde_json::from_value(of_kind(&readme, "TargetAccount")[0]["spec"].clone()).unwrap();
    let selected: BTreeMap<String, String> = [("crossdeploy.io/production".to_string(), "allowed".to_string())].into();
    let spec: CrossAccountDeploymentSpec =
        serde_json::from_value(of_kind(&readme, "CrossAccountDeployment")[0]["spec"].clone()).unwrap();
    assert_eq!(crossdeploy::access::check(&target, &selected, &spec), Ok(()));
    assert_allowed_revision(&target, &spec);
}

/// An inline revision must be one the TargetAccount lets its tenants use.
fn assert_allowed_revision(target: &TargetAccountSpec, spec: &CrossAccountDeploymentSpec) {
    if let Some(s3) = spec.revision.as_ref().and_then(|r| r.s3.as_ref()) {
        let location = crossdeploy::access::S3Location::Object {
            bucket: &s3.bucket,
            key: &s3.key,
        };
        assert_eq!(
            crossdeploy::access::check_revision(target, location),
            Ok(()),
            "{}",
            s3.key
        );
    }
}
