//! Issue 12: a tenant learns nothing about another namespace's revisions —
//! bucket, keys, versions, namespace — through what it can read: the status
//! of its own objects, the Events of its namespace, and the operator's
//! metrics (which end up in a shared Prometheus). The tenant is a
//! ServiceAccount with a namespaced Role, as in rbac.rs.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crossdeploy::api::{CrossAccountDeployment, HasConditions, RevisionSource};

use crate::harness::*;
use crate::packaging::run_ok;
use crate::rbac::{assert_forbidden, client_for, token_kubeconfig};

/// The only label names crossdeploy's metrics may carry: each takes its
/// values from a fixed set (kinds, results, AWS operations, error classes,
/// CodeDeploy statuses, condition types, histogram buckets).
// `method` is an HTTP method of the operator's Kubernetes requests.
const METRIC_LABELS: [&str; 8] = [
    "kind",
    "result",
    "operation",
    "outcome",
    "status",
    "condition",
    "le",
    "method",
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Uploads a bundle as the development account's admin; returns its version.
async fn upload(bucket: &str, key: &str) -> String {
    let config = aws_sdk_s3::config::Builder::from(&aws_config("devAdmin"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(b"team b's release".to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("uploading s3://{bucket}/{key}: {e:?}"))
        .version_id
        .expect("the revisions bucket is versioned")
}

async fn apply_source(ctx: &TestCtx, name: &str, spec: Value) {
    let api: Api<RevisionSource> = Api::namespaced(ctx.client.clone(), &ctx.ns);
    let obj = json!({"apiVersion": "crossdeploy.io/v1alpha1", "kind": "RevisionSource",
                     "metadata": {"name": name}, "spec": spec});
    api.patch(
        name,
        &PatchParams::apply("crossdeploy-e2e").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap_or_else(|e| panic!("applying RevisionSource {name}: {e}"));
}

/// A ServiceAccount `tenant` in `ns` that owns CrossAccountDeployments and
/// RevisionSources there and reads the namespace's Events; a client as it.
async fn tenant(ns: &str) -> kube::Client {
    let objs = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tenant", "namespace": ns}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "crossdeploy-tenant", "namespace": ns},
        "rules": [
            {"apiGroups": ["crossdeploy.io"], "resources": ["crossaccountdeployments", "revisionsources"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]},
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "crossdeploy-tenant", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "crossdeploy-tenant"},
               "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": ns}]}),
    ];
    let yaml = objs
        .iter()
        .map(|o| serde_norway::to_string(o).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n");
    run_ok("kubectl", &["apply", "--server-side", "-f", "-"], Some(&yaml));
    client_for(&token_kubeconfig(ns, "tenant").await.0).await
}

/// Label names of every sample in a Prometheus text exposition.
fn label_names(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Some(&l[l.find('{')? + 1..l.rfind('}')?]))
        .flat_map(|labels| {
            labels
                .split("\",")
                .map(|kv| kv.split('=').next().unwrap_or_default().to_string())
        })
        .filter(|k| !k.is_empty())
        .collect()
}

