//! End-to-end tests against a real kube-apiserver + etcd and the AWS emulator
//! (moto with IAM enforcement, SigV4 and the crossdeploy extensions).
//! Each test owns a namespace, a TargetAccount and a deployment group, so the
//! tests run in parallel.

// A test that cannot unwrap has failed; its panic message says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admission;
mod budget;
mod chaos;
mod deployment;
mod doctor;
mod env;
mod guide;
mod harness;
mod isolation;
mod leader;
mod limits;
mod observability;
mod packaging;
mod plugin;
mod policy_roundtrip;
mod progressive;
mod rbac;
mod real_clients;
mod revision_buckets;
mod revision_source;
mod smoke;
mod tools;
