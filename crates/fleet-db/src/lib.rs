//! PostgreSQL diagnostics and guarded remediation for the fleet runbook.
//!
//! The runbook's database checks are `psql` one-liners against `pg_stat_activity`. This crate
//! turns them, and what PgHero, check_postgres and pg_activity check besides, into typed
//! reports with units, and turns "kill it" into guarded, audited remediation:
//!
//! - [`Diagnostics`] (read-only): connection counts against *usable* slots, active and
//!   long-running queries, idle-in-transaction leak suspects by application, the blocking tree,
//!   slow statements from `pg_stat_statements` (or precisely why there are none), server health,
//!   and a [`Snapshot`] of all of it taken over one connection in one statement (a second round
//!   trip only when `pg_stat_statements` is first found readable).
//! - [`Security`] (read-only): roles with their attributes and recent activity, connections
//!   by client address and role, large reads from `pg_stat_statements` (or precisely why
//!   there are none), and [`Security::check_login`], which proves that a credential works or
//!   is rejected.
//! - [`Remediation`] (mutating): cancel or terminate a backend, terminate an application's
//!   leaked transactions, disable (NOLOGIN and end its sessions) or re-enable a role, set a
//!   role's timeouts, and change a role's password without sending it (a SCRAM-SHA-256
//!   verifier computed here; the new password travels as a redacting [`Secret`]). Each takes
//!   a [`Request`] (actor, reason, dry run or execute), refuses dangerous targets, checks and
//!   acts in one guarded statement, and, when executing, writes `fleet_guard::AuditRecord`s to
//!   the configured sink: an intent before acting (a failed write stops the action) and the
//!   outcome after. Executing without a sink is refused ([`Error::AuditNotConfigured`]).
//! - [`PgClient`] implements all three over a `deadpool-postgres` pool built from plain
//!   [`DbOptions`]: TLS through rustls with verification on by default, `application_name`
//!   `fleet-db`, finite pool timeouts, a server-side `statement_timeout`, and a client deadline
//!   that cancels the statement on the server when it passes. Every operation has a `tracing`
//!   span naming the server and database; passwords appear nowhere (`Debug`, errors, spans,
//!   audit): see [`redact_connection_string`].
//! - [`Error`] classifies failures by SQLSTATE ([`ErrorKind::TooManyConnections`] for 53300 in
//!   any wording, [`ErrorKind::DiskFull`] for 53100, authentication, unreachable, timeout,
//!   permission, not found).
//!
//! Supported servers: PostgreSQL 12 to 17 (and later); the SQL is chosen per major version.
//! The diagnostics role should have `pg_monitor` (otherwise reports say what is hidden) and,
//! to keep working when the server is full, a reserved slot (superuser, or
//! `pg_use_reserved_connections` on 16+). Remediation needs `pg_signal_backend` and, for role
//! changes, `CREATEROLE`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use fleet_db::{DbOptions, Diagnostics, PgClient, Remediation, Request};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let audit = fleet_guard::FileAuditSink::open("/var/log/fleet/db-audit.jsonl")?;
//! let db = PgClient::new(
//!     DbOptions::from_url("postgresql://monitor:secret@fleet-db.postgres.database.azure.com/fleetdb")
//!         .with_audit(Arc::new(audit)),
//! )?;
//! let snapshot = db.snapshot().await?;
//! tracing::info!(summary = %snapshot, "database checks");
//! for group in &snapshot.leak_suspects {
//!     let plan = db
//!         .terminate_idle_in_transaction(
//!             &group.application,
//!             Duration::from_secs(300),
//!             &Request::dry_run("oncall", "connection pool exhausted, INC-42")?,
//!         )
//!         .await?;
//!     tracing::info!(would_terminate = plan.backends.len(), "plan");
//! }
//! # Ok(())
//! # }
//! ```

mod analysis;
mod assess;
mod audit;
mod client;
mod diagnostics;
mod error;
mod mask;
mod options;
mod redact;
mod remediate;
mod remediation;
mod render;
mod report;
mod scram;
mod secret;
mod security;
mod sql;

pub use client::PgClient;
pub use diagnostics::Diagnostics;
#[cfg(any(test, feature = "test-util"))]
pub use diagnostics::MockDiagnostics;
pub use error::{BoxError, CancelOutcome, Error, ErrorKind, ReservedSlot};
pub use mask::mask_literals;
pub use options::{DbOptions, PoolOptions, Target, Thresholds, TlsMode, TlsOptions};
pub use redact::redact_connection_string;
#[cfg(any(test, feature = "test-util"))]
pub use remediation::MockRemediation;
pub use remediation::{
    Action, Backend, Outcome, Remediation, Request, RoleState, RoleTimeout, Skipped,
};
pub use report::{
    BlockNode, BlockingReport, ConnectionSummary, DatabaseInfo, IndexIssue, LeakSuspects,
    LongRunning, Ping, PoolHealth, Replica, ReplicationSlot, SequenceUsage, ServerHealth,
    ServerIdentity, Session, Snapshot, SnapshotCost, StateCounts, StatementStats, StatementsReport,
    StatementsUnavailable,
};
pub use secret::Secret;
#[cfg(any(test, feature = "test-util"))]
pub use security::MockSecurity;
pub use security::{
    ConnectionSource, LargeRead, LargeReadsOptions, LargeReadsReport, LoginCheck, ReadOrder,
    RoleInfo, RoleStatementTotals, RolesOptions, RolesReport, Security,
};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
