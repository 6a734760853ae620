//! `crossdeploy doctor` against the emulator: the guide's world passes every
//! step; a world broken at one step names that step, the reason the
//! operator would report and the fix, with the right exit code.

use serde_json::{Value, json};

use crate::env::env;
use crate::harness::*;
use crate::tools::{check, crossdeploy, doctor, results, step};

fn secrets() -> Vec<String> {
    let env = env();
    let mut s = vec![env.external_id()];
    for who in ["operator", "devAdmin", "prodAdmin"] {
        s.push(env.identity(who).1);
    }
    s
}

#[tokio::test]
async fn doctor_passes_every_step_of_the_guides_world() {
    let ctx = TestCtx::new("doctor-ok").await;
    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let deployment = format!("{}/web", ctx.ns);
    let ran = doctor(&ctx, &[&ctx.target, "--deployment", &deployment]).await;
    let v = ran.json();
    assert_eq!(results(&v), ["pass"; 5], "{v:#}");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let operator = env().world["identities"]["operator"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(v["identity"].as_str().unwrap().contains(&operator));
    assert_eq!(check(&v, 4, "pass")["by"], "the operator's own identity");
    let assumed = &step(&v, 3)["checks"][1];
    assert!(
        assumed["what"].as_str().unwrap().starts_with("sts:AssumeRole"),
        "{assumed}"
    );
    assert!(assumed["by"].as_str().unwrap().contains(&operator), "{assumed}");
    assert!(
        assumed["detail"].as_str().unwrap().contains("crossdeploy.doctor"),
        "{assumed}"
    );
    let tenancy = &step(&v, 5)["checks"][0];
    assert!(tenancy["detail"].as_str().unwrap().contains(&ctx.ns), "{tenancy}");
    ran.assert_shows_none_of(&secrets());

    // The same checklist for people.
    let identity = env().identity("operator");
    let text = crossdeploy(
        &[
            "doctor",
            &ctx.target,
            "--deployment",
            &deployment,
            "--operator-namespace",
            &ctx.sys_ns,
        ],
        &identity,
        &[],
    )
    .await;
    assert_eq!(text.code, 0);
    for line in [
        "✓ 1. S3 bucket",
        "✓ 2. Bucket policy",
        "✓ 3. CodeDeploy",
        "✓ 4. Revision",
        "✓ 5. Assume",
    ] {
        assert!(text.stdout.contains(line), "{line}: {}", text.stdout);
    }
    assert!(text.stdout.contains("every step passes") && !text.stdout.contains('\u{1b}'));
    text.assert_shows_none_of(&secrets());
}

/// Without a cluster: the role and everything else from flags, the
/// ExternalId from an environment variable (never a flag value).
#[tokio::test]
async fn doctor_runs_from_flags_alone() {
    let ctx = TestCtx::new("doctor-flags").await;
    let env = env();
    let (role, instance) = (env.role("deployer"), env.role("instanceRole"));
    let bucket = revisions_bucket();
    let args = |extra: &'static str| {
        let mut a = vec![
            "doctor",
            "-o",
            "json",
            "--role-arn",
            &role,
            "--instance-profile-role-arn",
            &instance,
            "--bucket",
            &bucket,
            "--key",
            V1,
            "--application",
            "webapp",
            "--deployment-group",
            &ctx.group,
            "--external-id-env",
            "XD_EXTERNAL_ID",
        ];
        if !extra.is_empty() {
            a.push(extra);
        }
        a.into_iter().map(str::to_string).collect::<Vec<String>>()
    };
    let ok = args("");
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    let identity = env.identity("operator");
    let external_id = env.external_id();
    let ran = crossdeploy(
        &ok,
        &identity,
        &[("XD_EXTERNAL_ID", &external_id), ("KUBECONFIG", "/nonexistent")],
    )
    .await;
    assert_eq!(
        (ran.code, results(&ran.json())),
        (0, vec!["pass".to_string(); 5]),
        "{}",
        ran.stdout
    );
    ran.assert_shows_none_of(&secrets());
    let wrong = crossdeploy(&ok, &identity, &[("XD_EXTERNAL_ID", "not-the-external-id")]).await;
    let v = wrong.json();
    assert_eq!(wrong.code, 1);
    assert_eq!(step(&v, 3)["result"], "fail");
    assert_eq!(check(&v, 3, "fail")["reason"], "AssumeRoleDenied");
    assert!(
        !wrong.stdout.contains("not-the-external-id"),
        "the ExternalId is never printed"
    );
}

struct Case {
    what: &'static str,
    args: Vec<String>,
    step: u64,
    reason: &'static str,
    fix: Vec<String>,
}

async fn expect(ctx: &TestCtx, case: &Case) -> Value {
    let mut args: Vec<&str> = vec![&ctx.target, "--namespace", &ctx.ns];
    args.extend(case.args.iter().map(String::as_str));
    let ran = doctor(ctx, &args).await;
    let v = ran.json();
    assert_eq!(ran.code, 1, "{}: exit code; {v:#}", case.what);
    assert_eq!(step(&v, case.step)["result"], "fail", "{}: {v:#}", case.what);
    let failed = check(&v, case.step, "fail");
    assert_eq!(failed["reason"], case.reason, "{}: {failed:#}", case.what);
    let fix = failed["fix"].as_str().unwrap_or_default();
    for part in &case.fix {
        assert!(
            fix.contains(part.as_str()),
            "{}: fix lacks {part:?}: {failed:#}",
            case.what
        );
    }
    ran.assert_shows_none_of(&secrets());
    v
}

