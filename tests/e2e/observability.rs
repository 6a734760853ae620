//! /healthz, /readyz and /metrics of a running operator.

use crate::harness::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn health_readiness_and_metrics_describe_the_work() {
    let mut ctx = TestCtx::new("observe").await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    ctx.start_operator(&["--http-addr", &addr, "--log-json"]).await;
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("http://{addr}{path}");
        async move {
            match http.get(&url).send().await {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(_) => (0, String::new()),
            }
        }
    };
    wait_until("/readyz answers 200 once caches synced", || async {
        get("/readyz").await.0 == 200
    })
    .await;
    assert_eq!(get("/healthz").await, (200, "ok".to_string()));

    ctx.apply_deployment("web", ctx.spec(V1)).await;
    ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    let obj = ctx.wait_deployed("web", V1).await;
    let id = obj
        .status
        .and_then(|s| s.current_deployment)
        .map(|c| c.id)
        .expect("deployment id");
    // JSON log lines about the object carry its name and the deployment id.
    let log = ctx.operator_log(0);
    let about_web: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["span"]["object"] == format!("{}/web", ctx.ns).as_str())
        .collect();
    assert!(!about_web.is_empty(), "JSON lines carry namespace/name:\n{log}");
    assert!(
        about_web.iter().any(|v| v["span"]["deployment_id"] == id.as_str()),
        "JSON lines carry the deployment id {id}"
    );
    let metrics = wait_for_metrics(&get).await;
    for needle in [
        r#"crossdeploy_objects{kind="CrossAccountDeployment",condition="Ready"} 1"#,
        r#"crossdeploy_aws_calls_total{operation="codedeploy:CreateDeployment",outcome="ok"} 1"#,
        r#"crossdeploy_deployments_created_total 1"#,
        r#"crossdeploy_deployments_finished_total{status="Succeeded"} 1"#,
        r#"crossdeploy_reconciles_total{kind="CrossAccountDeployment",result="ok"}"#,
        "crossdeploy_reconcile_duration_seconds_bucket",
        "crossdeploy_session_cache_misses_total",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in:\n{metrics}");
    }
}

/// The Ready status can be written a moment before the metric is updated.
async fn wait_for_metrics<F, Fut>(get: &F) -> String
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    let needle = r#"crossdeploy_objects{kind="CrossAccountDeployment",condition="Ready"} 1"#;
    for _ in 0..40 {
        let (_, text) = get("/metrics").await;
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    get("/metrics").await.1
}

/// The JSON log lines of the n-th operator of `ctx`.
fn json_lines(ctx: &TestCtx, n: usize) -> Vec<serde_json::Value> {
    ctx.operator_log(n)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn is_aws_sdk(line: &serde_json::Value) -> bool {
    line["target"].as_str().is_some_and(|t| t.starts_with("aws_"))
}

/// At the default level a deployment is a handful of lines, one per event,
/// and none from the AWS SDK.
#[tokio::test]
async fn info_logs_one_line_per_event_and_nothing_from_the_sdk() {
    let mut ctx = TestCtx::new("loginfo").await;
    ctx.start_operator(&["--log-level", "info", "--log-json"]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    ctx.wait_deployed("web", V1).await;
    ctx.stop_operator().await;
    let lines = json_lines(&ctx, 0);
    let text = ctx.operator_log(0);
    assert!(!lines.iter().any(is_aws_sdk), "no AWS SDK line at info:\n{text}");
    assert!(
        lines
            .iter()
            .all(|l| ["ERROR", "WARN", "INFO"].contains(&l["level"].as_str().unwrap_or_default())),
        "{text}"
    );
    let changed = |reason: &str| {
        lines.iter().any(|l| {
            l["fields"]["message"] == "status changed"
                && l["fields"]["reason"] == reason
                && l["fields"]["object"] == format!("{}/web", ctx.ns).as_str()
        })
    };
    for reason in ["DeploymentCreated", "Succeeded"] {
        assert!(changed(reason), "a `status changed` line for {reason}:\n{text}");
    }
    // Start, the TargetAccount verified, then Created, maybe InProgress,
    // Succeeded: nothing per reconcile or AWS attempt.
    assert!(lines.len() <= 6, "{} lines at info:\n{text}", lines.len());
    ctx.assert_no_secrets_leaked().await;
}

/// At trace the AWS SDK would write the AssumeRole request, ExternalId
/// included: its crates are capped at debug, so a whole deployment logged
/// at trace has SDK lines at debug, none at trace, and no secret.
#[tokio::test]
async fn trace_logs_cap_the_aws_sdk_at_debug_and_leak_nothing() {
    let mut ctx = TestCtx::new("logtrace").await;
    ctx.start_operator(&["--log-level", "trace", "--log-json"]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    ctx.wait_deployed("web", V1).await;
    let lines = json_lines(&ctx, 0);
    let sdk_at = |level: &str| lines.iter().filter(|l| is_aws_sdk(l) && l["level"] == level).count();
    assert!(sdk_at("DEBUG") > 0, "the SDK logs at debug");
    assert_eq!(sdk_at("TRACE"), 0, "no SDK line at trace");
    assert!(
        lines.iter().any(|l| l["level"] == "TRACE"),
        "other crates do log at trace"
    );
    ctx.assert_no_secrets_leaked().await;
}
