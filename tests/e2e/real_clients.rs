//! The status clients people actually use, against real objects on the real
//! API server: kstatus (`sigs.k8s.io/cli-utils` status.Compute), Argo CD
//! (charts/crossdeploy/files/health.lua run the way Argo CD runs argocd-cm
//! scripts, in gopher-lua) and Flux (charts/crossdeploy/files/
//! flux-health-checks.yaml through Flux's own CEL status reader). All three
//! live in the Go program tests/statuscheck; these tests drive the operator
//! and the emulator into each state and assert what the README's status
//! table promises.
//!
//! The program is built (cached) by tests/statuscheck/build.sh; when it
//! cannot be built the tests fail and say why. Nothing is skipped.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crossdeploy::api::{NOT_OBSERVED_GENERATION, TargetAccount};

use crate::env::{REPO, env};
use crate::harness::*;

const ARGO_HEALTH: &str = "charts/crossdeploy/files/health.lua";
const FLUX_CHECKS: &str = "charts/crossdeploy/files/flux-health-checks.yaml";

/// The statuscheck binary, built once per test process.
fn statuscheck_bin() -> &'static str {
    static BIN: OnceLock<Result<String, String>> = OnceLock::new();
    let built = BIN.get_or_init(|| {
        let script = format!("{REPO}/tests/statuscheck/build.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {script}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{script} failed ({}): the Go status checker (kstatus, Argo CD, Flux) could not be built; see its output above",
                out.status
            ));
        }
        let path = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .map(|l| l.trim().to_string())
            .unwrap_or_default();
        if !std::path::Path::new(&path).is_file() {
            return Err(format!("{script} printed {path:?}, which is not a file"));
        }
        Ok(path)
    });
    match built {
        Ok(path) => path,
        Err(e) => panic!("status checker unavailable: {e}"),
    }
}

fn statuscheck_cmd(ctx: &TestCtx) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(statuscheck_bin());
    cmd.arg("--kubeconfig")
        .arg(&env().kubeconfig)
        .args(["--namespace", &ctx.ns])
        .args(["--argo-health", &format!("{REPO}/{ARGO_HEALTH}")])
        .args(["--flux-health-checks", &format!("{REPO}/{FLUX_CHECKS}")])
        .kill_on_drop(true);
    cmd
}

/// Runs the checker once (GET per `KIND/NAME`, or LIST with `--all`).
async fn statuscheck(ctx: &TestCtx, args: &[String]) -> Vec<Value> {
    let out = statuscheck_cmd(ctx)
        .args(args)
        .output()
        .await
        .expect("statuscheck runs");
    assert!(
        out.status.success(),
        "statuscheck {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("statuscheck printed {l:?}: {e}")))
        .collect()
}

/// The three verdicts of one report: (kstatus, Argo CD, Flux).
fn verdicts(report: &Value) -> (String, String, String) {
    let s = |client: &str| report[client]["status"].as_str().unwrap_or_default().to_string();
    (s("kstatus"), s("argo"), s("flux"))
}

/// One row of the summary printed at the end of each test.
struct Row {
    state: String,
    object: String,
    got: (String, String, String),
}

struct Expect {
    rows: Vec<Row>,
}

impl Expect {
    fn new() -> Self {
        Self { rows: Vec::new() }
    }

    /// Asserts the three verdicts of `report` and that no client errored.
    fn check(&mut self, state: &str, report: &Value, want: (&str, &str, &str)) {
        let got = verdicts(report);
        assert_eq!(
            (got.0.as_str(), got.1.as_str(), got.2.as_str()),
            want,
            "{state}: (kstatus, Argo CD, Flux) for {}/{}; full report:\n{report:#}",
            report["kind"],
            report["name"]
        );
        for client in ["kstatus", "argo", "flux"] {
            assert!(
                report[client]["error"].is_null(),
                "{state}: {client} errored: {report:#}"
            );
        }
        self.rows.push(Row {
            state: state.to_string(),
            object: format!(
                "{}/{}",
                report["kind"].as_str().unwrap_or_default(),
                report["name"].as_str().unwrap_or_default()
            ),
            got,
        });
    }

    fn print(&self, title: &str) {
        eprintln!("\n{title}\n| state | object | kstatus | Argo CD | Flux |\n|---|---|---|---|---|");
        for r in &self.rows {
            eprintln!(
                "| {} | {} | {} | {} | {} |",
                r.state, r.object, r.got.0, r.got.1, r.got.2
            );
        }
    }
}

fn find<'a>(reports: &'a [Value], kind: &str, name: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
        .unwrap_or_else(|| panic!("no report for {kind}/{name} in {reports:#?}"))
}

