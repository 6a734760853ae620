//! Issue 12: a TargetAccount limits what a tenant may choose (deployment
//! configuration, automatic rollback, region), and an ExternalId is only
//! taken from a Secret marked for the purpose. Every refusal names its rule
//! and makes no AWS call.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crossdeploy::api::{HasConditions, TargetAccount};

use crate::env::env;
use crate::harness::*;

fn with(mut spec: Value, extra: Value) -> Value {
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    spec
}

#[tokio::test]
async fn each_tenant_choice_limit_refuses_with_its_rule_named() {
    let mut ctx = TestCtx::new("limits").await;
    ctx.apply_target_account_with(
        &env().role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}}),
        json!({
            "allowedDeploymentConfigs": ["CodeDeployDefault.OneAtATime"],
            "requireAutoRollback": true,
            "allowedRegions": ["eu-*"],
        }),
    )
    .await;
    ctx.start_operator(&[]).await;
    let rollback = json!({"enabled": true, "events": ["DEPLOYMENT_FAILURE"]});
    let one_at_a_time = "CodeDeployDefault.OneAtATime";
    // (object, choices, words the Stalled message must contain)
    let refused = [
        (
            "config",
            json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce", "autoRollback": rollback}),
            "deploymentConfigName \"CodeDeployDefault.AllAtOnce\" is not in allowedDeploymentConfigs",
        ),
        (
            "no-rollback",
            json!({"deploymentConfigName": one_at_a_time}),
            "requireAutoRollback is set, and spec.autoRollback is not set",
        ),
        (
            "rollback-off",
            json!({"autoRollback": {"enabled": false, "events": ["DEPLOYMENT_FAILURE"]}}),
            "requireAutoRollback is set, and spec.autoRollback has enabled: false",
        ),
        (
            "rollback-on-alarm-only",
            json!({"autoRollback": {"enabled": true, "events": ["DEPLOYMENT_STOP_ON_ALARM"]}}),
            "does not list the event DEPLOYMENT_FAILURE",
        ),
        (
            "region",
            json!({"region": "ap-south-1", "autoRollback": rollback}),
            "region \"ap-south-1\" is neither the TargetAccount's region \"us-east-1\" nor in allowedRegions (eu-*)",
        ),
    ];
    for (name, choices, _) in &refused {
        ctx.apply_deployment(name, with(ctx.spec(V1), choices.clone())).await;
    }
    for (name, _, words) in &refused {
        let obj = ctx
            .wait_condition(name, "Stalled", Some("TargetAccountNotPermitted"))
            .await;
        let msg = condition_message(&obj, "Stalled");
        assert!(msg.contains(words), "{name}: {msg}");
        assert!(
            msg.contains(&format!("TargetAccount {:?} refuses", ctx.target)),
            "{msg}"
        );
        let events = ctx.events(name).await;
        assert!(
            events.iter().any(|(r, _)| r == "TargetAccountNotPermitted"),
            "{name}: {events:?}"
        );
    }
    assert!(
        ctx.session_calls().await.is_empty(),
        "a refused choice makes no AWS call, STS included"
    );

    // Within the limits: an allowed configuration, rollback on failure, and
    // the TargetAccount's region (left out, so the group's own config would
    // do as well).
    ctx.apply_deployment(
        "allowed",
        with(
            ctx.spec(V1),
            json!({"deploymentConfigName": one_at_a_time, "autoRollback": rollback}),
        ),
    )
    .await;
    ctx.wait_deployed("allowed", V1).await;
    let created = calls("codedeploy", "CreateDeployment").await;
    let ours: Vec<&Value> = created
        .iter()
        .filter(|c| c["params"]["deploymentGroupName"] == json!(ctx.group))
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "only the allowed deployment reached CodeDeploy: {ours:#?}"
    );
    assert_eq!(ours[0]["params"]["deploymentConfigName"], json!(one_at_a_time));
    ctx.assert_no_secrets_leaked().await;
}

#[tokio::test]
async fn an_unmarked_external_id_secret_is_refused() {
    let mut ctx = TestCtx::new("unmarked").await;
    // The right ExternalId, in the right namespace, without the label.
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.sys_ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "unmarked-external-id"},
        "stringData": {"externalId": env().external_id()},
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
    ctx.apply_target_account_with(
        &env().role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}}),
        json!({"externalIdSecretRef": {"name": "unmarked-external-id"}}),
    )
    .await;
    ctx.start_operator(&[]).await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;

    let obj = ctx
        .wait_condition("web", "Stalled", Some("ExternalIdSecretNotMarked"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    for words in [
        format!("{}/unmarked-external-id", ctx.sys_ns),
        "is not marked for that purpose".to_string(),
        format!(
            "kubectl -n {} label secret unmarked-external-id crossdeploy.io/external-id=true",
            ctx.sys_ns
        ),
    ] {
        assert!(msg.contains(&words), "{words:?} in {msg}");
    }
    // The admin sees it on the TargetAccount too, and nothing went to STS.
    let targets: Api<TargetAccount> = Api::all(ctx.client.clone());
    wait_until("TargetAccount Stalled with ExternalIdSecretNotMarked", || async {
        targets
            .get(&ctx.target)
            .await
            .ok()
            .and_then(|t| t.status)
            .and_then(|s| s.condition("Stalled").cloned())
            .is_some_and(|c| c.status == "True" && c.reason == "ExternalIdSecretNotMarked")
    })
    .await;
    assert!(
        ctx.session_calls().await.is_empty(),
        "an unmarked Secret's content never reaches STS: no call for this tenant"
    );

    // Marking it is the fix; the next reconcile (here woken by an annotation)
    // deploys.
    secrets
        .patch(
            "unmarked-external-id",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"crossdeploy.io/external-id": "true"}}})),
        )
        .await
        .expect("secret labelled");
    ctx.deployments()
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"crossdeploy.io/redeploy": "marked"}}})),
        )
        .await
        .expect("annotated");
    ctx.wait_deployed("web", V1).await;
    ctx.assert_no_secrets_leaked().await;
}
