//! Kubernetes configuration backups and restores: the one module that talks to fleet-k8s
//! (its `Export`, `ApplyObjects` and `Deployments` traits), so that changes there land here only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fleet_guard::{ConfirmWord, Executor, Step};
use fleet_k8s::{
    ApplyObjects, Deployments, DynamicRef, Export, ExportOptions, KubeCluster, RolloutState,
    RolloutStatusOptions, WriteOptions,
};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::kconfig;
use crate::keys::Identities;
use crate::manifest::{Artifact, ArtifactKind, KindCount, KubernetesInfo, Manifest, SkipCount};
use crate::pipeline::{ArtifactWriter, Destination, read_artifact};
use crate::store::BackupStore;

/// What a configuration backup and restore need of a cluster: export, object writes and
/// rollout waits, for one namespace. [`KubeCluster`] is one.
pub trait ConfigCluster: Export + ApplyObjects + Deployments + Send + Sync {
    /// The namespace this handle exports from and restores into.
    fn namespace(&self) -> &str;
}

impl ConfigCluster for KubeCluster {
    fn namespace(&self) -> &str {
        KubeCluster::namespace(self)
    }
}

/// Options of a configuration backup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigBackupOptions {
    /// Keep `metadata.managedFields` (server-side apply ownership); stripped by default.
    pub keep_managed_fields: bool,
    /// More resources to leave out, as `resource` or `resource.group` (events are always
    /// left out).
    pub exclude: Vec<String>,
    /// Objects per list request (bounds memory).
    pub page_size: u32,
}

impl ConfigBackupOptions {
    /// Keeps `metadata.managedFields`.
    #[must_use]
    pub fn with_keep_managed_fields(mut self, keep: bool) -> Self {
        self.keep_managed_fields = keep;
        self
    }

    /// Leaves a resource out (`resource` or `resource.group`).
    #[must_use]
    pub fn with_exclude(mut self, resource: impl Into<String>) -> Self {
        self.exclude.push(resource.into());
        self
    }

    /// Sets the list page size.
    #[must_use]
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }
}

impl Default for ConfigBackupOptions {
    fn default() -> Self {
        Self {
            keep_managed_fields: false,
            exclude: Vec::new(),
            page_size: 500,
        }
    }
}

/// One stored object: its plural resource (for the REST path) and the stripped object.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    resource: String,
    object: Value,
}

