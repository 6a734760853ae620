//! The CRDs in `crds/` are generated from the Rust types; this fails when they
//! drift. Regenerate with `cargo run -- crds > crds/crossdeploy.io.yaml`.

// A test that cannot unwrap has failed; its panic message says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

#[test]
fn checked_in_crds_match_the_rust_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/crossdeploy.io.yaml");
    let on_disk = std::fs::read_to_string(path).expect("crds/crossdeploy.io.yaml is readable");
    let generated = crossdeploy::api::crds_yaml().expect("CRDs serialize");
    assert!(
        on_disk == generated,
        "crds/crossdeploy.io.yaml is stale: run `cargo run -- crds > crds/crossdeploy.io.yaml`"
    );
}

#[test]
fn crds_are_structural_and_documented() {
    for crd in crossdeploy::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert!(name.ends_with(".crossdeploy.io"), "{name}");
        let version = &crd.spec.versions[0];
        assert!(
            version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(),
            "{name}: status subresource"
        );
        let schema = serde_json::to_value(&version.schema).expect("schema serializes");
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        let props = spec["properties"].as_object().expect("spec has properties");
        for (field, prop) in props {
            assert!(
                prop.get("description").is_some(),
                "{name}: spec.{field} has no description for kubectl explain"
            );
        }
        assert!(
            version
                .additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.len() >= 3),
            "{name}: printer columns"
        );
        let short = crd.spec.names.short_names.clone().unwrap_or_default();
        assert!(!short.is_empty(), "{name}: short names");
    }
}

#[test]
fn deployment_printer_columns_match_the_guide_view() {
    let crd: CustomResourceDefinition = crossdeploy::api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "CrossAccountDeployment")
        .expect("CrossAccountDeployment CRD");
    let cols: Vec<String> = crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        cols,
        [
            "Account",
            "Application",
            "Group",
            "Revision",
            "Deployment",
            "Status",
            "Ready",
            "Age"
        ]
    );
}

/// Issue 17: an object the operator has not reconciled yet must not read as
/// healthy. Every CRD defaults `status` to `{"observedGeneration": -1}` (the
/// API server applies it when it reads an object without status); the e2e
/// suite proves GET, LIST and WATCH show it and that kstatus, Flux and Argo
/// CD then report the object as in progress.
#[test]
fn status_defaults_to_not_observed() {
    for crd in crossdeploy::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        for version in &crd.spec.versions {
            let schema = serde_json::to_value(&version.schema).expect("schema serializes");
            let status = &schema["openAPIV3Schema"]["properties"]["status"];
            assert_eq!(
                status["default"],
                serde_json::json!({"observedGeneration": crossdeploy::api::NOT_OBSERVED_GENERATION}),
                "{name}: status default"
            );
            assert_eq!(
                status["properties"]["observedGeneration"]["type"], "integer",
                "{name}: the default validates against the status schema"
            );
            assert!(
                status["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("observedGeneration -1")),
                "{name}: kubectl explain says what -1 means"
            );
        }
    }
    assert_eq!(crossdeploy::api::NOT_OBSERVED_GENERATION, -1);
}
