//! Progressive delivery (issue 13), end to end on the real API server and
//! the emulator: promotion with soak and chain/cycle rules, approval bound to
//! the desired digest, blue/green continue by annotation and by timer, the
//! progress deadline, rollback by annotation token (exactly once, across a
//! crash), per-instance diagnostics with masked log tails, and the three
//! CreateDeployment options. Each scenario prints and asserts how many
//! deployments crossdeploy created.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crossdeploy::api::{CrossAccountDeployment, HasConditions};
use crossdeploy::deployment::Owner;

use crate::env::env;
use crate::harness::*;

async fn annotate(ctx: &TestCtx, name: &str, key: &str, value: &str) {
    ctx.deployments()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("annotating {name} {key}={value}: {e}"));
}

async fn get(ctx: &TestCtx, name: &str) -> CrossAccountDeployment {
    ctx.deployments().get(name).await.expect("get")
}

/// Polls `name` until `check` holds, with the operator's log in the panic.
async fn wait_for(
    ctx: &TestCtx,
    name: &str,
    what: &str,
    check: impl Fn(&CrossAccountDeployment) -> bool,
) -> CrossAccountDeployment {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < WAIT {
        if let Ok(obj) = ctx.deployments().get(name).await {
            if check(&obj) {
                return obj;
            }
            last = obj.status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "timed out waiting for {name}: {what}; last status: {last:#?}\noperator log tail:\n{}",
        ctx.operator_log_tail(40)
    );
}

fn reason(obj: &CrossAccountDeployment, type_: &str) -> Option<String> {
    obj.status
        .as_ref()
        .and_then(|s| s.condition(type_))
        .filter(|c| c.status == "True")
        .map(|c| c.reason.clone())
}

fn current_id(obj: &CrossAccountDeployment) -> String {
    obj.status
        .as_ref()
        .and_then(|s| s.current_deployment.as_ref())
        .map(|c| c.id.clone())
        .unwrap_or_default()
}

/// A spec for `group` (another group of the seeded application).
fn spec_in(ctx: &TestCtx, group: &str, key: &str) -> Value {
    let mut spec = ctx.spec(key);
    spec["deploymentGroupName"] = json!(group);
    spec
}

/// A promoted spec: no revision, `promotion.from`.
fn promoted_spec(ctx: &TestCtx, group: &str, from: &str, soak: Option<&str>) -> Value {
    let mut spec = spec_in(ctx, group, V1);
    spec.as_object_mut().expect("spec").remove("revision");
    spec["promotion"] = json!({"from": {"name": from}});
    if let Some(soak) = soak {
        spec["promotion"]["soakTime"] = json!(soak);
    }
    spec
}

async fn set_behaviour_in(group: &str, behaviour: Value) {
    let mut body = json!({
        "account": env().world["accounts"]["production"],
        "applicationName": app(),
        "deploymentGroupName": group,
    });
    if let (Some(b), Some(extra)) = (body.as_object_mut(), behaviour.as_object()) {
        b.extend(extra.clone());
    }
    control("POST", "/codedeploy/behaviour", Some(body)).await;
}

/// Deployments in `group`, as prod-admin sees them, newest first.
async fn deployments_in(ctx: &TestCtx, group: &str) -> Vec<aws_sdk_codedeploy::types::DeploymentInfo> {
    let cd = ctx.codedeploy_admin();
    let ids = cd
        .list_deployments()
        .application_name(app())
        .deployment_group_name(group)
        .send()
        .await
        .expect("ListDeployments")
        .deployments
        .unwrap_or_default();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut infos = cd
        .batch_get_deployments()
        .set_deployment_ids(Some(ids))
        .send()
        .await
        .expect("BatchGetDeployments")
        .deployments_info
        .unwrap_or_default();
    infos.sort_by_key(|d| std::cmp::Reverse(d.create_time().map(|t| t.as_nanos())));
    infos
}

/// Deployments carrying `name`'s marker in `group`.
async fn created_for(ctx: &TestCtx, name: &str, group: &str) -> usize {
    let owner = Owner::new(&ctx.ns, name, "");
    deployments_in(ctx, group)
        .await
        .iter()
        .filter(|d| owner.owns(d.description().unwrap_or_default()))
        .count()
}

/// CreateDeployment calls crossdeploy made for this test that created one.
async fn creates(ctx: &TestCtx) -> usize {
    session_calls_of(ctx, "CreateDeployment")
        .await
        .iter()
        .filter(|c| c["outcome"] == json!("ok"))
        .count()
}

async fn session_calls_of(ctx: &TestCtx, operation: &str) -> Vec<Value> {
    ctx.session_calls()
        .await
        .into_iter()
        .filter(|c| c["service"] == json!("codedeploy") && c["operation"] == json!(operation))
        .collect()
}

#[tokio::test]
async fn approval_is_bound_to_the_revision_digest() {
    let mut ctx = TestCtx::new("approval").await;
    ctx.start_operator(&[]).await;
    let mut spec = ctx.spec(V1);
    spec["approval"] = json!("Manual");
    ctx.apply_deployment("web", spec.clone()).await;
    let obj = ctx.wait_condition("web", "Reconciling", Some("AwaitingApproval")).await;
    let status = obj.status.clone().expect("status");
    let d1 = status
        .approval
        .as_ref()
        .and_then(|a| a.pending_digest.clone())
        .expect("status.approval.pendingDigest");
    assert_eq!(status.desired_digest.as_deref(), Some(d1.as_str()));
    let msg = condition_message(&obj, "Reconciling");
    assert!(
        msg.contains(&format!("crossdeploy.io/approve={d1}")) && msg.contains(V1),
        "{msg}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        ctx.group_deployments().await.is_empty(),
        "nothing deployed before approval"
    );

    annotate(&ctx, "web", "crossdeploy.io/approve", &d1).await;
    let obj = ctx.wait_deployed("web", V1).await;
    assert!(obj.status.and_then(|s| s.approval).is_none(), "nothing waits any more");

    // A new revision needs its own approval: the one on the object (v1's
    // digest) releases nothing.
    spec["revision"]["s3"]["key"] = json!(V2);
    ctx.apply_deployment("web", spec).await;
    let obj = wait_for(&ctx, "web", "v2 awaiting approval", |o| {
        reason(o, "Reconciling").as_deref() == Some("AwaitingApproval")
            && o.status
                .as_ref()
                .and_then(|s| s.approval.as_ref())
                .and_then(|a| a.pending_digest.as_deref())
                .is_some_and(|d| d != d1)
    })
    .await;
    let d2 = obj
        .status
        .and_then(|s| s.approval)
        .and_then(|a| a.pending_digest)
        .expect("pending");
    let msg = condition_message(&get(&ctx, "web").await, "Reconciling");
    assert!(
        msg.contains(&d1) && msg.contains("another revision"),
        "the stale approval is named: {msg}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        ctx.group_deployments().await.len(),
        1,
        "a stale approval releases nothing"
    );
    assert_eq!(
        reason(&get(&ctx, "web").await, "Reconciling").as_deref(),
        Some("AwaitingApproval")
    );

    annotate(&ctx, "web", "crossdeploy.io/approve", &d2).await;
    ctx.wait_deployed("web", V2).await;
    let created = creates(&ctx).await;
    println!("approval: {created} deployments created (v1 and v2, each after its approval)");
    assert_eq!(created, 2);
    assert_eq!(created_for(&ctx, "web", &ctx.group).await, 2);
    let events = ctx.events("web").await;
    assert!(events.iter().any(|(r, _)| r == "AwaitingApproval"), "{events:?}");
    ctx.assert_no_secrets_leaked().await;
}

#[tokio::test]
async fn blue_green_continues_by_annotation_and_by_timer() {
    let mut ctx = TestCtx::new("bg-continue").await;
    let (by_hand, by_timer) = ("xd-bg-continue-hand", "xd-bg-continue-timer");
    ctx.create_blue_green_group(by_hand).await;
    ctx.create_blue_green_group(by_timer).await;
    ctx.start_operator(&[]).await;

    ctx.apply_deployment("hand", spec_in(&ctx, by_hand, V1)).await;
    let obj = ctx
        .wait_condition("hand", "Reconciling", Some("WaitingForTrafficReroute"))
        .await;
    let id = current_id(&obj);
    let msg = condition_message(&obj, "Reconciling");
    assert!(msg.contains(&format!("crossdeploy.io/continue={id}")), "{msg}");
    // Nothing else continues it: not time, not an annotation naming another
    // deployment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    annotate(&ctx, "hand", "crossdeploy.io/continue", "d-NOTTHISONE").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(session_calls_of(&ctx, "ContinueDeployment").await.is_empty());
    let obj = get(&ctx, "hand").await;
    assert_eq!(reason(&obj, "Reconciling").as_deref(), Some("WaitingForTrafficReroute"));
    assert!(
        obj.status
            .as_ref()
            .and_then(|s| s.current_deployment.as_ref())
            .and_then(|c| c.ready_time.as_ref())
            .is_some(),
        "readyTime recorded"
    );
    annotate(&ctx, "hand", "crossdeploy.io/continue", &id).await;
    ctx.wait_deployed("hand", V1).await;
    let continues = session_calls_of(&ctx, "ContinueDeployment").await;
    assert_eq!(continues.len(), 1, "{continues:?}");
    assert_eq!(continues[0]["params"]["deploymentId"], json!(id));
    let events = ctx.events("hand").await;
    assert!(events.iter().any(|(r, _)| r == "DeploymentContinued"), "{events:?}");

    // By timer: continueAfter counts from when crossdeploy first saw it Ready.
    let mut spec = spec_in(&ctx, by_timer, V1);
    spec["blueGreen"] = json!({"continueAfter": "4s"});
    ctx.apply_deployment("timer", spec).await;
    let obj = ctx
        .wait_condition("timer", "Reconciling", Some("WaitingForTrafficReroute"))
        .await;
    let seen_ready = Instant::now();
    assert!(
        condition_message(&obj, "Reconciling").contains("blueGreen.continueAfter"),
        "{}",
        condition_message(&obj, "Reconciling")
    );
    let timer_id = current_id(&obj);
    wait_for(&ctx, "timer", "continued", |o| {
        reason(o, "Reconciling").as_deref() != Some("WaitingForTrafficReroute")
    })
    .await;
    let waited = seen_ready.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "continued after {waited:?}, before continueAfter"
    );
    ctx.wait_deployed("timer", V1).await;
    let continues = session_calls_of(&ctx, "ContinueDeployment").await;
    assert_eq!(continues.len(), 2, "{continues:?}");
    assert!(continues.iter().any(|c| c["params"]["deploymentId"] == json!(timer_id)));
    let created = creates(&ctx).await;
    println!(
        "blue/green: {created} deployments created (one per object), {} ContinueDeployment calls; the timer continued after {waited:?}",
        continues.len()
    );
    assert_eq!(created, 2);
}