impl Record {
    fn api_version(&self) -> &str {
        self.object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    fn name(&self) -> &str {
        self.object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    fn qualified(&self) -> String {
        kconfig::qualified(self.api_version(), &self.resource)
    }
}

/// Exports the cluster handle's namespace into two artifacts of `backup`: the configuration,
/// and the Secrets on their own. Both are encrypted before they leave the process.
pub(crate) async fn export(
    executor: &Executor,
    step: &str,
    cluster: &dyn ConfigCluster,
    destination: Destination<'_>,
    options: &ConfigBackupOptions,
) -> Result<(KubernetesInfo, Vec<Artifact>)> {
    let namespace = cluster.namespace().to_owned();
    let mut export_options = ExportOptions::default().with_page_size(options.page_size);
    for x in &options.exclude {
        export_options = export_options.with_exclude(x.clone());
    }
    let ns_ref = DynamicRef::cluster("v1", "Namespace", "namespaces", namespace.clone());
    let ns_obj = cluster
        .get_object(&ns_ref)
        .await
        .map_err(|e| Error::k8s(format!("read namespace {namespace}"), e))?
        .ok_or_else(|| Error::NotFound {
            what: "namespace",
            detail: namespace.clone(),
        })?;
    let mut objects = cluster
        .export_namespace(Some(export_options))
        .await
        .map_err(|e| Error::k8s(format!("export namespace {namespace}"), e))?;

    let config_name = ArtifactKind::KubernetesConfig.file_name();
    let secrets_name = ArtifactKind::KubernetesSecrets.file_name();
    let mut config = destination.writer(config_name).await?;
    let mut secrets = match destination.writer(secrets_name).await {
        Ok(w) => w,
        Err(e) => {
            config.abort().await;
            return Err(e);
        }
    };

    let result: Result<(Vec<KindCount>, Vec<SkipCount>)> = async {
        let mut kinds: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let mut skipped: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut line = Vec::with_capacity(4096);
        let mut ns = ns_obj.clone();
        kconfig::strip("namespaces", &mut ns, options.keep_managed_fields);
        write_record(&mut config, &mut line, "namespaces", ns).await?;
        let mut seen = 0u64;
        while let Some(item) = objects.next().await {
            let item = item.map_err(|e| Error::k8s(format!("export namespace {namespace}"), e))?;
            let q = kconfig::qualified(&item.api_version, &item.resource);
            if let Some(reason) = kconfig::skip_reason(&q, &item.object) {
                *skipped
                    .entry((item.kind.clone(), reason.to_owned()))
                    .or_default() += 1;
                continue;
            }
            let mut object = item.object;
            kconfig::strip(&q, &mut object, options.keep_managed_fields);
            *kinds
                .entry((
                    item.api_version.clone(),
                    item.kind.clone(),
                    item.resource.clone(),
                ))
                .or_default() += 1;
            let is_secret = q == "secrets";
            let target = if is_secret { &mut secrets } else { &mut config };
            write_record(target, &mut line, &item.resource, object).await?;
            seen += 1;
            if seen.is_multiple_of(500) {
                executor.advance(step, seen, None, "objects", "exporting");
            }
        }
        executor.advance(step, seen, Some(seen), "objects", "exported");
        Ok((
            kinds
                .into_iter()
                .map(|((api_version, kind, resource), objects)| KindCount {
                    api_version,
                    kind,
                    resource,
                    objects,
                })
                .collect(),
            skipped
                .into_iter()
                .map(|((kind, reason), objects)| SkipCount {
                    kind,
                    reason,
                    objects,
                })
                .collect(),
        ))
    }
    .await;
    let (kinds, skipped) = match result {
        Ok(x) => x,
        Err(e) => {
            config.abort().await;
            secrets.abort().await;
            return Err(e);
        }
    };
    let written_config = match config.finish().await {
        Ok(w) => w,
        Err(e) => {
            secrets.abort().await;
            return Err(e);
        }
    };
    let written_secrets = secrets.finish().await?;
    let labels = ns_obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok((
        KubernetesInfo {
            namespace,
            namespace_labels: labels,
            kinds,
            skipped,
            managed_fields: options.keep_managed_fields,
        },
        vec![
            Artifact {
                name: config_name.into(),
                kind: ArtifactKind::KubernetesConfig,
                size: written_config.size,
                sha256: written_config.sha256,
                content_size: written_config.content_size,
            },
            Artifact {
                name: secrets_name.into(),
                kind: ArtifactKind::KubernetesSecrets,
                size: written_secrets.size,
                sha256: written_secrets.sha256,
                content_size: written_secrets.content_size,
            },
        ],
    ))
}

async fn write_record(
    w: &mut ArtifactWriter,
    line: &mut Vec<u8>,
    resource: &str,
    object: Value,
) -> Result<()> {
    line.clear();
    serde_json::to_writer(
        &mut *line,
        &Record {
            resource: resource.to_owned(),
            object,
        },
    )
    .map_err(|e| Error::invalid("object", e.to_string()))?;
    line.push(b'\n');
    w.write(line).await
}

/// Reads one configuration artifact into records.
async fn read_records(
    store: &BackupStore,
    manifest: &Manifest,
    kind: ArtifactKind,
    identities: &Identities,
) -> Result<Vec<Record>> {
    let Some(artifact) = manifest.artifact(kind) else {
        return Ok(Vec::new());
    };
    let backup = manifest.id.clone();
    let name = artifact.name.clone();
    let (records, _) = read_artifact(
        store,
        &manifest.id,
        artifact,
        identities,
        Arc::new(AtomicU64::new(0)),
        move |r| {
            let mut out = Vec::new();
            let reader = std::io::BufReader::new(r);
            for (n, line) in std::io::BufRead::lines(reader).enumerate() {
                let line = line.map_err(|e| Error::io(format!("reading {name}"), e))?;
                if line.trim().is_empty() {
                    continue;
                }
                // The line is not shown: it may be a Secret.
                let rec: Record = serde_json::from_str(&line).map_err(|e| {
                    Error::corrupt(
                        &backup,
                        &name,
                        format!(
                            "line {}: not an object record ({})",
                            n + 1,
                            e.classify_text()
                        ),
                    )
                })?;
                out.push(rec);
            }
            Ok(out)
        },
    )
    .await?;
    Ok(records)
}

trait ClassifyText {
    fn classify_text(&self) -> &'static str;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "bad JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

/// What to do when an object to restore already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Leave the live object as it is (Velero's `none`), reporting how it differs.
    #[default]
    Skip,
    /// Replace it with the backed-up one (Velero's `update`), keeping what the server assigned
    /// (cluster IPs, node ports, bound volumes).
    Update,
}

/// Options of a configuration restore.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigRestoreOptions {
    /// What to do with objects that exist.
    pub conflict: ConflictPolicy,
    /// Restore Secrets too (default true).
    pub include_secrets: bool,
    /// How long to wait for each restored Deployment to roll out; `None` does not wait.
    pub rollout_timeout: Option<Duration>,
    /// Paths listed per object in a diff, at most.
    pub diff_limit: usize,
    /// Objects of one kind read, dry-run or written at once (default 8).
    pub concurrency: usize,
}

impl ConfigRestoreOptions {
    /// Sets the conflict policy.
    #[must_use]
    pub fn with_conflict(mut self, conflict: ConflictPolicy) -> Self {
        self.conflict = conflict;
        self
    }

