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