#[tokio::test]
async fn progress_deadline_stops_with_rollback() {
    let mut ctx = TestCtx::new("deadline").await;
    let no_rollback = "xd-deadline-norb";
    ctx.create_group(no_rollback).await;
    ctx.start_operator(&[]).await;
    let mut spec = ctx.spec(V1);
    spec["autoRollback"] = json!({"enabled": true, "events": ["DEPLOYMENT_FAILURE"]});
    ctx.apply_deployment("web", spec.clone()).await;
    ctx.wait_deployed("web", V1).await;

    // v2 hangs: stopped after the deadline, CodeDeploy rolls back to v1.
    ctx.set_behaviour(json!({"mode": "hold"})).await;
    spec["revision"]["s3"]["key"] = json!(V2);
    spec["progressDeadlineSeconds"] = json!(4);
    ctx.apply_deployment("web", spec).await;
    let obj = ctx
        .wait_condition("web", "Stalled", Some("ProgressDeadlineExceeded"))
        .await;
    let v2 = current_id(&obj);
    let obj = wait_for(&ctx, "web", "CodeDeploy's rollback succeeded", |o| {
        condition_message(o, "Stalled").contains("which succeeded")
    })
    .await;
    let msg = condition_message(&obj, "Stalled");
    assert!(
        msg.contains(&v2) && msg.contains("progressDeadlineSeconds") && msg.contains(V1),
        "{msg}"
    );
    let current = obj.status.clone().and_then(|s| s.current_deployment).expect("current");
    assert_eq!(current.id, v2);
    assert!(current.progress_deadline_exceeded);
    assert_eq!(current.status.as_ref().map(|s| s.as_str()), Some("Stopped"));
    assert_eq!(current.rollback_status.as_ref().map(|s| s.as_str()), Some("Succeeded"));
    let lived =
        current.complete_time.expect("complete").0.as_second() - current.create_time.expect("create").0.as_second();
    assert!(lived >= 4, "stopped after {lived}s, before the deadline");
    let stops = session_calls_of(&ctx, "StopDeployment").await;
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0]["params"]["autoRollbackEnabled"], json!(true));
    let events = ctx.events("web").await;
    assert!(
        events.iter().any(|(r, _)| r == "ProgressDeadlineExceeded"),
        "{events:?}"
    );

    // Without autoRollback the deployment is stopped and left stopped.
    set_behaviour_in(no_rollback, json!({"mode": "hold"})).await;
    let mut spec = spec_in(&ctx, no_rollback, V1);
    spec["progressDeadlineSeconds"] = json!(3);
    ctx.apply_deployment("plain", spec).await;
    let obj = ctx
        .wait_condition("plain", "Stalled", Some("ProgressDeadlineExceeded"))
        .await;
    assert!(
        condition_message(&obj, "Stalled").contains("no rollback"),
        "{}",
        condition_message(&obj, "Stalled")
    );
    let stops = session_calls_of(&ctx, "StopDeployment").await;
    assert_eq!(stops.len(), 2);
    assert!(
        stops.iter().any(|c| c["params"]["autoRollbackEnabled"] == json!(false)),
        "{stops:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let created = creates(&ctx).await;
    let in_group = ctx.group_deployments().await.len();
    println!(
        "deadline: {created} deployments created by crossdeploy (v1, v2 stopped at the deadline, one more stopped without rollback); {in_group} in the rolled-back group (with CodeDeploy's rollback)"
    );
    assert_eq!(created, 3);
    assert_eq!(in_group, 3, "v1, v2 and CodeDeploy's rollback");
    assert_eq!(
        deployments_in(&ctx, no_rollback).await.len(),
        1,
        "no rollback deployment"
    );
}

