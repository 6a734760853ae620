//! crossdeploy itself, end to end: guide step 5 through the operator.

use serde_json::json;

use crossdeploy::api::HasConditions;

use crate::env::env;
use crate::harness::*;

fn marker_deployments(infos: &[aws_sdk_codedeploy::types::DeploymentInfo]) -> usize {
    infos
        .iter()
        .filter(|d| d.description().unwrap_or_default().contains("[crossdeploy:"))
        .count()
}

#[tokio::test]
async fn happy_path_update_and_one_assume_role_per_session() {
    let mut ctx = TestCtx::new("happy").await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    let status = obj.status.clone().expect("status");
    assert_eq!(status.observed_generation, obj.metadata.generation);
    assert_eq!(status.account_id.as_deref(), Some("222222222222"));
    let current = status.current_deployment.clone().expect("current deployment");
    assert_eq!(current.status.as_ref().map(|s| s.as_str()), Some("Succeeded"));
    assert_eq!(status.revision.as_ref().map(|r| r.key.as_str()), Some(V1));
    assert!(
        status.revision.as_ref().and_then(|r| r.version_id.as_ref()).is_some(),
        "versionId recorded"
    );
    assert!(
        status.revision.as_ref().and_then(|r| r.e_tag.as_ref()).is_some(),
        "eTag recorded"
    );
    assert_eq!(
        status.last_successful_revision.as_ref().map(|r| r.key.as_str()),
        Some(V1)
    );
    assert!(!status.is_condition_true("Stalled") && !status.is_condition_true("Reconciling"));

    let infos = ctx.group_deployments().await;
    assert_eq!(infos.len(), 1, "exactly one deployment in the production group");
    assert_eq!(infos[0].deployment_id(), Some(current.id.as_str()));
    let dev_creates = calls("codedeploy", "CreateDeployment")
        .await
        .iter()
        .filter(|c| c["account"] == json!("111111111111"))
        .count();
    assert_eq!(dev_creates, 0, "nothing is deployed in the development account");

    // A second object in the namespace reuses the cached session.
    ctx.apply_deployment("web-again", ctx.spec(V1)).await;

    // New revision: exactly one more deployment for it.
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    ctx.wait_deployed("web", V2).await;
    ctx.wait_condition("web-again", "Ready", Some("Succeeded")).await;
    let obj = ctx.deployments().get("web").await.expect("get");
    let status = obj.status.expect("status");
    assert_eq!(status.history.len(), 2, "history keeps both deployments");
    assert_eq!(status.last_successful_revision.map(|r| r.key), Some(V2.to_string()));
    let owner = crossdeploy::deployment::Owner::new(&ctx.ns, "web", &obj.metadata.uid.clone().unwrap_or_default());
    let count_ours = |infos: Vec<aws_sdk_codedeploy::types::DeploymentInfo>| {
        infos
            .iter()
            .filter(|d| owner.owns(d.description().unwrap_or_default()))
            .count()
    };
    assert_eq!(
        count_ours(ctx.group_deployments().await),
        2,
        "one deployment per desired revision"
    );

    // Back to v1 (a GitOps revert): the old v1 deployment carries the same
    // marker but is not what runs now, so exactly one new one is created.
    let v2_id = status.current_deployment.map(|c| c.id).unwrap_or_default();
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    wait_until("v1 deployed again", || async {
        ctx.deployments()
            .get("web")
            .await
            .ok()
            .and_then(|o| o.status)
            .is_some_and(|s| {
                s.revision.as_ref().map(|r| r.key.as_str()) == Some(V1)
                    && s.current_deployment
                        .as_ref()
                        .is_some_and(|c| c.id != v2_id && c.status.as_ref().map(|s| s.as_str()) == Some("Succeeded"))
            })
    })
    .await;
    assert_eq!(
        count_ours(ctx.group_deployments().await),
        3,
        "the revert deployed v1 once more"
    );

    // Two objects, four deployments, many reconciles: one AssumeRole.
    assert_eq!(
        ctx.assume_role_calls().await,
        1,
        "STS is called once per role per session"
    );

    // A restarted operator finds everything settled: no new deployment and
    // no AWS call at all (finished deployments are read from status).
    let calls_before = ctx.session_calls().await.len();
    ctx.stop_operator().await;
    ctx.start_operator(&[]).await;
    ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(marker_deployments(&ctx.group_deployments().await), 4);
    assert_eq!(
        ctx.session_calls().await.len(),
        calls_before,
        "settled objects cost no AWS calls"
    );
    let events = ctx.events("web").await;
    assert!(events.iter().any(|(r, _)| r == "DeploymentCreated"), "{events:?}");
    assert!(events.iter().any(|(r, _)| r == "Succeeded"), "{events:?}");
    ctx.assert_no_secrets_leaked().await;
}

