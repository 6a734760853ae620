//! Leader election: with two replicas only the Lease holder reconciles, and
//! a standby takes over when the leader dies, without duplicate deployments.

use std::time::Duration;

use crate::harness::*;

const LEASE_SECONDS: &str = "6";

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over() {
    let mut ctx = TestCtx::new("leader").await;
    let args = ["--leader-elect", "--leader-lease-seconds", LEASE_SECONDS];
    let mut first = ctx.spawn_operator(&args);
    let (client, sys_ns) = (ctx.client.clone(), ctx.sys_ns.clone());
    let holder = || lease_holder(&client, &sys_ns);
    wait_until("the first replica holds the lease", || async {
        holder().await.is_some()
    })
    .await;
    let first_identity = holder().await;
    let mut second = ctx.spawn_operator(&args);

    ctx.apply_deployment("web", ctx.spec(V1)).await;
    ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    assert!(
        ctx.operator_log(0).contains("created CodeDeploy deployment"),
        "the leader deployed"
    );
    assert!(ctx.operator_log(1).contains("waiting for leadership"));
    assert!(
        !ctx.operator_log(1).contains("reconciled"),
        "the standby did not reconcile"
    );

    // Kill the leader (no graceful release): the standby must take over within
    // the lease duration and carry on from status, creating nothing twice.
    first.kill().await.expect("kill leader");
    wait_until("the standby takes the lease", || async {
        holder().await.is_some_and(|h| Some(&h) != first_identity.as_ref())
    })
    .await;
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    ctx.wait_deployed("web", V2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ctx.group_deployments().await.len(),
        2,
        "one deployment per revision across the failover"
    );
    assert!(ctx.operator_log(1).contains("acquired leadership"));
    let _ = second.kill().await;
}
