//! End-to-end tests against a real kube-apiserver + etcd and the AWS emulator
//! (moto with IAM enforcement, SigV4 and the crossdeploy extensions).
//! Each test owns a namespace, a TargetAccount and a deployment group, so the
//! tests run in parallel.

// A test that cannot unwrap has failed; its panic message says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod budget;
mod chaos;
mod deployment;
mod env;
mod guide;
mod harness;
mod leader;
mod observability;
mod packaging;
mod rbac;
mod real_clients;
mod revision_source;
mod smoke;