#[tokio::test]
async fn rollback_annotation_deploys_the_last_good_revision_once_per_token() {
    let mut ctx = TestCtx::new("rollback-token").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let good = ctx.wait_deployed("web", V1).await;
    let good_revision = good.status.and_then(|s| s.revision).expect("v1 revision");
    ctx.set_behaviour(json!({"mode": "fail"})).await;
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    ctx.wait_condition("web", "Stalled", Some("DeploymentFailed")).await;
    ctx.set_behaviour(json!({"mode": "succeed"})).await;

    annotate(&ctx, "web", "crossdeploy.io/rollback", "incident-1").await;
    let obj = ctx.wait_condition("web", "Stalled", Some("RolledBack")).await;
    let status = obj.status.clone().expect("status");
    let rollback = status.rollback.clone().expect("status.rollback");
    assert_eq!(rollback.token, "incident-1");
    assert!(rollback.active);
    assert_eq!(rollback.from_revision.key, V2);
    assert_eq!(rollback.to_revision, good_revision, "exactly the last good object");
    let current = status.current_deployment.clone().expect("current");
    assert_eq!(current.digest, rollback.digest);
    assert_eq!(current.revision.as_ref().map(|r| r.key.as_str()), Some(V1));
    let msg = condition_message(&obj, "Stalled");
    assert!(
        msg.contains("rolled back from") && msg.contains("incident-1") && msg.contains(V2),
        "{msg}"
    );
    assert_eq!(ctx.group_deployments().await.len(), 3);

    // The same token never rolls back again: not on its own, not after a restart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ctx.stop_operator().await;
    ctx.start_operator(&[]).await;
    ctx.wait_condition("web", "Stalled", Some("RolledBack")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ctx.group_deployments().await.len(), 3, "one deployment per token");

    // A new token rolls back once more, through the exactly-once path: the
    // operator dies right after CreateDeployment and the restarted one
    // adopts the deployment instead of creating another.
    ctx.stop_operator().await;
    ctx.start_operator(&["--test-crash-after-create"]).await;
    annotate(&ctx, "web", "crossdeploy.io/rollback", "incident-2").await;
    assert_eq!(ctx.operator_exit_code().await, Some(86), "died at the crash point");
    assert_eq!(ctx.group_deployments().await.len(), 4);
    ctx.start_operator(&[]).await;
    let obj = wait_for(&ctx, "web", "rolled back for incident-2", |o| {
        reason(o, "Stalled").as_deref() == Some("RolledBack")
            && o.status
                .as_ref()
                .and_then(|s| s.rollback.as_ref())
                .is_some_and(|r| r.token == "incident-2")
    })
    .await;
    let infos = ctx.group_deployments().await;
    assert_eq!(
        infos.len(),
        4,
        "exactly one deployment for the new token, across the crash"
    );
    let newest = infos
        .iter()
        .max_by_key(|d| d.create_time().map(|t| t.as_nanos()))
        .and_then(|d| d.deployment_id())
        .map(str::to_string);
    assert_eq!(
        Some(current_id(&obj)),
        newest,
        "the deployment made before the crash is adopted"
    );

    // The spec asks again (redeploy): the rollback ends, v2 is deployed, the
    // token stays handled.
    annotate(&ctx, "web", "crossdeploy.io/redeploy", "fixed").await;
    let obj = ctx.wait_deployed("web", V2).await;
    let rollback = obj.status.and_then(|s| s.rollback).expect("kept");
    assert!(!rollback.active && rollback.token == "incident-2");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let created = creates(&ctx).await;
    println!(
        "rollback: {created} deployments created (v1, v2 failed, rollback incident-1, rollback incident-2 across a crash, redeploy of v2)"
    );
    assert_eq!(created, 5);
    assert_eq!(created_for(&ctx, "web", &ctx.group).await, 5);
    let events = ctx.events("web").await;
    for r in ["RollingBack", "RolledBack"] {
        assert!(events.iter().any(|(e, _)| e == r), "{r}: {events:?}");
    }
}

