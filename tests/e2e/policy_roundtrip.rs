//! `crossdeploy policy` round trip: a fresh two-account world is built in
//! the emulator with the admin identities, using only the policies
//! `crossdeploy policy` prints (a new operator user, a new cross-account
//! role, a new instance role, a new bucket, a new application and group);
//! the guide's scenario deploys to Succeeded through them; the same policies
//! come out when read from the cluster objects; and removing any one
//! statement breaks a named step of `crossdeploy doctor`.

use aws_sdk_codedeploy::types::ComputePlatform;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::env::env;
use crate::harness::*;
use crate::tools::{Ran, check, crossdeploy, doctor, step};

const PROD: &str = "222222222222";
const DEV: &str = "111111111111";
const CONFIG: &str = "CodeDeployDefault.OneAtATime";

/// The fresh world's names, unique per run (the emulator may be reused).
struct Fresh {
    user: String,
    role: String,
    instance_role: String,
    bucket: String,
    app: String,
    group: String,
    external_id: String,
}

impl Fresh {
    fn new() -> Self {
        let id = format!("{:08x}", rand::random::<u32>());
        Self {
            user: format!("xd-rt-operator-{id}"),
            role: format!("XdRtDeployer{id}"),
            instance_role: format!("XdRtInstance{id}"),
            bucket: format!("xd-rt-revisions-{id}"),
            app: format!("xd-rt-app-{id}"),
            group: format!("xd-rt-group-{id}"),
            external_id: format!("xd-rt-{:016x}", rand::random::<u64>()),
        }
    }

    fn user_arn(&self) -> String {
        format!("arn:aws:iam::{DEV}:user/{}", self.user)
    }

    fn role_arn(&self) -> String {
        format!("arn:aws:iam::{PROD}:role/{}", self.role)
    }

    fn instance_arn(&self) -> String {
        format!("arn:aws:iam::{PROD}:role/{}", self.instance_role)
    }

    /// `crossdeploy policy KIND` for this world, from flags alone.
    async fn policy(&self, kind: &str) -> Ran {
        let (role, user, instance) = (self.role_arn(), self.user_arn(), self.instance_arn());
        let args = [
            "policy",
            kind,
            "--role-arn",
            &role,
            "--operator-arn",
            &user,
            "--region",
            "us-east-1",
            "--application",
            &self.app,
            "--deployment-group",
            &self.group,
            "--deployment-config",
            CONFIG,
            "--bucket",
            &self.bucket,
            "--instance-profile-role-arn",
            &instance,
            "--session-tag",
            "team=rt",
            "--external-id-env",
            "XD_RT_EXTERNAL_ID",
        ];
        let ran = crossdeploy(
            &args,
            &env().identity("devAdmin"),
            &[("XD_RT_EXTERNAL_ID", &self.external_id)],
        )
        .await;
        assert_eq!(ran.code, 0, "crossdeploy policy {kind}: {}", ran.stderr);
        ran
    }
}

/// The four documents, as `crossdeploy policy all` prints them.
struct Policies {
    trust: Value,
    permissions: Value,
    bucket: Value,
    operator: Value,
}

