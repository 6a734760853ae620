//! crossdeploy: a Kubernetes operator that deploys applications into other
//! AWS accounts with CodeDeploy, automating AWS's "Deploy an Application in a
//! Different AWS Account" procedure.
//!
//! One home per resource (`deployment`, `revision_source`, `target_account`),
//! each a reconcile shell around a pure `decide`; shared homes beside them
//! (`api`, `aws`, `status`, `access`, `revision`, `runtime`, `cli`). Arrows
//! point inward: a resource uses the shared homes, never another resource.
//! ARCHITECTURE.md draws the data path.

pub mod access;
pub mod api;
pub mod aws;
pub mod cli;
pub mod deployment;
pub mod doctor;
pub mod plugin;
pub mod policy;
pub mod revision;
pub mod revision_source;
pub mod runtime;
pub mod status;
pub mod target_account;

/// kube and the AWS SDK each enable a different rustls backend; with both
/// present rustls cannot pick one, so the process chooses ring explicitly.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
