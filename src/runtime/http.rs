//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::runtime::Context;

#[derive(Clone)]
pub struct HttpState {
    pub ctx: Arc<Context>,
}

pub async fn serve(addr: std::net::SocketAddr, state: HttpState) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// Ready once the caches have synced (or while standing by for leadership)
/// and the API server answers; not ready while it is unreachable.
async fn readyz(State(s): State<HttpState>) -> (StatusCode, &'static str) {
    if !s.ctx.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting");
    }
    match s.ctx.client.apiserver_version().await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "API server unreachable"),
    }
}

async fn metrics(State(s): State<HttpState>) -> String {
    s.ctx.metrics.render(s.ctx.sessions.stats())
}