async fn metrics(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let ready = r#"crossdeploy_objects{kind="CrossAccountDeployment",condition="Ready"} 1"#;
    let start = std::time::Instant::now();
    loop {
        let text = match reqwest::get(&url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(ready) || start.elapsed() > WAIT {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_tenant_learns_nothing_about_another_namespaces_revisions() {
    let mut a = TestCtx::new("iso-a").await;
    let mut b = TestCtx::new("iso-b").await;
    let (port_a, port_b) = (free_port(), free_port());
    a.start_operator(&["--http-addr", &format!("127.0.0.1:{port_a}")]).await;
    b.start_operator(&["--http-addr", &format!("127.0.0.1:{port_b}")]).await;

    // Team B releases from its own prefix of the shared bucket.
    let bucket = revisions_bucket();
    let b_key = format!("{}/team-b-confidential-9.9.9.zip", b.ns);
    let b_version = upload(&bucket, &b_key).await;
    let prefix = format!("{}/", b.ns);
    apply_source(
        &b,
        "b-releases",
        json!({"s3": {"bucket": bucket, "prefix": prefix}, "verifyFor": [{"name": b.target}], "interval": 10}),
    )
    .await;
    let mut b_spec = b.spec(V1);
    b_spec["revision"] = json!({"sourceRef": {"name": "b-releases"}});
    b.apply_deployment("b-web", b_spec).await;
    b.wait_deployed("b-web", &b_key).await;

    // Team A's tenant deploys its own revision, and tries to watch B's
    // prefix through B's TargetAccount.
    let tenant = tenant(&a.ns).await;
    let xads: Api<CrossAccountDeployment> = Api::namespaced(tenant.clone(), &a.ns);
    let xad: CrossAccountDeployment = serde_json::from_value(json!({
        "apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
        "metadata": {"name": "a-web"}, "spec": a.spec(V1),
    }))
    .expect("xad");
    xads.create(&PostParams::default(), &xad)
        .await
        .expect("tenant creates its deployment");
    let xrss: Api<RevisionSource> = Api::namespaced(tenant.clone(), &a.ns);
    let peek: RevisionSource = serde_json::from_value(json!({
        "apiVersion": "crossdeploy.io/v1alpha1", "kind": "RevisionSource",
        "metadata": {"name": "peek"},
        "spec": {"s3": {"bucket": bucket, "prefix": prefix}, "verifyFor": [{"name": b.target}], "interval": 10},
    }))
    .expect("xrs");
    xrss.create(&PostParams::default(), &peek)
        .await
        .expect("tenant creates a source");
    a.wait_deployed("a-web", V1).await;
    wait_until("peek Stalled with TargetAccountNotPermitted", || async {
        xrss.get("peek").await.ok().and_then(|s| s.status).is_some_and(|s| {
            s.condition("Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == "TargetAccountNotPermitted")
        })
    })
    .await;

    // Nothing in B's namespace is readable, nor anything cluster-wide.
    let params = ListParams::default();
    let in_b = |ns: &str| -> (
        Api<CrossAccountDeployment>,
        Api<RevisionSource>,
        Api<Event>,
        Api<CoreEvent>,
    ) {
        (
            Api::namespaced(tenant.clone(), ns),
            Api::namespaced(tenant.clone(), ns),
            Api::namespaced(tenant.clone(), ns),
            Api::namespaced(tenant.clone(), ns),
        )
    };
    let (b_xads, b_xrss, b_events, b_core_events) = in_b(&b.ns);
    assert_forbidden("get B's deployment", b_xads.get("b-web").await);
    assert_forbidden("list B's deployments", b_xads.list(&params).await);
    assert_forbidden("list B's sources", b_xrss.list(&params).await);
    assert_forbidden("list B's Events", b_events.list(&params).await);
    assert_forbidden("list B's core Events", b_core_events.list(&params).await);
    assert_forbidden(
        "list deployments everywhere",
        Api::<CrossAccountDeployment>::all(tenant.clone()).list(&params).await,
    );
    assert_forbidden(
        "list sources everywhere",
        Api::<RevisionSource>::all(tenant.clone()).list(&params).await,
    );
    assert_forbidden(
        "list Events everywhere",
        Api::<Event>::all(tenant.clone()).list(&params).await,
    );

    // What the tenant can read: the status of its objects and its
    // namespace's Events (the specs are its own words: the peek names B's
    // prefix and TargetAccount itself).
    let (own_xads, own_xrss, own_events, own_core_events) = in_b(&a.ns);
    let mut seen = String::new();
    for o in own_xads.list(&params).await.expect("own deployments").items {
        seen += &serde_json::to_string(&o.status).unwrap_or_default();
    }
    for o in own_xrss.list(&params).await.expect("own sources").items {
        seen += &serde_json::to_string(&o.status).unwrap_or_default();
    }
    for e in own_events.list(&params).await.expect("own Events").items {
        seen += &serde_json::to_string(&(e.reason, e.note, e.regarding)).unwrap_or_default();
    }
    for e in own_core_events.list(&params).await.expect("own core Events").items {
        seen += &serde_json::to_string(&(e.reason, e.message, e.involved_object)).unwrap_or_default();
    }
    assert!(
        seen.contains(V1) && seen.contains("Succeeded"),
        "the tenant reads its own work"
    );
    assert!(
        seen.contains("TargetAccountNotPermitted"),
        "and why its peek was refused"
    );
    for secret in [
        b_key.as_str(),
        b_version.as_str(),
        "team-b-confidential",
        "b-releases",
        "b-web",
    ] {
        let hit = seen.find(secret).map(|i| {
            seen.get(i.saturating_sub(200)..(i + 200).min(seen.len()))
                .unwrap_or(secret)
        });
        assert!(
            hit.is_none(),
            "{secret:?} of namespace B reached tenant A: ...{}...",
            hit.unwrap_or_default()
        );
    }
    let peeked = xrss.get("peek").await.expect("peek").status.expect("status");
    assert!(
        peeked.revision.is_none(),
        "no revision resolved for a refused source: {peeked:?}"
    );

    // Metrics: fixed label names only, and no namespace, bucket, key or
    // version of anyone in any value.
    for (port, mine) in [(port_a, &a), (port_b, &b)] {
        let text = metrics(port).await;
        let names = label_names(&text);
        assert!(!names.is_empty(), "the exposition has labelled samples:\n{text}");
        for name in &names {
            assert!(
                METRIC_LABELS.contains(&name.as_str()),
                "label {name:?} on /metrics of {}:\n{text}",
                mine.ns
            );
        }
        for secret in [
            a.ns.as_str(),
            b.ns.as_str(),
            bucket.as_str(),
            b_key.as_str(),
            b_version.as_str(),
            V1,
        ] {
            assert!(!text.contains(secret), "{secret:?} on /metrics of {}:\n{text}", mine.ns);
        }
    }
}
