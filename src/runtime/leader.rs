//! Leader election on a coordination.k8s.io Lease (kube-lease-manager), so
//! replicas > 1 never reconcile the same object twice at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
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

/// Leadership proven against the Lease itself. kube-lease-manager reports a
/// loss only once it observes one, so a replica that was frozen (SIGSTOP, a
/// long GC pause, a node partition) could resume and act while another
/// leads. The fence reads the Lease: this replica must hold it and have
/// renewed it within the lease duration. Checked right before every AWS
/// write, and by a watchdog that stops the process when it no longer holds.
pub struct Fence {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl Fence {
    pub fn new(client: Client, s: &LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &s.namespace),
            name: s.name.clone(),
            identity: s.identity.clone(),
            duration: s.duration,
        }
    }

    /// Does this replica still hold a fresh Lease? Any doubt is a no.
    pub async fn holds(&self) -> bool {
        let Ok(Some(lease)) = self.api.get_opt(&self.name).await else {
            return false;
        };
        let Some(spec) = lease.spec else { return false };
        let renewed = spec.renew_time.map(|t| t.0.as_second());
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let fresh = renewed.is_some_and(|r| now - r < i64::try_from(self.duration.as_secs()).unwrap_or(i64::MAX));
        spec.holder_identity.as_deref() == Some(self.identity.as_str()) && fresh
    }

    /// Resolves when the Lease is no longer held (checked a few times per
    /// lease duration).
    pub async fn lost(&self) {
        let every = (self.duration / 4).max(Duration::from_millis(500));
        loop {
            tokio::time::sleep(every).await;
            if !self.holds().await {
                return;
            }
        }
    }
}