    /// Restores Secrets or not.
    #[must_use]
    pub fn with_include_secrets(mut self, include: bool) -> Self {
        self.include_secrets = include;
        self
    }

    /// Sets how many objects of one kind are handled at once.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets the rollout wait (`None`: do not wait).
    #[must_use]
    pub fn with_rollout_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.rollout_timeout = timeout;
        self
    }
}

impl Default for ConfigRestoreOptions {
    fn default() -> Self {
        Self {
            conflict: ConflictPolicy::Skip,
            include_secrets: true,
            rollout_timeout: Some(Duration::from_secs(600)),
            diff_limit: 20,
            concurrency: 8,
        }
    }
}

/// What a restore does with one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum RestoreAction {
    /// It does not exist: create it.
    Create,
    /// It exists and differs: replace it (conflict policy `update`).
    Update,
    /// It exists and matches: nothing to do.
    Unchanged,
    /// Left as it is.
    Skip {
        /// Why (exists and the policy is skip; maintained by a controller...).
        reason: String,
    },
    /// The server rejected it in the dry run.
    Invalid {
        /// The server's answer.
        error: String,
    },
}

/// How applying one object ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ApplyOutcome {
    /// Not applied (dry run, or nothing to do).
    NotApplied,
    /// Created or replaced.
    Applied,
    /// The server refused it.
    Failed {
        /// The server's answer.
        error: String,
    },
}

/// One object of a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreItem {
    /// `deployments.apps`.
    pub resource: String,
    /// `Deployment`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The decision.
    pub action: RestoreAction,
    /// Paths where the live object differs from the backed-up one (never values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<String>,
    /// How applying it ended.
    pub outcome: ApplyOutcome,
}

/// A restore's plan and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigRestoreReport {
    /// The backup.
    pub backup: String,
    /// The namespace it was taken from.
    pub source_namespace: String,
    /// The namespace restored into.
    pub target_namespace: String,
    /// Whether the target namespace existed before.
    pub namespace_existed: bool,
    /// Whether changes were made (false for a dry run).
    pub applied: bool,
    /// Every object, in restore order.
    pub items: Vec<RestoreItem>,
    /// Each restored Deployment and how its rollout ended.
    pub rollouts: Vec<(String, String)>,
}

impl ConfigRestoreReport {
    /// How many objects were (or would be) created, updated, left unchanged, skipped, invalid.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for i in &self.items {
            let k = match i.action {
                RestoreAction::Create => "create",
                RestoreAction::Update => "update",
                RestoreAction::Unchanged => "unchanged",
                RestoreAction::Skip { .. } => "skip",
                RestoreAction::Invalid { .. } => "invalid",
            };
            *m.entry(k).or_insert(0) += 1;
        }
        m
    }

    /// The objects whose apply failed.
    pub fn failures(&self) -> impl Iterator<Item = &RestoreItem> {
        self.items
            .iter()
            .filter(|i| matches!(i.outcome, ApplyOutcome::Failed { .. }))
    }
}

