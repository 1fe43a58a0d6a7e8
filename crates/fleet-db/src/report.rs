//! Typed diagnostic reports. Durations are [`Duration`]s (serialized as fractional seconds in
//! fields ending in `_secs`), sizes are bytes in fields ending in `_bytes`, ratios are fractions
//! between 0 and 1.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Serde for `Duration` as fractional seconds.
pub(crate) mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Ok(super::duration_from_secs(v))
    }

    pub(crate) mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&d.as_secs_f64()),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.map(super::super::duration_from_secs))
        }
    }
}

/// Seconds from the server (possibly slightly negative from clock skew between `now()` and a
/// backend's timestamps, or NaN) as a `Duration`, clamped at zero.
pub(crate) fn duration_from_secs(v: f64) -> Duration {
    if v.is_finite() && v > 0.0 {
        Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}

/// Who we are on the server and what we may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerIdentity {
    /// `server_version_num`, e.g. 150014.
    pub version_num: u32,
    /// The major version, e.g. 15.
    pub major: u32,
    /// The role the diagnostics run as.
    pub current_user: String,
    /// The current database.
    pub database: String,
    /// The role is a superuser.
    pub superuser: bool,
    /// The role can see every session (`pg_read_all_stats`, part of `pg_monitor`).
    pub can_read_all_stats: bool,
    /// The role may take a reserved connection slot when the server is full (superuser, or
    /// `pg_use_reserved_connections` on 16+).
    pub can_use_reserved_slots: bool,
    /// The backend pid of the connection that took the report.
    pub own_pid: i32,
}

/// One client session from `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// Backend process id.
    pub pid: i32,
    /// Role name.
    pub user: Option<String>,
    /// `application_name`.
    pub application: Option<String>,
    /// Client address (`None` for Unix sockets and hidden sessions).
    pub client_addr: Option<String>,
    /// Database.
    pub database: Option<String>,
    /// `active`, `idle`, `idle in transaction`, ...; `None` when hidden.
    pub state: Option<String>,
    /// The session belongs to a superuser.
    pub superuser: Option<bool>,
    /// Details are hidden from the diagnostics role (no `pg_read_all_stats`).
    pub hidden: bool,
    /// Time since the session connected.
    #[serde(with = "secs::option", rename = "backend_age_secs")]
    pub backend_age: Option<Duration>,
    /// Time since the current transaction began.
    #[serde(with = "secs::option", rename = "xact_age_secs")]
    pub xact_age: Option<Duration>,
    /// Time since the current (or last) query began.
    #[serde(with = "secs::option", rename = "query_age_secs")]
    pub query_age: Option<Duration>,
    /// Time since the state last changed (for idle-in-transaction: how long it has idled).
    #[serde(with = "secs::option", rename = "state_age_secs")]
    pub state_age: Option<Duration>,
    /// Wait event type (`Lock`, `IO`, `Client`, ...).
    pub wait_event_type: Option<String>,
    /// Wait event.
    pub wait_event: Option<String>,
    /// Query text, truncated to the configured limit, literals masked unless turned off.
    pub query: Option<String>,
    /// The text was truncated.
    pub query_truncated: bool,
}

/// Session counts by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StateCounts {
    /// Running a query.
    pub active: u32,
    /// Waiting for a command.
    pub idle: u32,
    /// Inside a transaction, waiting for a command.
    pub idle_in_transaction: u32,
    /// Inside a failed transaction.
    pub idle_in_transaction_aborted: u32,
    /// Other states (`fastpath function call`, `disabled`).
    pub other: u32,
    /// State hidden from the diagnostics role.
    pub hidden: u32,
}

/// The connection picture: counts against usable slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionSummary {
    /// Client connections (background processes excluded; hidden sessions included).
    pub total: u32,
    /// By state.
    pub by_state: StateCounts,
    /// By role (hidden sessions still show their role).
    pub by_user: BTreeMap<String, u32>,
    /// By `application_name`.
    pub by_application: BTreeMap<String, u32>,
    /// By client address (`local` for Unix sockets, `hidden` when hidden).
    pub by_client_addr: BTreeMap<String, u32>,
    /// `max_connections`.
    pub max_connections: u32,
    /// `superuser_reserved_connections`.
    pub superuser_reserved: u32,
    /// `reserved_connections` (PostgreSQL 16+, else 0).
    pub reserved: u32,
    /// Slots ordinary roles can use: max minus both reserves.
    pub usable: u32,
    /// `total / usable` (may exceed 1 when reserved slots are in use).
    pub utilization: f64,
    /// `usable - total` (negative when reserved slots are in use).
    pub slots_left: i64,
    /// The report is complete: the role sees every session's details.
    pub complete: bool,
    /// Plain-language warnings (hidden sessions, reserve in use, ...).
    pub warnings: Vec<String>,
}

