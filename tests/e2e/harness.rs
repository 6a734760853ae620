//! Per-test helpers: a fresh namespace (plus an operator namespace for the
//! ExternalId Secret), a TargetAccount only that namespace may use, an
//! operator process watching only that namespace, AWS clients for the
//! emulator's admin identities, and waiting with timeouts.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crossdeploy::api::{CrossAccountDeployment, HasConditions, TargetAccount};

use crate::env::{Env, REPO, env};

pub const WAIT: Duration = Duration::from_secs(90);

pub async fn admin_client() -> Client {
    let env = env();
    let kc = Kubeconfig::read_from(&env.kubeconfig).expect("kubeconfig readable");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig valid");
    Client::try_from(config).expect("client")
}

static CRDS: OnceCell<()> = OnceCell::const_new();

/// Applies `crds/` once per process and waits until they are served.
pub async fn ensure_crds(client: &Client) {
    CRDS.get_or_init(|| async {
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        let text = std::fs::read_to_string(format!("{REPO}/crds/crossdeploy.io.yaml")).expect("crds readable");
        for doc in text
            .split("\n---\n")
            .filter(|d| d.contains("kind: CustomResourceDefinition"))
        {
            let crd: CustomResourceDefinition = serde_norway::from_str(doc).expect("crd parses");
            let name = crd.name_any();
            api.patch(
                &name,
                &PatchParams::apply("crossdeploy-e2e").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("crd applies");
            wait_until(&format!("CRD {name} established"), || async {
                api.get_opt(&name).await.ok().flatten().is_some_and(|c| {
                    c.status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
            })
            .await;
        }
    })
    .await;
}

/// Polls `check` until it returns true or WAIT passes.
/// Who holds the operator's leader Lease (`crossdeploy`) in `namespace`.
pub async fn lease_holder(client: &Client, namespace: &str) -> Option<String> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), namespace);
    leases
        .get_opt("crossdeploy")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec.and_then(|s| s.holder_identity))
}

pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out after {WAIT:?} waiting for {what}");
}

pub fn aws_config(who: &str) -> aws_config::SdkConfig {
    let env = env();
    let (id, secret) = env.identity(who);
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(env.endpoint())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            Credentials::new(id, secret, None, None, "e2e"),
        ))
        .build()
}

/// The emulator's control API (no signing).
pub async fn control(method: &str, path: &str, body: Option<Value>) -> Value {
    let url = format!("{}{path}", env().control_url());
    let http = reqwest::Client::new();
    let req = match method {
        "GET" => http.get(&url),
        _ => http.post(&url).json(&body.unwrap_or(json!({}))),
    };
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("emulator control {path}: {e}"));
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "emulator control {path}: {status} {value}");
    value
}

fn as_list(v: Value) -> Vec<Value> {
    v.as_array()
        .cloned()
        .or_else(|| v["calls"].as_array().cloned())
        .unwrap_or_default()
}

/// AWS calls the emulator recorded for a service/operation.
pub async fn calls(service: &str, operation: &str) -> Vec<Value> {
    as_list(control("GET", &format!("/calls?service={service}&operation={operation}"), None).await)
}

/// One isolated test world.
pub struct TestCtx {
    pub ns: String,
    pub sys_ns: String,
    pub client: Client,
    pub target: String,
    pub group: String,
    operator: Option<tokio::process::Child>,
    operator_logs: Vec<PathBuf>,
    /// The operator's AWS identity (access key id, secret) when not the
    /// emulator's seeded `operator` user.
    pub aws_identity: Option<(String, String)>,
}

