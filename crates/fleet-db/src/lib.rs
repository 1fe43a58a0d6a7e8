//! PostgreSQL diagnostics and guarded remediation for the fleet runbook.
//!
//! The runbook's database checks are `psql` one-liners against `pg_stat_activity`. This crate
//! turns them, and what PgHero, check_postgres and pg_activity check besides, into typed
//! reports with units, and turns "kill it" into guarded, audited remediation:
//!
//! - [`Diagnostics`] (read-only): connection counts against *usable* slots, active and
//!   long-running queries, idle-in-transaction leak suspects by application, the blocking tree,
//!   slow statements from `pg_stat_statements` (or precisely why there are none), server health,
//!   and a [`Snapshot`] of all of it taken over one connection in two round trips.
//! - [`Remediation`] (mutating): cancel or terminate a backend, terminate an application's
//!   leaked transactions, disable or re-enable a role, set a role's timeouts. Each takes a
//!   [`Request`] with an actor and a reason, can run as a dry run, refuses dangerous targets, and
//!   writes an [`AuditRecord`].
//! - [`PgDiagnostics`] implements both over a `deadpool-postgres` pool built from plain
//!   [`DbOptions`]: TLS through rustls with verification on by default, `application_name`
//!   `fleet-db`, finite pool timeouts, a server-side `statement_timeout`, and a client deadline
//!   that cancels the statement on the server when it passes.
//! - [`Error`] classifies failures by SQLSTATE ([`ErrorKind::TooManyConnections`] for 53300 in
//!   any wording, authentication, unreachable, timeout, permission, not found).
//!
//! Supported servers: PostgreSQL 12 to 17 (and later); the SQL is chosen per major version.
//! The diagnostics role should have `pg_monitor` (otherwise reports say what is hidden) and,
//! to keep working when the server is full, a reserved slot (superuser, or
//! `pg_use_reserved_connections` on 16+). Remediation needs `pg_signal_backend` and, for role
//! changes, `CREATEROLE`.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use fleet_db::{DbOptions, Diagnostics, PgDiagnostics, Remediation, Request};
//!
//! # async fn run() -> Result<(), fleet_db::Error> {
//! let db = PgDiagnostics::new(DbOptions::from_url(
//!     "postgresql://monitor:secret@fleet-db.postgres.database.azure.com/fleetdb",
//! ))?;
//! let snapshot = db.snapshot().await?;
//! let c = &snapshot.connections;
//! tracing::info!(total = c.total, usable = c.usable, utilization = c.utilization, "connections");
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
mod diagnostics;
mod error;
mod options;
mod pg;
pub mod remediation;
pub mod report;
mod sql;

pub use analysis::mask_literals;
pub use diagnostics::Diagnostics;
#[cfg(any(test, feature = "test-util"))]
pub use diagnostics::MockDiagnostics;
pub use error::{BoxError, CancelOutcome, Error, ErrorKind, ReservedSlot};
pub use options::{AuditSink, DbOptions, PoolOptions, Target, Thresholds, TlsMode, TlsOptions};
pub use pg::{PgDiagnostics, TracingAudit};
#[cfg(any(test, feature = "test-util"))]
pub use remediation::MockRemediation;
pub use remediation::{AuditRecord, Outcome, Remediation, Request, RoleTimeout};
pub use report::Snapshot;