fn text(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

fn s3_admin() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&aws_config("devAdmin"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Builds the world with the admin identities; returns the operator's keys.
async fn build(f: &Fresh, p: &Policies) -> (String, String) {
    let dev_iam = aws_sdk_iam::Client::new(&aws_config("devAdmin"));
    let prod_iam = aws_sdk_iam::Client::new(&aws_config("prodAdmin"));
    dev_iam
        .create_user()
        .user_name(&f.user)
        .send()
        .await
        .expect("operator user");
    let key = dev_iam
        .create_access_key()
        .user_name(&f.user)
        .send()
        .await
        .expect("access key");
    let key = key.access_key().expect("key");
    dev_iam
        .put_user_policy()
        .user_name(&f.user)
        .policy_name("crossdeploy-operator")
        .policy_document(text(&p.operator))
        .send()
        .await
        .expect("operator policy");
    let ec2_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    prod_iam
        .create_role()
        .role_name(&f.instance_role)
        .assume_role_policy_document(text(&ec2_trust))
        .send()
        .await
        .expect("instance role");
    prod_iam
        .create_instance_profile()
        .instance_profile_name(&f.instance_role)
        .send()
        .await
        .expect("instance profile");
    prod_iam
        .add_role_to_instance_profile()
        .instance_profile_name(&f.instance_role)
        .role_name(&f.instance_role)
        .send()
        .await
        .expect("role in instance profile");
    prod_iam
        .create_role()
        .role_name(&f.role)
        .assume_role_policy_document(text(&p.trust))
        .send()
        .await
        .expect("cross-account role");
    put_permissions(f, &p.permissions).await;
    build_bucket(f, &p.bucket).await;
    build_codedeploy(f).await;
    (key.access_key_id().to_string(), key.secret_access_key().to_string())
}

async fn put_permissions(f: &Fresh, doc: &Value) {
    aws_sdk_iam::Client::new(&aws_config("prodAdmin"))
        .put_role_policy()
        .role_name(&f.role)
        .policy_name("crossdeploy-deploy")
        .policy_document(text(doc))
        .send()
        .await
        .expect("role permissions");
}

async fn build_bucket(f: &Fresh, policy: &Value) {
    let s3 = s3_admin();
    s3.create_bucket().bucket(&f.bucket).send().await.expect("bucket");
    s3.put_bucket_versioning()
        .bucket(&f.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let bundle = s3
        .get_object()
        .bucket(revisions_bucket())
        .key(V1)
        .send()
        .await
        .expect("the seeded bundle")
        .body
        .collect()
        .await
        .expect("bundle bytes")
        .into_bytes();
    s3.put_object()
        .bucket(&f.bucket)
        .key(V1)
        .body(bundle.into())
        .send()
        .await
        .expect("guide step 4: upload");
    s3.put_bucket_policy()
        .bucket(&f.bucket)
        .policy(text(policy))
        .send()
        .await
        .expect("guide step 2: bucket policy");
}

async fn build_codedeploy(f: &Fresh) {
    let cd = aws_sdk_codedeploy::Client::new(&aws_config("prodAdmin"));
    cd.create_application()
        .application_name(&f.app)
        .compute_platform(ComputePlatform::Server)
        .send()
        .await
        .expect("application");
    let service_role = env().world["codedeploy"]["serviceRoleArn"]
        .as_str()
        .unwrap()
        .to_string();
    cd.create_deployment_group()
        .application_name(&f.app)
        .deployment_group_name(&f.group)
        .service_role_arn(service_role)
        .send()
        .await
        .expect("deployment group");
}

/// The TargetAccount and its ExternalId Secret, as a platform admin writes them.
async fn target_account(ctx: &TestCtx, f: &Fresh) {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.sys_ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "rt-external-id", "labels": {"crossdeploy.io/external-id": "true"}},
        "stringData": {"externalId": f.external_id}}))
    .unwrap();
    secrets.create(&PostParams::default(), &secret).await.expect("secret");
    let limits = json!({
        "externalIdSecretRef": {"name": "rt-external-id"},
        "sessionTags": [{"key": "team", "value": "rt"}],
        "allowedApplications": [f.app],
        "allowedDeploymentConfigs": [CONFIG],
        "allowedRevisionBuckets": [{"bucket": f.bucket}],
        "instanceProfileRoleArn": f.instance_arn(),
    });
    let selector = json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}});
    ctx.apply_target_account_with(&f.role_arn(), selector, limits).await;
}

#[tokio::test]
async fn policies_build_a_working_world_and_every_statement_is_needed() {
    let f = Fresh::new();
    let all = f.policy("all").await.json();
    let p = Policies {
        trust: all["production"]["trustPolicy"].clone(),
        permissions: all["production"]["permissionsPolicy"].clone(),
        bucket: all["development"]["bucketPolicies"][&f.bucket].clone(),
        operator: all["development"]["operatorPolicy"].clone(),
    };
    assert_eq!(
        f.policy("trust").await.json(),
        p.trust,
        "one kind alone prints the same document"
    );
    assert_eq!(f.policy("operator").await.json(), p.operator);
    assert!(
        !text(&p.permissions).contains("s3:"),
        "the role needs no S3: {:#}",
        p.permissions
    );
    for doc in [&p.trust, &p.permissions, &p.bucket, &p.operator] {
        assert!(
            !text(doc).contains("\"*\""),
            "least privilege, no \"*\" resource: {doc:#}"
        );
    }

    let keys = build(&f, &p).await;
    let mut ctx = TestCtx::new("policy-rt").await;
    target_account(&ctx, &f).await;
    ctx.aws_identity = Some(keys);
    ctx.start_operator(&[]).await;
    let spec = json!({
        "targetAccountRef": {"name": ctx.target},
        "applicationName": f.app,
        "deploymentGroupName": f.group,
        "deploymentConfigName": CONFIG,
        "revision": {"s3": {"bucket": f.bucket, "key": V1}},
    });
    ctx.apply_deployment("web", spec).await;
    ctx.wait_deployed("web", V1).await;
    ctx.assert_no_secrets_leaked().await;
    ctx.stop_operator().await;

    from_the_cluster(&ctx, &f, &p).await;
    let deployment = format!("{}/web", ctx.ns);
    let healthy = doctor(&ctx, &["-t", &ctx.target, "--deployment", &deployment, "--strict"]).await;
    assert_eq!(healthy.code, 0, "{}", healthy.stdout);
    healthy.assert_shows_none_of(&[f.external_id.clone(), ctx.aws_identity.clone().unwrap().1]);
    every_statement_is_needed(&ctx, &f, &p).await;
}

