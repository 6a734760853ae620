//! crossdeploy: a Kubernetes operator that deploys applications into other
//! AWS accounts with CodeDeploy, automating AWS's "Deploy an Application in a
//! Different AWS Account" procedure.

pub mod api;
pub mod aws;
pub mod controller;
pub mod deploy;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod revision;
pub mod status;
pub mod telemetry;
pub mod tenancy;

/// kube and the AWS SDK each enable a different rustls backend; with both
/// present rustls cannot pick one, so the process chooses ring explicitly.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
