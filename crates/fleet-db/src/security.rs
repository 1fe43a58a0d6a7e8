//! The read-only [`Security`] trait: what the security runbook's "assess" step can see in the
//! database (roles and their activity, connections by source, large reads) and the login
//! check that proves a credential works or is rejected. Its types, and the pure grouping of
//! sessions by source.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::report::{Session, StateCounts, StatementsUnavailable, secs};
use crate::secret::Secret;

/// Options of [`Security::roles`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolesOptions {
    /// Include the predefined `pg_*` roles (default false).
    pub include_system_roles: bool,
}

/// Statement totals of one role from `pg_stat_statements`, across databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleStatementTotals {
    /// Calls.
    pub calls: i64,
    /// Rows returned or affected.
    pub rows: i64,
    /// Shared blocks read from disk or the OS cache.
    pub shared_blks_read: i64,
}

/// One role with its attributes and what it is doing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleInfo {
    /// Name.
    pub name: String,
    /// `SUPERUSER`.
    pub superuser: bool,
    /// `CREATEROLE`.
    pub create_role: bool,
    /// `CREATEDB`.
    pub create_db: bool,
    /// `LOGIN`.
    pub can_login: bool,
    /// `REPLICATION`.
    pub replication: bool,
    /// `BYPASSRLS`.
    pub bypass_rls: bool,
    /// `CONNECTION LIMIT` (`-1`: none).
    pub connection_limit: i32,
    /// `VALID UNTIL`, when finite.
    pub valid_until: Option<Timestamp>,
    /// Roles it is a member of.
    pub member_of: Vec<String>,
    /// Whether a password is set (`None`: only a superuser may read that).
    pub password_set: Option<bool>,
    /// Sessions open now.
    pub sessions: u32,
    /// Their client addresses (`local` for Unix sockets).
    pub client_addrs: Vec<String>,
    /// When the oldest open session connected.
    pub first_connected: Option<Timestamp>,
    /// The latest state change or query start among its sessions.
    pub last_active: Option<Timestamp>,
    /// Statement totals, when `pg_stat_statements` is readable.
    pub statements: Option<RoleStatementTotals>,
}

/// The roles report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RolesReport {
    /// Roles by name.
    pub roles: Vec<RoleInfo>,
    /// Why statement totals are missing, when they are.
    pub statements_unavailable: Option<StatementsUnavailable>,
    /// The asking role sees every session (`pg_read_all_stats`); otherwise activity of other
    /// roles may be undercounted.
    pub complete: bool,
}

/// Sessions of one role from one client address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionSource {
    /// Client address (`local` for Unix sockets, `hidden` when the asking role cannot see it).
    pub client_addr: String,
    /// Role.
    pub user: String,
    /// Sessions.
    pub sessions: u32,
    /// By state.
    pub by_state: StateCounts,
    /// `application_name`s seen.
    pub applications: Vec<String>,
    /// How long the oldest of them has been connected.
    #[serde(with = "secs::option", rename = "oldest_connection_secs")]
    pub oldest_connection: Option<Duration>,
}

/// How [`Security::large_reads`] ranks statements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReadOrder {
    /// Rows returned, most first (default): bulk reads of data.
    #[default]
    Rows,
    /// Blocks read from outside shared buffers, most first: scans of large tables.
    BlocksRead,
}

/// Options of [`Security::large_reads`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LargeReadsOptions {
    /// How many statements at most (default 20, at most 10 000).
    pub limit: u32,
    /// The ranking (default by rows).
    pub order_by: ReadOrder,
    /// Leave out statements that returned fewer rows in total (default 0).
    pub min_rows: i64,
    /// Every database, not only the one connected to (default true).
    pub all_databases: bool,
}

impl Default for LargeReadsOptions {
    fn default() -> Self {
        Self {
            limit: 20,
            order_by: ReadOrder::Rows,
            min_rows: 0,
            all_databases: true,
        }
    }
}

