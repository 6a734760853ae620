//! What every controller shares at run time: the context (clients, session
//! cache, settings, Event recorder, metrics), the one reconcile skeleton and
//! status writer, watch wiring, leader election, HTTP endpoints, telemetry.

mod context;
pub mod controller;
pub mod events;
pub mod feed;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod telemetry;
pub mod triggers;

pub use context::{Context, Error, ExternalId, Settings};

use kube::{Api, Client, Resource};

/// The Kubernetes client, counting every request it sends by method
/// (`crossdeploy_kube_requests_total`): what the operator costs the API server.
pub async fn kube_client() -> Result<Client, kube::Error> {
    let config = kube::Config::infer().await.map_err(kube::Error::InferConfig)?;
    let count = tower::util::MapRequestLayer::new(|req: ::http::Request<kube::client::Body>| {
        metrics::kube_request(req.method().as_str());
        req
    });
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&count)
        .build())
}

/// An Api for a namespaced kind: one namespace, or all of them.
pub fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What a watched object keeps in memory: every store holds every object of
/// its kind, and managedFields and `kubectl apply`'s copy of the whole object
/// in an annotation are never read here but are most of a small object.
pub fn trim_for_cache<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Name and namespace for log lines and errors.
pub fn display_ref<K: Resource>(obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) => format!("{ns}/{}", obj.meta().name.as_deref().unwrap_or_default()),
        None => obj.meta().name.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::trim_for_cache;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    #[test]
    fn cached_objects_lose_managed_fields_and_the_last_applied_copy_only() {
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                annotations: Some(
                    [
                        ("kubectl.kubernetes.io/last-applied-configuration", "{\"big\":true}"),
                        ("crossdeploy.io/redeploy", "2"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ),
                managed_fields: Some(vec![Default::default()]),
                ..Default::default()
            },
            ..Default::default()
        };
        trim_for_cache(&mut cm);
        assert_eq!(cm.metadata.managed_fields, None);
        let annotations = cm.metadata.annotations.unwrap_or_default();
        assert_eq!(annotations.len(), 1);
        assert_eq!(
            annotations.get("crossdeploy.io/redeploy").map(String::as_str),
            Some("2")
        );
    }
}