fn resource(kind: &str) -> ApiResource {
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("crossdeploy.io", "v1alpha1", kind), &plural)
}

fn dynamic(ctx: &TestCtx, kind: &str) -> Api<DynamicObject> {
    let ar = resource(kind);
    if kind == "TargetAccount" {
        Api::all_with(ctx.client.clone(), &ar)
    } else {
        Api::namespaced_with(ctx.client.clone(), &ctx.ns, &ar)
    }
}

/// The object as the API server returns it, as JSON.
async fn raw(ctx: &TestCtx, kind: &str, name: &str) -> Value {
    let obj = dynamic(ctx, kind)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("GET {kind}/{name}: {e}"));
    serde_json::to_value(obj).expect("object serializes")
}

/// Waits until condition `type_` of a crossdeploy object has `status` and
/// `reason`, written for the object's current generation.
async fn wait_for(ctx: &TestCtx, kind: &str, name: &str, type_: &str, status: &str, reason: &str) {
    let api = dynamic(ctx, kind);
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < WAIT {
        if let Ok(obj) = api.get(name).await {
            let obj = serde_json::to_value(obj).expect("object serializes");
            let current = obj["status"]["observedGeneration"] == obj["metadata"]["generation"];
            let hit = obj["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == type_ && c["status"] == status && c["reason"] == reason)
            });
            if current && hit {
                return;
            }
            last = obj["status"].clone();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "timed out waiting for {kind}/{name} {type_}={status} ({reason}); last status: {last:#}\noperator log tail:\n{}",
        ctx.operator_log_tail(40)
    );
}

/// A TargetAccount named `name` that this test's operator verifies.
async fn apply_target(ctx: &TestCtx, name: &str, role_arn: &str, selector: Value) {
    let api: Api<TargetAccount> = Api::all(ctx.client.clone());
    let ta = json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "TargetAccount",
        "metadata": {"name": name, "labels": {"crossdeploy.io/test": ctx.ns}},
        "spec": {
            "roleArn": role_arn,
            "externalIdSecretRef": {"name": "prod-external-id"},
            "region": "us-east-1",
            "namespaceSelector": selector,
            "instanceProfileRoleArn": env().role("instanceRole"),
            "allowedRevisionBuckets": allowed_revision_buckets(),
        }
    });
    api.patch(name, &PatchParams::apply("crossdeploy-e2e").force(), &Patch::Apply(&ta))
        .await
        .unwrap_or_else(|e| panic!("TargetAccount {name} applies: {e}"));
}

async fn apply_source(ctx: &TestCtx, name: &str, spec: Value) {
    let obj = json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "RevisionSource",
        "metadata": {"name": name},
        "spec": spec,
    });
    dynamic(ctx, "RevisionSource")
        .patch(
            name,
            &PatchParams::apply("crossdeploy-e2e").force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("applying RevisionSource {name}: {e}"));
}

/// A RevisionSource for `key` in the bucket the harness deploys from.
fn source_spec(ctx: &TestCtx, key: &str) -> Value {
    let s3 = ctx.spec(V1)["revision"]["s3"].clone();
    json!({
        "s3": {"bucket": s3["bucket"], "key": key},
        "verifyFor": [{"name": ctx.target}],
        "interval": 60,
    })
}

fn args(items: &[(&str, &str)]) -> Vec<String> {
    items.iter().map(|(k, n)| format!("{k}/{n}")).collect()
}

