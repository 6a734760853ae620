//! allowedRevisionBuckets: no identity reads, for a tenant, a revision its
//! TargetAccount does not list — not the operator's own (which can read the
//! whole revisions bucket), not the cross-account role.

use serde_json::{Value, json};

use crate::env::env;
use crate::harness::*;

fn s3_calls_for(all: &[Value], key_or_prefix: &str) -> usize {
    all.iter()
        .filter(|c| {
            c["service"] == json!("s3")
                && [&c["params"]["Key"], &c["params"]["Prefix"]]
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s.starts_with(key_or_prefix)))
        })
        .count()
}

#[tokio::test]
async fn a_tenant_cannot_name_another_teams_revisions() {
    let mut ctx = TestCtx::new("buckets").await;
    let bucket = revisions_bucket();
    let own = format!("{}/", ctx.ns);
    let theirs = format!("{}-other-team/", ctx.ns);
    ctx.apply_target_account_with(
        &env().role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}}),
        json!({"allowedRevisionBuckets": [{"bucket": bucket, "keys": [format!("{own}*")]}]}),
    )
    .await;
    ctx.start_operator(&[]).await;

    // Another team's object, named inline and through a RevisionSource.
    let mut spec = ctx.spec(V1);
    spec["revision"]["s3"]["key"] = json!(format!("{theirs}webapp-1.0.0.zip"));
    ctx.apply_deployment("theirs", spec).await;
    let obj = ctx
        .wait_condition("theirs", "Stalled", Some("TargetAccountNotPermitted"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    assert!(msg.contains("allowedRevisionBuckets") && msg.contains(&theirs), "{msg}");
    let source = json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "RevisionSource",
        "metadata": {"name": "theirs"},
        "spec": {"s3": {"bucket": bucket, "prefix": theirs}, "verifyFor": [{"name": ctx.target}], "interval": 10},
    });
    kube::Api::<crossdeploy::api::RevisionSource>::namespaced(ctx.client.clone(), &ctx.ns)
        .patch(
            "theirs",
            &kube::api::PatchParams::apply("e2e").force(),
            &kube::api::Patch::Apply(&source),
        )
        .await
        .expect("source applied");

    // Its own prefix deploys: the operator's identity reads what is listed.
    let mut spec = ctx.spec(V1);
    let own_key = format!("{own}webapp-1.0.0.zip");
    upload_copy_of_v1(&bucket, &own_key).await;
    spec["revision"]["s3"]["key"] = json!(own_key);
    ctx.apply_deployment("own", spec).await;
    ctx.wait_deployed("own", &own_key).await;
    wait_until("the source is refused", || async {
        let s = kube::Api::<crossdeploy::api::RevisionSource>::namespaced(ctx.client.clone(), &ctx.ns)
            .get("theirs")
            .await
            .expect("source");
        s.status
            .and_then(|st| st.conditions.into_iter().find(|c| c.type_ == "Stalled"))
            .is_some_and(|c| c.status == "True" && c.reason == "TargetAccountNotPermitted")
    })
    .await;

    let all = control("GET", "/calls?service=s3", None).await;
    let all = all.as_array().cloned().unwrap_or_default();
    assert_eq!(
        s3_calls_for(&all, &theirs),
        0,
        "no identity touched another team's revisions"
    );
    assert!(s3_calls_for(&all, &own) >= 1, "the allowed revision was looked at");
}

/// A copy of the seeded v1 bundle under another key, uploaded by dev-admin.
async fn upload_copy_of_v1(bucket: &str, key: &str) {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws_config("devAdmin"))
            .force_path_style(true)
            .build(),
    );
    s3.copy_object()
        .bucket(bucket)
        .key(key)
        .copy_source(format!("{bucket}/{V1}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("copying {V1} to {key}: {e:?}"));
}
