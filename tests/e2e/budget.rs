//! The AWS call budget, counted by the emulator: what N deployments in one
//! namespace cost, per operation. Prints a table (run with --nocapture) and
//! fails when a bound is exceeded. Counts, not timings: stable on any machine.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::*;

const OBJECTS: usize = 6;

#[tokio::test]
async fn aws_calls_per_deployment_stay_within_budget() {
    let mut ctx = TestCtx::new("budget").await;
    ctx.start_operator(&[]).await;
    // Distinct groups: CodeDeploy runs one deployment per group at a time.
    for i in 0..OBJECTS {
        let group = format!("{}-{i}", ctx.group);
        ctx.create_group(&group).await;
        let mut spec = ctx.spec(V1);
        spec["deploymentGroupName"] = Value::String(group);
        ctx.apply_deployment(&format!("web-{i}"), spec).await;
    }
    for i in 0..OBJECTS {
        ctx.wait_condition(&format!("web-{i}"), "Ready", Some("Succeeded"))
            .await;
    }
    let settled = ctx.session_calls().await.len();
    // A settled namespace costs nothing while nothing changes.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let calls = ctx.session_calls().await;
    assert_eq!(calls.len(), settled, "settled deployments cost no AWS calls");

    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for c in &calls {
        let op = format!(
            "{}:{}",
            c["service"].as_str().unwrap_or("?"),
            c["operation"].as_str().unwrap_or("?")
        );
        *by_op.entry(op).or_default() += 1;
    }
    println!("\nAWS calls for {OBJECTS} CrossAccountDeployments, one namespace, to Succeeded:");
    println!("{:<36} {:>6} {:>12}", "operation", "calls", "per object");
    for (op, n) in &by_op {
        println!("{op:<36} {n:>6} {:>12.1}", *n as f64 / OBJECTS as f64);
    }
    let get = |op: &str| by_op.get(op).copied().unwrap_or(0);
    assert_eq!(get("sts:AssumeRole"), 1, "one STS call for the whole namespace");
    assert_eq!(
        get("codedeploy:CreateDeployment"),
        OBJECTS,
        "exactly one create per object"
    );
    assert_eq!(
        get("s3:HeadObject"),
        OBJECTS,
        "the revision is verified once per desired revision"
    );
    assert!(get("codedeploy:GetDeploymentGroup") <= OBJECTS);
    assert!(
        get("codedeploy:ListDeployments") <= 2 * OBJECTS,
        "marker search + active check, once each"
    );
    // 1.5 s deployments polled from 3 s: one or two GetDeployment each.
    assert!(get("codedeploy:GetDeployment") <= 3 * OBJECTS, "polling backs off");
    let total: usize = by_op.values().sum();
    println!("{:<36} {total:>6} {:>12.1}", "total", total as f64 / OBJECTS as f64);
    assert!(
        total <= 10 * OBJECTS,
        "at most 10 AWS calls per deployment, all included"
    );
}