/// One statement of one role from `pg_stat_statements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LargeRead {
    /// `queryid`.
    pub query_id: Option<i64>,
    /// Normalized text, masked and truncated like every query text.
    pub query: String,
    /// Role.
    pub user: Option<String>,
    /// Database.
    pub database: Option<String>,
    /// Calls.
    pub calls: i64,
    /// Rows returned or affected in total.
    pub rows: i64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// Shared blocks read from outside shared buffers.
    pub shared_blks_read: i64,
    /// Shared blocks found in shared buffers.
    pub shared_blks_hit: i64,
    /// Temporary-file blocks read.
    pub temp_blks_read: i64,
    /// `shared_blks_read` in bytes.
    pub bytes_read: i64,
}

/// Large reads, or exactly why they cannot be listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
#[non_exhaustive]
pub enum LargeReadsReport {
    /// The statements, ranked.
    Available {
        /// The statements.
        top: Vec<LargeRead>,
        /// The asking role sees every role's statements (`pg_read_all_stats`); otherwise
        /// other roles' texts read `<insufficient privilege>`.
        complete: bool,
    },
    /// Not available, and why.
    Unavailable {
        /// Why.
        #[serde(flatten)]
        reason: StatementsUnavailable,
    },
}

/// A login that worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoginCheck {
    /// The role that logged in.
    pub user: String,
    /// `host:port/dbname`.
    pub server: String,
    /// Connection, TLS and authentication time.
    #[serde(with = "secs", rename = "elapsed_secs")]
    pub elapsed: Duration,
}

/// Read-only security assessment of one server, and credential checks.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Security: Send + Sync {
    /// Roles with their attributes, memberships, open sessions and (with
    /// `pg_stat_statements`) statement totals.
    async fn roles(&self, options: Option<RolesOptions>) -> Result<RolesReport, Error>;

    /// Client sessions grouped by client address and role, most sessions first.
    async fn connections_by_source(&self) -> Result<Vec<ConnectionSource>, Error>;

    /// Statements that read the most (rows, or blocks), per statement and role, from
    /// `pg_stat_statements`, or the precise reason they cannot be listed.
    async fn large_reads(
        &self,
        options: Option<LargeReadsOptions>,
    ) -> Result<LargeReadsReport, Error>;

    /// Logs in once as `user` with `password` to the same server, database and TLS settings,
    /// then disconnects. A rejected credential is an [`Error`] whose
    /// [`is_auth`](Error::is_auth) is true (wrong password, or a role without `LOGIN`).
    async fn check_login(&self, user: &str, password: &Secret) -> Result<LoginCheck, Error>;
}

/// Sessions grouped by (client address, role), most sessions first.
pub(crate) fn by_source(sessions: &[Session]) -> Vec<ConnectionSource> {
    type Key = (String, String);
    let mut groups: BTreeMap<Key, (StateCounts, BTreeSet<String>, Option<Duration>, u32)> =
        BTreeMap::new();
    for s in sessions {
        let addr = if s.hidden {
            "hidden".to_owned()
        } else {
            s.client_addr.clone().unwrap_or_else(|| "local".into())
        };
        let user = s.user.clone().unwrap_or_else(|| "unknown".into());
        let entry = groups.entry((addr, user)).or_default();
        match (s.hidden, s.state.as_deref()) {
            (true, _) | (false, None) => entry.0.hidden += 1,
            (false, Some("active")) => entry.0.active += 1,
            (false, Some("idle")) => entry.0.idle += 1,
            (false, Some("idle in transaction")) => entry.0.idle_in_transaction += 1,
            (false, Some("idle in transaction (aborted)")) => {
                entry.0.idle_in_transaction_aborted += 1;
            }
            (false, Some(_)) => entry.0.other += 1,
        }
        if let Some(app) = &s.application {
            entry.1.insert(app.clone());
        }
        entry.2 = entry.2.max(s.backend_age);
        entry.3 = entry.3.saturating_add(1);
    }
    let mut out: Vec<ConnectionSource> = groups
        .into_iter()
        .map(
            |((client_addr, user), (by_state, apps, oldest, n))| ConnectionSource {
                client_addr,
                user,
                sessions: n,
                by_state,
                applications: apps.into_iter().collect(),
                oldest_connection: oldest,
            },
        )
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.sessions));
    out
}