#[tokio::test]
async fn failed_deployment_is_stalled_with_codedeploy_error() {
    let mut ctx = TestCtx::new("failed").await;
    ctx.set_behaviour(json!({"mode": "fail", "errorCode": "HEALTH_CONSTRAINTS", "errorMessage": "The overall deployment failed because too many individual instances failed deployment"})).await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_condition("web", "Stalled", Some("DeploymentFailed")).await;
    let status = obj.status.expect("status");
    let c = status.condition("Stalled").expect("Stalled");
    assert!(c.message.contains("HEALTH_CONSTRAINTS"), "{}", c.message);
    assert!(
        c.message.contains("too many individual instances failed"),
        "{}",
        c.message
    );
    let current = status.current_deployment.expect("current");
    assert_eq!(current.error_code.as_deref(), Some("HEALTH_CONSTRAINTS"));
    assert!(status.last_successful_revision.is_none());
    // A failed deployment is not retried by itself.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(ctx.group_deployments().await.len(), 1);
    let events = ctx.events("web").await;
    assert!(events.iter().any(|(r, _)| r == "DeploymentFailed"), "{events:?}");
    ctx.assert_no_secrets_leaked().await;
}

async fn start_foreign_deployment(ctx: &TestCtx) -> String {
    ctx.set_behaviour(json!({"mode": "hold"})).await;
    let id = ctx.deploy_by_hand(V1, "someone else's deployment").await;
    ctx.set_behaviour(json!({"mode": "succeed"})).await;
    id
}

#[tokio::test]
async fn waits_behind_an_active_deployment() {
    let mut ctx = TestCtx::new("wait").await;
    let foreign = start_foreign_deployment(&ctx).await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    let obj = ctx
        .wait_condition("web", "Reconciling", Some("WaitingForActiveDeployment"))
        .await;
    let msg = condition_message(&obj, "Reconciling");
    assert!(msg.contains(&foreign), "the blocking deployment is named: {msg}");
    assert_eq!(ctx.group_deployments().await.len(), 1, "nothing created while waiting");
    ctx.complete(&foreign, "Succeeded").await;
    ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    assert_eq!(ctx.group_deployments().await.len(), 2);
}

#[tokio::test]
async fn stop_and_replace_stops_the_active_deployment() {
    let mut ctx = TestCtx::new("replace").await;
    let foreign = start_foreign_deployment(&ctx).await;
    ctx.start_operator(&[]).await;
    let mut spec = ctx.spec(V2);
    spec["onActiveDeployment"] = json!("StopAndReplace");
    ctx.apply_deployment("web", spec).await;
    ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    let infos = ctx.group_deployments().await;
    let foreign_status = infos
        .iter()
        .find(|d| d.deployment_id() == Some(foreign.as_str()))
        .and_then(|d| d.status())
        .map(|s| s.as_str().to_string());
    assert_eq!(foreign_status.as_deref(), Some("Stopped"));
    assert_eq!(marker_deployments(&infos), 1);
    let events = ctx.events("web").await;
    assert!(
        events.iter().any(|(r, _)| r == "ReplacingActiveDeployment"),
        "{events:?}"
    );
}

#[tokio::test]
async fn delete_with_stop_in_flight_stops_the_deployment() {
    let mut ctx = TestCtx::new("delete").await;
    ctx.set_behaviour(json!({"mode": "hold"})).await;
    ctx.start_operator(&[]).await;
    let mut spec = ctx.spec(V1);
    spec["deletionPolicy"] = json!("StopInFlight");
    ctx.apply_deployment("web", spec).await;
    let obj = ctx
        .wait_condition("web", "Reconciling", Some("DeploymentInProgress"))
        .await;
    let id = obj
        .status
        .and_then(|s| s.current_deployment)
        .map(|c| c.id)
        .expect("deployment id");
    ctx.delete("web").await;
    wait_until("object deleted", || async {
        ctx.deployments().get_opt("web").await.ok().flatten().is_none()
    })
    .await;
    let infos = ctx.group_deployments().await;
    let status = infos
        .iter()
        .find(|d| d.deployment_id() == Some(id.as_str()))
        .and_then(|d| d.status())
        .map(|s| s.as_str().to_string());
    assert_eq!(status.as_deref(), Some("Stopped"));
}

