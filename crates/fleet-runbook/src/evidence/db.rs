//! A fleet-db snapshot as fleet-policy's database-connections reading.

use fleet_db::Snapshot;
use fleet_policy::metrics::MetricsSnapshot;

/// The `metrics.db-connections` reading: the server's client connections (hidden sessions
/// included, background processes not), as `SELECT count(*) FROM pg_stat_activity` counts
/// them in the runbook. Only that field is set.
pub fn db_connections(snapshot: &Snapshot, subject: &str) -> MetricsSnapshot {
    MetricsSnapshot {
        subject: subject.to_owned(),
        db_connections: Some(f64::from(snapshot.connections.total)),
        ..MetricsSnapshot::default()
    }
}