/// The same documents when the names come from the TargetAccount and the
/// CrossAccountDeployment (the ExternalId stays a placeholder).
async fn from_the_cluster(ctx: &TestCtx, f: &Fresh, p: &Policies) {
    let deployment = format!("{}/web", ctx.ns);
    let user = f.user_arn();
    let args = [
        "policy",
        "-t",
        &ctx.target,
        "--deployment",
        &deployment,
        "--operator-arn",
        &user,
    ];
    let ran = crossdeploy(&args, &env().identity("devAdmin"), &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let v = ran.json();
    assert_eq!(v["production"]["permissionsPolicy"], p.permissions);
    assert_eq!(v["development"]["operatorPolicy"], p.operator);
    assert_eq!(v["development"]["bucketPolicies"][&f.bucket], p.bucket);
    let trust = text(&v["production"]["trustPolicy"]).replace("${EXTERNAL_ID}", &f.external_id);
    assert_eq!(serde_json::from_str::<Value>(&trust).unwrap(), p.trust);
    assert!(
        !ran.stdout.contains(&f.external_id),
        "the Secret's ExternalId is never printed"
    );
}

/// Which step of doctor breaks without a statement, and how.
fn expected(policy: &str, sid: &str) -> (u64, &'static str) {
    match (policy, sid) {
        ("trust", "TrustCrossdeployOperator" | "AllowSessionTags") => (3, "fail"),
        ("permissions", "ReadApplication" | "ReadDeploymentGroup" | "ReadDeploymentConfig") => (3, "fail"),
        ("permissions", "DeployToGroup") => (5, "fail"),
        ("bucket", "Cross-account permissions") => (2, "fail"),
        ("operator", "AssumeTargetRole") => (3, "fail"),
        ("operator", "ListRevisionBuckets") => (1, "unknown"),
        ("operator", "ReadBucketPolicies") => (2, "unknown"),
        ("operator", "ReadRevisions") => (4, "unknown"),
        _ => panic!("statement {sid} of the {policy} policy is not known to break any step of doctor"),
    }
}

fn without(doc: &Value, sid: &str) -> Option<Value> {
    let kept: Vec<Value> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Sid"] != sid)
        .cloned()
        .collect();
    (!kept.is_empty()).then(|| json!({"Version": doc["Version"], "Statement": kept}))
}

/// Puts `doc` (None: deletes the policy) in place of one of the four.
async fn put(f: &Fresh, policy: &str, doc: Option<&Value>) {
    let dev_iam = aws_sdk_iam::Client::new(&aws_config("devAdmin"));
    let prod_iam = aws_sdk_iam::Client::new(&aws_config("prodAdmin"));
    match (policy, doc) {
        ("trust", Some(d)) => {
            prod_iam
                .update_assume_role_policy()
                .role_name(&f.role)
                .policy_document(text(d))
                .send()
                .await
                .unwrap();
        }
        ("permissions", Some(d)) => put_permissions(f, d).await,
        ("permissions", None) => {
            prod_iam
                .delete_role_policy()
                .role_name(&f.role)
                .policy_name("crossdeploy-deploy")
                .send()
                .await
                .unwrap();
        }
        ("bucket", Some(d)) => {
            s3_admin()
                .put_bucket_policy()
                .bucket(&f.bucket)
                .policy(text(d))
                .send()
                .await
                .unwrap();
        }
        ("bucket", None) => {
            s3_admin()
                .delete_bucket_policy()
                .bucket(&f.bucket)
                .send()
                .await
                .unwrap();
        }
        ("operator", Some(d)) => {
            let put = dev_iam
                .put_user_policy()
                .user_name(&f.user)
                .policy_name("crossdeploy-operator");
            put.policy_document(text(d)).send().await.unwrap();
        }
        ("operator", None) => {
            let del = dev_iam
                .delete_user_policy()
                .user_name(&f.user)
                .policy_name("crossdeploy-operator");
            del.send().await.unwrap();
        }
        other => panic!("cannot put {other:?}"),
    }
}

async fn every_statement_is_needed(ctx: &TestCtx, f: &Fresh, p: &Policies) {
    let deployment = format!("{}/web", ctx.ns);
    let mut tried = Vec::new();
    for (policy, doc) in [
        ("trust", &p.trust),
        ("permissions", &p.permissions),
        ("bucket", &p.bucket),
        ("operator", &p.operator),
    ] {
        for statement in doc["Statement"].as_array().unwrap() {
            let sid = statement["Sid"].as_str().expect("every statement has a Sid");
            let (n, mark) = expected(policy, sid);
            put(f, policy, without(doc, sid).as_ref()).await;
            let ran = doctor(ctx, &["-t", &ctx.target, "--deployment", &deployment, "--strict"]).await;
            put(f, policy, Some(doc)).await;
            let v = ran.json();
            let what = format!("without statement {sid} of the {policy} policy");
            assert_eq!(step(&v, n)["result"], mark, "{what}: step {n}; {v:#}");
            assert_eq!(ran.code, if mark == "fail" { 1 } else { 3 }, "{what}: exit code");
            let fix = check(&v, n, mark)["fix"].as_str().unwrap_or_default().to_string();
            assert!(fix.contains(sid), "{what}: the fix names the statement: {fix}");
            ran.assert_shows_none_of(std::slice::from_ref(&f.external_id));
            tried.push(format!("{policy}/{sid} -> step {n} {mark}"));
        }
    }
    eprintln!("each statement breaks a named step:\n  {}", tried.join("\n  "));
    assert_eq!(tried.len(), 11, "{tried:#?}");
}