struct Planned {
    target: DynamicRef,
    qualified: String,
    desired: Value,
    item: RestoreItem,
}

/// Restores a backup's configuration into the namespace of `cluster`: plan in Velero's order,
/// a server-side dry run of every write with a diff against the live objects, then (unless the
/// run is a dry run) the writes, confirmed with the target namespace's name, and the rollouts.
#[tracing::instrument(skip_all, fields(backup = %manifest.id, namespace = %cluster.namespace()))]
pub(crate) async fn restore(
    executor: &Executor,
    cluster: &dyn ConfigCluster,
    store: &BackupStore,
    manifest: &Manifest,
    identities: &Identities,
    options: &ConfigRestoreOptions,
) -> Result<ConfigRestoreReport> {
    let Some(info) = &manifest.kubernetes else {
        return Err(Error::NotFound {
            what: "Kubernetes configuration",
            detail: format!("backup {} has none", manifest.id),
        });
    };
    let source = info.namespace.clone();
    let target_ns = cluster.namespace().to_owned();
    let target_label = format!("namespace/{target_ns}");

    let records = executor
        .read(
            Step::read(
                "read-config",
                &format!("backup/{}", manifest.id),
                "decrypt and read the configuration and secrets artifacts",
            ),
            async {
                let mut all =
                    read_records(store, manifest, ArtifactKind::KubernetesConfig, identities)
                        .await?;
                if options.include_secrets {
                    all.extend(
                        read_records(store, manifest, ArtifactKind::KubernetesSecrets, identities)
                            .await?,
                    );
                }
                Ok::<_, Error>(all)
            },
        )
        .await
        .map_err(Error::from_step)?;

    let (namespaces, records): (Vec<Record>, Vec<Record>) = records
        .into_iter()
        .partition(|r| r.qualified() == "namespaces");
    // The namespace as backed up (labels, annotations), renamed to the target.
    let mut namespace = namespaces
        .into_iter()
        .next()
        .map(|r| r.object)
        .unwrap_or_else(
            || serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {}}),
        );
    if let Some(meta) = namespace.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("name".into(), Value::String(target_ns.clone()));
        meta.remove("namespace");
    }
    kconfig::mark_restored(&mut namespace, &manifest.id);
    let ns_ref = DynamicRef::cluster("v1", "Namespace", "namespaces", target_ns.clone());
    let namespace_existed = cluster
        .get_object(&ns_ref)
        .await
        .map_err(|e| Error::k8s(format!("read namespace {target_ns}"), e))?
        .is_some();

    let mut planned = executor
        .read(
            Step::read(
                "plan-restore",
                &target_label,
                format!(
                    "order objects as Velero does and dry-run every write against the cluster (conflicts: {:?})",
                    options.conflict
                ),
            ),
            plan(
                executor,
                cluster,
                records,
                PlanInput {
                    manifest,
                    source: &source,
                    target_ns: &target_ns,
                    namespace_existed,
                    options,
                },
            ),
        )
        .await
        .map_err(Error::from_step)?;

    let mut report = ConfigRestoreReport {
        backup: manifest.id.clone(),
        source_namespace: source.clone(),
        target_namespace: target_ns.clone(),
        namespace_existed,
        applied: false,
        items: Vec::new(),
        rollouts: Vec::new(),
    };
    let to_apply = planned
        .iter()
        .filter(|p| matches!(p.item.action, RestoreAction::Create | RestoreAction::Update))
        .count();
    let word = ConfirmWord::new(target_ns.clone()).map_err(|e| Error::Guard {
        op: "confirmation word".into(),
        source: e,
    })?;
    let step = Step::change(
        "apply-config",
        &target_label,
        format!(
            "create or update {to_apply} objects from backup {} (namespace {source} -> {target_ns})",
            manifest.id
        ),
    )
    .with_after(serde_json::json!({
        "backup": manifest.id,
        "objects": to_apply,
        "namespace_created": !namespace_existed,
    }))
    .with_confirm(word);
    let applied = executor
        .change(step, || async {
            apply(
                executor,
                cluster,
                &mut planned,
                (!namespace_existed).then_some(&namespace),
                &target_ns,
                options.concurrency,
            )
            .await
        })
        .await
        .map_err(Error::from_step)?;
    report.applied = applied.is_done();

    if report.applied
        && let Some(timeout) = options.rollout_timeout
    {
        let deployments: Vec<String> = planned
            .iter()
            .filter(|p| {
                p.qualified == "deployments.apps" && p.item.outcome == ApplyOutcome::Applied
            })
            .map(|p| p.item.name.clone())
            .collect();
        for name in deployments {
            let state = executor
                .wait(
                    Step::wait(
                        "rollout",
                        &format!("deployment/{target_ns}/{name}"),
                        "wait for the restored deployment to roll out",
                    ),
                    || async {
                        cluster
                            .rollout_status(
                                &name,
                                Some(RolloutStatusOptions::default().with_timeout(timeout)),
                            )
                            .await
                            .map_err(|e| Error::k8s(format!("rollout status of {name}"), e))
                    },
                )
                .await;
            let text = match state {
                Ok(fleet_guard::Applied::Done(RolloutState::Complete { message })) => message,
                Ok(fleet_guard::Applied::Done(other)) => format!("{other:?}"),
                Ok(fleet_guard::Applied::DryRun) => "dry run".into(),
                Err(e) => format!("failed: {}", Error::from_step(e)),
            };
            report.rollouts.push((name, text));
        }
    }
    report.items = planned.into_iter().map(|p| p.item).collect();
    Ok(report)
}

