//! Issue 5: the RBAC shipped in deploy/ is enough for the operator and no
//! more, proven on the real API server. deploy/ is installed through a
//! kustomize overlay (the documented way to change its namespace) into the
//! test's operator namespace, the operator runs with a TokenRequest token of
//! that ServiceAccount, and a namespace-scoped tenant is refused the
//! ExternalId Secret and TargetAccount writes.

use std::path::PathBuf;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

use crossdeploy::api::{CrossAccountDeployment, HasConditions, TargetAccount};

use crate::env::{REPO, env};
use crate::harness::*;
use crate::packaging::{docs, relative, run_ok};

const RBAC_KINDS: [&str; 5] = [
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
];

/// Installs deploy/'s ServiceAccount and RBAC into the test's operator
/// namespace, with a name prefix so cluster-scoped names do not collide
/// between tests. Returns the ServiceAccount's name.
fn install_operator_rbac(ctx: &TestCtx) -> String {
    let overlay = env().work_dir.join(format!("overlay-{}", ctx.ns));
    std::fs::create_dir_all(&overlay).expect("overlay dir");
    let base = relative(&overlay, &PathBuf::from(REPO).join("deploy"));
    let kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {}\nnamePrefix: {}-\nresources:\n  - {}\n",
        ctx.sys_ns,
        ctx.ns,
        base.display()
    );
    std::fs::write(overlay.join("kustomization.yaml"), kustomization).expect("overlay written");
    let rendered = docs(&run_ok("kubectl", &["kustomize", &overlay.to_string_lossy()], None));
    let rbac: Vec<Value> = rendered
        .into_iter()
        .filter(|o| RBAC_KINDS.contains(&o["kind"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(rbac.len(), RBAC_KINDS.len(), "deploy/ has one of each: {rbac:#?}");
    let yaml = rbac
        .iter()
        .map(|o| serde_norway::to_string(o).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n");
    run_ok("kubectl", &["apply", "--server-side", "-f", "-"], Some(&yaml));
    format!("{}-crossdeploy", ctx.ns)
}

/// A kubeconfig for the test API server (its address and CA from the admin
/// kubeconfig) that authenticates as `sa` with a bound TokenRequest token.
/// Returns its path and the token.
pub(crate) async fn token_kubeconfig(ns: &str, sa: &str) -> (PathBuf, String) {
    let env = env();
    let sas: Api<ServiceAccount> = Api::namespaced(admin_client().await, ns);
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .expect("token request");
    let token = sas
        .create_token_request(sa, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {ns}/{sa}: {e}"))
        .status
        .expect("token status")
        .token
        .expect("a token issued");
    let admin: Value = serde_norway::from_str(&std::fs::read_to_string(&env.kubeconfig).expect("admin kubeconfig"))
        .expect("admin kubeconfig parses");
    let current = admin["current-context"].as_str().expect("current context");
    let cluster_name = admin["contexts"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == current))
        .map(|c| c["context"]["cluster"].clone())
        .expect("context");
    let cluster = admin["clusters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == cluster_name))
        .cloned()
        .expect("cluster");
    let user = format!("system:serviceaccount:{ns}:{sa}");
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster_name, "user": user, "namespace": ns}}],
        "current-context": user,
    });
    let path = env.work_dir.join(format!("kubeconfig-{ns}-{sa}"));
    std::fs::write(&path, serde_norway::to_string(&kubeconfig).expect("yaml")).expect("kubeconfig written");
    (path, token)
}

pub(crate) async fn client_for(kubeconfig: &PathBuf) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig readable");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig valid");
    Client::try_from(config).expect("client")
}

pub(crate) fn assert_forbidden<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {
            assert_eq!(status.reason, "Forbidden", "{what}");
        }
        other => panic!("{what}: expected 403 Forbidden from the API server, got {other:?}"),
    }
}

