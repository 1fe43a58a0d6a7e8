//! Real and stand-in backends that the workspace's tests run against, published so that
//! downstream teams can test their own tools against the same stand-ins.
//!
//! Each backend sits behind a feature of the same name:
//! - `k8s`: [`k8s::FakeCluster`], an in-process Kubernetes API server that the real `kubectl`
//!   accepts;
//! - `postgres`: [`postgres::TempPostgres`], a throwaway PostgreSQL cluster per test;
//! - `azure`: [`azure::AzureReplay`], Microsoft's official REST examples served over local HTTPS;
//! - `azurite`: [`azurite::Azurite`], Microsoft's Azure Storage emulator (Blob service) per test.

#[cfg(feature = "azure")]
pub mod azure;
#[cfg(feature = "azurite")]
pub mod azurite;
#[cfg(feature = "k8s")]
pub mod k8s;
#[cfg(feature = "postgres")]
pub mod postgres;
