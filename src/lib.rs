//! crossdeploy: a Kubernetes operator that deploys applications into other
//! AWS accounts with CodeDeploy, automating AWS's "Deploy an Application in a
//! Different AWS Account" procedure.

pub mod api;
pub mod aws;
pub mod controller;
pub mod deploy;
pub mod http;
pub mod metrics;
pub mod status;
pub mod telemetry;
pub mod tenancy;
