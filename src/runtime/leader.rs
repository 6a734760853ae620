//! Leader election on a coordination.k8s.io Lease (kube-lease-manager), so
//! replicas > 1 never reconcile the same object twice at once.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;

/// How leadership is held.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// A holder that stops renewing loses the lease after this long.
    pub duration: Duration,
}

/// Blocks until this process holds the lease; returns a receiver that turns
/// `false` when leadership is lost. The lease is renewed in the background
/// for as long as the receiver lives.
pub async fn acquire(
    client: Client,
    s: &LeaseSettings,
) -> Result<watch::Receiver<bool>, kube_lease_manager::LeaseManagerError> {
    let duration = s.duration.as_secs().max(2);
    // Renew a third of the way before expiry: tolerates API latency and skew.
    let grace = (duration / 3).max(1);
    let manager = LeaseManagerBuilder::new(client, &s.name)
        .with_namespace(&s.namespace)
        .with_parameters(LeaseParams::new(&s.identity, duration, grace))
        .build()
        .await?;
    let (mut leader, _task) = manager.watch().await;
    tracing::info!(lease = %s.name, identity = %s.identity, "waiting for leadership");
    while !*leader.borrow_and_update() {
        if leader.changed().await.is_err() {
            break;
        }
    }
    tracing::info!(lease = %s.name, identity = %s.identity, "acquired leadership");
    Ok(leader)
}

/// Resolves when leadership is lost (or the lease task ended).
pub async fn lost(mut leader: watch::Receiver<bool>) {
    while *leader.borrow_and_update() {
        if leader.changed().await.is_err() {
            return;
        }
    }
}
