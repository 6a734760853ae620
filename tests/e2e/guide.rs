//! The guide to the letter, and CodeDeploy as it really behaves: the
//! emulator's revisions bucket grants only the production instance profile
//! (guide step 2), CodeDeploy starts deployments of its own (scale-out,
//! rollbacks), blue/green deployments wait for traffic to be rerouted, and
//! objects are deleted and created again.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;

use crossdeploy::api::{BucketPolicyGrant, CrossAccountDeployment, HasConditions};

use crate::env::env;
use crate::harness::*;

fn bucket(name: &str) -> String {
    env().world["buckets"][name]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn current_id(obj: &CrossAccountDeployment) -> String {
    obj.status
        .as_ref()
        .and_then(|s| s.current_deployment.as_ref())
        .map(|c| c.id.clone())
        .unwrap_or_default()
}

/// Guide step 2 exactly as written: the operator's own identity confirms the
/// object and reads the bucket policy; the cross-account role, which the
/// bucket does not grant, is not needed.
#[tokio::test]
async fn the_guides_bucket_policy_deploys_exactly_once() {
    let mut ctx = TestCtx::new("guide").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_deployed("web", V1).await;
    let check = obj
        .status
        .as_ref()
        .and_then(|s| s.revision_check.clone())
        .expect("revision check in status");
    assert_eq!(check.read_by.as_deref(), Some("the operator's own identity"));
    assert_eq!(check.bucket_policy, BucketPolicyGrant::Granted);
    assert!(check.notes.is_empty(), "{:?}", check.notes);
    assert_eq!(ctx.group_deployments().await.len(), 1, "exactly one deployment");
    ctx.assert_no_secrets_leaked().await;
}

/// A policy whose grant carries a Condition, and an SSE-KMS object, cannot
/// be judged offline: crossdeploy deploys and says so, in the condition and
/// in one Warning Event.
#[tokio::test]
async fn what_cannot_be_determined_is_said_and_never_stops_a_deployment() {
    let mut ctx = TestCtx::new("undetermined").await;
    let group_b = format!("{}-kms", ctx.group);
    ctx.create_group(&group_b).await;
    ctx.start_operator(&[]).await;
    let mut conditional = ctx.spec(V1);
    conditional["revision"]["s3"]["bucket"] = json!(bucket("revisionsConditional"));
    ctx.apply_deployment("conditional", conditional).await;
    let mut kms = ctx.spec("webapp/webapp-kms-1.0.0.zip");
    kms["deploymentGroupName"] = json!(group_b);
    ctx.apply_deployment("kms", kms).await;

    let obj = ctx.wait_condition("conditional", "Ready", Some("Succeeded")).await;
    let msg = condition_message(&obj, "Ready");
    assert!(msg.contains("Note:") && msg.contains("Condition"), "{msg}");
    let check = obj.status.and_then(|s| s.revision_check).expect("check");
    assert_eq!(check.bucket_policy, BucketPolicyGrant::Undetermined);
    let events = ctx.events("conditional").await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "CheckUndetermined" && note.contains("guide step 2")),
        "{events:?}"
    );

    let obj = ctx.wait_condition("kms", "Ready", Some("Succeeded")).await;
    let msg = condition_message(&obj, "Ready");
    assert!(msg.contains("kms:Decrypt") && msg.contains("arn:aws:kms:"), "{msg}");
}

