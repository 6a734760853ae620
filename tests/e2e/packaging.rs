//! The install artefacts against the real API server: the Helm chart (lint,
//! rendered with default and non-default values) and `deploy/` (kustomize)
//! are accepted by `kubectl apply --server-side --dry-run=server`, into
//! namespaces that enforce the "restricted" Pod Security Standard, and
//! `kubectl explain` / `kubectl get` read well from the installed CRDs.
//! kubectl and helm are the pinned ones from scripts/tools.sh.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::env::{REPO, env};
use crate::harness::*;

static TOOLS: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Path of a pinned tool (kubectl, helm), installed on first use.
pub fn tool(name: &str) -> PathBuf {
    let dir = TOOLS.get_or_init(|| {
        let out = Command::new("bash")
            .arg(format!("{REPO}/scripts/tools.sh"))
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("scripts/tools.sh: {e}"))?;
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        if !out.status.success() || last.is_empty() {
            return Err(format!("scripts/tools.sh failed ({})", out.status));
        }
        Ok(PathBuf::from(last.trim()))
    });
    match dir {
        Ok(d) => d.join(name),
        Err(e) => panic!("kubectl/helm unavailable: {e}"),
    }
}

pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs kubectl or helm against the test API server (admin credentials),
/// from the repository root.
pub fn run(name: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(tool(name));
    cmd.args(args)
        .current_dir(REPO)
        .env("KUBECONFIG", &env().kubeconfig)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("stdin written");
    }
    let out = child.wait_with_output().expect("tool finished");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Like `run`, failing the test with the tool's output unless it succeeded.
pub fn run_ok(name: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(name, args, stdin);
    assert!(
        out.ok,
        "{name} {} failed:\n{}\n{}",
        args.join(" "),
        out.stderr,
        out.stdout
    );
    out.stdout
}

/// The objects of a multi-document YAML stream.
pub fn docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(Value::is_object)
        .collect()
}

fn to_yaml(objs: &[Value]) -> String {
    objs.iter()
        .map(|o| serde_norway::to_string(o).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn kinds(objs: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = objs
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    k.sort();
    k
}

fn one<'a>(objs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objs.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

/// A namespace that admits only pods meeting the "restricted" Pod Security
/// Standard and warns about workloads that would not.
async fn restricted_namespace(name: &str) {
    let client = admin_client().await;
    let api: Api<Namespace> = Api::all(client);
    let ns: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }},
    }))
    .expect("namespace");
    api.patch(name, &PatchParams::apply("crossdeploy-e2e").force(), &Patch::Apply(&ns))
        .await
        .expect("namespace applied");
}

/// Server-side dry-run of `objs`: admission (schemas, CEL, Pod Security)
/// runs for real, nothing is stored. Returns kubectl's stderr.
fn dry_run(objs: &[Value]) -> String {
    let out = run(
        "kubectl",
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(&to_yaml(objs)),
    );
    assert!(out.ok, "dry-run rejected:\n{}\n{}", out.stderr, out.stdout);
    assert_no_warnings(&out.stderr);
    out.stderr
}

fn assert_no_warnings(stderr: &str) {
    // Pod Security "warn" and deprecated-API warnings both arrive here.
    assert!(!stderr.contains("Warning"), "the API server warned:\n{stderr}");
}

