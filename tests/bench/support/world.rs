//! The objects a bench run creates: an operator namespace with a
//! ServiceAccount (cluster-admin; its own identity, so the API server's audit
//! log can tell the operator's requests from ours), M accounts — each a
//! TargetAccount with its own ExternalId Secret and its own namespace, so the
//! operator holds M distinct sessions — deployment groups, and the
//! CrossAccountDeployments, applied concurrently with server-side apply.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crossdeploy::api::{CrossAccountDeployment, TargetAccount};

pub const MANAGER: &str = "crossdeploy-bench";
pub const V1: &str = "webapp/webapp-1.0.0.zip";
pub const V2: &str = "webapp/webapp-2.0.0.zip";

/// Seconds since the epoch, as the emulator stamps its call records.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Server-side apply of any object (typed by `K`, given as JSON); returns the
/// generation it has now.
pub async fn apply<K>(api: &Api<K>, name: &str, obj: &Value) -> anyhow::Result<i64>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let applied = api
        .patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(obj))
        .await
        .with_context(|| format!("applying {name}"))?;
    Ok(applied.meta().generation.unwrap_or(0))
}

pub async fn namespace(admin: &Client, ns: &str) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    apply(
        &namespaces,
        ns,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await?;
    Ok(())
}

/// A kubeconfig that authenticates as ServiceAccount `ns/sa`, bound to
/// cluster-admin, with a TokenRequest token (valid for a day).
pub async fn operator_identity(
    admin: &Client,
    admin_kubeconfig: &Path,
    ns: &str,
    sa: &str,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    namespace(admin, ns).await?;
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    apply(
        &sas,
        sa,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}}),
    )
    .await?;
    let binding = format!("{ns}-{sa}");
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    apply(
        &bindings,
        &binding,
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
        }),
    )
    .await?;
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 86400}}))?;
    let token = sas
        .create_token_request(sa, &PostParams::default(), &request)
        .await?
        .status
        .map(|s| s.token)
        .ok_or_else(|| anyhow!("no token issued for {ns}/{sa}"))?;
    let admin_config: Value = serde_norway::from_str(&std::fs::read_to_string(admin_kubeconfig)?)?;
    let cluster = admin_config["clusters"]
        .as_array()
        .and_then(|c| c.first())
        .cloned()
        .ok_or_else(|| anyhow!("admin kubeconfig has no cluster"))?;
    let cluster_name = cluster["name"].clone();
    let user = format!("system:serviceaccount:{ns}:{sa}");
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster_name, "user": user, "namespace": ns}}],
        "current-context": user,
    });
    std::fs::write(out, serde_norway::to_string(&kubeconfig)?)?;
    Ok(out.to_path_buf())
}

/// Whether the CRDs of this checkout know a field (the bench runs against
/// whichever operator the branch has).
fn crd_has(field: &str) -> bool {
    std::fs::read_to_string(format!("{}/crds/crossdeploy.io.yaml", env!("CARGO_MANIFEST_DIR")))
        .is_ok_and(|crds| crds.contains(&format!("{field}:")))
}

/// One TargetAccount, the namespace it admits and its ExternalId Secret.
#[derive(Clone, Debug)]
pub struct Account {
    pub target: String,
    pub namespace: String,
}

pub struct AccountSetup<'a> {
    pub client: &'a Client,
    /// Names start with it; TargetAccounts carry `crossdeploy.io/bench=<run>`.
    pub run: &'a str,
    pub operator_namespace: &'a str,
    /// Where the deployer role, the instance-profile role, the ExternalId
    /// and the revisions bucket come from.
    pub env: &'a crate::env::Env,
}

impl AccountSetup<'_> {
    pub async fn create(&self, count: usize) -> anyhow::Result<Vec<Account>> {
        stream::iter(0..count)
            .map(|i| self.one(i))
            .buffered(8)
            .try_collect()
            .await
    }

    async fn one(&self, i: usize) -> anyhow::Result<Account> {
        let run = self.run;
        let account = Account {
            target: format!("{run}-a{i}"),
            namespace: format!("{run}-n{i}"),
        };
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": account.namespace, "labels": {"crossdeploy.io/bench-account": account.target}}});
        apply(&namespaces, &account.namespace, &ns).await?;
        let secret_name = format!("{}-external-id", account.target);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), self.operator_namespace);
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": secret_name, "labels": {"crossdeploy.io/external-id": "true"}},
            "stringData": {"externalId": self.env.external_id()}});
        apply(&secrets, &secret_name, &secret).await?;
        let targets: Api<TargetAccount> = Api::all(self.client.clone());
        let mut ta = json!({
            "apiVersion": "crossdeploy.io/v1alpha1", "kind": "TargetAccount",
            "metadata": {"name": account.target, "labels": {"crossdeploy.io/bench": run}},
            "spec": {
                "roleArn": self.env.role("deployer"),
                "externalIdSecretRef": {"name": secret_name},
                "region": "us-east-1",
                "namespaceSelector": {"matchLabels": {"crossdeploy.io/bench-account": account.target}},
                "instanceProfileRoleArn": self.env.role("instanceRole"),
            }
        });
        if crd_has("allowedRevisionBuckets") {
            // Operators that know this field allow tenants no bucket without it.
            ta["spec"]["allowedRevisionBuckets"] = json!([{"bucket": crate::harness::revisions_bucket()}]);
        }
        apply(&targets, &account.target, &ta).await?;
        Ok(account)
    }
}

/// One CrossAccountDeployment of the run.
#[derive(Clone, Debug)]
pub struct Object {
    pub namespace: String,
    pub name: String,
    pub target: String,
    pub group: String,
}

impl Object {
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The full object as the bench applies it (server-side apply owns it all).
    pub fn manifest(&self, run: &str, app: &str, bucket: &str, key: &str, redeploy: Option<&str>) -> Value {
        let mut metadata = json!({"name": self.name, "namespace": self.namespace,
                                  "labels": {"crossdeploy.io/bench": run}});
        if let Some(r) = redeploy {
            metadata["annotations"] = json!({crossdeploy::deployment::REDEPLOY_ANNOTATION: r});
        }
        json!({
            "apiVersion": "crossdeploy.io/v1alpha1",
            "kind": "CrossAccountDeployment",
            "metadata": metadata,
            "spec": {
                "targetAccountRef": {"name": self.target},
                "applicationName": app,
                "deploymentGroupName": self.group,
                "revision": {"s3": {"bucket": bucket, "key": key}},
            },
        })
    }
}

/// One object as applied: when the API server accepted it (epoch seconds)
/// and the generation it has since.
#[derive(Clone, Debug)]
pub struct Applied {
    pub object: Object,
    pub at: f64,
    pub generation: i64,
}

/// Applies every (object, manifest) with at most `concurrency` requests in
/// flight, in input order.
pub async fn apply_all(
    client: &Client,
    items: Vec<(Object, Value)>,
    concurrency: usize,
) -> anyhow::Result<Vec<Applied>> {
    stream::iter(items)
        .map(|(object, manifest)| {
            let api: Api<CrossAccountDeployment> = Api::namespaced(client.clone(), &object.namespace);
            async move {
                let generation = apply(&api, &object.name, &manifest).await?;
                Ok::<_, anyhow::Error>(Applied {
                    object,
                    at: epoch_now(),
                    generation,
                })
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}
