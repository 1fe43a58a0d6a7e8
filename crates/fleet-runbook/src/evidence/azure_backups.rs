//! fleet-azure's flexible-server backups as fleet-policy's backup inventory.

use fleet_azure::{BackupKind as AzureKind, BackupSource, RestorePoints, ServerBackup};
use fleet_policy::backup::{BackupInventory, BackupKind, BackupRecord, BackupStatus};

/// The inventory of `server` for the `backup.*` rules: every listed backup (scheduled ones as
/// automatic, on-demand and unknown types by who started them), completed when Azure gives a
/// completion time, and the earliest restore point when known.
pub fn backup_inventory(
    server: &str,
    backups: &[ServerBackup],
    points: Option<&RestorePoints>,
) -> BackupInventory {
    BackupInventory {
        server: server.to_owned(),
        backups: backups
            .iter()
            .map(|b| BackupRecord {
                name: b.name.clone(),
                kind: kind(b),
                status: if b.completed_at.is_some() {
                    BackupStatus::Succeeded
                } else {
                    BackupStatus::InProgress
                },
                completed_at: b.completed_at,
            })
            .collect(),
        earliest_restore_point: points.and_then(|p| p.earliest),
        restore_target: None,
        recovery: None,
    }
}

fn kind(b: &ServerBackup) -> BackupKind {
    match (&b.kind, &b.source) {
        (AzureKind::Automatic, _) => BackupKind::Automatic,
        (AzureKind::OnDemand, _) => BackupKind::OnDemand,
        // A type this crate does not know: who started it decides.
        (_, BackupSource::Automatic) => BackupKind::Automatic,
        _ => BackupKind::OnDemand,
    }
}