/// The states of `kstatus_argo_and_flux_read_every_state` and what each
/// client must say (the README's status table):
/// kind, name, condition=status (reason), kstatus, Argo CD, Flux, state.
const STATES: &str = "
CrossAccountDeployment ready         Ready=True(Succeeded)                      Current    Healthy     Current    Ready, Succeeded
CrossAccountDeployment inflight      Reconciling=True(DeploymentInProgress)     InProgress Progressing InProgress deployment in progress
CrossAccountDeployment waiting       Reconciling=True(WaitingForActiveDeployment) InProgress Progressing InProgress waiting behind another active deployment
CrossAccountDeployment no-account    Stalled=True(TargetAccountNotFound)        Failed     Degraded    Failed     Stalled: TargetAccountNotFound
CrossAccountDeployment not-permitted Stalled=True(TargetAccountNotPermitted)    Failed     Degraded    Failed     Stalled: TargetAccountNotPermitted
CrossAccountDeployment denied        Stalled=True(AssumeRoleDenied)             Failed     Degraded    Failed     Stalled: AssumeRoleDenied
CrossAccountDeployment no-group      Stalled=True(DeploymentGroupNotFound)      Failed     Degraded    Failed     Stalled: DeploymentGroupNotFound
CrossAccountDeployment no-object     Stalled=True(RevisionNotFound)             Failed     Degraded    Failed     Stalled: RevisionNotFound
CrossAccountDeployment failed        Stalled=True(DeploymentFailed)             Failed     Degraded    Failed     Stalled: DeploymentFailed
CrossAccountDeployment suspended     Ready=False(Suspended)                     InProgress Suspended   Current    suspended before any deployment
CrossAccountDeployment awaiting      Reconciling=True(AwaitingApproval)         InProgress Suspended   InProgress awaiting approval (approval: Manual)
CrossAccountDeployment promoting     Reconciling=True(WaitingForPromotion)      InProgress Progressing InProgress promotion source still in progress
CrossAccountDeployment cycle         Stalled=True(PromotionCycle)               Failed     Degraded    Failed     Stalled: PromotionCycle
RevisionSource         source-ready  Ready=True(RevisionResolved)               Current    Healthy     Current    RevisionSource Ready
RevisionSource         source-missing Stalled=True(ObjectNotFound)              Failed     Degraded    Failed     RevisionSource Stalled: ObjectNotFound
RevisionSource         source-suspended Ready=False(Suspended)                  InProgress Suspended   Current    RevisionSource suspended
TargetAccount          {target}      Ready=True(Verified)                       Current    Healthy     Current    TargetAccount Ready
TargetAccount          {untrusted}   Stalled=True(AssumeRoleDenied)             Failed     Degraded    Failed     TargetAccount Stalled: AssumeRoleDenied
";

struct State {
    kind: &'static str,
    name: String,
    condition: String,
    status: String,
    reason: String,
    want: [String; 3],
    state: String,
}

impl State {
    fn parse(table: &str) -> Vec<State> {
        table
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let kind = ["CrossAccountDeployment", "RevisionSource", "TargetAccount"]
                    .into_iter()
                    .find(|k| *k == f[0])
                    .unwrap_or_else(|| panic!("unknown kind in {line}"));
                let (condition, rest) = f[2].split_once('=').expect("condition=status(reason)");
                let (status, reason) = rest.trim_end_matches(')').split_once('(').expect("status(reason)");
                State {
                    kind,
                    name: f[1].to_string(),
                    condition: condition.to_string(),
                    status: status.to_string(),
                    reason: reason.to_string(),
                    want: [f[3].to_string(), f[4].to_string(), f[5].to_string()],
                    state: f[6..].join(" "),
                }
            })
            .collect()
    }

    fn want(&self) -> (&str, &str, &str) {
        (&self.want[0], &self.want[1], &self.want[2])
    }
}

