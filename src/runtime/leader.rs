//! Leader election on a coordination.k8s.io Lease (kube-lease-manager), so
//! replicas > 1 never reconcile the same object twice at once.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;

use crate::aws::fence::Tenure;

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

    /// Until when this replica may act as leader: the Lease must name it
    /// and its last renewal must be younger than the lease duration. The
    /// tenure ends a margin before another replica could take the Lease, for
    /// clock skew between replicas. `None` when it does not hold; any doubt
    /// is a no.
    pub async fn tenure(&self) -> Option<Tenure> {
        let lease = self.api.get_opt(&self.name).await.ok()??;
        let spec = lease.spec?;
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return None;
        }
        let renewed_ms = spec.renew_time?.0.as_millisecond();
        let now_ms = k8s_openapi::jiff::Timestamp::now().as_millisecond();
        let age = Duration::from_millis(u64::try_from(now_ms.saturating_sub(renewed_ms)).unwrap_or(0));
        let margin = (self.duration / 4).max(Duration::from_millis(500));
        let left = self.duration.checked_sub(age)?.checked_sub(margin)?;
        Some(Tenure::until(Instant::now() + left))
    }

    /// Does this replica still hold a fresh Lease?
    pub async fn holds(&self) -> bool {
        self.tenure().await.is_some()
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