#[tokio::test]
async fn operator_runs_with_exactly_the_shipped_rbac() {
    let mut ctx = TestCtx::new("rbac").await;
    let sa = install_operator_rbac(&ctx);
    let (kubeconfig, token) = token_kubeconfig(&ctx.sys_ns, &sa).await;
    // --leader-elect too, so the Lease rules are exercised.
    let sys_ns = ctx.sys_ns.clone();
    ctx.start_operator_as(&kubeconfig, &sys_ns, &["--leader-elect"]).await;

    ctx.apply_deployment("web", ctx.spec(V1)).await;
    let obj = ctx.wait_condition("web", "Ready", Some("Succeeded")).await;
    let status = obj.status.clone().expect("status");
    assert_eq!(status.account_id.as_deref(), Some("222222222222"));
    assert!(
        obj.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()),
        "finalizer added with the operator's own rights"
    );
    assert_eq!(ctx.group_deployments().await.len(), 1);

    // TargetAccount status, Events and the Lease were all written as the
    // ServiceAccount.
    let targets: Api<TargetAccount> = Api::all(ctx.client.clone());
    wait_until("TargetAccount Ready", || async {
        targets
            .get(&ctx.target)
            .await
            .ok()
            .and_then(|t| t.status)
            .is_some_and(|s| s.is_condition_true("Ready"))
    })
    .await;
    let events = ctx.events("web").await;
    assert!(events.iter().any(|(r, _)| r == "Succeeded"), "{events:?}");
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.sys_ns);
    let holder = leases
        .get("crossdeploy")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity);
    assert!(holder.is_some(), "the operator holds the Lease");

    // A spec change, then a delete: the finalizer is removed again.
    ctx.apply_deployment("web", ctx.spec(V2)).await;
    ctx.wait_deployed("web", V2).await;
    ctx.delete("web").await;
    wait_until("web deleted (finalizer removed)", || async {
        matches!(ctx.deployments().get_opt("web").await, Ok(None))
    })
    .await;

    let log = ctx.operator_log(0);
    assert!(log.contains("acquired leadership"), "{}", ctx.operator_log_tail(20));
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something it needs:\n{}",
        log.lines()
            .filter(|l| l.to_lowercase().contains("forbidden"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!log.contains(&token), "the ServiceAccount token is not logged");
    ctx.assert_no_secrets_leaked().await;
}

