//! Issue 11, the short version of `make chaos`: the operator SIGKILLed at
//! random moments (seeded) while 3 objects in 3 deployment groups roll out
//! round after round, then a rollout with 30 % of its session's AWS calls
//! throttled. Every object ends Ready, every desired revision has exactly one
//! CodeDeploy deployment (markers counted per object and digest), and the
//! calls of the throttled rollout stay bounded. Counts, not timings.

#[path = "../bench/support/ledger.rs"]
mod ledger;

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crossdeploy::api::HasConditions;

use crate::harness::*;
use ledger::Expected;

const OBJECTS: usize = 3;
const KILLS: usize = 10;

struct Rollouts {
    groups: Vec<String>,
    round: usize,
    /// Per object, the desired digest of each round it was Ready for.
    desired: Vec<Vec<String>>,
}

impl Rollouts {
    fn name(i: usize) -> String {
        format!("web-{i}")
    }

    /// A new desired revision for every object: the key alternates and the
    /// redeploy annotation carries the round, so each round has new digests.
    async fn next(&mut self, ctx: &TestCtx) {
        self.round += 1;
        let key = if self.round % 2 == 1 { V1 } else { V2 };
        for (i, group) in self.groups.iter().enumerate() {
            let mut spec = ctx.spec(key);
            spec["deploymentGroupName"] = Value::String(group.clone());
            let obj = json!({
                "apiVersion": "crossdeploy.io/v1alpha1",
                "kind": "CrossAccountDeployment",
                "metadata": {"name": Self::name(i),
                             "annotations": {crossdeploy::deployment::REDEPLOY_ANNOTATION: self.round.to_string()}},
                "spec": spec,
            });
            ctx.deployments()
                .patch(
                    &Self::name(i),
                    &PatchParams::apply("crossdeploy-e2e").force(),
                    &Patch::Apply(&obj),
                )
                .await
                .expect("round applied");
        }
    }

    /// Every object Ready for its current spec; when so, their digests are
    /// noted as this round's.
    async fn all_ready(&mut self, ctx: &TestCtx) -> bool {
        let mut digests = Vec::new();
        for i in 0..OBJECTS {
            let obj = ctx.deployments().get(&Self::name(i)).await.expect("object");
            let status = obj.status.unwrap_or_default();
            if !(status.is_condition_true("Ready") && status.observed_generation == obj.metadata.generation) {
                return false;
            }
            digests.push(status.desired_digest.unwrap_or_default());
        }
        for (i, d) in digests.into_iter().enumerate() {
            if self.desired[i].last() != Some(&d) {
                self.desired[i].push(d);
            }
        }
        true
    }

    async fn wait_all_ready(&mut self, ctx: &TestCtx, what: &str) {
        let started = Instant::now();
        while !self.all_ready(ctx).await {
            assert!(
                started.elapsed() < WAIT,
                "{what}: not every object Ready after {WAIT:?}; operator log tail:\n{}",
                ctx.operator_log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn ledger(&self, ctx: &TestCtx) -> ledger::Ledger {
        let mut deployments = Vec::new();
        for g in &self.groups {
            let listed = control(
                "GET",
                &format!(
                    "/codedeploy/deployments?applicationName={}&deploymentGroupName={g}",
                    app()
                ),
                None,
            )
            .await;
            deployments.extend(listed["deployments"].as_array().cloned().unwrap_or_default());
        }
        let expected: Vec<Expected> = (0..OBJECTS)
            .map(|i| Expected {
                namespace: ctx.ns.clone(),
                name: Self::name(i),
                digests: self.desired[i].clone(),
            })
            .collect();
        ledger::count(&deployments, &expected)
    }
}

async fn last_seq() -> u64 {
    control("GET", "/stats", None).await["calls"]["lastSeq"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn operator_kills_and_throttling_deploy_each_revision_exactly_once() {
    let mut ctx = TestCtx::new("chaos").await;
    let groups: Vec<String> = (0..OBJECTS).map(|i| format!("{}-{i}", ctx.group)).collect();
    for g in &groups {
        ctx.create_group(g).await;
    }
    let mut operator = ctx.spawn_operator(&[]);
    let mut rollouts = Rollouts {
        groups,
        round: 0,
        desired: vec![Vec::new(); OBJECTS],
    };
    rollouts.next(&ctx).await;
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..=1500))).await;
        if rollouts.all_ready(&ctx).await {
            rollouts.next(&ctx).await;
        }
        operator.kill().await.expect("SIGKILL");
        operator = ctx.spawn_operator(&[]);
    }
    rollouts.wait_all_ready(&ctx, "after the kills").await;
    let killed_rounds = rollouts.round;

    // One more round with 30 % of this tenant session's calls throttled.
    let session = format!("/crossdeploy.{}", ctx.ns);
    let rule = control(
        "POST",
        "/faults",
        Some(json!({"principal_contains": session, "effect": "throttle", "probability": 0.3, "seed": 3})),
    )
    .await;
    let rule_id = rule["rules"][0]["id"].as_str().expect("rule id").to_string();
    let since = last_seq().await;
    rollouts.next(&ctx).await;
    rollouts.wait_all_ready(&ctx, "under throttling").await;
    let fired = control("GET", "/faults", None).await["rules"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["id"] == rule_id.as_str()).cloned())
        .map(|r| r["fired"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    let cleared = reqwest::Client::new()
        .delete(format!("{}/faults/{rule_id}", crate::env::env().control_url()))
        .send()
        .await
        .expect("fault rule deleted");
    assert!(cleared.status().is_success());
    let throttled: Vec<Value> = as_calls(
        control(
            "GET",
            &format!("/calls?since={since}&principal_contains={session}"),
            None,
        )
        .await,
    );

    let ledger = rollouts.ledger(&ctx).await;
    let rollouts_done: usize = rollouts.desired.iter().map(Vec::len).sum();
    println!(
        "chaos (short): {KILLS} SIGKILLs over {killed_rounds} rounds of {OBJECTS} objects, then one round with {fired} throttled calls: \
         {rollouts_done} rollouts, {} deployments of ours, {} duplicates, {} missing; throttled round: {} calls of the session",
        ledger.ours,
        ledger.duplicates,
        ledger.missing,
        throttled.len()
    );
    assert!(
        killed_rounds >= 1 && rollouts_done == (killed_rounds + 1) * OBJECTS,
        "every round was deployed: {ledger:?}"
    );
    assert_eq!(
        (ledger.duplicates, ledger.missing),
        (0, 0),
        "exactly once: {:?}",
        ledger.problems
    );
    assert_eq!(ledger.matched, rollouts_done, "one deployment per desired revision");
    let creates = throttled
        .iter()
        .filter(|c| c["operation"] == "CreateDeployment" && c["outcome"] == "ok")
        .count();
    assert_eq!(creates, OBJECTS, "one CreateDeployment per object under throttling");
    assert!(
        throttled.len() <= 30 * OBJECTS,
        "bounded: {} calls for {OBJECTS} rollouts under 30 % throttling",
        throttled.len()
    );
    let _ = operator.kill().await;
}

fn as_calls(v: Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}
