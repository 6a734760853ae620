//! What every controller shares at run time: the context (clients, session
//! cache, settings, Event recorder, metrics), the one reconcile skeleton and
//! status writer, watch wiring, leader election, HTTP endpoints, telemetry.

mod context;
pub mod controller;
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

/// Name and namespace for log lines and errors.
pub fn display_ref<K: Resource>(obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) => format!("{ns}/{}", obj.meta().name.as_deref().unwrap_or_default()),
        None => obj.meta().name.clone().unwrap_or_default(),
    }
}
