//! fleet-k8s against FakeCluster (with the real kubectl as the reference where it prints the
//! same thing), the recorded fixtures, and the faults a misbehaving server or network causes.
//! One test binary; a module per concern, shared set-up in `common`.

mod access;
mod common;
mod deployments;
mod faults;
mod fixtures;
mod lease;
mod operations;
mod pods;