/// What both install paths must give the operator's Deployment.
fn assert_operator_deployment(dep: &Value, what: &str) {
    let pod = &dep["spec"]["template"]["spec"];
    assert!(
        pod["serviceAccountName"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: SA"
    );
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true, "{what}: pod runAsNonRoot");
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{what}: pod seccomp");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{what}: one container");
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
    assert_eq!(sc["runAsNonRoot"], true, "{what}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{what}");
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(c["resources"][kind][res].is_string(), "{what}: resources.{kind}.{res}");
        }
    }
    assert_eq!(
        c["ports"],
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}]),
        "{what}"
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http"})
    );
    let env = c["env"].as_array().expect("env");
    for (name, path) in [
        ("POD_NAME", "metadata.name"),
        ("CROSSDEPLOY_NAMESPACE", "metadata.namespace"),
    ] {
        let var = env
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{what}: {name}"));
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], path, "{what}: {name}");
    }
    // Every rendered flag must exist in this binary: clap validates all of
    // them before it prints --help.
    let mut args: Vec<String> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{what}");
    args.push("--help".into());
    let out = Command::new(env!("CARGO_BIN_EXE_crossdeploy"))
        .args(&args)
        .output()
        .expect("crossdeploy runs");
    assert!(
        out.status.success(),
        "{what}: crossdeploy rejects its args {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn args(dep: &Value) -> Vec<String> {
    dep["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect()
}

fn env_var(dep: &Value, name: &str) -> Option<String> {
    dep["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

type Rule = (String, String, String, String, String);

/// RBAC rules as (scope, apiGroup, resource, verb, resourceName) tuples, so
/// the chart and deploy/ can be compared however their rules are grouped.
/// ClusterRoles count as cluster scope, Roles as the operator namespace.
fn rules(objs: &[Value]) -> BTreeSet<Rule> {
    let mut set = BTreeSet::new();
    for o in objs {
        let scope = match o["kind"].as_str() {
            Some("ClusterRole") => "cluster",
            Some("Role") => "operator-namespace",
            _ => continue,
        };
        for r in o["rules"].as_array().expect("rules") {
            let list = |k: &str| -> Vec<String> {
                r[k].as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
                    .unwrap_or_default()
            };
            let names = {
                let n = list("resourceNames");
                if n.is_empty() { vec!["*".to_string()] } else { n }
            };
            for g in list("apiGroups") {
                for res in list("resources") {
                    for v in list("verbs") {
                        for n in &names {
                            set.insert((scope.into(), g.clone(), res.clone(), v.clone(), n.clone()));
                        }
                    }
                }
            }
        }
    }
    set
}

fn deploy_rules() -> BTreeSet<Rule> {
    let text = std::fs::read_to_string(format!("{REPO}/deploy/rbac.yaml")).expect("deploy/rbac.yaml");
    rules(&docs(&text))
}

fn helm_template(release_ns: &str, set: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "crossdeploy",
        "charts/crossdeploy",
        "--namespace",
        release_ns,
        "--include-crds",
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    docs(&run_ok("helm", &args, None))
}

#[tokio::test]
async fn helm_lint_passes_and_the_values_schema_rejects_bad_input() {
    run_ok("helm", &["lint", "--strict", "charts/crossdeploy"], None);
    run_ok(
        "helm",
        &[
            "lint",
            "--strict",
            "charts/crossdeploy",
            "--set",
            "replicaCount=3,watchNamespace=team-a,aws.region=eu-west-1,metrics.serviceMonitor.enabled=true",
        ],
        None,
    );
    // NOTES.txt renders (helm template skips it) and follows the values.
    let notes = run_ok(
        "helm",
        &[
            "install",
            "crossdeploy",
            "charts/crossdeploy",
            "--dry-run=client",
            "--namespace",
            "ops",
            "--set",
            "replicaCount=2,watchNamespace=team-a",
        ],
        None,
    );
    let notes = &notes[notes.find("NOTES:").expect("NOTES rendered")..];
    for line in [
        "installed in namespace ops, watching CrossAccountDeployments in namespace team-a only",
        "2 replicas: leader election on Lease ops/crossdeploy",
        "kubectl -n ops rollout status deployment/crossdeploy",
    ] {
        assert!(notes.contains(line), "{line:?} in\n{notes}");
    }
    for bad in [
        "logging.format=xml",
        "aws.endpointUrl=localhost:4566",
        "replicaCount=-1",
    ] {
        let out = run("helm", &["lint", "--strict", "charts/crossdeploy", "--set", bad], None);
        assert!(!out.ok, "helm lint accepted {bad}");
        assert!(
            format!("{}{}", out.stdout, out.stderr).contains("schema"),
            "{bad} is rejected by values.schema.json: {}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn chart_with_default_values_is_accepted_by_the_api_server() {
    let client = admin_client().await;
    ensure_crds(&client).await;
    let ns = "xd-pkg-helm";
    restricted_namespace(ns).await;
    let objs = helm_template(ns, &[]);

    let mut want = vec![
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRoleBinding",
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ];
    let crds = crossdeploy::api::crds().len();
    want.extend(std::iter::repeat_n("CustomResourceDefinition", crds));
    want.sort();
    assert_eq!(kinds(&objs), want, "no ServiceMonitor unless asked for");

    let dep = one(&objs, "Deployment");
    assert_operator_deployment(dep, "chart");
    assert_eq!(dep["spec"]["replicas"], 1);
    let a = args(dep);
    assert!(a.contains(&"--log-json".to_string()), "{a:?}");
    assert!(
        !a.iter().any(|x| x.starts_with("--leader-elect")),
        "one replica, no election: {a:?}"
    );
    assert!(!a.iter().any(|x| x.starts_with("--watch-namespace")), "{a:?}");
    assert_eq!(env_var(dep, "AWS_REGION"), None);
    assert_eq!(env_var(dep, "AWS_ENDPOINT_URL"), None);
    let svc = one(&objs, "Service");
    assert_eq!(
        svc["spec"]["selector"], dep["spec"]["selector"]["matchLabels"],
        "the metrics Service selects the operator pods"
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");

    // One set of rules for both install paths.
    assert_eq!(rules(&objs), deploy_rules(), "chart RBAC == deploy/rbac.yaml");
    for o in objs
        .iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "RoleBinding")
    {
        assert_eq!(
            o["metadata"]["namespace"], ns,
            "namespaced RBAC in the release namespace"
        );
    }
    for o in objs
        .iter()
        .filter(|o| o["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
    {
        assert_eq!(
            o["subjects"],
            json!([{"kind": "ServiceAccount", "name": "crossdeploy", "namespace": ns}])
        );
    }

    dry_run(&objs);
}

#[tokio::test]
async fn chart_with_custom_values_is_accepted_by_the_api_server() {
    let client = admin_client().await;
    ensure_crds(&client).await;
    let ns = "xd-pkg-helm-custom";
    let team = "xd-pkg-helm-team";
    restricted_namespace(ns).await;
    restricted_namespace(team).await;
    let role_arn = "arn:aws:iam::111111111111:role/crossdeploy-operator";
    let objs = helm_template(
        ns,
        &[
            "replicaCount=3",
            &format!("watchNamespace={team}"),
            "targetAccountSelector=env=prod",
            "aws.region=eu-west-1",
            "aws.endpointUrl=http://127.0.0.1:4566",
            "aws.s3ForcePathStyle=true",
            "logging.format=text",
            "logging.level=debug",
            "leaderElection.leaseName=xd-lease",
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.labels.release=prometheus",
            &format!("serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={role_arn}"),
            "image.repository=registry.example/crossdeploy",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ],
    );
    let dep = one(&objs, "Deployment");
    assert_operator_deployment(dep, "chart (custom values)");
    assert_eq!(dep["spec"]["replicas"], 3);
    let a = args(dep);
    for flag in [
        "--leader-elect",
        "--leader-lease-name=xd-lease",
        "--watch-namespace=xd-pkg-helm-team",
        "--target-account-selector=env=prod",
        "--log-level=debug",
        "--s3-force-path-style",
    ] {
        assert!(a.contains(&flag.to_string()), "{flag} in {a:?}");
    }
    assert!(!a.contains(&"--log-json".to_string()), "text logs: {a:?}");
    assert_eq!(env_var(dep, "AWS_REGION").as_deref(), Some("eu-west-1"));
    assert_eq!(
        env_var(dep, "AWS_ENDPOINT_URL").as_deref(),
        Some("http://127.0.0.1:4566")
    );
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/crossdeploy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    let sa = one(&objs, "ServiceAccount");
    assert_eq!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], role_arn);

    // watchNamespace: the rights on tenant objects are bound in that
    // namespace only, and the Lease rule follows the configured name.
    let tenant_bindings: Vec<&Value> = objs
        .iter()
        .filter(|o| {
            o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-tenant-objects"))
                && o["kind"].as_str().is_some_and(|k| k.ends_with("Binding"))
        })
        .collect();
    assert_eq!(tenant_bindings.len(), 1);
    assert_eq!(tenant_bindings[0]["kind"], "RoleBinding");
    assert_eq!(tenant_bindings[0]["metadata"]["namespace"], team);
    let lease_rules: Vec<Rule> = rules(&objs)
        .into_iter()
        .filter(|r| r.2 == "leases" && r.4 != "*")
        .collect();
    assert!(
        !lease_rules.is_empty() && lease_rules.iter().all(|r| r.4 == "xd-lease"),
        "{lease_rules:?}"
    );

    let monitor = one(&objs, "ServiceMonitor");
    let svc = one(&objs, "Service");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], svc["spec"]["ports"][0]["name"]);
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let selected = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("selector");
    for (k, v) in selected {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "the ServiceMonitor selects the Service"
        );
    }

    // The test API server has no prometheus-operator CRDs: the ServiceMonitor
    // is checked structurally above, everything else by admission.
    let rest: Vec<Value> = objs.into_iter().filter(|o| o["kind"] != "ServiceMonitor").collect();
    dry_run(&rest);
}

#[tokio::test]
async fn kustomize_deploy_is_accepted_by_the_api_server() {
    let client = admin_client().await;
    ensure_crds(&client).await;
    let objs = docs(&run_ok("kubectl", &["kustomize", "deploy/"], None));
    let ns = one(&objs, "Namespace");
    assert_eq!(ns["metadata"]["name"], "crossdeploy-system");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let dep = one(&objs, "Deployment");
    assert_operator_deployment(dep, "deploy/");
    assert!(args(dep).contains(&"--log-json".to_string()));
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("ghcr.io/crossdeploy/crossdeploy:{}", env!("CARGO_PKG_VERSION"))
    );
    let svc = one(&objs, "Service");
    assert_eq!(svc["spec"]["selector"], dep["spec"]["selector"]["matchLabels"]);
    for o in &objs {
        let cluster_scoped = [
            "Namespace",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
        ];
        if !cluster_scoped.contains(&o["kind"].as_str().unwrap_or_default()) {
            assert_eq!(o["metadata"]["namespace"], "crossdeploy-system", "{}", o["kind"]);
        }
    }

    // Server-side dry-run cannot create the namespace the other objects need,
    // so it is applied for real first (it is empty and idempotent).
    run_ok(
        "kubectl",
        &["apply", "--server-side", "-f", "-"],
        Some(&to_yaml(std::slice::from_ref(ns))),
    );
    let out = run(
        "kubectl",
        &["apply", "--server-side", "--dry-run=server", "-k", "deploy/"],
        None,
    );
    assert!(
        out.ok,
        "kubectl apply -k deploy/ rejected:\n{}\n{}",
        out.stderr, out.stdout
    );
    assert_no_warnings(&out.stderr);
    for kind in [
        "deployment.apps/crossdeploy",
        "clusterrole.rbac.authorization.k8s.io/crossdeploy",
    ] {
        assert!(out.stdout.contains(kind), "{kind} applied: {}", out.stdout);
    }
}

/// The restricted Pod Security Standard really is enforced here: the same
/// Deployment with one hardening setting removed is warned about, so the
/// no-warning assertions above mean something.
#[tokio::test]
async fn pod_security_admission_catches_a_weakened_deployment() {
    let client = admin_client().await;
    ensure_crds(&client).await;
    let ns = "xd-pkg-weakened";
    restricted_namespace(ns).await;
    let objs = helm_template(ns, &["securityContext.allowPrivilegeEscalation=true"]);
    let dep = one(&objs, "Deployment").clone();
    let out = run(
        "kubectl",
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(&to_yaml(&[dep])),
    );
    assert!(
        out.stderr.contains("would violate PodSecurity") && out.stderr.contains("allowPrivilegeEscalation"),
        "expected a Pod Security warning: {}",
        out.stderr
    );
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn kubectl_explain_shows_the_field_descriptions() {
    let client = admin_client().await;
    ensure_crds(&client).await;
    for crd in crossdeploy::api::crds() {
        let kind = crd.spec.names.kind.to_lowercase();
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema");
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        // The published OpenAPI trails the CRD becoming Established.
        let mut text = String::new();
        wait_until(&format!("kubectl explain {kind}.spec"), || {
            let out = run("kubectl", &["explain", &format!("{kind}.spec")], None);
            text = out.stdout;
            async move { out.ok }
        })
        .await;
        let flat = words(&text);
        assert!(flat.contains("DESCRIPTION:"), "{text}");
        let spec_desc = spec["description"].as_str().expect("spec description");
        let first_line = words(spec_desc.lines().next().unwrap_or_default());
        assert!(flat.contains(&first_line), "{kind}.spec description in:\n{text}");
        for (field, prop) in spec["properties"].as_object().expect("properties") {
            assert!(flat.contains(field.as_str()), "{kind}.spec.{field} listed:\n{text}");
            let desc = prop["description"].as_str().unwrap_or_default();
            let head: Vec<&str> = desc.split_whitespace().take(6).collect();
            assert!(
                flat.contains(&head.join(" ")),
                "{kind}.spec.{field} description {desc:?} shown:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let mut ctx = TestCtx::new("pkg-columns").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    let id = obj
        .status
        .and_then(|s| s.current_deployment)
        .map(|d| d.id)
        .expect("deployment id");

    let table = run_ok("kubectl", &["get", "xad", "-n", &ctx.ns], None);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "ACCOUNT",
            "APPLICATION",
            "GROUP",
            "REVISION",
            "DEPLOYMENT",
            "STATUS",
            "READY",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().expect("a row").split_whitespace().collect();
    assert_eq!(
        &row[..8],
        ["web", "222222222222", &app(), &ctx.group, V1, &id, "Succeeded", "True"],
        "{table}"
    );

    wait_until("the TargetAccount is verified", || async {
        run_ok("kubectl", &["get", "xta", &ctx.target], None).contains("True")
    })
    .await;
    let table = run_ok("kubectl", &["get", "xta", &ctx.target], None);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["NAME", "ROLE", "ACCOUNT", "READY", "REASON", "AGE"]);
    let row: Vec<&str> = lines.next().expect("a row").split_whitespace().collect();
    assert_eq!(
        &row[..4],
        [ctx.target.as_str(), &env().role("deployer"), "222222222222", "True"],
        "{table}"
    );
}

/// The relative path from `from` to `to`, both absolute: kustomize accepts
/// only relative resource paths.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c);
    }
    rel
}
