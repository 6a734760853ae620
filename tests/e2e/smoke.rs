//! The environment is real: the API server serves CRDs with admission and
//! the status subresource; the emulator enforces trust policies and runs the
//! CodeDeploy lifecycle.

use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crossdeploy::api::CrossAccountDeployment;

use crate::harness::*;

#[tokio::test]
async fn apiserver_serves_crds_with_admission_watch_and_status() {
    let ctx = TestCtx::new("smoke-k8s").await;
    let api = ctx.deployments();

    // Admission rejects bad input with a message naming the field.
    let mut bad = ctx.spec(V1);
    bad["revision"]["s3"]["bucket"] = json!("Not_A_Bucket");
    let obj: CrossAccountDeployment = serde_json::from_value(json!({
        "apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
        "metadata": {"name": "bad"}, "spec": bad,
    }))
    .expect("object");
    let err = api
        .create(&PostParams::default(), &obj)
        .await
        .expect_err("invalid bucket is rejected");
    assert!(err.to_string().contains("bucket"), "{err}");
    let mut no_bundle = ctx.spec("webapp/bundle.bin");
    no_bundle["revision"]["s3"]["key"] = json!("webapp/bundle.bin");
    let obj: CrossAccountDeployment = serde_json::from_value(json!({
        "apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
        "metadata": {"name": "bad2"}, "spec": no_bundle,
    }))
    .expect("object");
    let err = api
        .create(&PostParams::default(), &obj)
        .await
        .expect_err("unknown extension without bundleType is rejected");
    assert!(err.to_string().contains("bundleType"), "{err}");

    // Create, watch and patch the status subresource of a valid object.
    let watch = watcher(api.clone(), watcher::Config::default().fields("metadata.name=good")).applied_objects();
    let mut watch = Box::pin(watch);
    ctx.apply_deployment("good", ctx.spec(V1)).await;
    let seen = tokio::time::timeout(Duration::from_secs(30), watch.try_next())
        .await
        .expect("watch event in time")
        .expect("watch ok")
        .expect("an object");
    assert_eq!(
        seen.spec
            .revision
            .as_ref()
            .and_then(|r| r.s3.as_ref())
            .map(|s| s.key.as_str()),
        Some(V1)
    );
    let patch = json!({"apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
        "status": {"observedGeneration": 1, "accountId": "222222222222"}});
    api.patch_status("good", &PatchParams::apply("smoke").force(), &Patch::Apply(&patch))
        .await
        .expect("status patch");
    let got = api.get("good").await.expect("get");
    assert_eq!(got.status.and_then(|s| s.account_id).as_deref(), Some("222222222222"));
    assert_eq!(
        got.spec.revision.and_then(|r| r.s3).map(|s| s.key),
        Some(V1.to_string()),
        "status patch leaves spec alone"
    );
}

#[tokio::test]
async fn assume_role_is_checked_against_the_trust_policy_and_external_id() {
    let env = crate::env::env();
    let sts = aws_sdk_sts::Client::new(&aws_config("operator"));
    let ok = sts
        .assume_role()
        .role_arn(env.role("deployer"))
        .role_session_name("smoke")
        .external_id(env.external_id())
        .send()
        .await
        .expect("AssumeRole with the right ExternalId");
    let creds = ok.credentials().expect("credentials");
    let assumed = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(env.endpoint())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_string()),
                None,
                "smoke",
            ),
        ))
        .build();
    let who = aws_sdk_sts::Client::new(&assumed)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(who.account(), Some("222222222222"));
    assert!(
        who.arn()
            .unwrap_or_default()
            .contains(":assumed-role/CrossDeployDeployer/smoke")
    );

    let wrong = sts
        .assume_role()
        .role_arn(env.role("deployer"))
        .role_session_name("smoke")
        .external_id("not-the-external-id")
        .send()
        .await
        .expect_err("wrong ExternalId is denied");
    let code = aws_sdk_sts::error::ProvideErrorMetadata::code(&wrong).map(str::to_string);
    assert_eq!(code.as_deref(), Some("AccessDenied"), "{wrong:?}");

    let untrusted = sts
        .assume_role()
        .role_arn(env.role("untrusted"))
        .role_session_name("smoke")
        .external_id(env.external_id())
        .send()
        .await
        .expect_err("a role that does not trust the operator is denied");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&untrusted),
        Some("AccessDenied")
    );
}

#[tokio::test]
async fn codedeploy_lifecycle_and_one_active_deployment_per_group() {
    let ctx = TestCtx::new("smoke-cd").await;
    let cd = ctx.codedeploy_admin();
    let create = || {
        cd.create_deployment()
            .application_name(app())
            .deployment_group_name(&ctx.group)
            .revision(s3_location(V1))
            .send()
    };
    let first = create().await.expect("CreateDeployment").deployment_id.expect("id");
    wait_until("first deployment Succeeded", || async {
        let d = cd
            .get_deployment()
            .deployment_id(&first)
            .send()
            .await
            .expect("GetDeployment");
        d.deployment_info
            .and_then(|i| i.status)
            .map(|s| s.as_str().to_string())
            .as_deref()
            == Some("Succeeded")
    })
    .await;

    ctx.set_behaviour(json!({"mode": "hold"})).await;
    let held = create().await.expect("CreateDeployment").deployment_id.expect("id");
    let err = create().await.expect_err("second active deployment is refused");
    let code = aws_sdk_codedeploy::error::ProvideErrorMetadata::code(&err).map(str::to_string);
    let message = aws_sdk_codedeploy::error::ProvideErrorMetadata::message(&err).map(str::to_string);
    assert_eq!(code.as_deref(), Some("DeploymentLimitExceededException"));
    assert!(message.unwrap_or_default().contains(&held), "the active id is named");
    ctx.complete(&held, "Succeeded").await;
}

/// The create intent is written with the resourceVersion the decision was made
/// from (`runtime::reconcile::write_status_if_current`), so that a cache behind
/// the operator's own last write cannot send a second CreateDeployment. That
/// rests on the API server refusing a server-side apply of status whose
/// resourceVersion is not current: checked here on the real one.
#[tokio::test]
async fn status_apply_from_an_old_copy_is_refused() {
    let ctx = TestCtx::new("smoke-stale").await;
    let api = ctx.deployments();
    ctx.apply_deployment("stale", ctx.spec(V1)).await;
    let copy = api.get("stale").await.expect("object");
    let version = copy.metadata.resource_version.clone().expect("resourceVersion");
    let intent = |digest: &str| {
        json!({
            "apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
            "metadata": {"resourceVersion": version},
            "status": {"observedGeneration": 1, "createIntent": {"digest": digest, "time": "2026-01-01T00:00:00Z"}},
        })
    };
    let params = PatchParams::apply("crossdeploy").force();
    api.patch_status("stale", &params, &Patch::Apply(&intent("first")))
        .await
        .expect("written on top of the current version");
    let err = api
        .patch_status("stale", &params, &Patch::Apply(&intent("second")))
        .await
        .expect_err("the same copy is now old");
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 409), "{err}");
    let now = api.get("stale").await.expect("object");
    let kept = now.status.and_then(|s| s.create_intent).map(|i| i.digest);
    assert_eq!(kept.as_deref(), Some("first"), "the first intent is kept");
}
