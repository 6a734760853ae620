//! RevisionSource end to end: guide steps 1, 2 and 4 watched continuously,
//! and a new upload delivered as exactly one new deployment.
//!
//! Every test uploads its own objects under `<namespace>/` (as dev-admin), so
//! tests share the buckets but never an object.

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crossdeploy::api::{BucketPolicyGrant, HasConditions, RevisionSource};

use crate::env::env;
use crate::harness::*;

/// The shortest interval the CRD allows: keeps the tests quick.
const INTERVAL: i64 = 10;

fn sources(ctx: &TestCtx) -> Api<RevisionSource> {
    Api::namespaced(ctx.client.clone(), &ctx.ns)
}

async fn apply_source(ctx: &TestCtx, name: &str, spec: Value) {
    let obj = json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "RevisionSource",
        "metadata": {"name": name},
        "spec": spec,
    });
    sources(ctx)
        .patch(
            name,
            &PatchParams::apply("crossdeploy-e2e").force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("applying RevisionSource {name}: {e}"));
}

/// Waits until condition `type_` of the source has `reason` (any status:
/// a suspended source reports Ready=False with reason Suspended).
async fn wait_source(ctx: &TestCtx, name: &str, type_: &str, reason: &str) -> RevisionSource {
    wait_source_until(ctx, name, &format!("{type_}/{reason}"), |s| {
        s.status
            .as_ref()
            .and_then(|st| st.condition(type_))
            .is_some_and(|c| c.reason == reason && (c.status == "True" || reason == "Suspended"))
    })
    .await
}

