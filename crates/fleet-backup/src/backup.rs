//! Taking a backup (database, Kubernetes configuration, or both) and the restore entry points.

use std::sync::Arc;

use fleet_guard::{Executor, Step};
use jiff::Timestamp;
use serde::Serialize;

use crate::database::{self, DatabaseRestoreOptions, DatabaseRestoreReport};
use crate::error::{Error, Result};
use crate::k8s::{
    self, ConfigBackupOptions, ConfigCluster, ConfigRestoreOptions, ConfigRestoreReport,
};
use crate::keys::{Identities, Recipients};
use crate::manifest::{
    Compression, Encryption, FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, Manifest, ToolInfo,
};
use crate::names::check_backup_name;
use crate::pg::{PgTarget, PgTools};
use crate::pipeline::{Destination, TransferOptions};
use crate::store::{BackupStore, STARTED_FILE, Started};

/// A database to back up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DatabaseSource {
    /// The server and database.
    pub target: PgTarget,
    /// Where `pg_dump` is.
    pub tools: PgTools,
}

impl DatabaseSource {
    /// The database at `target`, dumped with `tools`.
    pub fn new(target: PgTarget, tools: PgTools) -> Self {
        Self { target, tools }
    }
}

/// A namespace to back up: the cluster handle's namespace.
#[derive(Clone)]
#[non_exhaustive]
pub struct KubernetesSource {
    /// The cluster, bound to the namespace.
    pub cluster: Arc<dyn ConfigCluster>,
    /// What to keep and leave out.
    pub options: ConfigBackupOptions,
}

impl std::fmt::Debug for KubernetesSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSource")
            .field("namespace", &self.cluster.namespace())
            .field("options", &self.options)
            .finish()
    }
}

impl KubernetesSource {
    /// The namespace of `cluster`, with default options.
    pub fn new(cluster: Arc<dyn ConfigCluster>) -> Self {
        Self {
            cluster,
            options: ConfigBackupOptions::default(),
        }
    }
}

/// What to back up, under which name, encrypted to whom.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackupRequest {
    /// The backup's name (see [`crate::next_backup_name`] for the policy's on-demand name).
    pub name: String,
    /// Who can decrypt it.
    pub recipients: Recipients,
    /// The database, if any.
    pub database: Option<DatabaseSource>,
    /// The namespace, if any.
    pub kubernetes: Option<KubernetesSource>,
    /// Pipeline knobs.
    pub transfer: TransferOptions,
}

impl BackupRequest {
    /// A request for `name`, encrypted to `recipients`; add a database and/or a namespace.
    pub fn new(name: impl Into<String>, recipients: Recipients) -> Self {
        Self {
            name: name.into(),
            recipients,
            database: None,
            kubernetes: None,
            transfer: TransferOptions::default(),
        }
    }

    /// Backs up this database.
    #[must_use]
    pub fn with_database(mut self, source: DatabaseSource) -> Self {
        self.database = Some(source);
        self
    }

    /// Backs up this namespace.
    #[must_use]
    pub fn with_kubernetes(mut self, source: KubernetesSource) -> Self {
        self.kubernetes = Some(source);
        self
    }

    /// Uses these pipeline knobs.
    #[must_use]
    pub fn with_transfer(mut self, transfer: TransferOptions) -> Self {
        self.transfer = transfer;
        self
    }
}

/// What a backup did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupReport {
    /// The backup's name.
    pub name: String,
    /// Whether it was written (false for a dry run).
    pub applied: bool,
    /// The committed manifest.
    pub manifest: Option<Manifest>,
}

