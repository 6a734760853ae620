//! The kubectl plugin through the real kubectl (`kubectl crossdeploy ...`
//! finds `kubectl-crossdeploy` on PATH) against the real API server, with
//! the operator deploying into the emulator.

use serde_json::{Value, json};

use crate::harness::*;
use crate::tools::{Ran, kubectl_crossdeploy};

fn annotation(obj: &crossdeploy::api::CrossAccountDeployment, key: &str) -> Option<String> {
    obj.metadata.annotations.as_ref().and_then(|a| a.get(key).cloned())
}

fn no_colours(ran: &Ran) {
    assert!(
        !ran.stdout.contains('\u{1b}'),
        "colours only on a terminal: {:?}",
        ran.stdout
    );
}

#[tokio::test]
async fn the_kubectl_plugin_reads_status_and_steers_with_annotations() {
    let mut ctx = TestCtx::new("plugin").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_deployed("web", V1).await;
    let first = obj
        .status
        .as_ref()
        .and_then(|s| s.current_deployment.clone())
        .unwrap()
        .id;
    let ns = ctx.ns.clone();

    let status = kubectl_crossdeploy(&["status", "-n", &ns]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("PROGRESS"),
        "{}",
        status.stdout
    );
    for part in [
        "web",
        "222222222222",
        V1,
        first.as_str(),
        "Succeeded",
        "[##########] 1/1",
    ] {
        assert!(lines[1].contains(part), "{part}: {}", status.stdout);
    }
    no_colours(&status);
    let all = kubectl_crossdeploy(&["status", "-A"]).await;
    assert!(
        all.stdout.starts_with("NAMESPACE") && all.stdout.contains(&ns),
        "{}",
        all.stdout
    );
    let json = kubectl_crossdeploy(&["status", "web", "-n", &ns, "-o", "json"])
        .await
        .json();
    assert_eq!(
        (
            json[0]["state"].clone(),
            json[0]["reason"].clone(),
            json[0]["instances"]["total"].clone()
        ),
        (json!("Ready"), json!("Succeeded"), json!(1))
    );

    let watch = kubectl_crossdeploy(&["watch", "web", "-n", &ns, "--timeout", "30"]).await;
    assert_eq!(
        watch.code, 0,
        "a deployed object: watch ends at once, Ready: {}",
        watch.stdout
    );

    // A failing deployment: redeploy --watch follows it to the end and exits 1.
    ctx.set_behaviour(json!({"mode": "fail", "instanceCount": 2, "failedInstances": 1}))
        .await;
    let redeploy = kubectl_crossdeploy(&["redeploy", "web", "-n", &ns, "--watch", "--timeout", "60"]).await;
    assert_eq!(redeploy.code, 1, "{}\n{}", redeploy.stdout, redeploy.stderr);
    assert!(
        redeploy.stdout.contains("crossdeploy.io/redeploy="),
        "{}",
        redeploy.stdout
    );
    assert!(redeploy.stdout.contains("InProgress") || redeploy.stdout.contains("DeploymentCreated"));
    assert!(
        redeploy.stdout.contains("DeploymentFailed") && redeploy.stdout.contains("1/2"),
        "{}",
        redeploy.stdout
    );
    let obj = ctx.deployments().get("web").await.unwrap();
    assert!(annotation(&obj, "crossdeploy.io/redeploy").is_some());
    let failed = obj
        .status
        .as_ref()
        .and_then(|s| s.current_deployment.clone())
        .unwrap()
        .id;
    assert_ne!(failed, first);
    assert_eq!(
        kubectl_crossdeploy(&["watch", "web", "-n", &ns]).await.code,
        1,
        "Stalled: 1"
    );

    explain_and_history(&ns, &first, &failed).await;

    // Fixed: redeploy again, watched to success.
    ctx.set_behaviour(json!({"mode": "succeed"})).await;
    let again = kubectl_crossdeploy(&["redeploy", "web", "-n", &ns, "--watch", "--timeout", "60"]).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);

    annotations(&ctx).await;
}

async fn explain_and_history(ns: &str, first: &str, failed: &str) {
    let explain = kubectl_crossdeploy(&["explain-failure", "web", "-n", ns]).await;
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    for part in [
        "Stalled",
        "HEALTH_CONSTRAINTS",
        "Conditions",
        "DeploymentFailed",
        "Instances",
        "Events about",
        "DeploymentCreated",
        failed,
    ] {
        assert!(explain.stdout.contains(part), "{part}: {}", explain.stdout);
    }
    no_colours(&explain);
    let v = kubectl_crossdeploy(&["explain-failure", "web", "-n", ns, "-o", "json"])
        .await
        .json();
    assert_eq!(v["state"], "Stalled");
    assert_eq!(v["currentDeployment"]["errorCode"], "HEALTH_CONSTRAINTS");
    let events: Vec<&Value> = v["events"].as_array().unwrap().iter().collect();
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "DeploymentFailed" && e["type"] == "Warning"),
        "{v:#}"
    );

    let history = kubectl_crossdeploy(&["history", "web", "-n", ns]).await;
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert!(lines[0].starts_with("DEPLOYMENT"), "{}", history.stdout);
    assert!(
        lines[1].starts_with(failed) && lines[1].contains("Failed"),
        "newest first: {}",
        history.stdout
    );
    assert!(
        history.stdout.contains(first) && history.stdout.contains("Succeeded"),
        "{}",
        history.stdout
    );
    let h = kubectl_crossdeploy(&["history", "web", "-n", ns, "-o", "json"])
        .await
        .json();
    assert_eq!(h["history"][0]["deploymentId"], failed);
}

/// approve, continue and rollback write exactly the annotations the
/// operator reads, with the values it expects.
async fn annotations(ctx: &TestCtx) {
    let ns = &ctx.ns;
    let obj = ctx.deployments().get("web").await.unwrap();
    let status = obj.status.clone().unwrap();
    let digest = status.desired_digest.clone().unwrap();
    let current = status.current_deployment.clone().unwrap().id;

    let approve = kubectl_crossdeploy(&["approve", "web", "-n", ns]).await;
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    assert!(approve.stdout.contains(&digest), "{}", approve.stdout);
    let cont = kubectl_crossdeploy(&["continue", "web", "-n", ns, "-o", "json"]).await;
    assert_eq!(cont.json()["value"], json!(current));
    let rollback = kubectl_crossdeploy(&["rollback", "web", "-n", ns]).await;
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    assert!(
        rollback.stdout.contains(&format!("back to {V1}")),
        "{}",
        rollback.stdout
    );

    let obj = ctx.deployments().get("web").await.unwrap();
    assert_eq!(annotation(&obj, "crossdeploy.io/approve"), Some(digest));
    assert_eq!(annotation(&obj, "crossdeploy.io/continue"), Some(current));
    let token = annotation(&obj, "crossdeploy.io/rollback").expect("rollback token");
    let second = kubectl_crossdeploy(&["rollback", "web", "-n", ns]).await;
    assert_eq!(second.code, 0);
    let obj = ctx.deployments().get("web").await.unwrap();
    assert_ne!(
        annotation(&obj, "crossdeploy.io/rollback"),
        Some(token),
        "a fresh token each time"
    );

    let missing = kubectl_crossdeploy(&["approve", "nope", "-n", ns]).await;
    assert_eq!(missing.code, 2, "could not run: 2, never a deployment's outcome");
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
}