fn args(bucket: &str, key: &str, group: &str) -> Vec<String> {
    [
        "--bucket",
        bucket,
        "--key",
        key,
        "--application",
        "webapp",
        "--deployment-group",
        group,
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test]
async fn doctor_names_the_broken_step_and_its_fix() {
    let ctx = TestCtx::new("doctor-broken").await;
    let env = env();
    let bucket = |name: &str| env.world["buckets"][name]["name"].as_str().unwrap().to_string();
    let instance = env.role("instanceRole");
    let g = ctx.group.clone();

    let v = expect(
        &ctx,
        &Case {
            what: "guide step 1: no such bucket",
            args: args("xd-doctor-no-such-bucket", V1, &g),
            step: 1,
            reason: "RevisionNotFound",
            fix: vec!["create the bucket".into()],
        },
    )
    .await;
    assert_eq!(step(&v, 3)["result"], "pass");

    let v = expect(
        &ctx,
        &Case {
            what: "guide step 2: the bucket policy does not grant the instance profile",
            args: args(&bucket("revisionsNoGrant"), V1, &g),
            step: 2,
            reason: "BucketPolicyMissingGrant",
            fix: vec![
                "Cross-account permissions".into(),
                instance.clone(),
                "crossdeploy-revisions-nogrant/*".into(),
            ],
        },
    )
    .await;
    assert_eq!(results(&v), ["pass", "fail", "pass", "pass", "pass"], "{v:#}");

    let v = expect(
        &ctx,
        &Case {
            what: "guide step 4: the revision was never uploaded",
            args: args(&revisions_bucket(), "webapp/webapp-9.9.9.zip", &g),
            step: 4,
            reason: "RevisionNotFound",
            fix: vec![
                "upload it".into(),
                "s3://crossdeploy-revisions/webapp/webapp-9.9.9.zip".into(),
            ],
        },
    )
    .await;
    assert_eq!(results(&v), ["pass", "pass", "pass", "fail", "pass"], "{v:#}");

    let v = expect(
        &ctx,
        &Case {
            what: "guide step 3: no such deployment group",
            args: args(&revisions_bucket(), V1, "xd-doctor-no-such-group"),
            step: 3,
            reason: "DeploymentGroupNotFound",
            fix: vec!["create the deployment group".into()],
        },
    )
    .await;
    assert_eq!(step(&v, 5)["checks"][1]["result"], "skipped", "{v:#}");

    // Undetermined is not failed: a grant with a Condition.
    let mut a: Vec<&str> = vec![&ctx.target, "--namespace", &ctx.ns];
    let conditional = args(&bucket("revisionsConditional"), V1, &g);
    a.extend(conditional.iter().map(String::as_str));
    let ran = doctor(&ctx, &a).await;
    assert_eq!(
        (ran.code, step(&ran.json(), 2)["result"].clone()),
        (0, json!("unknown"))
    );
    a.push("--strict");
    assert_eq!(doctor(&ctx, &a).await.code, 3, "--strict counts ? as a failure");

    broken_roles_and_tenancy(&ctx, &args(&revisions_bucket(), V1, &g)).await;
}

/// Guide step 3's role, and crossdeploy's tenancy at step 5.
async fn broken_roles_and_tenancy(ctx: &TestCtx, good: &[String]) {
    let env = env();
    let selector = json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}});
    ctx.apply_target_account(&env.role("untrusted"), selector.clone()).await;
    let v = expect(
        ctx,
        &Case {
            what: "guide step 3: the role does not trust the operator",
            args: good.to_vec(),
            step: 3,
            reason: "AssumeRoleDenied",
            fix: vec![
                "TrustCrossdeployOperator".into(),
                "${EXTERNAL_ID}".into(),
                "AssumeTargetRole".into(),
            ],
        },
    )
    .await;
    assert_eq!(
        results(&v)[0..2],
        ["pass", "pass"],
        "the operator's own checks do not need the role"
    );

    ctx.apply_target_account(&env.role("noCodeDeploy"), selector).await;
    expect(
        ctx,
        &Case {
            what: "guide step 3: the role may not use CodeDeploy",
            args: good.to_vec(),
            step: 3,
            reason: "CodeDeployAccessDenied",
            fix: vec![
                "ReadApplication".into(),
                "arn:aws:codedeploy:us-east-1:222222222222:application:webapp".into(),
            ],
        },
    )
    .await;

    ctx.apply_target_account(
        &env.role("deployer"),
        json!({"matchLabels": {"crossdeploy.io/tenant": "someone-else"}}),
    )
    .await;
    let v = expect(
        ctx,
        &Case {
            what: "step 5: the TargetAccount does not admit the namespace",
            args: good.to_vec(),
            step: 5,
            reason: "TargetAccountNotPermitted",
            fix: vec!["namespaceSelector".into()],
        },
    )
    .await;
    assert_eq!(results(&v)[0..4], ["pass", "pass", "pass", "pass"], "{v:#}");
}