/// Every state the operator reports, each read by kstatus, Argo CD and Flux.
/// One namespace, one operator: the states are set up side by side and
/// checked with one GET per object, then once more with one LIST.
#[tokio::test]
async fn kstatus_argo_and_flux_read_every_state() {
    let started = Instant::now();
    statuscheck_bin();
    let mut ctx = TestCtx::new("rc-states").await;
    let ns = ctx.ns.clone();
    let hold_group = format!("{ns}-hold");
    let fail_group = format!("{ns}-fail");
    ctx.create_group(&hold_group).await;
    ctx.create_group(&fail_group).await;
    ctx.set_behaviour(json!({"deploymentGroupName": hold_group, "mode": "hold"}))
        .await;
    ctx.set_behaviour(json!({
        "deploymentGroupName": fail_group, "mode": "fail",
        "errorCode": "HEALTH_CONSTRAINTS", "errorMessage": "too many individual instances failed deployment",
    }))
    .await;
    let closed = format!("{ns}-closed");
    let untrusted = format!("{ns}-untrusted");
    apply_target(
        &ctx,
        &closed,
        &env().role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": "nobody"}}),
    )
    .await;
    apply_target(
        &ctx,
        &untrusted,
        &env().role("untrusted"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ns}}),
    )
    .await;
    ctx.start_operator(&[]).await;

    let with = |f: &dyn Fn(&mut Value)| {
        let mut spec = ctx.spec(V1);
        f(&mut spec);
        spec
    };
    ctx.apply_deployment("ready", ctx.spec(V1)).await;
    ctx.apply_deployment("inflight", with(&|s| s["deploymentGroupName"] = json!(hold_group)))
        .await;
    ctx.apply_deployment("failed", with(&|s| s["deploymentGroupName"] = json!(fail_group)))
        .await;
    ctx.apply_deployment(
        "no-account",
        with(&|s| s["targetAccountRef"]["name"] = json!(format!("{ns}-no-such-account"))),
    )
    .await;
    ctx.apply_deployment(
        "not-permitted",
        with(&|s| s["targetAccountRef"]["name"] = json!(closed)),
    )
    .await;
    ctx.apply_deployment("denied", with(&|s| s["targetAccountRef"]["name"] = json!(untrusted)))
        .await;
    ctx.apply_deployment("no-group", with(&|s| s["deploymentGroupName"] = json!("no-such-group")))
        .await;
    ctx.apply_deployment("no-object", ctx.spec("webapp/webapp-9.9.9.zip"))
        .await;
    ctx.apply_deployment("suspended", with(&|s| s["suspend"] = json!(true)))
        .await;
    ctx.apply_deployment("awaiting", with(&|s| s["approval"] = json!("Manual")))
        .await;
    let promoted_from = |from: &str| {
        with(&|s| {
            s.as_object_mut().map(|o| o.remove("revision"));
            s["promotion"] = json!({"from": {"name": from}});
        })
    };
    ctx.apply_deployment("promoting", promoted_from("inflight")).await;
    ctx.apply_deployment("cycle", promoted_from("cycle")).await;
    apply_source(&ctx, "source-ready", source_spec(&ctx, V1)).await;
    apply_source(&ctx, "source-missing", source_spec(&ctx, &format!("{ns}/missing.zip"))).await;
    let mut suspended_source = source_spec(&ctx, V1);
    suspended_source["suspend"] = json!(true);
    apply_source(&ctx, "source-suspended", suspended_source).await;

    // Waiting behind another deployment needs the held one to be active first.
    wait_for(
        &ctx,
        "CrossAccountDeployment",
        "inflight",
        "Reconciling",
        "True",
        "DeploymentInProgress",
    )
    .await;
    ctx.apply_deployment(
        "waiting",
        with(&|s| {
            s["deploymentGroupName"] = json!(hold_group);
            s["revision"] = ctx.spec(V2)["revision"].clone();
        }),
    )
    .await;

    let states = State::parse(
        &STATES
            .replace("{target}", &ctx.target)
            .replace("{untrusted}", &untrusted),
    );
    for st in &states {
        wait_for(&ctx, st.kind, &st.name, &st.condition, &st.status, &st.reason).await;
    }

    let objects: Vec<(&str, &str)> = states.iter().map(|s| (s.kind, s.name.as_str())).collect();
    let reports = statuscheck(&ctx, &args(&objects)).await;
    let mut expect = Expect::new();
    for st in &states {
        expect.check(&st.state, find(&reports, st.kind, &st.name), st.want());
    }

    // LIST (how informers start) reads the same as GET.
    let listed = statuscheck(&ctx, &["--all".to_string()]).await;
    for st in states.iter().filter(|s| s.kind != "TargetAccount") {
        let report = find(&listed, st.kind, &st.name);
        assert_eq!(report["source"], "list");
        let got = verdicts(report);
        assert_eq!(
            (got.0.as_str(), got.1.as_str(), got.2.as_str()),
            st.want(),
            "{} via LIST: {report:#}",
            st.state
        );
    }

    // Suspended after a successful deployment: the operator keeps reporting
    // the deployment it made (Ready=True), Argo CD shows the suspension.
    ctx.apply_deployment("ready", with(&|s| s["suspend"] = json!(true)))
        .await;
    wait_for(&ctx, "CrossAccountDeployment", "ready", "Ready", "True", "Succeeded").await;
    let r = statuscheck(&ctx, &args(&[("CrossAccountDeployment", "ready")])).await;
    expect.check("suspended after Succeeded", &r[0], ("Current", "Suspended", "Current"));
    expect.print("kstatus / Argo CD / Flux per state");
    ctx.stop_operator().await;
    eprintln!("kstatus_argo_and_flux_read_every_state: {:?}", started.elapsed());
}

