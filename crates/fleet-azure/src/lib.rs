//! Azure for the fleet runbook, behind narrow traits:
//!
//! - [`ServerBackups`]: a PostgreSQL flexible server's backups (`az postgres flexible-server
//!   backup list|show|create|delete`) and its restore points;
//! - [`ServerRestore`]: point-in-time restore into a new server, returning an [`LroPoller`]
//!   that can be resumed from its status URL, and server reads;
//! - [`Telemetry`]: Application Insights request, exception and dependency figures for a window
//!   and a baseline, through Log Analytics or the classic API;
//! - [`Secrets`]: Key Vault get, set, list versions and rotate.
//!
//! The implementations ([`FlexibleServerClient`], [`TelemetryClient`], [`KeyVaultSecrets`]) run
//! on an azure_core 1.1 pipeline with a bearer-token policy and azure_core's retry loop (only
//! 408/429/5xx and connection errors are retried, `Retry-After` honoured). Credentials come
//! from any `TokenCredential`; [`credential::CredentialChain`] is a ready chain for tools.
//! Every failure is an [`AzureError`] with a coarse [`ErrorKind`].
//!
//! Mocks of every trait (`MockServerBackups`, ...) are available with the `test-util` feature.
//!
//! Notes:
//! - Key Vault goes through `azure_security_keyvault_secrets` 1.0, whose authentication is
//!   challenge based (the first request carries no token; the vault's `401` names the token
//!   resource). Its check that the challenge resource is a suffix of the vault host stays on by
//!   default ([`SecretsOptions::verify_challenge_resource`]); only a local stand-in on
//!   `127.0.0.1` needs it off.
//! - Long-running operations are followed by this crate's [`LroPoller`] rather than
//!   azure_core's generic `Poller`, which has no ARM logic and refuses sub-second intervals.
//! - Tests run against `fleet_testkit::azure::AzureReplay` (Microsoft's REST examples over
//!   local HTTPS); `tests/live.rs` holds opt-in tests against a real subscription
//!   (`cargo test -p fleet-azure --test live -- --ignored`, variables listed there).
//!
//! ```no_run
//! use fleet_azure::credential::{CredentialChain, CredentialConfig};
//! use fleet_azure::{FlexibleServerClient, FlexibleServerOptions, RestoreRequest, ServerBackups, ServerRestore};
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The binary reads its environment; the library only takes values.
//! let config = CredentialConfig::from_env_vars(std::env::vars());
//! let credential = Arc::new(CredentialChain::from_config(&config)?);
//! let options = FlexibleServerOptions::new(
//!     "ffffffff-ffff-ffff-ffff-ffffffffffff",
//!     "fleet-prod",
//!     "fleet-db",
//! );
//! let client = FlexibleServerClient::new(credential, options);
//!
//! let backup = client.create_backup(None).await?; // manual-backup-YYYYMMDD
//! println!("took {}", backup.name);
//!
//! let points = client.restore_points().await?;
//! let poller = client
//!     .begin_point_in_time_restore(RestoreRequest {
//!         target_server_name: "fleet-db-restored".into(),
//!         point_in_time: points.latest,
//!         source_server_name: None,
//!     })
//!     .await?;
//! // Persist poller.resume_token() to survive a restart, then wait.
//! poller.wait_with_progress(|p| eprintln!("{:?} {:?}", p.status, p.percent_complete)).await?;
//! let server = client.get_server("fleet-db-restored").await?;
//! println!("{:?} at {:?}", server.state, server.fqdn);
//! # Ok(()) }
//! ```

pub mod credential;
pub mod error;
mod http;
pub mod lro;
pub mod names;
pub mod options;
pub mod postgres;
pub mod secrets;
pub mod telemetry;

pub use error::{AzureError, ErrorKind, Result};
pub use lro::{
    CompletedOperation, LroPoller, OperationProgress, OperationStatus, ResumeToken, StatusKind,
};
pub use options::{
    AzureCloud, CloudKind, FlexibleServerOptions, PollSettings, RetrySettings, SecretsOptions,
    TelemetryOptions, TelemetrySource,
};
pub use postgres::{
    BackupKind, BackupSource, DeleteOutcome, FlexibleServerClient, RestorePoints, RestoreRequest,
    ServerBackup, ServerBackups, ServerInfo, ServerRestore, ServerState,
};
pub use secrets::{KeyVaultSecrets, SecretBundle, SecretForm, SecretValue, SecretVersion, Secrets};
pub use telemetry::{
    DependencyStats, ExceptionCount, RequestStats, Telemetry, TelemetryClient, TelemetryReport,
    TimeWindow, WindowReport,
};

#[cfg(any(test, feature = "test-util"))]
pub use postgres::{MockServerBackups, MockServerRestore};
#[cfg(any(test, feature = "test-util"))]
pub use secrets::MockSecrets;
#[cfg(any(test, feature = "test-util"))]
pub use telemetry::MockTelemetry;
