//! The read-only [`Diagnostics`] trait.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;
use crate::report::{
    BlockingReport, ConnectionSummary, LeakSuspects, LongRunning, Ping, PoolHealth, ServerHealth,
    Session, Snapshot, StatementsReport,
};

/// Read-only diagnostics of one PostgreSQL server: the runbook's `pg_stat_activity` queries
/// and more, as typed reports. Nothing here changes the server.
///
/// Each call uses one pooled connection. When the server is full, calls still work if the
/// diagnostics role may use a reserved slot (superuser, or `pg_use_reserved_connections` on
/// PostgreSQL 16+); otherwise they fail with [`Error::TooManyConnections`] whose
/// `reserved_slot` says so.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Diagnostics: Send + Sync {
    /// The cheapest check that the server answers: one pooled connection, one round trip.
    async fn ping(&self) -> Result<Ping, Error>;

    /// Everything at once, over one connection.
    async fn snapshot(&self) -> Result<Snapshot, Error>;

    /// Client connections against usable slots, by state, role, application and address.
    async fn connection_summary(&self) -> Result<ConnectionSummary, Error>;

    /// Every client session except the one asking.
    async fn sessions(&self) -> Result<Vec<Session>, Error>;

    /// Sessions running a query, longest first (the runbook's
    /// `SELECT * FROM pg_stat_activity WHERE state = 'active'`).
    async fn active_queries(&self) -> Result<Vec<Session>, Error>;

    /// Queries and transactions over the configured thresholds.
    async fn long_running(&self) -> Result<LongRunning, Error>;

    /// Idle-in-transaction sessions idle longer than `idle_longer_than`, grouped by
    /// application.
    async fn leak_suspects(&self, idle_longer_than: Duration) -> Result<Vec<LeakSuspects>, Error>;

    /// Lock waits as a tree under each root blocker.
    async fn blocking(&self) -> Result<BlockingReport, Error>;

    /// Slow statements from `pg_stat_statements`, or why there are none.
    async fn slow_queries(&self) -> Result<StatementsReport, Error>;

    /// Version, uptime, sizes, cache, deadlocks, temp files, wraparound, sequences, indexes,
    /// replication.
    async fn server_health(&self) -> Result<ServerHealth, Error>;

    /// The pool's own state and counters (no server call).
    fn pool_health(&self) -> PoolHealth;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_trait_is_object_safe_and_mockable() {
        let mut mock = MockDiagnostics::new();
        mock.expect_pool_health().returning(|| PoolHealth {
            max_size: 2,
            size: 1,
            available: 1,
            waiting: 0,
            too_many_connections: 3,
            timeouts: 0,
        });
        let dyn_diag: Arc<dyn Diagnostics> = Arc::new(mock);
        assert_eq!(dyn_diag.pool_health().too_many_connections, 3);
    }
}