#[tokio::test]
async fn each_broken_guide_step_has_its_own_reason() {
    let env = env();
    let mut ctx = TestCtx::new("reasons").await;
    ctx.start_operator(&[]).await;

    let mut missing_group = ctx.spec(V1);
    missing_group["deploymentGroupName"] = json!("no-such-group");
    ctx.apply_deployment("missing-group", missing_group).await;

    // Guide step 2 broken: a bucket with no policy grants the production
    // instance profile nothing.
    let mut unreadable = ctx.spec(V1);
    unreadable["revision"]["s3"]["bucket"] = json!(env.world["buckets"]["revisionsNoGrant"]["name"]);
    ctx.apply_deployment("unreadable", unreadable).await;

    ctx.apply_deployment("missing-object", ctx.spec("webapp/webapp-9.9.9.zip"))
        .await;

    let obj = ctx
        .wait_condition("missing-group", "Stalled", Some("DeploymentGroupNotFound"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    assert!(msg.contains("no-such-group") && msg.contains("step 3"), "{msg}");
    let obj = ctx
        .wait_condition("unreadable", "Stalled", Some("BucketPolicyMissingGrant"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    for expected in [
        "step 2",
        "bucket policy",
        r#""Sid": "Cross-account permissions""#,
        &env.role("instanceRole"),
    ] {
        assert!(msg.contains(expected), "{expected} missing from: {msg}");
    }
    ctx.wait_condition("missing-object", "Stalled", Some("RevisionNotFound"))
        .await;
    assert!(ctx.group_deployments().await.is_empty());

    // Wrong ExternalId: same role, the Secret holds another value.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(ctx.client.clone(), &ctx.sys_ns);
    secrets
        .patch(
            "prod-external-id",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"stringData": {"externalId": "wrong-external-id"}})),
        )
        .await
        .expect("secret patched");
    ctx.stop_operator().await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("wrong-external-id", ctx.spec(V1)).await;
    let obj = ctx
        .wait_condition("wrong-external-id", "Stalled", Some("AssumeRoleDenied"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    assert!(msg.contains("ExternalId"), "{msg}");
    ctx.assert_no_secrets_leaked().await;
}

#[tokio::test]
async fn namespaces_outside_the_selector_make_no_aws_calls() {
    let mut ctx = TestCtx::new("tenancy").await;
    ctx.apply_target_account(
        &env().role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": "someone-else"}}),
    )
    .await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx
        .wait_condition("web", "Stalled", Some("TargetAccountNotPermitted"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    assert!(msg.contains(&ctx.ns), "{msg}");
    assert!(
        ctx.session_calls().await.is_empty(),
        "no AWS call is made for a refused namespace"
    );

    // The admin widens the selector: it takes effect without a restart.
    ctx.apply_target_account(
        &env().role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}}),
    )
    .await;
    ctx.wait_condition("web", "Ready", Some("Succeeded")).await;

    // Revocation by relabelling the namespace takes effect too: a new
    // revision is refused, and nothing is sent to AWS for it.
    ctx.apply_target_account(
        &env().role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns, "crossdeploy.io/tier": "prod"}}),
    )
    .await;
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    ctx.wait_condition("web", "Stalled", Some("TargetAccountNotPermitted"))
        .await;
    let calls_while_refused = ctx.session_calls().await.len();
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(ctx.client.clone());
    namespaces
        .patch(
            &ctx.ns,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"labels": {"crossdeploy.io/tier": "prod"}}})),
        )
        .await
        .expect("namespace relabelled");
    let obj = ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    assert_eq!(obj.status.and_then(|s| s.revision).map(|r| r.key), Some(V2.to_string()));
    assert!(
        ctx.session_calls().await.len() > calls_while_refused,
        "access resumed after the relabel"
    );
}