/// What a restore plan is made from.
struct PlanInput<'a> {
    manifest: &'a Manifest,
    source: &'a str,
    target_ns: &'a str,
    namespace_existed: bool,
    options: &'a ConfigRestoreOptions,
}

async fn plan(
    executor: &Executor,
    cluster: &dyn ConfigCluster,
    records: Vec<Record>,
    input: PlanInput<'_>,
) -> Result<Vec<Planned>> {
    let PlanInput {
        manifest,
        source,
        target_ns,
        namespace_existed,
        options,
    } = input;
    // Endpoints of Services with a selector are the endpoints controller's business.
    let selector_services: std::collections::BTreeSet<String> = records
        .iter()
        .filter(|r| r.qualified() == "services")
        .filter(|r| {
            r.object
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
        .map(|r| r.name().to_owned())
        .collect();
    let mut records = records;
    records.sort_by(|a, b| {
        kconfig::restore_rank(&a.qualified())
            .cmp(&kconfig::restore_rank(&b.qualified()))
            .then_with(|| a.name().cmp(b.name()))
    });
    let total = records.len() as u64;
    let planned: Vec<Planned> = records
        .into_iter()
        .map(|rec| {
            let q = rec.qualified();
            let mut desired = rec.object.clone();
            kconfig::move_namespace(&q, &mut desired, source, target_ns);
            kconfig::mark_restored(&mut desired, &manifest.id);
            let target = DynamicRef::namespaced(
                rec.api_version(),
                rec.kind(),
                rec.resource.clone(),
                target_ns,
                rec.name(),
            );
            let controlled = q == "endpoints" && selector_services.contains(rec.name());
            Planned {
                target,
                desired,
                item: RestoreItem {
                    resource: q.clone(),
                    kind: rec.kind().to_owned(),
                    name: rec.name().to_owned(),
                    action: if controlled {
                        RestoreAction::Skip {
                            reason: format!(
                                "maintained by the endpoints controller for service {}",
                                rec.name()
                            ),
                        }
                    } else {
                        RestoreAction::Create
                    },
                    diff: Vec::new(),
                    outcome: ApplyOutcome::NotApplied,
                },
                qualified: q,
            }
        })
        .collect();
    if !namespace_existed {
        // Nothing exists yet: everything is created (the server validates it then).
        executor.advance("plan-restore", total, Some(total), "objects", "planned");
        return Ok(planned);
    }
    let done = AtomicU64::new(0);
    futures::stream::iter(planned)
        .map(|mut p| {
            let done = &done;
            async move {
                if p.item.action == RestoreAction::Create {
                    decide(cluster, &mut p, options).await?;
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(200) || n == total {
                    executor.advance("plan-restore", n, Some(total), "objects", "planned");
                }
                Ok::<_, Error>(p)
            }
        })
        .buffered(options.concurrency.max(1))
        .try_collect()
        .await
}

/// Compares one object with the live one through a server-side dry run and decides.
async fn decide(
    cluster: &dyn ConfigCluster,
    p: &mut Planned,
    options: &ConfigRestoreOptions,
) -> Result<()> {
    let q = p.qualified.clone();
    let live = cluster
        .get_object(&p.target)
        .await
        .map_err(|e| Error::k8s(format!("get {}", p.target.describe()), e))?;
    let Some(live) = live else {
        if let Err(e) = cluster
            .create_object(&p.target, &p.desired, &WriteOptions::dry_run())
            .await
        {
            p.item.action = RestoreAction::Invalid {
                error: e.to_string(),
            };
        }
        return Ok(());
    };
    let mut replacement = p.desired.clone();
    kconfig::carry_server_fields(&q, &mut replacement, &live);
    let skip = || RestoreAction::Skip {
        reason: "exists (conflict policy: skip)".into(),
    };
    match cluster
        .replace_object(&p.target, &replacement, &WriteOptions::dry_run())
        .await
    {
        Err(e) if options.conflict == ConflictPolicy::Update => {
            p.item.action = RestoreAction::Invalid {
                error: e.to_string(),
            };
        }
        Err(_) => {
            p.item.diff = kconfig::diff_paths(&q, &live, &p.desired, options.diff_limit);
            p.item.action = skip();
        }
        Ok(result) => {
            p.item.diff = kconfig::diff_paths(&q, &live, &result, options.diff_limit);
            p.item.action = if p.item.diff.is_empty() {
                RestoreAction::Unchanged
            } else if options.conflict == ConflictPolicy::Update {
                RestoreAction::Update
            } else {
                skip()
            };
            p.desired = replacement;
        }
    }
    Ok(())
}

async fn apply(
    executor: &Executor,
    cluster: &dyn ConfigCluster,
    planned: &mut [Planned],
    create_namespace: Option<&Value>,
    target_ns: &str,
    concurrency: usize,
) -> Result<usize> {
    if let Some(ns) = create_namespace {
        let ns_ref = DynamicRef::cluster("v1", "Namespace", "namespaces", target_ns);
        cluster
            .create_object(&ns_ref, ns, &WriteOptions::default())
            .await
            .map_err(|e| Error::k8s(format!("create namespace {target_ns}"), e))?;
    }
    let total = planned.len() as u64;
    let seen = AtomicU64::new(0);
    let applied = AtomicU64::new(0);
    // Kinds go in restore order; the objects of one kind go several at a time.
    let mut rest = planned;
    while !rest.is_empty() {
        let rank = kconfig::restore_rank(&rest[0].qualified);
        let n = rest
            .iter()
            .position(|p| kconfig::restore_rank(&p.qualified) != rank)
            .unwrap_or(rest.len());
        let (group, tail) = rest.split_at_mut(n);
        futures::stream::iter(group.iter_mut())
            .for_each_concurrent(concurrency.max(1), |p| {
                let (seen, applied) = (&seen, &applied);
                async move {
                    let result = match p.item.action {
                        RestoreAction::Create => Some(
                            cluster
                                .create_object(&p.target, &p.desired, &WriteOptions::default())
                                .await,
                        ),
                        RestoreAction::Update => Some(
                            cluster
                                .replace_object(&p.target, &p.desired, &WriteOptions::default())
                                .await,
                        ),
                        _ => None,
                    };
                    match result {
                        Some(Ok(_)) => {
                            p.item.outcome = ApplyOutcome::Applied;
                            applied.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Err(e)) => {
                            tracing::warn!(object = %p.target.describe(), error = %e, "restore of an object failed");
                            p.item.outcome = ApplyOutcome::Failed {
                                error: e.to_string(),
                            };
                        }
                        None => {}
                    }
                    let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(200) || n == total {
                        executor.advance("apply-config", n, Some(total), "objects", "applied");
                    }
                }
            })
            .await;
        rest = tail;
    }
    Ok(usize::try_from(applied.load(Ordering::Relaxed)).unwrap_or(usize::MAX))
}