/// Issue 17: an object the operator has not reconciled yet never reads as
/// healthy, with no operator running: the CRD's status default shows
/// observedGeneration -1 in the create response, GET, LIST and WATCH. The
/// operator's first status write replaces it; a spec change made while the
/// operator is down reads as in progress again.
#[tokio::test]
async fn not_reconciled_yet_never_reads_healthy() {
    let started = Instant::now();
    statuscheck_bin();
    let mut ctx = TestCtx::new("rc-unobserved").await;
    let mut expect = Expect::new();
    let in_progress = ("InProgress", "Progressing", "InProgress");

    // A WATCH opened before the object exists (as an informer's would be)
    // sees it already "not observed" in its ADDED event.
    let mut watch = statuscheck_cmd(&ctx)
        .args([
            "--watch",
            "--events",
            "1",
            "--timeout",
            "60s",
            "CrossAccountDeployment/web",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("statuscheck --watch starts");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("watch opens in time")
        .expect("stdout readable");
    assert_eq!(first.as_deref(), Some(r#"{"watch":"open"}"#));

    // Operator stopped (never started): apply.
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    apply_source(&ctx, "source", source_spec(&ctx, V1)).await;

    let event = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("watch event in time")
        .expect("stdout readable")
        .expect("a watch event");
    let event: Value = serde_json::from_str(&event).expect("watch report is JSON");
    assert_eq!(event["source"], "watch:ADDED", "{event:#}");
    assert_eq!(event["status"], json!({"observedGeneration": NOT_OBSERVED_GENERATION}));
    expect.check("not reconciled yet (WATCH ADDED)", &event, in_progress);
    assert!(watch.wait().await.expect("watch exits").success());

    // The stored object carries no status; the API server's read shows the default.
    let got = raw(&ctx, "CrossAccountDeployment", "web").await;
    assert_eq!(got["metadata"]["generation"], 1);
    assert_eq!(got["status"], json!({"observedGeneration": -1}), "{got:#}");
    let reports = statuscheck(
        &ctx,
        &args(&[
            ("CrossAccountDeployment", "web"),
            ("RevisionSource", "source"),
            ("TargetAccount", &ctx.target),
        ]),
    )
    .await;
    for r in &reports {
        assert_eq!(r["observedGeneration"], -1, "{r:#}");
        assert_eq!(
            r["argo"]["message"],
            "Waiting for the crossdeploy operator to report status"
        );
        assert!(
            r["kstatus"]["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("latest observed generation is -1")),
            "{r:#}"
        );
        expect.check("not reconciled yet (GET)", r, in_progress);
    }
    let listed = statuscheck(&ctx, &["--all".to_string()]).await;
    assert_eq!(listed.len(), 2, "{listed:#?}");
    for r in &listed {
        expect.check("not reconciled yet (LIST)", r, in_progress);
    }

    // Operator started: its status write replaces the default.
    ctx.start_operator(&[]).await;
    ctx.wait_deployed("web", V1).await;
    wait_for(&ctx, "RevisionSource", "source", "Ready", "True", "RevisionResolved").await;
    wait_for(&ctx, "TargetAccount", &ctx.target, "Ready", "True", "Verified").await;
    let reports = statuscheck(
        &ctx,
        &args(&[
            ("CrossAccountDeployment", "web"),
            ("RevisionSource", "source"),
            ("TargetAccount", &ctx.target),
        ]),
    )
    .await;
    for r in &reports {
        assert_eq!(r["observedGeneration"], 1, "{r:#}");
        expect.check(
            "operator started, Succeeded/Ready",
            r,
            ("Current", "Healthy", "Current"),
        );
    }
    // The operator's server-side apply owns observedGeneration now.
    let managed = raw(&ctx, "CrossAccountDeployment", "web").await["metadata"]["managedFields"].clone();
    let owner = managed
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["fieldsV1"]["f:status"]["f:observedGeneration"].is_object())
        .unwrap_or_else(|| panic!("nobody owns status.observedGeneration: {managed:#}"));
    assert_eq!(owner["manager"], "crossdeploy", "{owner:#}");
    assert_eq!(owner["subresource"], "status", "{owner:#}");

    // Spec change with the operator stopped: generation 2, observed 1.
    ctx.stop_operator().await;
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    let r = statuscheck(&ctx, &args(&[("CrossAccountDeployment", "web")])).await;
    let r = &r[0];
    assert_eq!(
        (r["generation"].clone(), r["observedGeneration"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        r["argo"]["message"], "Waiting for the crossdeploy operator to observe generation 2",
        "{r:#}"
    );
    expect.check("spec changed, operator stopped", r, in_progress);

    // And back: the operator deploys V2 and the object is Current again.
    ctx.start_operator(&[]).await;
    ctx.wait_deployed("web", V2).await;
    let r = statuscheck(&ctx, &args(&[("CrossAccountDeployment", "web")])).await;
    expect.check(
        "operator restarted, V2 Succeeded",
        &r[0],
        ("Current", "Healthy", "Current"),
    );

    expect.print("issue 17: not reconciled yet");
    ctx.stop_operator().await;
    eprintln!("not_reconciled_yet_never_reads_healthy: {:?}", started.elapsed());
}