/// Takes a backup now: checks first (server and `pg_dump` versions, cluster access), then
/// reserves the name, writes each artifact and commits the manifest, each an audited step
/// (a dry run stops after the checks). On failure the partial artifacts are deleted (or left
/// as an incomplete backup for a later prune when that fails too).
#[tracing::instrument(skip_all, fields(store = %store, backup = %request.name))]
pub async fn backup_now(
    executor: &Executor,
    store: &BackupStore,
    request: BackupRequest,
) -> Result<BackupReport> {
    check_backup_name(&request.name)?;
    if request.database.is_none() && request.kubernetes.is_none() {
        return Err(Error::invalid(
            "backup request",
            "names neither a database nor a namespace",
        ));
    }
    let name = request.name.clone();
    let target = format!("backup/{name}");

    let db_check = match &request.database {
        Some(db) => Some(
            executor
                .read(
                    Step::read(
                        "check-database",
                        &format!("postgres/{}", db.target.server_label()?),
                        "read the server version and check that pg_dump is at least as new",
                    ),
                    database::check(&db.target, &db.tools),
                )
                .await
                .map_err(Error::from_step)?,
        ),
        None => None,
    };
    if let Some(k) = &request.kubernetes {
        let ns = k.cluster.namespace().to_owned();
        let kinds = executor
            .read(
                Step::read(
                    "check-kubernetes",
                    &format!("namespace/{ns}"),
                    "discover the namespaced resources to export",
                ),
                async {
                    k.cluster
                        .export_kinds(None)
                        .await
                        .map_err(|e| Error::k8s(format!("discover resources for {ns}"), e))
                },
            )
            .await
            .map_err(Error::from_step)?;
        executor.note(
            "check-kubernetes",
            format!("{} resource types to export", kinds.len()),
        );
    }

    let started_at = executor.now();
    let started = Started {
        id: name.clone(),
        started_at,
        actor: executor.context().actor.clone(),
        reason: executor.context().reason.clone(),
    };
    let reserve =
        serde_json::to_vec_pretty(&started).map_err(|e| Error::invalid("backup", e.to_string()))?;
    let reserved = executor
        .change(
            Step::change(
                "reserve",
                &target,
                format!("reserve the name {name} in {store}"),
            ),
            || store.put_small(&name, STARTED_FILE, reserve, true),
        )
        .await
        .map_err(Error::from_step)?;
    if !reserved.is_done() {
        executor.skip(
            Step::change("dump-database", &target, "dump the database"),
            "dry run",
        );
        executor.skip(
            Step::change("export-kubernetes", &target, "export the namespace"),
            "dry run",
        );
        executor.skip(
            Step::change("commit", &target, "write the manifest"),
            "dry run",
        );
        return Ok(BackupReport {
            name,
            applied: false,
            manifest: None,
        });
    }

    let result = write_artifacts(executor, store, &request, db_check.as_ref(), started_at).await;
    match result {
        Ok(manifest) => Ok(BackupReport {
            name,
            applied: true,
            manifest: Some(manifest),
        }),
        Err(e) => {
            // Leave nothing half-written behind if that can be helped: no manifest was written,
            // so what is there is an incomplete backup either way.
            if let Ok(objects) = store.list_objects().await
                && let Some(objs) = objects.get(&name)
                && let Err(cleanup) = store.delete_backup(&name, objs).await
            {
                tracing::warn!(backup = %name, error = %cleanup, "partial backup left for a later prune");
            }
            Err(e)
        }
    }
}