/// Idle-in-transaction sessions of one application: connection-leak suspects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LeakSuspects {
    /// `application_name` (empty when unset).
    pub application: String,
    /// How many sessions idle in a transaction longer than the threshold.
    pub sessions: u32,
    /// The longest idle time among them.
    #[serde(with = "secs", rename = "oldest_idle_secs")]
    pub oldest_idle: Duration,
    /// Their pids, longest idle first.
    pub pids: Vec<i32>,
    /// The roles involved.
    pub users: Vec<String>,
}

/// Long-running work over the thresholds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LongRunning {
    /// Active queries running longer than the query threshold, longest first.
    pub queries: Vec<Session>,
    /// Transactions open longer than the transaction threshold, oldest first.
    pub transactions: Vec<Session>,
}

/// A node of the blocking tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlockNode {
    /// The backend.
    pub pid: i32,
    /// Its session, when visible.
    pub session: Option<Session>,
    /// How long it has waited for its lock (PostgreSQL 14+; `None` for roots and older
    /// servers).
    #[serde(with = "secs::option", rename = "waiting_secs")]
    pub waiting: Option<Duration>,
    /// The sessions waiting on it.
    pub blocked: Vec<BlockNode>,
}

/// Lock waits from `pg_blocking_pids`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlockingReport {
    /// One tree per root blocker (a blocker that is not itself waiting on a lock).
    pub roots: Vec<BlockNode>,
    /// Number of sessions waiting on a lock.
    pub waiting_sessions: u32,
    /// Pids in a wait cycle (a deadlock the server has not yet broken).
    pub cycles: Vec<i32>,
}

/// Why `pg_stat_statements` data is not available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum StatementsUnavailable {
    /// Not in `shared_preload_libraries` (needs a server restart).
    NotPreloaded,
    /// Preloaded but `CREATE EXTENSION pg_stat_statements` was not run in this database.
    NotInstalled {
        /// The extension files are present on the server.
        available: bool,
    },
    /// `pg_stat_statements.track` is `none` (Azure's default).
    TrackingOff,
    /// The view could not be read.
    NotReadable {
        /// The server's message.
        message: String,
    },
}

impl std::fmt::Display for StatementsUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotPreloaded => f.write_str(
                "pg_stat_statements is not in shared_preload_libraries (add it and restart)",
            ),
            Self::NotInstalled { available: true } => f.write_str(
                "pg_stat_statements is preloaded but not installed in this database \
                 (CREATE EXTENSION pg_stat_statements)",
            ),
            Self::NotInstalled { available: false } => {
                f.write_str("pg_stat_statements is preloaded but its extension files are missing")
            }
            Self::TrackingOff => f.write_str(
                "pg_stat_statements.track is none, so nothing is recorded (set it to top)",
            ),
            Self::NotReadable { message } => write!(f, "pg_stat_statements unreadable: {message}"),
        }
    }
}

/// One statement from `pg_stat_statements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatementStats {
    /// `queryid`.
    pub query_id: Option<i64>,
    /// Normalized text, truncated.
    pub query: String,
    /// Role.
    pub user: Option<String>,
    /// Calls.
    pub calls: i64,
    /// Total time (planning included where tracked, PostgreSQL 13+).
    #[serde(with = "secs", rename = "total_time_secs")]
    pub total_time: Duration,
    /// Mean time per call.
    #[serde(with = "secs", rename = "mean_time_secs")]
    pub mean_time: Duration,
    /// Rows returned or affected.
    pub rows: i64,
    /// Shared-buffer hit ratio, when any block was touched.
    pub cache_hit_ratio: Option<f64>,
    /// Time reading blocks (needs `track_io_timing`).
    #[serde(with = "secs", rename = "read_time_secs")]
    pub read_time: Duration,
    /// Over both slow-query thresholds (mean time and calls).
    pub slow: bool,
}

/// The slow-query report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
#[non_exhaustive]
pub enum StatementsReport {
    /// Data is available; the top statements by total time.
    Available {
        /// The statements.
        top: Vec<StatementStats>,
    },
    /// Data is not available, and why.
    Unavailable {
        /// Why.
        #[serde(flatten)]
        reason: StatementsUnavailable,
    },
}

/// One database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DatabaseInfo {
    /// Name.
    pub name: String,
    /// Size (`None` without `CONNECT` privilege).
    pub size_bytes: Option<i64>,
    /// Age of `datfrozenxid` in transactions.
    pub xid_age: i64,
    /// Transactions left before the wraparound limit (2^31 − 1 − age).
    pub xids_left: i64,
}