/// Every permission the operator has, and a selection of the nearest ones it
/// must not have, asked of the real authorizer as the operator itself.
#[tokio::test]
async fn operator_rbac_allows_nothing_more() {
    let ctx = TestCtx::new("rbac-exact").await;
    let sa = install_operator_rbac(&ctx);
    let (kubeconfig, _) = token_kubeconfig(&ctx.sys_ns, &sa).await;
    let client = client_for(&kubeconfig).await;
    let sys = ctx.sys_ns.as_str();
    let tenant = ctx.ns.as_str();
    let xd = "crossdeploy.io";
    let ev = "events.k8s.io";
    let co = "coordination.k8s.io";
    // (verb, group, resource, subresource, namespace, name, allowed)
    let cases: &[(&str, &str, &str, &str, &str, &str, bool)] = &[
        ("list", xd, "crossaccountdeployments", "", "", "", true),
        ("watch", xd, "crossaccountdeployments", "", "", "", true),
        ("get", xd, "crossaccountdeployments", "", tenant, "web", true),
        ("patch", xd, "crossaccountdeployments", "", tenant, "web", true),
        ("patch", xd, "crossaccountdeployments", "status", tenant, "web", true),
        ("list", xd, "revisionsources", "", "", "", true),
        ("watch", xd, "revisionsources", "", "", "", true),
        ("get", xd, "revisionsources", "", tenant, "src", true),
        ("patch", xd, "revisionsources", "status", tenant, "src", true),
        ("get", xd, "targetaccounts", "", "", "prod", true),
        ("list", xd, "targetaccounts", "", "", "", true),
        ("watch", xd, "targetaccounts", "", "", "", true),
        ("patch", xd, "targetaccounts", "status", "", "prod", true),
        ("get", "", "namespaces", "", "", tenant, true),
        ("list", "", "namespaces", "", "", "", true),
        ("watch", "", "namespaces", "", "", "", true),
        ("create", ev, "events", "", tenant, "", true),
        ("patch", ev, "events", "", tenant, "e", true),
        ("create", ev, "events", "", "default", "", true),
        ("get", "", "secrets", "", sys, "prod-external-id", true),
        ("create", co, "leases", "", sys, "", true),
        ("get", co, "leases", "", sys, "crossdeploy", true),
        ("patch", co, "leases", "", sys, "crossdeploy", true),
        // Users own the objects; the operator only reads them and writes status.
        ("create", xd, "crossaccountdeployments", "", tenant, "", false),
        ("update", xd, "crossaccountdeployments", "", tenant, "web", false),
        ("delete", xd, "crossaccountdeployments", "", tenant, "web", false),
        ("update", xd, "crossaccountdeployments", "status", tenant, "web", false),
        ("patch", xd, "revisionsources", "", tenant, "src", false),
        ("create", xd, "targetaccounts", "", "", "", false),
        ("update", xd, "targetaccounts", "", "", "prod", false),
        ("patch", xd, "targetaccounts", "", "", "prod", false),
        ("delete", xd, "targetaccounts", "", "", "prod", false),
        ("update", xd, "targetaccounts", "status", "", "prod", false),
        ("patch", "", "namespaces", "", "", tenant, false),
        // Secrets: get, by name, in its own namespace, and nothing else.
        // Marked ExternalId Secrets are watched (label-selected) instead of
        // fetched on every reconcile.
        ("list", "", "secrets", "", sys, "", true),
        ("watch", "", "secrets", "", sys, "", true),
        ("create", "", "secrets", "", sys, "", false),
        ("update", "", "secrets", "", sys, "prod-external-id", false),
        ("get", "", "secrets", "", tenant, "prod-external-id", false),
        ("get", "", "secrets", "", "default", "x", false),
        ("list", "", "secrets", "", "", "", false),
        // Leases: only its own, only in its own namespace.
        ("update", co, "leases", "", sys, "crossdeploy", false),
        ("delete", co, "leases", "", sys, "crossdeploy", false),
        ("get", co, "leases", "", sys, "another", false),
        ("patch", co, "leases", "", sys, "another", false),
        ("create", co, "leases", "", tenant, "", false),
        ("list", co, "leases", "", sys, "", false),
        // Events: write only, and not the core/v1 API.
        ("list", ev, "events", "", tenant, "", false),
        ("delete", ev, "events", "", tenant, "e", false),
        ("create", "", "events", "", tenant, "", false),
        ("get", "", "configmaps", "", sys, "x", false),
        ("create", "", "pods", "", sys, "", false),
        ("create", "", "serviceaccounts", "token", sys, &sa, false),
    ];
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let mut wrong = Vec::new();
    for (verb, group, resource, sub, ns, name, allowed) in cases {
        let review: SelfSubjectAccessReview = serde_json::from_value(json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {
                "verb": verb, "group": group, "resource": resource,
                "subresource": sub, "namespace": ns, "name": name,
            }},
        }))
        .expect("review");
        let got = reviews
            .create(&PostParams::default(), &review)
            .await
            .expect("SelfSubjectAccessReview")
            .status
            .expect("review status")
            .allowed;
        if got != *allowed {
            wrong.push(format!(
                "{verb} {group}/{resource}{} ns={ns:?} name={name:?}: allowed={got}, want {allowed}",
                if sub.is_empty() {
                    String::new()
                } else {
                    format!("/{sub}")
                }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "RBAC differs from what the operator needs:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn tenant_cannot_read_the_external_id_or_change_a_target_account() {
    let ctx = TestCtx::new("rbac-tenant").await;
    let admin = ctx.client.clone();
    // A tenant: CrossAccountDeployment CRUD in its own namespace only.
    let objs = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "tenant", "namespace": ctx.ns}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "xad-editor", "namespace": ctx.ns},
               "rules": [{"apiGroups": ["crossdeploy.io"], "resources": ["crossaccountdeployments"],
                          "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "xad-editor", "namespace": ctx.ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "xad-editor"},
               "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": ctx.ns}]}),
    ];
    let yaml = objs
        .iter()
        .map(|o| serde_norway::to_string(o).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n");
    run_ok("kubectl", &["apply", "--server-side", "-f", "-"], Some(&yaml));
    let (kubeconfig, _) = token_kubeconfig(&ctx.ns, "tenant").await;
    let tenant = client_for(&kubeconfig).await;

    // The token works: the tenant can do its job in its namespace.
    let xads: Api<CrossAccountDeployment> = Api::namespaced(tenant.clone(), &ctx.ns);
    let xad: CrossAccountDeployment = serde_json::from_value(json!({
        "apiVersion": "crossdeploy.io/v1alpha1",
        "kind": "CrossAccountDeployment",
        "metadata": {"name": "web"},
        "spec": ctx.spec(V1),
    }))
    .expect("xad");
    xads.create(&PostParams::default(), &xad)
        .await
        .expect("the tenant creates a CrossAccountDeployment in its namespace");
    assert_eq!(xads.list(&ListParams::default()).await.expect("list").items.len(), 1);

    // ...but not the ExternalId, in any way.
    let secrets: Api<Secret> = Api::namespaced(tenant.clone(), &ctx.sys_ns);
    assert_forbidden("get the ExternalId Secret", secrets.get("prod-external-id").await);
    assert_forbidden(
        "list Secrets in the operator namespace",
        secrets.list(&ListParams::default()).await,
    );

    // ...nor the TargetAccount: no reads, no updates, no patches, no status.
    let targets_as_tenant: Api<TargetAccount> = Api::all(tenant.clone());
    let target = Api::<TargetAccount>::all(admin).get(&ctx.target).await.expect("target");
    // The attack: select every namespace, the tenant's included.
    let everything = json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "Exists"}]});
    let mut widened = target.clone();
    widened.spec.namespace_selector = serde_json::from_value(everything.clone()).expect("selector");
    assert_forbidden(
        "update a TargetAccount",
        targets_as_tenant
            .replace(&ctx.target, &PostParams::default(), &widened)
            .await,
    );
    assert_forbidden(
        "patch a TargetAccount",
        targets_as_tenant
            .patch(
                &ctx.target,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"namespaceSelector": everything}})),
            )
            .await,
    );
    assert_forbidden(
        "patch a TargetAccount's status",
        targets_as_tenant
            .patch_status(
                &ctx.target,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"accountId": "333333333333"}})),
            )
            .await,
    );
    assert_forbidden("get a TargetAccount", targets_as_tenant.get(&ctx.target).await);

    // Its rights stop at its namespace.
    let elsewhere: Api<CrossAccountDeployment> = Api::namespaced(tenant, &ctx.sys_ns);
    assert_forbidden(
        "create a CrossAccountDeployment in another namespace",
        elsewhere.create(&PostParams::default(), &xad).await,
    );
}