/// Auto Scaling deploys the group's last successful revision to new
/// instances: that is not drift, and the object stays Ready.
#[tokio::test]
async fn a_scale_out_after_success_is_not_drift() {
    let mut ctx = TestCtx::new("scaleout").await;
    ctx.start_operator(&["--drift-check-seconds", "1"]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_deployed("web", V1).await;
    let ours = current_id(&obj);
    let scale_out = ctx.scale_out().await;
    let drift_checked = |o: &CrossAccountDeployment| o.status.as_ref().and_then(|s| s.last_drift_check_time.clone());
    let before = drift_checked(&obj);
    // Wake the object (an annotation change) after the scale-out finished.
    tokio::time::sleep(Duration::from_secs(3)).await;
    annotate(&ctx, "web", "crossdeploy.io/poke", "1").await;
    wait_until("a drift check after the scale-out", || async {
        let o = ctx.deployments().get("web").await.expect("get");
        drift_checked(&o) != before
    })
    .await;
    let obj = ctx.deployments().get("web").await.expect("get");
    assert!(obj.status.as_ref().is_some_and(|s| s.is_condition_true("Ready")));
    assert_eq!(current_id(&obj), ours);
    let replaced = obj
        .status
        .and_then(|s| s.current_deployment)
        .and_then(|c| c.replaced_by);
    assert_eq!(replaced, None, "scale-out {scale_out} is CodeDeploy's own, not drift");
}

/// StopAndReplace never stops a deployment CodeDeploy started itself: it
/// waits for the scale-out, then deploys.
#[tokio::test]
async fn stop_and_replace_waits_for_codedeploys_own_deployments() {
    let mut ctx = TestCtx::new("replace-asg").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    ctx.wait_deployed("web", V1).await;
    // The scale-out runs for a while, as on a real fleet.
    ctx.set_behaviour(json!({"completeAfterSeconds": 8})).await;
    let scale_out = ctx.scale_out().await;
    let mut spec = ctx.spec(V2);
    spec["onActiveDeployment"] = json!("StopAndReplace");
    ctx.apply_deployment("web", spec).await;
    let obj = ctx
        .wait_condition("web", "Reconciling", Some("WaitingForActiveDeployment"))
        .await;
    let msg = condition_message(&obj, "Reconciling");
    assert!(msg.contains(&scale_out) && msg.contains("autoscaling"), "{msg}");
    ctx.wait_deployed("web", V2).await;
    let stops = calls("codedeploy", "StopDeployment").await;
    assert!(
        stops.iter().all(|c| c["params"]["deploymentId"] != json!(scale_out)),
        "CodeDeploy's own deployment is never stopped: {stops:?}"
    );
    let ours = ctx
        .group_deployments()
        .await
        .iter()
        .filter(|d| d.description().unwrap_or_default().contains("[crossdeploy:"))
        .count();
    assert_eq!(ours, 2, "one deployment per desired revision");
}

/// A failed deployment with automatic rollback: the rollback is followed
/// to its end and reported.
#[tokio::test]
async fn a_rollback_of_our_deployment_is_followed_and_reported() {
    let mut ctx = TestCtx::new("rollback").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    ctx.wait_deployed("web", V1).await;
    ctx.set_behaviour(json!({"mode": "fail"})).await;
    let mut spec = ctx.spec(V2);
    spec["autoRollback"] = json!({"enabled": true, "events": ["DEPLOYMENT_FAILURE"]});
    ctx.apply_deployment("web", spec).await;
    let rolled_back = |o: &CrossAccountDeployment| condition_message(o, "Stalled").contains("which succeeded");
    wait_until("the rollback reported as succeeded", || async {
        let o = ctx.deployments().get("web").await.expect("get");
        rolled_back(&o)
    })
    .await;
    let obj = ctx.deployments().get("web").await.expect("get");
    let msg = condition_message(&obj, "Stalled");
    let current = obj
        .status
        .as_ref()
        .and_then(|s| s.current_deployment.clone())
        .expect("current");
    let rollback = current.rollback_deployment_id.clone().expect("rollback id");
    assert!(
        obj.status
            .as_ref()
            .is_some_and(|s| s.condition("Stalled").is_some_and(|c| c.reason == "DeploymentFailed"))
    );
    assert!(
        msg.contains(&rollback) && msg.contains(&format!("rolled it back to {V1}")),
        "{msg}"
    );
    assert_eq!(
        current.rollback_status.map(|s| s.to_string()).as_deref(),
        Some("Succeeded")
    );
    assert_eq!(current.rollback_revision_key.as_deref(), Some(V1));
}

/// A blue/green deployment waiting in Ready says what a person does next;
/// continuing it in CodeDeploy finishes it.
#[tokio::test]
async fn a_blue_green_deployment_reports_that_it_waits_for_traffic() {
    let mut ctx = TestCtx::new("bluegreen").await;
    ctx.group = format!("{}-bg", ctx.group);
    ctx.create_blue_green_group(&ctx.group).await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx
        .wait_condition("web", "Reconciling", Some("WaitingForTrafficReroute"))
        .await;
    let msg = condition_message(&obj, "Reconciling");
    let id = current_id(&obj);
    assert!(msg.contains("continue-deployment") && msg.contains(&id), "{msg}");
    ctx.codedeploy_admin()
        .continue_deployment()
        .deployment_id(&id)
        .send()
        .await
        .expect("ContinueDeployment");
    ctx.wait_deployed("web", V1).await;
}

/// Argo CD Replace, a cluster migration or a backup restore: the same spec
/// applied again adopts what it deployed and creates nothing.
#[tokio::test]
async fn a_recreated_object_adopts_its_deployment() {
    let mut ctx = TestCtx::new("recreate").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let first = current_id(&ctx.wait_deployed("web", V1).await);
    ctx.delete("web").await;
    wait_until("the object is gone", || async {
        ctx.deployments().get_opt("web").await.ok().flatten().is_none()
    })
    .await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let again = ctx.wait_deployed("web", V1).await;
    assert_eq!(current_id(&again), first, "the running deployment is adopted");
    assert_eq!(ctx.group_deployments().await.len(), 1, "zero new deployments");
}

/// The marker is the operator's alone: admission refuses it in the text.
#[tokio::test]
async fn a_forged_marker_in_the_description_is_refused_at_admission() {
    let ctx = TestCtx::new("forged").await;
    let mut spec = ctx.spec(V1);
    spec["description"] = json!("release [crossdeploy:o0123456789abcdef:c98629db229feae8]");
    let obj = json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "CrossAccountDeployment",
        "metadata": {"name": "forged"},
        "spec": spec,
    });
    let err = ctx
        .deployments()
        .patch("forged", &PatchParams::apply("e2e").force(), &Patch::Apply(&obj))
        .await
        .expect_err("a forged marker is refused");
    assert!(err.to_string().contains("description"), "{err}");
}

async fn annotate(ctx: &TestCtx, name: &str, key: &str, value: &str) {
    ctx.deployments()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotated");
}