/// A sequence near exhaustion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SequenceUsage {
    /// Schema.
    pub schema: String,
    /// Sequence name.
    pub name: String,
    /// The owning table and column, when the sequence is owned.
    pub column: Option<String>,
    /// Last value handed out.
    pub last_value: i64,
    /// The smaller of the sequence's maximum and the column type's maximum.
    pub max_value: i64,
    /// `last_value / max_value`.
    pub used_fraction: f64,
}

/// An index problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IndexIssue {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Index.
    pub index: String,
    /// For duplicates: the index that covers this one.
    pub covered_by: Option<String>,
    /// For invalid indexes: a `CREATE INDEX CONCURRENTLY` is still building it.
    pub being_built: bool,
}

/// A replication slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReplicationSlot {
    /// Slot name.
    pub name: String,
    /// `physical` or `logical`.
    pub slot_type: String,
    /// A consumer is connected.
    pub active: bool,
    /// WAL kept for it (primary only).
    pub retained_bytes: Option<i64>,
}

/// A connected standby.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Replica {
    /// Its `application_name`.
    pub application: Option<String>,
    /// Its address.
    pub client_addr: Option<String>,
    /// `streaming`, `catchup`, ...
    pub state: Option<String>,
    /// Replay lag as the primary measures it.
    #[serde(with = "secs::option", rename = "replay_lag_secs")]
    pub replay_lag: Option<Duration>,
}

/// Server-wide health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerHealth {
    /// `version()`.
    pub version: String,
    /// When the server started.
    pub started_at: Timestamp,
    /// Time since then.
    #[serde(with = "secs", rename = "uptime_secs")]
    pub uptime: Duration,
    /// The server is a standby.
    pub in_recovery: bool,
    /// Databases.
    pub databases: Vec<DatabaseInfo>,
    /// Shared-buffer hit ratio of the current database (`None` before any read).
    pub cache_hit_ratio: Option<f64>,
    /// Deadlocks in the current database since statistics were reset.
    pub deadlocks: i64,
    /// Temporary files written by the current database.
    pub temp_files: i64,
    /// Their total size.
    pub temp_bytes: i64,
    /// The smallest `xids_left` over all databases.
    pub min_xids_left: i64,
    /// Sequences over the configured fill threshold.
    pub sequences_near_exhaustion: Vec<SequenceUsage>,
    /// Indexes marked invalid.
    pub invalid_indexes: Vec<IndexIssue>,
    /// Indexes whose columns are a prefix of another index's.
    pub duplicate_indexes: Vec<IndexIssue>,
    /// On a standby: seconds behind the primary (0 when caught up).
    #[serde(with = "secs::option", rename = "replay_lag_secs")]
    pub replay_lag: Option<Duration>,
    /// Replication slots.
    pub replication_slots: Vec<ReplicationSlot>,
    /// Connected standbys.
    pub replicas: Vec<Replica>,
}

/// The pool's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolHealth {
    /// Configured maximum.
    pub max_size: usize,
    /// Open connections.
    pub size: usize,
    /// Idle connections ready for use.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Connection attempts refused with SQLSTATE 53300 since the pool was built.
    pub too_many_connections: u64,
    /// Deadlines that passed since the pool was built.
    pub timeouts: u64,
}

/// The answer to a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Ping {
    /// `host:port/dbname`.
    pub server: String,
    /// `server_version_num`.
    pub version_num: u32,
    /// Time for the round trip (and for connecting, when no pooled connection was idle).
    #[serde(with = "secs", rename = "elapsed_secs")]
    pub elapsed: Duration,
}

/// How a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SnapshotCost {
    /// Round trips to the server.
    pub round_trips: u32,
    /// Connections used (always 1).
    pub connections_used: u32,
    /// Wall time.
    #[serde(with = "secs", rename = "elapsed_secs")]
    pub elapsed: Duration,
}

/// Everything at once, taken over one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// When the server took it.
    pub taken_at: Timestamp,
    /// Who took it.
    pub identity: ServerIdentity,
    /// Connections against slots.
    pub connections: ConnectionSummary,
    /// Every client session (own connection excluded).
    pub sessions: Vec<Session>,
    /// Active queries, longest running first.
    pub active_queries: Vec<Session>,
    /// Work over the thresholds.
    pub long_running: LongRunning,
    /// Idle-in-transaction leak suspects by application.
    pub leak_suspects: Vec<LeakSuspects>,
    /// Lock waits.
    pub blocking: BlockingReport,
    /// Slow queries.
    pub statements: StatementsReport,
    /// Server health.
    pub health: ServerHealth,
    /// The pool.
    pub pool: PoolHealth,
    /// What it cost.
    pub cost: SnapshotCost,
}
