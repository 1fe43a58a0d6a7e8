//! Azure for the fleet runbook, behind narrow traits:
//!
//! - [`ServerBackups`]: a PostgreSQL flexible server's backups (`az postgres flexible-server
//!   backup list|show|create|delete`) and restore window;
//! - [`ServerRestore`]: point-in-time restore into a new server, resumable from a
//!   [`ResumeToken`], and server reads;
//! - [`FirewallRules`], [`ServerParameters`], [`ServerAdmin`]: the server's firewall rules,
//!   parameters and administrator password;
//! - [`DnsRecords`]: an Azure DNS zone's `A` and `CNAME` record sets;
//! - [`ActivityLog`]: the Azure Monitor activity log of a resource group over a window;
//! - [`Telemetry`]: Application Insights request, exception and dependency figures for a window
//!   and a baseline, through Log Analytics or the classic API;
//! - [`Secrets`]: Key Vault get, set, list versions, rotate and disable a version.
//!
//! The clients follow the Azure SDK for Rust guidelines where a hand-written client on
//! azure_core 1.1 can: [`ArmClient::new`], [`KeyVaultClient::new`] and [`TelemetryClient::new`]
//! take `(endpoint, credential, Option<XClientOptions>)` with azure_core's `ClientOptions`
//! inside (retry, transport, tracing, cloud); resource clients ([`FlexibleServerClient`],
//! [`DnsZoneClient`], [`ActivityLogClient`]) are sub-clients of [`ArmClient`]; every method
//! takes its per-call options last; long-running operations are `begin_*` methods returning
//! azure_core's [`Poller`] of [`ArmOperation`] statuses; lists are
//! azure_core [`Pager`]s of [`ListPage`]s.
//!
//! Every mutating call can be a dry run (`dry_run: true` in its options): the input is checked
//! and the exact request is returned as a [`PlannedRequest`] (secrets redacted) inside
//! [`Outcome::DryRun`], without being sent. Every built URL is checked to address exactly the
//! resource it names; every status URL and `nextLink` must stay on the client's endpoint;
//! every operation has a deadline, every token fetch too, every `Retry-After` is capped by
//! [`Limits`], and every answer is read up to a byte cap.
//!
//! Every failure is an [`Error`] with a coarse [`ErrorKind`]; [`Error::from_azure`] is the one
//! mapping from azure_core's errors (also for errors coming out of a poller or a pager).
//! Operations carry `tracing` spans naming the server, zone, vault or resource group; retries,
//! capped `Retry-After`s, long-running-operation progress and the credential chain's choice are
//! events. Mocks of every trait (`MockServerBackups`, ...) come with the `test-util` feature.
//!
//! ```no_run
//! use fleet_azure::{
//!     ArmClient, CredentialChain, CredentialConfig, Outcome, RestoreRequest, ServerBackups,
//!     ServerRestore,
//! };
//! use futures::TryStreamExt;
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The binary reads its environment; the library only takes values.
//! let config = CredentialConfig::from_env_vars(std::env::vars());
//! let credential = Arc::new(CredentialChain::from_config(&config)?);
//! let arm = ArmClient::new("https://management.azure.com", credential, None)?;
//! let server = arm.flexible_server_client(
//!     "ffffffff-ffff-ffff-ffff-ffffffffffff",
//!     "fleet-prod",
//!     "fleet-db",
//! )?;
//!
//! let backups: Vec<_> = server.list_backups(None)?.try_collect().await?;
//! println!("{} backups", backups.len());
//!
//! // The name comes from the caller's policy (fleet_policy::backup::on_demand_name).
//! let backup = server.begin_create_backup("manual-backup-20250601", None).await?.await?;
//! if let Outcome::Applied(b) = backup.into_model()? {
//!     println!("took {}", b.name);
//! }
//!
//! let points = server.restore_points(None).await?;
//! let mut poller = server
//!     .begin_point_in_time_restore(
//!         &RestoreRequest {
//!             target_server_name: "fleet-db-restored".into(),
//!             point_in_time: points.latest,
//!             source_server_name: None,
//!         },
//!         None,
//!     )
//!     .await?;
//! while let Some(status) = poller.try_next().await? {
//!     let status = status.into_model()?;
//!     // Persist status.resume_token to survive a restart.
//!     eprintln!("{:?} {:?}", status.status, status.percent_complete);
//!     if status.status.is_terminal() {
//!         // Stop here: azure_core 1.1's Poller panics if it is awaited after its stream
//!         // was read to the end.
//!         break;
//!     }
//! }
//! let restored = poller.await?.into_model()?;
//! println!("{restored:?}");
//! # Ok(()) }
//! ```

