//! The AWS call budget: what N deployments in one namespace cost, per
//! operation and identity, counted by the operator's own metrics (every
//! call it makes, as the cross-account role or as itself) and, for STS, by
//! the emulator. Prints a table (run with --nocapture) and fails when a
//! bound is exceeded. Counts, not timings: stable on any machine.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::*;

const OBJECTS: usize = 6;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `crossdeploy_aws_calls_total` by operation, all outcomes summed.
async fn aws_calls(addr: &str) -> BTreeMap<String, usize> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let mut by_op = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("crossdeploy_aws_calls_total{")) {
        let op = line.split("operation=\"").nth(1).and_then(|s| s.split('"').next());
        let n = line.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok());
        if let (Some(op), Some(n)) = (op, n) {
            *by_op.entry(op.to_string()).or_default() += n as usize;
        }
    }
    by_op
}

#[tokio::test]
async fn aws_calls_per_deployment_stay_within_budget() {
    let mut ctx = TestCtx::new("budget").await;
    let addr = format!("127.0.0.1:{}", free_port());
    ctx.start_operator(&["--http-addr", &addr]).await;
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
    let settled = aws_calls(&addr).await;
    // A settled namespace costs nothing while nothing changes.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let by_op = aws_calls(&addr).await;
    assert_eq!(by_op, settled, "settled deployments cost no AWS calls");

    print_table("new objects, to Succeeded (guide-exact bucket)", &by_op);
    let get = |op: &str| by_op.get(op).copied().unwrap_or(0);
    assert_eq!(ctx.assume_role_calls().await, 1, "one STS call for the whole namespace");
    assert_eq!(
        get("codedeploy:CreateDeployment"),
        OBJECTS,
        "exactly one create per object"
    );
    // At a cold start the role and the operator's identity may both be tried
    // before the bucket's answer is remembered.
    assert!(
        get("s3:HeadObject") <= 2 * OBJECTS,
        "the revision is looked at once per desired revision"
    );
    assert!(
        get("s3:GetBucketPolicy") <= OBJECTS,
        "guide step 2 is read at most once per desired revision"
    );
    assert!(
        get("codedeploy:GetDeploymentGroup") <= OBJECTS,
        "only a new object looks for a deployment to adopt"
    );
    assert_eq!(
        get("codedeploy:ListDeployments"),
        0,
        "no marker search without a create intent left behind"
    );
    let total: usize = by_op.values().sum();
    assert!(
        total <= 7 * OBJECTS,
        "at most 7 AWS calls per new object, all identities included"
    );

    // A new revision for every object: the rollout itself.
    for i in 0..OBJECTS {
        let mut spec = ctx.spec(V2);
        spec["deploymentGroupName"] = Value::String(format!("{}-{i}", ctx.group));
        ctx.apply_deployment(&format!("web-{i}"), spec).await;
    }
    for i in 0..OBJECTS {
        ctx.wait_deployed(&format!("web-{i}"), V2).await;
    }
    let after = aws_calls(&addr).await;
    let rollout: BTreeMap<String, usize> = after
        .iter()
        .map(|(op, n)| (op.clone(), n - by_op.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    print_table("a new revision for each, to Succeeded", &rollout);
    let total: usize = rollout.values().sum();
    assert_eq!(rollout.get("codedeploy:CreateDeployment").copied(), Some(OBJECTS));
    assert!(
        total <= 4 * OBJECTS,
        "a rollout costs at most 4 AWS calls per object (HeadObject, CreateDeployment, polls): {rollout:?}"
    );
}

fn print_table(what: &str, by_op: &BTreeMap<String, usize>) {
    println!("\nAWS calls for {OBJECTS} CrossAccountDeployments, one namespace, {what}:");
    println!("{:<36} {:>6} {:>12}", "operation", "calls", "per object");
    for (op, n) in by_op {
        println!("{op:<36} {n:>6} {:>12.1}", *n as f64 / OBJECTS as f64);
    }
    let total: usize = by_op.values().sum();
    println!("{:<36} {total:>6} {:>12.1}", "total", total as f64 / OBJECTS as f64);
}
