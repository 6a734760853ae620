//! The install manifests stay consistent with the code without a cluster:
//! the CRD copies in `deploy/` and the chart equal the generated `crds/`
//! (kustomize and Helm both refuse files outside their directory, so each
//! keeps a copy; `make crds` refreshes all three), every file in `deploy/` is
//! listed in its kustomization, and versions and the image's uid agree.
//! What the API server says about them is in tests/e2e/packaging.rs.

// A test that cannot unwrap has failed; its panic message says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(REPO).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml_docs(rel: &str) -> Vec<Value> {
    read(rel)
        .split("\n---")
        .filter_map(|d| serde_norway::from_str::<Value>(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

#[test]
fn crd_copies_are_byte_for_byte_the_generated_crds() {
    let generated = read("crds/crossdeploy.io.yaml");
    for copy in [
        "deploy/crds/crossdeploy.io.yaml",
        "charts/crossdeploy/crds/crossdeploy.io.yaml",
    ] {
        assert!(
            read(copy) == generated,
            "{copy} differs from crds/crossdeploy.io.yaml: run `make crds`"
        );
    }
    for dir in ["deploy/crds", "charts/crossdeploy/crds"] {
        let names: Vec<String> = std::fs::read_dir(Path::new(REPO).join(dir))
            .expect("crds dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["crossdeploy.io.yaml"], "{dir} holds only the copy");
    }
}

#[test]
fn kustomization_lists_every_manifest_in_deploy() {
    let k = yaml("deploy/kustomization.yaml");
    let listed: BTreeSet<String> = k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a path").to_string())
        .collect();
    let mut on_disk = BTreeSet::new();
    for sub in ["", "crds/"] {
        for e in std::fs::read_dir(Path::new(REPO).join("deploy").join(sub)).expect("deploy dir") {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && name != "kustomization.yaml" {
                on_disk.insert(format!("{sub}{name}"));
            }
        }
    }
    assert_eq!(listed, on_disk, "deploy/kustomization.yaml resources vs files");
}

#[test]
fn versions_agree_with_cargo() {
    let version = env!("CARGO_PKG_VERSION");
    let chart = yaml("charts/crossdeploy/Chart.yaml");
    assert_eq!(chart["appVersion"].as_str(), Some(version), "Chart.yaml appVersion");
    let k = yaml("deploy/kustomization.yaml");
    let image = k["images"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["name"] == "crossdeploy"))
        .expect("deploy/kustomization.yaml sets the crossdeploy image");
    assert_eq!(image["newTag"].as_str(), Some(version), "deploy/ image tag");
    let values = yaml("charts/crossdeploy/values.yaml");
    assert_eq!(
        image["newName"], values["image"]["repository"],
        "deploy/ and the chart pull the same image"
    );
}

/// Kubernetes can only enforce runAsNonRoot for a numeric user, and a
/// readOnlyRootFilesystem needs the image not to write anywhere: the
/// manifests and the image must agree on uid 65532.
#[test]
fn image_user_matches_the_manifests() {
    let dockerfile = read("Dockerfile");
    let final_stage = dockerfile.rsplit("\nFROM ").next().expect("a final stage");
    assert!(final_stage.starts_with("gcr.io/distroless/"), "distroless runtime");
    assert!(final_stage.contains("\nUSER 65532:65532\n"), "numeric non-root user");

    let deployment = yaml_docs("deploy/deployment.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("deploy/deployment.yaml");
    let pod = &deployment["spec"]["template"]["spec"];
    let values = yaml("charts/crossdeploy/values.yaml");
    for (what, sc) in [
        ("deploy/", &pod["securityContext"]),
        ("chart", &values["podSecurityContext"]),
    ] {
        assert_eq!(sc["runAsUser"], 65532, "{what} runAsUser");
        assert_eq!(sc["runAsGroup"], 65532, "{what} runAsGroup");
    }
}

/// `make image` builds the Dockerfile's runtime stage without Docker from
/// what scripts/image-spec.py reads in it; the parser refuses what it does
/// not understand, so a Dockerfile edit it cannot follow fails here, not
/// only when someone next runs `make image`.
#[test]
fn image_build_without_docker_reads_the_dockerfile() {
    let out = std::process::Command::new("python3")
        .arg(Path::new(REPO).join("scripts/image-spec.py"))
        .arg(Path::new(REPO).join("Dockerfile"))
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &spec["config"];
    assert_eq!(
        spec["copy"][0]["dest"], config["Entrypoint"][0],
        "the entrypoint is the copied binary"
    );
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(
        config["Labels"]["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION"),
        "image version label"
    );
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".into()),
        "the binary uses the system's CA bundle (rustls-native-certs)"
    );
    assert!(
        spec["passwd"]
            .as_array()
            .unwrap()
            .contains(&"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin".into())
    );
}