async fn wait_source_until(
    ctx: &TestCtx,
    name: &str,
    what: &str,
    check: impl Fn(&RevisionSource) -> bool,
) -> RevisionSource {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < WAIT {
        if let Ok(obj) = sources(ctx).get(name).await {
            if check(&obj) {
                return obj;
            }
            last = obj.status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs = ctx.operator_log_tail(40);
    panic!("timed out waiting for RevisionSource {name} {what}; last status: {last:#?}\noperator log tail:\n{logs}");
}

fn message(s: &RevisionSource, type_: &str) -> String {
    s.status
        .as_ref()
        .and_then(|st| st.condition(type_))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

fn dev_s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&aws_config("devAdmin"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Uploads `body` as dev-admin; returns the new object's version id.
async fn upload(bucket: &str, key: &str, body: &str) -> String {
    dev_s3()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("uploading s3://{bucket}/{key}: {e:?}"))
        .version_id
        .expect("the revisions buckets are versioned")
}

fn nogrant_bucket() -> String {
    env().world["buckets"]["revisionsNoGrant"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn key_source(ctx: &TestCtx, bucket: &str, key: &str) -> Value {
    json!({
        "s3": {"bucket": bucket, "key": key},
        "verifyFor": [{"name": ctx.target}],
        "interval": INTERVAL,
    })
}

fn source_spec(ctx: &TestCtx, source: &str) -> Value {
    let mut spec = ctx.spec(V1);
    spec["revision"] = json!({"sourceRef": {"name": source}});
    spec
}

fn revision_version(obj: &crossdeploy::api::CrossAccountDeployment) -> Option<String> {
    obj.status.as_ref()?.revision.as_ref()?.version_id.clone()
}

#[tokio::test]
async fn each_new_upload_is_deployed_exactly_once() {
    let mut ctx = TestCtx::new("rs-deliver").await;
    let bucket = revisions_bucket();
    let key = format!("{}/webapp.zip", ctx.ns);
    let v1 = upload(&bucket, &key, "webapp 1").await;
    ctx.start_operator(&[]).await;
    apply_source(&ctx, "web", key_source(&ctx, &bucket, &key)).await;
    ctx.apply_deployment("web", source_spec(&ctx, "web")).await;

    let obj = ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    assert_eq!(revision_version(&obj), Some(v1.clone()));
    let source = sources(&ctx).get("web").await.expect("source");
    let st = source.status.clone().expect("source status");
    assert_eq!(
        obj.status.as_ref().and_then(|s| s.source_revision_digest.clone()),
        st.revision_digest,
        "the deployment records which source revision it deployed"
    );
    // The guide to the letter: the bucket grants the instance profile only.
    // The cross-account role cannot read the revision, which CodeDeploy does
    // not need, so that is a note, not a failure.
    let verification = st.verifications.first().expect("one verification");
    assert!(verification.passed, "{verification:?}");
    assert_eq!(verification.bucket_policy, BucketPolicyGrant::Granted);
    assert_eq!(verification.readable_by_role, Some(false));
    assert!(
        verification
            .notes
            .iter()
            .any(|n| n.contains("CodeDeploy does not need")),
        "{verification:?}"
    );

    // v2 arrives while the group holds deployments: it is created and stays in progress.
    ctx.set_behaviour(json!({"mode": "hold"})).await;
    let v2 = upload(&bucket, &key, "webapp 2").await;
    wait_deployment(&ctx, "v2 in progress", |o| {
        revision_version(o).as_ref() == Some(&v2)
            && o.status.as_ref().is_some_and(|s| s.is_condition_true("Reconciling"))
    })
    .await;
    let d2 = ctx
        .group_deployments()
        .await
        .iter()
        .find(|d| {
            d.status()
                .is_some_and(|s| s.as_str() == "InProgress" || s.as_str() == "Created")
        })
        .and_then(|d| d.deployment_id().map(str::to_string))
        .expect("v2 deployment in progress");

    // v3 queues behind v2 (onActiveDeployment: Wait), and nothing else is created.
    let v3 = upload(&bucket, &key, "webapp 3").await;
    let obj = ctx
        .wait_condition("web", "Reconciling", Some("WaitingForActiveDeployment"))
        .await;
    assert_eq!(revision_version(&obj), Some(v3.clone()));
    assert_eq!(ctx.group_deployments().await.len(), 2);
    ctx.set_behaviour(json!({"mode": "succeed"})).await;
    ctx.complete(&d2, "Succeeded").await;
    wait_deployment(&ctx, "v3 deployed", |o| {
        revision_version(o).as_ref() == Some(&v3) && o.status.as_ref().is_some_and(|s| s.is_condition_true("Ready"))
    })
    .await;

    // Exactly one deployment per resolved revision, each of the pinned version.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut versions: Vec<String> = ctx
        .group_deployments()
        .await
        .iter()
        .filter_map(|d| d.revision()?.s3_location()?.version().map(str::to_string))
        .collect();
    versions.sort();
    let mut expected = vec![v1, v2, v3];
    expected.sort();
    assert_eq!(versions, expected);
    let new_revisions = events_of(&ctx, "web", "RevisionSource")
        .await
        .into_iter()
        .filter(|(r, _)| r == "NewRevision")
        .count();
    assert_eq!(new_revisions, 3, "one NewRevision Event per upload");
    ctx.assert_no_secrets_leaked().await;
}

async fn wait_deployment(
    ctx: &TestCtx,
    what: &str,
    check: impl Fn(&crossdeploy::api::CrossAccountDeployment) -> bool,
) -> crossdeploy::api::CrossAccountDeployment {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if let Ok(obj) = ctx.deployments().get("web").await
            && check(&obj)
        {
            return obj;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let last = ctx.deployments().get("web").await.ok().and_then(|o| o.status);
    panic!(
        "timed out waiting for {what}; last status: {last:#?}\noperator log tail:\n{}",
        ctx.operator_log_tail(40)
    );
}

/// (reason, note) of the Events about one object of `kind`.
async fn events_of(ctx: &TestCtx, name: &str, kind: &str) -> Vec<(String, String)> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(ctx.client.clone(), &ctx.ns);
    let evs = events.list(&Default::default()).await.expect("events list");
    evs.items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.name.as_deref() == Some(name) && r.kind.as_deref() == Some(kind))
        })
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn missing_source_and_deleted_object_block_deployments_without_aws_calls() {
    let mut ctx = TestCtx::new("rs-gone").await;
    let bucket = revisions_bucket();
    let key = format!("{}/gone.zip", ctx.ns);
    upload(&bucket, &key, "soon gone").await;
    ctx.start_operator(&[]).await;

    ctx.apply_deployment("web", source_spec(&ctx, "gone")).await;
    let obj = ctx
        .wait_condition("web", "Stalled", Some("RevisionSourceNotFound"))
        .await;
    let msg = obj
        .status
        .and_then(|s| s.condition("Stalled").map(|c| c.message.clone()));
    assert!(msg.unwrap_or_default().contains("\"gone\""));

    apply_source(&ctx, "gone", key_source(&ctx, &bucket, &key)).await;
    wait_source(&ctx, "gone", "Ready", "RevisionResolved").await;
    // The deployment was waiting for exactly this source: it deploys now.
    ctx.wait_condition("web", "Ready", Some("Succeeded")).await;

    dev_s3()
        .delete_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("delete");
    let source = wait_source(&ctx, "gone", "Stalled", "ObjectNotFound").await;
    let msg = message(&source, "Stalled");
    assert!(msg.contains(&key) && msg.contains("step 4"), "{msg}");

    // The deployment reports the source and stops calling AWS.
    let obj = ctx
        .wait_condition("web", "Stalled", Some("RevisionSourceNotReady"))
        .await;
    let msg = condition_message(&obj, "Stalled");
    assert!(msg.contains("ObjectNotFound"), "{msg}");
    let before = ctx.session_calls().await.len();
    ctx.apply_deployment("web2", source_spec(&ctx, "gone")).await;
    ctx.wait_condition("web2", "Stalled", Some("RevisionSourceNotReady"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ctx.session_calls().await.len(),
        before,
        "no AWS call for a deployment whose source is not Ready"
    );
}

#[tokio::test]
async fn bucket_without_the_step_2_grant_names_the_statement_to_add() {
    let mut ctx = TestCtx::new("rs-nogrant").await;
    let bucket = nogrant_bucket();
    let key = format!("{}/app.zip", ctx.ns);
    upload(&bucket, &key, "no grant").await;
    ctx.start_operator(&[]).await;
    apply_source(&ctx, "app", key_source(&ctx, &bucket, &key)).await;
    let source = wait_source(&ctx, "app", "Stalled", "BucketPolicyMissingGrant").await;
    let msg = message(&source, "Stalled");
    let instance_role = env().role("instanceRole");
    for expected in [
        format!(r#""Principal": {{"AWS": "{instance_role}"}}"#),
        r#""Action": ["s3:Get*","s3:List*"]"#.to_string(),
        format!(r#""Resource": ["arn:aws:s3:::{bucket}/*"]"#),
        "step 2".to_string(),
    ] {
        assert!(msg.contains(&expected), "{expected} missing from: {msg}");
    }
    let v = &source.status.expect("status").verifications[0];
    assert_eq!(v.bucket_policy, BucketPolicyGrant::NotGranted);
    assert!(!v.passed);
    let events = events_of(&ctx, "app", "RevisionSource").await;
    assert!(
        events.iter().any(|(r, _)| r == "BucketPolicyMissingGrant"),
        "{events:?}"
    );
}

/// A role without S3 permissions cannot read the revision; CodeDeploy does
/// not need it to (the instances read it), so the source stays Ready and
/// says so in a note.
#[tokio::test]
async fn a_target_role_without_s3_read_is_only_a_note() {
    let mut ctx = TestCtx::new("rs-nos3").await;
    ctx.apply_target_account(
        &env().role("noS3"),
        json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}}),
    )
    .await;
    let bucket = revisions_bucket();
    let key = format!("{}/app.zip", ctx.ns);
    upload(&bucket, &key, "unreadable for noS3").await;
    ctx.start_operator(&[]).await;
    apply_source(&ctx, "app", key_source(&ctx, &bucket, &key)).await;
    let source = wait_source(&ctx, "app", "Ready", "RevisionResolved").await;
    let msg = message(&source, "Ready");
    assert!(
        msg.contains(&env().role("noS3")) && msg.contains("CodeDeploy does not need"),
        "{msg}"
    );
    let v = &source.status.expect("status").verifications[0];
    assert!(v.passed, "{v:?}");
    assert_eq!(v.bucket_policy, BucketPolicyGrant::Granted, "step 2 itself is fine");
    assert_eq!(v.readable_by_role, Some(false));

    // The admin stops permitting this namespace: the TargetAccount watch
    // re-evaluates the source, and no AWS call is made for that account.
    ctx.apply_target_account(
        &env().role("noS3"),
        json!({"matchLabels": {"crossdeploy.io/tenant": "someone-else"}}),
    )
    .await;
    let source = wait_source(&ctx, "app", "Stalled", "TargetAccountNotPermitted").await;
    assert!(message(&source, "Stalled").contains(&ctx.ns));
    let before = ctx.session_calls().await.len();
    tokio::time::sleep(Duration::from_secs(INTERVAL as u64 + 2)).await;
    assert_eq!(
        ctx.session_calls().await.len(),
        before,
        "no AWS call for a refused TargetAccount"
    );
}

#[tokio::test]
async fn prefix_selection_rules_pick_their_revision() {
    let mut ctx = TestCtx::new("rs-select").await;
    let bucket = revisions_bucket();
    // readAs lists the bucket as the cross-account role, which the guide's
    // bucket policy does not allow: that source reads the variant bucket
    // that grants the roles too.
    let rolegrant = env().world["buckets"]["revisionsRoleGrant"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let prefix = format!("{}/sel/", ctx.ns);
    // Oldest first; LastModified has one-second resolution in places.
    for name in [
        "webapp-latest.zip",
        "webapp-1.9.0.zip",
        "webapp-1.10.0.zip",
        "webapp-1.2.0.zip",
    ] {
        upload(&bucket, &format!("{prefix}{name}"), name).await;
        upload(&rolegrant, &format!("{prefix}{name}"), name).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let bad_prefix = format!("{}/bad/", ctx.ns);
    upload(&bucket, &format!("{bad_prefix}app-1.0.0.zip"), "ok").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upload(&bucket, &format!("{bad_prefix}app-1.1.0.rpm"), "not a bundle").await;
    ctx.start_operator(&[]).await;
    // verifyFor admits the namespace, so the operator's own identity may list.
    let prefixed = |prefix: &str, selection: &str| {
        json!({
            "s3": {"bucket": bucket, "prefix": prefix},
            "selection": selection,
            "verifyFor": [{"name": ctx.target}],
            "interval": INTERVAL,
        })
    };
    apply_source(&ctx, "highest", prefixed(&prefix, "HighestSemver")).await;
    apply_source(&ctx, "newest", prefixed(&prefix, "NewestLastModified")).await;
    apply_source(&ctx, "bad", prefixed(&bad_prefix, "NewestLastModified")).await;
    let mut as_target = prefixed(&prefix, "HighestSemver");
    as_target["s3"]["bucket"] = json!(rolegrant);
    as_target["readAs"] = json!({"name": ctx.target});
    apply_source(&ctx, "as-target", as_target).await;

    let key_of = |s: &RevisionSource| {
        s.status
            .as_ref()
            .and_then(|st| st.revision.as_ref())
            .map(|r| r.key.clone())
            .unwrap_or_default()
    };
    let highest = wait_source(&ctx, "highest", "Ready", "RevisionResolved").await;
    assert_eq!(key_of(&highest), format!("{prefix}webapp-1.10.0.zip"));
    let rev = highest
        .status
        .as_ref()
        .and_then(|s| s.revision.clone())
        .expect("revision");
    assert!(rev.version_id.is_some(), "the chosen object is pinned to its version");
    assert_eq!(rev.bundle_type, "zip");
    let read_as = wait_source(&ctx, "as-target", "Ready", "RevisionResolved").await;
    assert_eq!(key_of(&read_as), key_of(&highest));
    let listed_as_target = ctx
        .session_calls()
        .await
        .iter()
        .filter(|c| c["operation"] == json!("ListObjectsV2"))
        .count();
    assert!(
        listed_as_target >= 1,
        "spec.readAs lists the bucket as the TargetAccount's role"
    );
    let newest = wait_source(&ctx, "newest", "Ready", "RevisionResolved").await;
    assert_eq!(key_of(&newest), format!("{prefix}webapp-1.2.0.zip"));
    let bad = wait_source(&ctx, "bad", "Stalled", "InvalidSpec").await;
    let msg = message(&bad, "Stalled");
    assert!(msg.contains("app-1.1.0.rpm") && msg.contains("bundleType"), "{msg}");

    // A later upload is picked up by both rules on their next look.
    upload(&bucket, &format!("{prefix}webapp-1.11.0.zip"), "1.11").await;
    upload(&rolegrant, &format!("{prefix}webapp-1.11.0.zip"), "1.11").await;
    let want = format!("{prefix}webapp-1.11.0.zip");
    wait_source_until(&ctx, "highest", "1.11.0", |s| key_of(s) == want).await;
    wait_source_until(&ctx, "newest", "1.11.0", |s| key_of(s) == want).await;
    wait_source_until(&ctx, "as-target", "1.11.0", |s| key_of(s) == want).await;

    // Steady state: one ListObjectsV2 walk per source and interval, and no
    // HeadObject while the chosen object stays the same.
    let s3_calls = |op: &'static str| async move { calls("s3", op).await };
    let heads_under = |all: Vec<Value>| {
        all.iter()
            .filter(|c| c["params"]["Key"].as_str().is_some_and(|k| k.starts_with(&prefix)))
            .count()
    };
    let lists = |all: Vec<Value>| {
        all.iter()
            .filter(|c| {
                c["params"]["Bucket"] == json!(bucket) && c["principal"] == env().world["identities"]["operator"]["arn"]
            })
            .count()
    };
    let (heads0, lists0) = (
        heads_under(s3_calls("HeadObject").await),
        lists(s3_calls("ListObjectsV2").await),
    );
    let window = Duration::from_secs(3 * INTERVAL as u64 + 2);
    tokio::time::sleep(window).await;
    let (heads1, lists1) = (
        heads_under(s3_calls("HeadObject").await),
        lists(s3_calls("ListObjectsV2").await),
    );
    eprintln!(
        "3 prefix RevisionSources over {}s at interval {INTERVAL}s: {} ListObjectsV2 (operator identity, whole bucket), {} HeadObject under the prefix",
        window.as_secs(),
        lists1 - lists0,
        heads1 - heads0
    );
    assert_eq!(heads1, heads0, "an unchanged choice costs no HeadObject");
}

#[tokio::test]
async fn admission_rejects_malformed_sources() {
    let ctx = TestCtx::new("rs-admit").await;
    let create = |name: &str, spec: Value| {
        let api = sources(&ctx);
        let obj: RevisionSource = serde_json::from_value(json!({
            "apiVersion": "crossdeploy.io/v1alpha1",
            "kind": "RevisionSource",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .expect("object");
        async move { api.create(&PostParams::default(), &obj).await }
    };
    let bucket = revisions_bucket();
    let rejected = [
        (
            json!({"s3": {"bucket": bucket, "key": "a.zip", "prefix": "a/"}}),
            "exactly one of s3.key and s3.prefix",
        ),
        (json!({"s3": {"bucket": bucket}}), "exactly one of s3.key and s3.prefix"),
        (
            json!({"s3": {"bucket": bucket, "key": "app.rpm"}}),
            "bundleType is required",
        ),
        (
            json!({"s3": {"bucket": bucket, "key": "a.zip"}, "selection": "HighestSemver"}),
            "selection applies only to s3.prefix",
        ),
        (
            json!({"s3": {"bucket": bucket, "prefix": "a/", "versionId": "v"}}),
            "s3.versionId requires s3.key",
        ),
        (
            json!({"s3": {"bucket": "Not_A_Bucket", "key": "a.zip"}}),
            "valid S3 bucket name",
        ),
        (
            json!({"s3": {"bucket": bucket, "key": "a.zip"}, "interval": 5}),
            "interval",
        ),
    ];
    for (i, (spec, expected)) in rejected.into_iter().enumerate() {
        let err = create(&format!("bad-{i}"), spec.clone())
            .await
            .expect_err(&format!("{spec} must be rejected"));
        assert!(err.to_string().contains(expected), "{spec}: {err}");
    }
    for (i, spec) in [
        json!({"s3": {"bucket": bucket, "key": "Bundle.ZIP"}}),
        json!({"s3": {"bucket": bucket, "key": "app.rpm"}, "bundleType": "zip"}),
        json!({"s3": {"bucket": bucket, "prefix": "a/"}, "selection": "HighestSemver"}),
    ]
    .into_iter()
    .enumerate()
    {
        create(&format!("good-{i}"), spec.clone())
            .await
            .unwrap_or_else(|e| panic!("{spec} must be accepted: {e}"));
    }
    let mut both = ctx.spec(V1);
    both["revision"]["sourceRef"] = json!({"name": "good-0"});
    let obj: crossdeploy::api::CrossAccountDeployment = serde_json::from_value(json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "CrossAccountDeployment",
        "metadata": {"name": "both"},
        "spec": both,
    }))
    .expect("object");
    let err = ctx
        .deployments()
        .create(&PostParams::default(), &obj)
        .await
        .expect_err("s3 and sourceRef together must be rejected");
    assert!(
        err.to_string()
            .contains("exactly one of revision.s3 and revision.sourceRef"),
        "{err}"
    );

    // examples/03 is accepted as written (dry run, in this test's namespace).
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/03-revision-source.yaml"))
        .expect("example readable");
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    for doc in text.split("\n---\n") {
        let mut value: Value = serde_norway::from_str(doc).expect("example parses");
        value["metadata"]["namespace"] = json!(ctx.ns);
        match value["kind"].as_str() {
            Some("RevisionSource") => {
                let obj: RevisionSource = serde_json::from_value(value).expect("a RevisionSource");
                sources(&ctx)
                    .create(&dry_run, &obj)
                    .await
                    .expect("example source accepted");
            }
            Some("CrossAccountDeployment") => {
                let obj: crossdeploy::api::CrossAccountDeployment =
                    serde_json::from_value(value).expect("a CrossAccountDeployment");
                ctx.deployments()
                    .create(&dry_run, &obj)
                    .await
                    .expect("example deployment accepted");
            }
            other => panic!("unexpected kind {other:?} in examples/03"),
        }
    }
}

#[tokio::test]
async fn the_operator_reads_only_for_namespaces_a_target_account_admits() {
    let mut ctx = TestCtx::new("rs-deputy").await;
    // A TargetAccount that exists, but for another namespace.
    let other = format!("{}-other", ctx.ns);
    let targets: Api<crossdeploy::api::TargetAccount> = Api::all(ctx.client.clone());
    let ta = json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "TargetAccount",
        "metadata": {"name": other, "labels": {"crossdeploy.io/test": ctx.ns}},
        "spec": {
            "roleArn": env().role("deployer"),
            "externalIdSecretRef": {"name": "prod-external-id"},
            "region": "us-east-1",
            "namespaceSelector": {"matchLabels": {"crossdeploy.io/tenant": "someone-else"}},
            "instanceProfileRoleArn": env().role("instanceRole"),
            "allowedRevisionBuckets": allowed_revision_buckets(),
        }
    });
    targets
        .patch(
            &other,
            &PatchParams::apply("crossdeploy-e2e").force(),
            &Patch::Apply(&ta),
        )
        .await
        .expect("TargetAccount applies");
    let bucket = revisions_bucket();
    let lone = format!("{}/lone.zip", ctx.ns);
    let foreign = format!("{}/foreign.zip", ctx.ns);
    upload(&bucket, &lone, "readable by the operator").await;
    upload(&bucket, &foreign, "readable by the operator").await;
    ctx.start_operator(&[]).await;
    apply_source(
        &ctx,
        "lone",
        json!({"s3": {"bucket": bucket, "key": lone}, "interval": INTERVAL}),
    )
    .await;
    apply_source(
        &ctx,
        "foreign",
        json!({"s3": {"bucket": bucket, "key": foreign}, "verifyFor": [{"name": other}], "interval": INTERVAL}),
    )
    .await;

    for (name, why) in [
        ("lone", "spec.verifyFor is empty".to_string()),
        (
            "foreign",
            format!("spec.verifyFor ({other:?}) exists and selects namespace {:?}", ctx.ns),
        ),
    ] {
        let source = wait_source(&ctx, name, "Stalled", "TargetAccountNotPermitted").await;
        let msg = message(&source, "Stalled");
        for expected in [
            "the operator's own identity, which is only used on behalf of namespaces that some TargetAccount admits",
            why.as_str(),
        ] {
            assert!(msg.contains(expected), "{name}: {expected:?} missing from: {msg}");
        }
        let status = source.status.expect("status");
        assert!(
            status.revision.is_none() && status.last_check_time.is_none(),
            "{name}: nothing was read: {status:#?}"
        );
    }
    // Refused sources still poll at their interval: none of those polls reaches AWS.
    tokio::time::sleep(Duration::from_secs(INTERVAL as u64 + 2)).await;
    for key in [&lone, &foreign] {
        assert_eq!(
            object_calls(&ctx, &bucket, key).await,
            (0, 0),
            "no S3 call for {key}, by the operator or a tenant role"
        );
    }

    // A verifyFor TargetAccount that admits the namespace lets the operator read.
    apply_source(&ctx, "lone", key_source(&ctx, &bucket, &lone)).await;
    wait_source(&ctx, "lone", "Ready", "RevisionResolved").await;
    let (own, _) = object_calls(&ctx, &bucket, &lone).await;
    assert!(own >= 1, "the operator's identity read s3://{bucket}/{lone}");
    targets.delete(&other, &Default::default()).await.ok();
}

/// S3 calls for one object, by principal kind.
async fn object_calls(ctx: &TestCtx, bucket: &str, key: &str) -> (usize, usize) {
    let session = format!("/crossdeploy.{}", ctx.ns);
    let operator = env().world["identities"]["operator"]["arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let all = control("GET", "/calls?service=s3", None).await;
    let calls: Vec<&Value> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["params"]["Bucket"] == json!(bucket) && c["params"]["Key"] == json!(key))
        .collect();
    let by = |f: &dyn Fn(&str) -> bool| calls.iter().filter(|c| c["principal"].as_str().is_some_and(f)).count();
    (by(&|p| p == operator), by(&|p| p.ends_with(&session)))
}

#[tokio::test]
async fn polling_costs_one_head_per_interval_and_nothing_when_suspended() {
    let mut ctx = TestCtx::new("rs-suspend").await;
    let bucket = revisions_bucket();
    let key = format!("{}/app.zip", ctx.ns);
    upload(&bucket, &key, "steady").await;
    ctx.start_operator(&[]).await;
    apply_source(&ctx, "app", key_source(&ctx, &bucket, &key)).await;
    wait_source(&ctx, "app", "Ready", "RevisionResolved").await;
    let (own_before, target_before) = object_calls(&ctx, &bucket, &key).await;
    assert!(target_before >= 1, "the target role verified the revision");

    // Steady state: one HeadObject per interval as the reader, no re-verification.
    let window = Duration::from_secs(3 * INTERVAL as u64 + 2);
    tokio::time::sleep(window).await;
    let (own_after, target_after) = object_calls(&ctx, &bucket, &key).await;
    let polls = own_after - own_before;
    eprintln!(
        "RevisionSource (key, 1 verifyFor target) over {}s at interval {INTERVAL}s: {polls} HeadObject as the reader, {} as the target role",
        window.as_secs(),
        target_after - target_before
    );
    assert!(
        (2..=4).contains(&polls),
        "about one HeadObject per interval, got {polls}"
    );
    assert_eq!(
        target_after, target_before,
        "verification is not repeated while nothing changes"
    );

    apply_source(&ctx, "app", {
        let mut spec = key_source(&ctx, &bucket, &key);
        spec["suspend"] = json!(true);
        spec
    })
    .await;
    let suspended = wait_source(&ctx, "app", "Ready", "Suspended").await;
    let status = suspended.status.expect("status");
    assert!(status.revision.is_some(), "the last revision is kept");
    assert!(!status.is_condition_true("Ready") && !status.is_condition_true("Stalled"));
    let (own, target) = object_calls(&ctx, &bucket, &key).await;
    tokio::time::sleep(Duration::from_secs(2 * INTERVAL as u64 + 2)).await;
    assert_eq!(
        object_calls(&ctx, &bucket, &key).await,
        (own, target),
        "a suspended source makes no AWS calls"
    );
    let session_s3 = ctx
        .session_calls()
        .await
        .iter()
        .filter(|c| c["service"] == json!("s3"))
        .count();
    assert_eq!(session_s3, target, "the tenant session only ever verified the object");
}