#[tokio::test]
async fn failed_instances_are_diagnosed_with_masked_log_tails() {
    let mut ctx = TestCtx::new("diagnose").await;
    let quiet = "xd-diagnose-quiet";
    ctx.create_group(quiet).await;
    let failing = json!({"mode": "fail", "instanceCount": 12, "failedInstances": "all", "failedLifecycleEvent": "ApplicationStart"});
    ctx.set_behaviour(failing.clone()).await;
    set_behaviour_in(quiet, failing).await;
    ctx.start_operator(&[]).await;
    let mut spec = ctx.spec(V1);
    spec["diagnostics"] = json!({"logTail": true});
    ctx.apply_deployment("web", spec).await;
    ctx.apply_deployment("quiet", spec_in(&ctx, quiet, V1)).await;

    let obj = ctx.wait_condition("web", "Stalled", Some("DeploymentFailed")).await;
    let current = obj.status.clone().and_then(|s| s.current_deployment).expect("current");
    assert_eq!(
        current.failed_targets.len(),
        5,
        "a bounded number of the 12 failed instances"
    );
    for t in &current.failed_targets {
        assert!(t.target_id.starts_with("i-"), "{t:?}");
        assert_eq!(t.lifecycle_event.as_deref(), Some("ApplicationStart"));
        assert_eq!(t.script_name.as_deref(), Some("scripts/start.sh"));
        assert_eq!(t.error_code.as_deref(), Some("ScriptFailed"));
        assert!(t.message.as_deref().is_some_and(|m| m.contains("exit code 1")), "{t:?}");
        let tail = t.log_tail.as_deref().expect("log tail asked for");
        for expected in ["AWS_SECRET_ACCESS_KEY=****", "password=****", "Connection refused"] {
            assert!(tail.contains(expected), "{expected} missing from {tail}");
        }
        assert!(
            !tail.contains("AKIAXDLEAKEDLOGTAIL0") && !tail.contains("hunter2"),
            "{tail}"
        );
    }
    let first = &current.failed_targets[0].target_id;
    let msg = condition_message(&obj, "Stalled");
    for expected in [
        "HEALTH_CONSTRAINTS",
        &format!("12 instances failed (5 read into status.currentDeployment.failedTargets): {first}, "),
        " at ApplicationStart: scripts/start.sh: ScriptFailed: Script at specified location",
        &format!("log tail of {first}"),
        "AWS_SECRET_ACCESS_KEY=****",
        "password=****",
    ] {
        assert!(msg.contains(expected), "{expected} missing from {msg}");
    }
    let event = wait_for_event(&ctx, "web", "DeploymentFailed").await;
    println!("the failure Event ({} bytes): {event}", event.len());
    for expected in [
        first.as_str(),
        "ApplicationStart",
        "scripts/start.sh",
        "ScriptFailed",
        "AWS_SECRET_ACCESS_KEY=****",
        "password=****",
        "Connection refused",
    ] {
        assert!(
            event.contains(expected),
            "{expected} missing from the failure Event: {event}"
        );
    }

    // Without diagnostics.logTail: the instances, never their logs.
    let obj = ctx.wait_condition("quiet", "Stalled", Some("DeploymentFailed")).await;
    let current = obj.status.clone().and_then(|s| s.current_deployment).expect("current");
    assert_eq!(current.failed_targets.len(), 5);
    assert!(current.failed_targets.iter().all(|t| t.log_tail.is_none()));
    let msg = condition_message(&obj, "Stalled");
    assert!(msg.contains("ScriptFailed") && !msg.contains("log tail"), "{msg}");

    // Read once per failure, with the documented limits; nothing after.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lists = session_calls_of(&ctx, "ListDeploymentTargets").await;
    let batches = session_calls_of(&ctx, "BatchGetDeploymentTargets").await;
    assert_eq!((lists.len(), batches.len()), (2, 2), "{lists:?} {batches:?}");
    for l in &lists {
        assert_eq!(l["params"]["targetFilters"], json!({"TargetStatus": ["Failed"]}));
    }
    for b in &batches {
        let ids = b["params"]["targetIds"].as_array().map_or(0, Vec::len);
        assert!(ids > 0 && ids <= 25, "{b}");
    }
    let created = creates(&ctx).await;
    println!(
        "diagnostics: {created} deployments created (one per object), {} ListDeploymentTargets, {} BatchGetDeploymentTargets",
        lists.len(),
        batches.len()
    );
    assert_eq!(created, 2);
    ctx.assert_no_secrets_leaked().await;
}