async fn write_artifacts(
    executor: &Executor,
    store: &BackupStore,
    request: &BackupRequest,
    db_check: Option<&database::DumpCheck>,
    started_at: Timestamp,
) -> Result<Manifest> {
    let name = &request.name;
    let target = format!("backup/{name}");
    let destination = Destination {
        store,
        backup: name,
        recipients: &request.recipients,
        transfer: &request.transfer,
    };
    let mut artifacts = Vec::new();
    let mut database_info = None;
    if let (Some(db), Some(check)) = (&request.database, db_check) {
        let (info, artifact) = executor
            .change(
                Step::change(
                    "dump-database",
                    &target,
                    format!(
                        "pg_dump {} of {}/{} (PostgreSQL {}), zstd and age into {store}",
                        check.pg_dump.version,
                        check.server,
                        check.facts.database,
                        check.facts.version
                    ),
                ),
                || {
                    database::dump(
                        executor,
                        "dump-database",
                        check,
                        &db.target,
                        &db.tools,
                        destination,
                    )
                },
            )
            .await
            .map_err(Error::from_step)?
            .done()
            .ok_or_else(|| Error::Refused {
                reason: "the dump did not run".into(),
            })?;
        artifacts.push(artifact);
        database_info = Some(info);
    }
    let mut kubernetes_info = None;
    if let Some(k) = &request.kubernetes {
        let (info, mut written) = executor
            .change(
                Step::change(
                    "export-kubernetes",
                    &target,
                    format!(
                        "export namespace {} (Secrets in their own artifact), zstd and age into {store}",
                        k.cluster.namespace()
                    ),
                ),
                || {
                    k8s::export(
                        executor,
                        "export-kubernetes",
                        k.cluster.as_ref(),
                        destination,
                        &k.options,
                    )
                },
            )
            .await
            .map_err(Error::from_step)?
            .done()
            .ok_or_else(|| Error::Refused {
                reason: "the export did not run".into(),
            })?;
        artifacts.append(&mut written);
        kubernetes_info = Some(info);
    }
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        id: name.clone(),
        started_at,
        completed_at: executor.now(),
        actor: executor.context().actor.clone(),
        reason: executor.context().reason.clone(),
        tool: ToolInfo::this(),
        compression: Compression {
            algorithm: "zstd".into(),
            level: request.transfer.compression_level,
        },
        encryption: Encryption {
            scheme: "age".into(),
            recipients: request.recipients.to_strings(),
        },
        artifacts,
        database: database_info,
        kubernetes: kubernetes_info,
    };
    let bytes = manifest.to_json()?;
    executor
        .change(
            Step::change("commit", &target, format!("write {MANIFEST_FILE}: the backup becomes usable"))
                .with_after(serde_json::json!({"artifacts": manifest.artifacts.len(), "bytes": manifest.stored_bytes()})),
            || store.put_small(name, MANIFEST_FILE, bytes, true),
        )
        .await
        .map_err(Error::from_step)?;
    Ok(manifest)
}

async fn committed_manifest(
    executor: &Executor,
    store: &BackupStore,
    name: &str,
) -> Result<Manifest> {
    executor
        .read(
            Step::read(
                "read-manifest",
                &format!("backup/{name}"),
                "read the manifest (only committed backups are restored)",
            ),
            store.manifest(name),
        )
        .await
        .map_err(Error::from_step)
}

/// Restores the database of backup `name` into a new database on the server of `target`
/// (its URL names the maintenance database to connect to, e.g. `postgres`), then counts the
/// rows of every table against the manifest.
///
/// The target database must not exist; restoring over the backup's own source database needs
/// [`DatabaseRestoreOptions::force_over_source`]. The restore step is destructive: it needs the
/// target database's name as confirmation, and a dry run stops before it.
#[tracing::instrument(skip_all, fields(store = %store, backup = name, database = %options.target_database))]
pub async fn restore_database(
    executor: &Executor,
    store: &BackupStore,
    name: &str,
    identities: &Identities,
    target: &PgTarget,
    options: &DatabaseRestoreOptions,
) -> Result<DatabaseRestoreReport> {
    let manifest = committed_manifest(executor, store, name).await?;
    database::restore(executor, store, &manifest, identities, target, options).await
}

/// Restores the Kubernetes configuration (and Secrets) of backup `name` into the namespace of
/// `cluster`, which may be another namespace or another cluster (the DR path). See
/// [`ConfigRestoreOptions`] for conflicts and rollout waits. The apply step needs the target
/// namespace's name as confirmation; a dry run reports the plan and the server-side dry-run
/// diff only.
#[tracing::instrument(skip_all, fields(store = %store, backup = name, namespace = %cluster.namespace()))]
pub async fn restore_config(
    executor: &Executor,
    store: &BackupStore,
    name: &str,
    identities: &Identities,
    cluster: &dyn ConfigCluster,
    options: &ConfigRestoreOptions,
) -> Result<ConfigRestoreReport> {
    let manifest = committed_manifest(executor, store, name).await?;
    k8s::restore(executor, cluster, store, &manifest, identities, options).await
}
