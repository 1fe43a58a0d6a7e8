//! Evidence adapters: thin, pure functions from the client crates' types to fleet-policy's
//! inputs, so that a procedure and the CI gate judge the same facts with the same rules.
//!
//! One small module per client API (those APIs are moving; a change there is a change in one
//! module here):
//!
//! | from | to | function |
//! |---|---|---|
//! | fleet-k8s pods | `alerts` (`alert.pods-crash-looping`) | [`crash_loop_alerts`] |
//! | fleet-k8s deployment and pods | `scaling` (replicas, OOMKilled) | [`scaling_input`] |
//! | fleet-k8s rollout history | the last deploy time of an alert | [`deployed_at`] |
//! | fleet-db snapshot | `metrics.db_connections` (`metrics.db-connections`) | [`db_connections`] |
//! | fleet-azure backups and restore points | `backups` (`backup.*`) | [`backup_inventory`] |
//!
//! fleet-policy has no rule yet for a rollout's health (complete, ready replicas) or for a
//! single crash-looping pod blocking a pre-flight; [`crash_looping`] finds the pods, and the
//! judging is left to the policy once it has such a rule.

mod azure_backups;
mod db;
mod k8s;

pub use azure_backups::backup_inventory;
pub use db::db_connections;
pub use k8s::{crash_loop_alerts, crash_looping, deployed_at, scaling_input};

/// A timestamp of any jiff version the client crates use, as this crate's jiff 1.x one
/// (both serialize as RFC 3339).
pub(crate) fn timestamp(t: &impl serde::Serialize) -> Option<jiff::Timestamp> {
    serde_json::from_value(serde_json::to_value(t).ok()?).ok()
}
