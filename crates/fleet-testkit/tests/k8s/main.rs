//! FakeCluster's tests, one binary: the wire API spoken directly (`api`), recorded real-cluster
//! exchanges replayed (`replay`), and the real `kubectl` against it (`kubectl`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod api;
mod apply;
#[cfg(feature = "postgres")]
mod attach;
mod batch;
mod common;
mod endpoints;
mod kubectl;
mod leases;
mod rbac;
mod replay;
mod tables;
mod workloads;