/// The note of `object`'s Event with `reason` (waits for it).
async fn wait_for_event(ctx: &TestCtx, object: &str, reason: &str) -> String {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if let Some((_, note)) = ctx.events(object).await.into_iter().find(|(r, _)| r == reason) {
            return note;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no {reason} Event for {object}: {:?}", ctx.events(object).await);
}

#[tokio::test]
async fn create_deployment_options_reach_codedeploy() {
    let mut ctx = TestCtx::new("options").await;
    ctx.start_operator(&[]).await;
    let mut spec = ctx.spec(V1);
    let alarms = json!({"enabled": true, "ignorePollAlarmFailure": true, "alarms": [{"name": "webapp-5xx"}, {"name": "webapp-latency"}]});
    let targets = json!({"tagFilters": [{"key": "Name", "value": "webapp-green", "type": "KEY_AND_VALUE"}], "autoScalingGroups": ["webapp-green-asg"]});
    spec["overrideAlarmConfiguration"] = alarms.clone();
    spec["updateOutdatedInstancesOnly"] = json!(true);
    spec["targetInstances"] = targets.clone();
    ctx.apply_deployment("web", spec).await;
    ctx.wait_deployed("web", V1).await;

    let created = session_calls_of(&ctx, "CreateDeployment").await;
    assert_eq!(created.len(), 1);
    let params = &created[0]["params"];
    assert_eq!(params["overrideAlarmConfiguration"], alarms);
    assert_eq!(params["updateOutdatedInstancesOnly"], json!(true));
    // EC2TagFilter's members are capitalised on the wire (Key, Value, Type).
    assert_eq!(
        params["targetInstances"],
        json!({"tagFilters": [{"Key": "Name", "Value": "webapp-green", "Type": "KEY_AND_VALUE"}], "autoScalingGroups": ["webapp-green-asg"]})
    );
    // And CodeDeploy keeps them with the deployment.
    let info = ctx.group_deployments().await.pop().expect("the deployment");
    let alarm_config = info.override_alarm_configuration().expect("overrideAlarmConfiguration");
    assert!(alarm_config.enabled() && alarm_config.ignore_poll_alarm_failure());
    assert_eq!(alarm_config.alarms().len(), 2);
    assert!(info.update_outdated_instances_only());
    let t = info.target_instances().expect("targetInstances");
    assert_eq!(t.auto_scaling_groups(), ["webapp-green-asg"]);
    assert_eq!(t.tag_filters()[0].value(), Some("webapp-green"));

    // Admission refuses what CodeDeploy or the deadline could not honour.
    for (patch, refusal) in [
        (
            json!({"targetInstances": {}}),
            "targetInstances needs tagFilters or autoScalingGroups",
        ),
        (
            json!({"blueGreen": {"continueAfter": "10m"}, "progressDeadlineSeconds": 300}),
            "blueGreen.continueAfter must be shorter than progressDeadlineSeconds",
        ),
        (
            json!({"promotion": {"from": {"name": "staging"}, "soakTime": "1d"}}),
            "soakTime must be a duration",
        ),
        (
            json!({"promotion": {"from": {"name": "staging"}}}),
            "exactly one of revision and promotion must be set",
        ),
    ] {
        let mut bad = ctx.spec(V1);
        if let (Some(b), Some(extra)) = (bad.as_object_mut(), patch.as_object()) {
            b.extend(extra.clone());
        }
        let obj: CrossAccountDeployment = serde_json::from_value(json!({
            "apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
            "metadata": {"name": "bad"}, "spec": bad,
        }))
        .expect("object");
        match ctx.deployments().create(&PostParams::default(), &obj).await {
            Ok(_) => panic!("{patch} was accepted"),
            Err(e) => assert!(e.to_string().contains(refusal), "{patch}: {e}"),
        }
    }
    let n = creates(&ctx).await;
    println!("CreateDeployment options: {n} deployment created");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn promotion_chain_with_soak_never_promotes_a_failed_or_running_revision() {
    let mut ctx = TestCtx::new("promote").await;
    let dev = ctx.group.clone();
    let (staging, prod) = ("xd-promote-staging", "xd-promote-prod");
    ctx.create_group(staging).await;
    ctx.create_group(prod).await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("dev", ctx.spec(V1)).await;
    ctx.apply_deployment("staging", promoted_spec(&ctx, staging, "dev", None))
        .await;
    ctx.apply_deployment("prod", promoted_spec(&ctx, prod, "staging", Some("6s")))
        .await;

    ctx.wait_deployed("dev", V1).await;
    let st = ctx.wait_deployed("staging", V1).await;
    let st_status = st.status.clone().expect("status");
    let st_current = st_status.current_deployment.clone().expect("staging deployment");
    // prod waits for the soak: nothing is deployed there yet.
    let waiting = ctx
        .wait_condition("prod", "Reconciling", Some("WaitingForPromotion"))
        .await;
    let promotion = waiting
        .status
        .clone()
        .and_then(|s| s.promotion)
        .expect("status.promotion");
    assert_eq!(promotion.from, "staging");
    assert_eq!(promotion.soaking_deployment_id.as_deref(), Some(st_current.id.as_str()));
    assert!(promotion.soak_until.is_some());
    assert!(deployments_in(&ctx, prod).await.is_empty());

    let pr = ctx.wait_deployed("prod", V1).await;
    let pr_status = pr.status.clone().expect("status");
    let promotion = pr_status.promotion.clone().expect("status.promotion");
    assert_eq!(promotion.deployment_id.as_deref(), Some(st_current.id.as_str()));
    let pr_current = pr_status.current_deployment.clone().expect("prod deployment");
    let soaked = pr_current.create_time.expect("created").0.as_second()
        - st_current.complete_time.clone().expect("staging done").0.as_second();
    assert!(
        soaked >= 5,
        "prod deployed {soaked}s after staging succeeded, before the 6s soak"
    );
    // Exactly the object that succeeded in staging.
    let st_rev = st_current.revision.clone().expect("staging revision");
    let pr_info = deployments_in(&ctx, prod).await.pop().expect("prod deployment");
    let s3 = pr_info.revision().and_then(|r| r.s3_location()).expect("s3 revision");
    assert_eq!((s3.bucket(), s3.key()), (Some(st_rev.bucket.as_str()), Some(V1)));
    assert_eq!(s3.version(), st_rev.version_id.as_deref());
    assert_eq!(
        s3.e_tag().map(|e| e.trim_matches('"')),
        st_rev.e_tag.as_deref().map(|e| e.trim_matches('"'))
    );
    let ready = condition_message(&pr, "Ready");
    println!("prod Ready: {ready}");
    assert!(
        ready.contains(&format!("promoted from staging's deployment {}", st_current.id)),
        "{ready}"
    );

    // dev's v2 runs, then fails: staging promotes neither.
    ctx.set_behaviour(json!({"mode": "hold"})).await;
    ctx.apply_deployment("dev", ctx.spec(V2)).await;
    let running = ctx
        .wait_condition("dev", "Reconciling", Some("DeploymentInProgress"))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        deployments_in(&ctx, staging).await.len(),
        1,
        "a running revision is never promoted"
    );
    let st = get(&ctx, "staging").await;
    assert!(st.status.as_ref().is_some_and(|s| s.is_condition_true("Ready")));
    assert!(
        condition_message(&st, "Ready").contains("Nothing newer to promote"),
        "{}",
        condition_message(&st, "Ready")
    );
    ctx.complete(&current_id(&running), "Failed").await;
    ctx.wait_condition("dev", "Stalled", Some("DeploymentFailed")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        deployments_in(&ctx, staging).await.len(),
        1,
        "a failed revision is never promoted"
    );

    // dev's v2 fixed and redeployed: staging at once, prod after its soak.
    ctx.set_behaviour(json!({"mode": "succeed"})).await;
    annotate(&ctx, "dev", "crossdeploy.io/redeploy", "1").await;
    ctx.wait_deployed("dev", V2).await;
    let st = ctx.wait_deployed("staging", V2).await;
    let soaking = wait_for(&ctx, "prod", "v2 soaking while v1 stays", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.promotion.as_ref())
            .is_some_and(|p| p.soaking_deployment_id.as_deref() == Some(current_id(&st).as_str()))
    })
    .await;
    assert!(
        soaking.status.as_ref().is_some_and(|s| s.is_condition_true("Ready")),
        "prod stays Ready on v1 while v2 soaks"
    );
    assert_eq!(
        soaking.status.and_then(|s| s.revision).map(|r| r.key).as_deref(),
        Some(V1)
    );
    ctx.wait_deployed("prod", V2).await;

    // Cycles and missing sources are refused without an AWS call.
    let group = ctx.group.clone();
    ctx.apply_deployment("loop-a", promoted_spec(&ctx, &group, "loop-b", None))
        .await;
    ctx.apply_deployment("loop-b", promoted_spec(&ctx, &group, "loop-a", None))
        .await;
    ctx.apply_deployment("narcissus", promoted_spec(&ctx, &group, "narcissus", None))
        .await;
    ctx.apply_deployment("orphan", promoted_spec(&ctx, &group, "no-such-object", None))
        .await;
    for name in ["loop-a", "loop-b", "narcissus"] {
        let obj = ctx.wait_condition(name, "Stalled", Some("PromotionCycle")).await;
        assert!(
            condition_message(&obj, "Stalled").contains("cycle"),
            "{}",
            condition_message(&obj, "Stalled")
        );
    }
    let obj = ctx.wait_condition("loop-a", "Stalled", Some("PromotionCycle")).await;
    assert!(condition_message(&obj, "Stalled").contains("loop-a → loop-b → loop-a"));
    ctx.wait_condition("orphan", "Stalled", Some("PromotionSourceNotFound"))
        .await;

    let counts = [
        ("dev", created_for(&ctx, "dev", &dev).await),
        ("staging", created_for(&ctx, "staging", staging).await),
        ("prod", created_for(&ctx, "prod", prod).await),
    ];
    let total = creates(&ctx).await;
    println!(
        "promotion: {total} deployments created: {counts:?} (dev: v1, v2 failed, v2 redeployed; staging and prod: v1, v2); cycles: 0"
    );
    assert_eq!(counts, [("dev", 3), ("staging", 2), ("prod", 2)]);
    assert_eq!(total, 7);
}