#[tokio::test]
async fn a_role_without_codedeploy_permissions_is_codedeploy_access_denied() {
    let mut ctx = TestCtx::new("no-codedeploy").await;
    ctx.apply_target_account(
        &env().role("noCodeDeploy"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}}),
    )
    .await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx
        .wait_condition("web", "Stalled", Some("CodeDeployAccessDenied"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    assert!(
        msg.contains("AWSCodeDeployDeployerAccess") && msg.contains("CrossDeployNoCodeDeploy"),
        "{msg}"
    );
    assert!(ctx.group_deployments().await.is_empty());
}

#[tokio::test]
async fn crash_between_create_and_status_write_still_deploys_once() {
    let mut ctx = TestCtx::new("crash").await;
    ctx.start_operator(&["--test-crash-after-create"]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    assert_eq!(
        ctx.operator_exit_code().await,
        Some(86),
        "the operator died at the crash point"
    );
    let obj = ctx.deployments().get("web").await.expect("get");
    assert!(
        obj.status
            .as_ref()
            .and_then(|s| s.current_deployment.as_ref())
            .is_none(),
        "the crash happened before the deployment id reached status"
    );
    assert_eq!(ctx.group_deployments().await.len(), 1);

    ctx.start_operator(&[]).await;
    let obj = ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    let infos = ctx.group_deployments().await;
    assert_eq!(infos.len(), 1, "exactly one deployment after the restart");
    assert_eq!(
        obj.status.and_then(|s| s.current_deployment).map(|c| c.id),
        infos[0].deployment_id().map(str::to_string),
        "status tracks the deployment created before the crash"
    );
}

#[tokio::test]
async fn a_superseded_deployment_is_followed_to_its_end() {
    let mut ctx = TestCtx::new("superseded").await;
    ctx.set_behaviour(json!({"mode": "hold"})).await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx
        .wait_condition("web", "Reconciling", Some("DeploymentInProgress"))
        .await;
    let v1_id = obj
        .status
        .and_then(|s| s.current_deployment)
        .map(|c| c.id)
        .expect("v1 deployment");

    // v2 is wanted while v1 still runs: wait behind it, and keep following v1.
    ctx.set_behaviour(json!({"mode": "succeed"})).await;
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    let obj = ctx
        .wait_condition("web", "Reconciling", Some("WaitingForActiveDeployment"))
        .await;
    let status = obj.status.expect("status");
    assert_eq!(
        status.current_deployment.map(|c| c.id),
        Some(v1_id.clone()),
        "v1 is still shown while it runs"
    );

    ctx.complete(&v1_id, "Succeeded").await;
    ctx.wait_deployed("web", V2).await;
    let status = ctx.deployments().get("web").await.expect("get").status.expect("status");
    let history: Vec<(String, String, String)> = status
        .history
        .iter()
        .map(|h| (h.deployment_id.clone(), h.status.to_string(), h.revision_key.clone()))
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        history[1],
        (v1_id, "Succeeded".to_string(), V1.to_string()),
        "v1's end is recorded with its revision"
    );
    assert_eq!(history[0].2, V2);
    assert_eq!(ctx.group_deployments().await.len(), 2);
}

#[tokio::test]
async fn a_deployment_replaced_by_hand_is_reported_and_can_be_redeployed() {
    let mut ctx = TestCtx::new("drift").await;
    ctx.start_operator(&["--drift-check-seconds", "2"]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_deployed("web", V1).await;
    let ours = obj
        .status
        .and_then(|s| s.current_deployment)
        .map(|c| c.id)
        .expect("ours");

    // Someone deploys another revision into the group by hand.
    let foreign = ctx.deploy_by_hand(V2, "hotfix by hand").await;
    let obj = ctx.wait_condition("web", "Stalled", Some("DeploymentReplaced")).await;
    let msg = condition_message(&obj, "Stalled");
    assert!(msg.contains(&foreign) && msg.contains(&ours), "{msg}");

    // The redeploy annotation deploys the desired revision once more.
    wait_until("the manual deployment finished", || async {
        ctx.group_deployments()
            .await
            .iter()
            .any(|d| d.deployment_id() == Some(foreign.as_str()) && d.status().map(|s| s.as_str()) == Some("Succeeded"))
    })
    .await;
    ctx.deployments()
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"annotations": {"crossdeploy.io/redeploy": "after-hotfix"}}})),
        )
        .await
        .expect("annotate");
    wait_until("v1 redeployed", || async {
        ctx.deployments()
            .get("web")
            .await
            .ok()
            .and_then(|o| o.status)
            .is_some_and(|s| {
                s.is_condition_true("Ready")
                    && s.current_deployment
                        .as_ref()
                        .is_some_and(|c| c.id != ours && c.status.as_ref().map(|s| s.as_str()) == Some("Succeeded"))
            })
    })
    .await;
    assert_eq!(ctx.group_deployments().await.len(), 3);
}