mod activity;
mod arm;
mod credential;
mod dns;
mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod http;
mod lro;
mod names;
mod options;
mod outcome;
mod pager;
mod postgres;
mod secrets;
mod telemetry;
mod transport;

pub use activity::{
    ACTIVITY_LOG_RETENTION, ActivityEvent, ActivityFilter, ActivityLog, ActivityLogClient,
    ActivityScope,
};
pub use arm::{ArmClient, ArmClientOptions};
pub use credential::{
    CredentialChain, CredentialConfig, CredentialSource, ManagedIdentity, PipelinesConnection,
};
pub use dns::{
    DeleteRecordSetOptions, DnsRecords, DnsZone, DnsZoneClient, Precondition, RecordSet,
    RecordSetData, RecordType, Records, SetRecordSetOptions,
};
pub use error::{Error, ErrorKind, OperationEnd, Result};
pub use lro::{ArmOperation, OperationState, ResumeToken, StatusKind, follow};
pub use names::{
    validate_backup_name, validate_dns_zone_name, validate_firewall_rule_name,
    validate_parameter_name, validate_record_set_name, validate_resource_group,
    validate_secret_name, validate_secret_version, validate_server_name, validate_subscription_id,
};
pub use options::{
    ACTIVITY_LOG_API_VERSION, AppInsightsAudience, ArmAudience, AzureCloud, BeginOptions,
    ChangeOptions, CloudKind, DNS_API_VERSION, KEY_VAULT_API_VERSION, Limits, ListOptions,
    LogAnalyticsAudience, POSTGRES_API_VERSION, PollSettings, ReadOptions, ResumeOptions,
    RetrySettings,
};
pub use outcome::{Deletion, Outcome, PlannedRequest, REDACTED};
pub use pager::ListPage;
pub use postgres::{
    BackupKind, BackupSource, FirewallRule, FirewallRules, FlexibleServerClient, RestorePoints,
    RestoreRequest, ServerAdmin, ServerBackup, ServerBackups, ServerInfo, ServerParameter,
    ServerParameters, ServerRestore, ServerState,
};
pub use secrets::{
    GetSecretOptions, KeyVaultClient, KeyVaultClientOptions, SecretBundle, SecretForm, SecretValue,
    SecretVersion, Secrets, SetSecretOptions, sort_versions_by_created,
};
pub use telemetry::{
    Column, DependencyStats, ExceptionCount, KqlBuilder, QueryResult, QueryTable, RequestStats,
    RoleName, Telemetry, TelemetryClient, TelemetryClientOptions, TelemetryReport, TelemetrySource,
    TimeWindow, WindowReport, parse_dependencies, parse_exceptions, parse_request_stats,
};
pub use transport::transport_trusting;

/// azure_core's pager and poller, which lists and long-running operations return.
pub use azure_core::http::{Pager, Poller};

#[cfg(any(test, feature = "test-util"))]
pub use activity::MockActivityLog;
#[cfg(any(test, feature = "test-util"))]
pub use dns::MockDnsRecords;
#[cfg(any(test, feature = "test-util"))]
pub use postgres::{
    MockFirewallRules, MockServerAdmin, MockServerBackups, MockServerParameters, MockServerRestore,
};
#[cfg(any(test, feature = "test-util"))]
pub use secrets::MockSecrets;
#[cfg(any(test, feature = "test-util"))]
pub use telemetry::MockTelemetry;