impl TestCtx {
    /// A namespace `xd-<name>` labelled for tenancy, its operator namespace
    /// holding the ExternalId Secret, a TargetAccount `xd-<name>` for the
    /// deployer role, and a deployment group `xd-<name>` of the seeded app.
    pub async fn new(name: &str) -> Self {
        let env = env();
        let client = admin_client().await;
        ensure_crds(&client).await;
        let ns = format!("xd-{name}");
        let sys_ns = format!("xd-{name}-sys");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for (n, labels) in [(&ns, json!({"crossdeploy.io/tenant": ns})), (&sys_ns, json!({}))] {
            let obj: Namespace = serde_json::from_value(json!({
                "metadata": {"name": n, "labels": labels}
            }))
            .expect("namespace");
            namespaces
                .create(&PostParams::default(), &obj)
                .await
                .expect("namespace created");
        }
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &sys_ns);
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "prod-external-id", "labels": {"crossdeploy.io/external-id": "true"}},
            "stringData": {"externalId": env.external_id()},
        }))
        .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret created");

        let ctx = Self {
            target: ns.clone(),
            group: ns.clone(),
            ns,
            sys_ns,
            client,
            operator: None,
            operator_logs: Vec::new(),
            aws_identity: None,
        };
        ctx.apply_target_account(
            &env.role("deployer"),
            json!({"matchLabels": {"crossdeploy.io/tenant": ctx.ns}}),
        )
        .await;
        ctx.create_group(&ctx.group).await;
        ctx
    }

    pub async fn apply_target_account(&self, role_arn: &str, selector: Value) {
        self.apply_target_account_with(role_arn, selector, json!({})).await;
    }

    /// The TargetAccount, with `extra` spec fields (limits, another
    /// externalIdSecretRef, ...) merged over the defaults.
    pub async fn apply_target_account_with(&self, role_arn: &str, selector: Value, extra: Value) {
        let api: Api<TargetAccount> = Api::all(self.client.clone());
        let mut ta = json!({
            "apiVersion": "crossdeploy.io/v1alpha1",
            "kind": "TargetAccount",
            "metadata": {"name": self.target, "labels": {"crossdeploy.io/test": self.ns}},
            "spec": {
                "roleArn": role_arn,
                "externalIdSecretRef": {"name": "prod-external-id"},
                "region": "us-east-1",
                "namespaceSelector": selector,
                "instanceProfileRoleArn": env().role("instanceRole"),
                "allowedRevisionBuckets": allowed_revision_buckets(),
            }
        });
        if let (Some(spec), Some(extra)) = (ta["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        api.patch(
            &self.target,
            &PatchParams::apply("crossdeploy-e2e").force(),
            &Patch::Apply(&ta),
        )
        .await
        .expect("TargetAccount applies");
    }

    /// A deployment group of the seeded application, created as prod-admin.
    pub async fn create_group(&self, group: &str) {
        let env = env();
        let cd = self.codedeploy_admin();
        let service_role = env.world["codedeploy"]["serviceRoleArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        cd.create_deployment_group()
            .application_name(app())
            .deployment_group_name(group)
            .service_role_arn(service_role)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating deployment group {group}: {e:?}"));
    }

    /// A blue/green group whose deployments wait in `Ready` until someone
    /// continues them (actionOnTimeout STOP_DEPLOYMENT).
    pub async fn create_blue_green_group(&self, group: &str) {
        use aws_sdk_codedeploy::types::{
            BlueGreenDeploymentConfiguration, DeploymentOption, DeploymentReadyAction, DeploymentReadyOption,
            DeploymentStyle, DeploymentType,
        };
        let service_role = env().world["codedeploy"]["serviceRoleArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.codedeploy_admin()
            .create_deployment_group()
            .application_name(app())
            .deployment_group_name(group)
            .service_role_arn(service_role)
            .deployment_style(
                DeploymentStyle::builder()
                    .deployment_type(DeploymentType::BlueGreen)
                    .deployment_option(DeploymentOption::WithTrafficControl)
                    .build(),
            )
            .blue_green_deployment_configuration(
                BlueGreenDeploymentConfiguration::builder()
                    .deployment_ready_option(
                        DeploymentReadyOption::builder()
                            .action_on_timeout(DeploymentReadyAction::StopDeployment)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating blue/green deployment group {group}: {e:?}"));
    }

    /// An Auto Scaling scale-out deployment (creator autoscaling) of the
    /// group's last successful revision, as CodeDeploy starts one.
    pub async fn scale_out(&self) -> String {
        let body = json!({
            "account": env().world["accounts"]["production"],
            "applicationName": app(),
            "deploymentGroupName": self.group,
        });
        let out = control("POST", "/codedeploy/scale-out", Some(body)).await;
        out["deploymentId"]
            .as_str()
            .expect("scale-out deployment id")
            .to_string()
    }

    pub fn codedeploy_admin(&self) -> aws_sdk_codedeploy::Client {
        aws_sdk_codedeploy::Client::new(&aws_config("prodAdmin"))
    }

    /// A deployment of `key` that crossdeploy did not create (prod-admin, by hand).
    pub async fn deploy_by_hand(&self, key: &str, description: &str) -> String {
        self.codedeploy_admin()
            .create_deployment()
            .application_name(app())
            .deployment_group_name(&self.group)
            .revision(s3_location(key))
            .description(description)
            .send()
            .await
            .expect("deployment by hand")
            .deployment_id
            .expect("deployment id")
    }

    /// Deployments in this test's group, as prod-admin sees them.
    pub async fn group_deployments(&self) -> Vec<aws_sdk_codedeploy::types::DeploymentInfo> {
        let cd = self.codedeploy_admin();
        let ids = cd
            .list_deployments()
            .application_name(app())
            .deployment_group_name(&self.group)
            .send()
            .await
            .expect("ListDeployments")
            .deployments
            .unwrap_or_default();
        if ids.is_empty() {
            return Vec::new();
        }
        cd.batch_get_deployments()
            .set_deployment_ids(Some(ids))
            .send()
            .await
            .expect("BatchGetDeployments")
            .deployments_info
            .unwrap_or_default()
    }

    pub async fn set_behaviour(&self, behaviour: Value) {
        let mut body = json!({
            "account": env().world["accounts"]["production"],
            "applicationName": app(),
            "deploymentGroupName": self.group,
        });
        if let (Some(b), Some(extra)) = (body.as_object_mut(), behaviour.as_object()) {
            b.extend(extra.clone());
        }
        control("POST", "/codedeploy/behaviour", Some(body)).await;
    }

    pub async fn complete(&self, deployment_id: &str, status: &str) {
        control(
            "POST",
            "/codedeploy/complete",
            Some(json!({"account": env().world["accounts"]["production"], "deploymentId": deployment_id, "status": status})),
        )
        .await;
    }

    /// Starts crossdeploy restricted to this test's namespace.
    pub async fn start_operator(&mut self, extra: &[&str]) {
        self.stop_operator().await;
        self.operator = Some(self.spawn_operator(extra));
    }

    /// Starts crossdeploy with another identity (a ServiceAccount token
    /// kubeconfig) and operator namespace, to prove its RBAC.
    pub async fn start_operator_as(&mut self, kubeconfig: &std::path::Path, operator_ns: &str, extra: &[&str]) {
        self.stop_operator().await;
        self.operator = Some(self.spawn_operator_with(kubeconfig, operator_ns, extra));
    }

    /// Spawns one more operator process (its log is scanned by the leak
    /// check too); the caller owns it. Killed when dropped.
    pub fn spawn_operator(&mut self, extra: &[&str]) -> tokio::process::Child {
        let sys_ns = self.sys_ns.clone();
        self.spawn_operator_with(&env().kubeconfig, &sys_ns, extra)
    }

    fn spawn_operator_with(
        &mut self,
        kubeconfig: &std::path::Path,
        operator_ns: &str,
        extra: &[&str],
    ) -> tokio::process::Child {
        let env: &Env = env();
        let (id, secret) = self.aws_identity.clone().unwrap_or_else(|| env.identity("operator"));
        let log = env
            .work_dir
            .join(format!("operator-{}-{}.log", self.ns, self.operator_logs.len()));
        let log_file = std::fs::File::create(&log).expect("operator log");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_crossdeploy"));
        cmd.args(["run", "--operator-namespace", operator_ns, "--watch-namespace", &self.ns])
            .args(["--target-account-selector", &format!("crossdeploy.io/test={}", self.ns)])
            .args(if extra.contains(&"--http-addr") { &[][..] } else { &["--http-addr", "127.0.0.1:0"][..] })
            .arg("--s3-force-path-style")
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("AWS_ENDPOINT_URL", env.endpoint())
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Debug level on purpose: the leak check reads everything we log.
            .env(
                "RUST_LOG",
                "debug,hyper=info,hyper_util=info,h2=info,rustls=info,tower=info,aws_smithy_runtime=info,aws_smithy_http_client=info",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone().expect("log fd")))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        if extra.contains(&"--log-level") {
            // A test that chooses the level gets exactly that.
            cmd.env_remove("RUST_LOG");
        }
        let child = cmd.spawn().expect("crossdeploy binary starts");
        self.operator_logs.push(log);
        child
    }

    /// The log of the n-th operator process started by this test.
    pub fn operator_log(&self, n: usize) -> String {
        self.operator_logs
            .get(n)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    pub async fn stop_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill().await;
        }
    }

    /// Waits for the operator process to exit by itself; returns its exit code.
    pub async fn operator_exit_code(&mut self) -> Option<i32> {
        let child = self.operator.as_mut().expect("operator running");
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .expect("operator exits")
            .expect("wait");
        self.operator = None;
        status.code()
    }

    pub fn deployments(&self) -> Api<CrossAccountDeployment> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn apply_deployment(&self, name: &str, spec: Value) {
        let obj = json!({
            "apiVersion": "crossdeploy.io/v1alpha1",
            "kind": "CrossAccountDeployment",
            "metadata": {"name": name},
            "spec": spec,
        });
        self.deployments()
            .patch(
                name,
                &PatchParams::apply("crossdeploy-e2e").force(),
                &Patch::Apply(&obj),
            )
            .await
            .unwrap_or_else(|e| panic!("applying CrossAccountDeployment {name}: {e}"));
    }

    /// A spec for this test's TargetAccount and group.
    pub fn spec(&self, key: &str) -> Value {
        json!({
            "targetAccountRef": {"name": self.target},
            "applicationName": app(),
            "deploymentGroupName": self.group,
            "revision": {"s3": {"bucket": revisions_bucket(), "key": key}},
        })
    }

    /// Waits until `key` is deployed: the status shows it Succeeded and Ready.
    pub async fn wait_deployed(&self, name: &str, key: &str) -> CrossAccountDeployment {
        let api = self.deployments();
        let deployed = |o: &CrossAccountDeployment| {
            o.status.as_ref().is_some_and(|s| {
                s.revision.as_ref().map(|r| r.key.as_str()) == Some(key)
                    && s.current_deployment
                        .as_ref()
                        .and_then(|c| c.status.as_ref().map(|s| s.as_str()))
                        == Some("Succeeded")
                    && s.is_condition_true("Ready")
            })
        };
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if let Ok(obj) = api.get(name).await
                && deployed(&obj)
            {
                return obj;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "timed out waiting for {name} to deploy {key}; operator log tail:\n{}",
            self.operator_log_tail(40)
        );
    }

    /// Waits until condition `type_` is True with `reason` (any reason when None).
    pub async fn wait_condition(&self, name: &str, type_: &str, reason: Option<&str>) -> CrossAccountDeployment {
        let api = self.deployments();
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < WAIT {
            if let Ok(obj) = api.get(name).await {
                let hit = obj.status.as_ref().and_then(|s| s.condition(type_).cloned());
                if let Some(c) = &hit
                    && c.status == "True"
                    && reason.is_none_or(|r| c.reason == r)
                {
                    return obj;
                }
                last = obj.status.clone();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let logs = self.operator_log_tail(40);
        panic!("timed out waiting for {name} {type_}={reason:?}; last status: {last:#?}\noperator log tail:\n{logs}");
    }

    pub fn operator_log_tail(&self, lines: usize) -> String {
        let Some(path) = self.operator_logs.last() else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn session(&self) -> String {
        format!("crossdeploy.{}", self.ns)
    }

    /// AssumeRole calls made for this test's tenant session.
    pub async fn assume_role_calls(&self) -> usize {
        let session = self.session();
        calls("sts", "AssumeRole")
            .await
            .iter()
            .filter(|c| c["params"]["RoleSessionName"].as_str() == Some(&session))
            .count()
    }

    /// Every AWS call made for this test's tenant session.
    pub async fn session_calls(&self) -> Vec<Value> {
        let session = self.session();
        as_list(control("GET", "/calls", None).await)
            .into_iter()
            .filter(|c| {
                c["principal"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!("/{session}")))
                    || c["params"]["RoleSessionName"].as_str() == Some(&session)
            })
            .collect()
    }

    /// Fails if a secret of the suite shows up in anything crossdeploy wrote:
    /// its logs (debug level), the Events and the status of this namespace.
    pub async fn assert_no_secrets_leaked(&self) {
        let env = env();
        let mut secrets = vec![env.external_id()];
        for who in ["operator", "devAdmin", "prodAdmin"] {
            secrets.push(env.identity(who).1);
        }
        secrets.extend(self.aws_identity.iter().map(|(_, secret)| secret.clone()));
        // The emulator puts these into failed deployments' log tails
        // (codedeploy_targets.LOG_TAIL_SECRETS): shown only masked.
        secrets.extend(LOG_TAIL_SECRETS.iter().map(|s| s.to_string()));
        let mut haystack = String::new();
        for path in &self.operator_logs {
            haystack.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client.clone(), &self.ns);
        let evs = events.list(&Default::default()).await.expect("events list");
        haystack.push_str(&serde_json::to_string(&evs.items).unwrap_or_default());
        let objs = self.deployments().list(&Default::default()).await.expect("list");
        haystack.push_str(&serde_json::to_string(&objs.items).unwrap_or_default());
        assert!(haystack.contains("crossdeploy"), "the leak check read real output");
        for s in &secrets {
            assert!(
                !haystack.contains(s.as_str()),
                "a secret ({} chars) leaked into logs, Events or status",
                s.len()
            );
        }
        for prefix in SESSION_TOKEN_PREFIXES {
            assert!(!haystack.contains(prefix), "a session token leaked");
        }
    }

    /// (reason, note) of the Events about one object.
    pub async fn events(&self, object: &str) -> Vec<(String, String)> {
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client.clone(), &self.ns);
        let evs = events.list(&Default::default()).await.expect("events list");
        evs.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    pub async fn delete(&self, name: &str) {
        self.deployments()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
}

impl Drop for TestCtx {
    fn drop(&mut self) {
        if let Some(child) = self.operator.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Secret-looking strings in the emulator's log tails of failed lifecycle
/// events (tests/emulator/crossdeploy_emulator/codedeploy_targets.py).
pub const LOG_TAIL_SECRETS: &[&str] = &["AKIAXDLEAKEDLOGTAIL0", "hunter2"];

/// moto's session tokens start with this; none may appear anywhere.
const SESSION_TOKEN_PREFIXES: &[&str] = &["FQoGZXIvYXdzE"];

/// The message of condition `type_` (empty when absent).
pub fn condition_message(obj: &CrossAccountDeployment, type_: &str) -> String {
    obj.status
        .as_ref()
        .and_then(|s| s.condition(type_).map(|c| c.message.clone()))
        .unwrap_or_default()
}

/// A zip bundle in the revisions bucket, as CodeDeploy's RevisionLocation.
pub fn s3_location(key: &str) -> aws_sdk_codedeploy::types::RevisionLocation {
    use aws_sdk_codedeploy::types::{BundleType, RevisionLocation, RevisionLocationType, S3Location};
    RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(
            S3Location::builder()
                .bucket(revisions_bucket())
                .key(key)
                .bundle_type(BundleType::Zip)
                .build(),
        )
        .build()
}

/// Every revision bucket of the emulator's world, any key: the tests'
/// TargetAccounts allow them all unless a test narrows it.
pub fn allowed_revision_buckets() -> Value {
    let buckets = env().world["buckets"].as_object().cloned().unwrap_or_default();
    Value::Array(
        buckets
            .values()
            .filter_map(|b| b["name"].as_str())
            .map(|name| json!({"bucket": name}))
            .collect(),
    )
}

pub fn app() -> String {
    env().world["codedeploy"]["applicationName"]
        .as_str()
        .unwrap_or("webapp")
        .to_string()
}

pub fn revisions_bucket() -> String {
    env().world["buckets"]["revisions"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub const V1: &str = "webapp/webapp-1.0.0.zip";
pub const V2: &str = "webapp/webapp-2.0.0.zip";
