//! Encrypted, verified backups (placeholder docs; written at the end).

mod backup;
mod catalog;
mod database;
mod error;
mod k8s;
mod kconfig;
mod keys;
mod manifest;
mod names;
mod pg;
mod pipeline;
mod retention;
mod store;
mod verify;

pub use backup::{
    BackupReport, BackupRequest, DatabaseSource, KubernetesSource, backup_now, restore_config,
    restore_database,
};
pub use catalog::{
    BackupEntry, BackupStatus, PruneReport, list_backups, next_backup_name, pin_backup,
    prune_backups, unpin_backup,
};
pub use database::{DatabaseRestoreOptions, DatabaseRestoreReport};
pub use error::{Error, ErrorKind, Result};
pub use k8s::{
    ApplyOutcome, ConfigBackupOptions, ConfigCluster, ConfigRestoreOptions, ConfigRestoreReport,
    ConflictPolicy, RestoreAction, RestoreItem,
};
pub use kconfig::RESTORED_FROM;
pub use keys::{Identities, Recipients};
pub use manifest::{
    Artifact, ArtifactKind, Compression, DatabaseInfo, Encryption, FORMAT_VERSION, KindCount,
    KubernetesInfo, Manifest, SkipCount, TableRows, ToolInfo,
};
pub use names::{check_backup_name, on_demand_name};
pub use pg::{PgTarget, PgTools, ToolVersion};
pub use pipeline::TransferOptions;
pub use retention::{PruneDecision, prune_decisions};
pub use store::{AzureCredential, AzureStoreOptions, BackupStore, Pin, S3StoreOptions};
pub use verify::{ArtifactCheck, VerifyOptions, VerifyReport, verify_backup};
