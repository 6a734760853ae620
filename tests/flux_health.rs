//! The Flux health checks (`charts/crossdeploy/files/flux-health-checks.yaml`)
//! are written once: the e2e suite evaluates that file with Flux's own CEL
//! status reader (tests/statuscheck), and the Kustomization snippets users
//! paste from docs/health.md and the chart README must carry it unchanged.

// A test that cannot unwrap has failed; its panic message says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_norway::Value;

const CHECKS: &str = include_str!("../charts/crossdeploy/files/flux-health-checks.yaml");
const DOCS: &str = include_str!("../docs/health.md");
const CHART_README: &str = include_str!("../charts/crossdeploy/README.md");

fn checks() -> Value {
    serde_norway::from_str(CHECKS).expect("flux-health-checks.yaml is YAML")
}

/// The `spec.healthCheckExprs` of the Kustomization snippet in `doc`.
fn snippet(doc: &str, name: &str) -> Value {
    let open = "```yaml\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n";
    let start = doc
        .find(open)
        .unwrap_or_else(|| panic!("{name} has no Flux Kustomization snippet"))
        + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("snippet closes");
    let kustomization: Value = serde_norway::from_str(&doc[start..end]).expect("snippet is YAML");
    kustomization["spec"]["healthCheckExprs"].clone()
}

#[test]
fn one_check_per_kind_with_the_kstatus_conditions() {
    let list = checks();
    let items = list.as_sequence().expect("a list, as spec.healthCheckExprs");
    let kinds: Vec<&str> = items.iter().map(|c| c["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, ["CrossAccountDeployment", "RevisionSource", "TargetAccount"]);
    for c in items {
        assert_eq!(c["apiVersion"], "crossdeploy.io/v1alpha1");
        let expr = |k: &str| c[k].as_str().unwrap_or_else(|| panic!("{k} for {:?}", c["kind"]));
        assert!(expr("inProgress").contains("'Reconciling'"));
        assert!(expr("failed").contains("'Stalled'"));
        assert!(expr("current").contains("'Ready'"));
        let fields: Vec<&str> = c
            .as_mapping()
            .expect("mapping")
            .keys()
            .map(|k| k.as_str().expect("string keys"))
            .collect();
        assert_eq!(fields, ["apiVersion", "kind", "inProgress", "failed", "current"]);
    }
}

#[test]
fn docs_and_chart_readme_carry_the_file() {
    for (name, doc) in [("docs/health.md", DOCS), ("charts/crossdeploy/README.md", CHART_README)] {
        assert_eq!(
            snippet(doc, name),
            checks(),
            "the healthCheckExprs in {name} differ from charts/crossdeploy/files/flux-health-checks.yaml: paste the file again"
        );
    }
}