/// examples/04 is accepted as written (dry run; its namespaced objects in
/// this test's namespace).
#[tokio::test]
async fn the_staging_to_production_example_is_accepted() {
    let ctx = TestCtx::new("example04").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/04-staging-to-production.yaml"
    ))
    .expect("example readable");
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut kinds = Vec::new();
    for doc in text.split("\n---\n") {
        let mut value: Value = serde_norway::from_str(doc).expect("example parses");
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        if kind != "TargetAccount" {
            value["metadata"]["namespace"] = json!(ctx.ns);
        }
        let resource =
            kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("crossdeploy.io", "v1alpha1", &kind));
        let api: kube::Api<kube::api::DynamicObject> = if kind == "TargetAccount" {
            kube::Api::all_with(ctx.client.clone(), &resource)
        } else {
            kube::Api::namespaced_with(ctx.client.clone(), &ctx.ns, &resource)
        };
        let obj: kube::api::DynamicObject = serde_json::from_value(value).expect("an object");
        api.create(&dry_run, &obj)
            .await
            .unwrap_or_else(|e| panic!("examples/04 {kind} refused: {e}"));
        kinds.push(kind);
    }
    assert_eq!(
        kinds,
        [
            "TargetAccount",
            "RevisionSource",
            "CrossAccountDeployment",
            "CrossAccountDeployment"
        ]
    );
}
