//! Listing backups with their status, pinning, and pruning by the policy's retention.

use fleet_guard::{ConfirmWord, Executor, Step};
use fleet_policy::Policy;
use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::names::check_backup_name;
use crate::retention::{PruneDecision, prune_decisions};
use crate::store::{BackupStore, PIN_FILE, Pin, STARTED_FILE, Started};

/// A backup's state in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    /// Committed, every artifact present with its recorded size.
    Complete,
    /// No manifest: never committed (or still being written). Never restored.
    Incomplete,
    /// The manifest is unreadable, or an artifact is missing or has the wrong size.
    Corrupt,
    /// Complete, but outside the retention window: the next prune deletes it.
    Expired,
}

impl BackupStatus {
    /// `complete`, `incomplete`, `corrupt`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Complete => "complete",
            BackupStatus::Incomplete => "incomplete",
            BackupStatus::Corrupt => "corrupt",
            BackupStatus::Expired => "expired",
        }
    }
}

/// One backup as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupEntry {
    /// Its name.
    pub name: String,
    /// Its state.
    pub status: BackupStatus,
    /// When it started, when known.
    pub started_at: Option<Timestamp>,
    /// When it was committed (complete backups) or last written.
    pub completed_at: Option<Timestamp>,
    /// Bytes stored.
    pub stored_bytes: u64,
    /// What it covers (`postgres:SERVER/DB+k8s:NAMESPACE`), from its manifest.
    pub scope: Option<String>,
    /// Its pin, if pinned.
    pub pinned: Option<Pin>,
    /// What is wrong, for incomplete and corrupt backups.
    pub problem: Option<String>,
    /// The manifest, when readable.
    #[serde(skip)]
    pub manifest: Option<Manifest>,
}

/// Lists every backup of the store, newest first, with its status at `now` under `policy`
/// (complete, incomplete, corrupt, or expired). This reads manifests and object sizes; it does
/// not read artifacts (see [`crate::verify_backup`] for that).
#[tracing::instrument(skip_all, fields(store = %store))]
pub async fn list_backups(
    store: &BackupStore,
    policy: &Policy,
    now: Timestamp,
) -> Result<Vec<BackupEntry>> {
    let objects = store.list_objects().await?;
    let mut out = Vec::with_capacity(objects.len());
    for (name, objs) in objects {
        if check_backup_name(&name).is_err() {
            continue;
        }
        let stored_bytes = objs.files.values().sum();
        let pinned = if objs.has(PIN_FILE) {
            store.pin_of(&name).await.ok().flatten()
        } else {
            None
        };
        let mut entry = BackupEntry {
            name: name.clone(),
            status: BackupStatus::Complete,
            started_at: None,
            completed_at: objs.last_modified,
            stored_bytes,
            scope: None,
            pinned,
            problem: None,
            manifest: None,
        };
        if !objs.has(MANIFEST_FILE) {
            entry.status = BackupStatus::Incomplete;
            entry.problem = Some("no manifest: never committed".into());
            if objs.has(STARTED_FILE)
                && let Ok(bytes) = store.get_small(&name, STARTED_FILE, 1 << 20).await
                && let Ok(started) = serde_json::from_slice::<Started>(&bytes)
            {
                entry.started_at = Some(started.started_at);
            }
            out.push(entry);
            continue;
        }
        let manifest = match store.get_small(&name, MANIFEST_FILE, 64 << 20).await {
            Ok(bytes) => Manifest::from_json(&name, &bytes),
            Err(e) => Err(e),
        };
        match manifest {
            Ok(m) => {
                entry.started_at = Some(m.started_at);
                entry.completed_at = Some(m.completed_at);
                entry.scope = Some(m.scope());
                for a in &m.artifacts {
                    match objs.files.get(&a.name) {
                        None => {
                            entry.status = BackupStatus::Corrupt;
                            entry.problem = Some(format!("artifact {} is missing", a.name));
                            break;
                        }
                        Some(&size) if size != a.size => {
                            entry.status = BackupStatus::Corrupt;
                            entry.problem = Some(format!(
                                "artifact {} has {size} bytes, the manifest says {}",
                                a.name, a.size
                            ));
                            break;
                        }
                        Some(_) => {}
                    }
                }
                entry.manifest = Some(m);
            }
            Err(e) => {
                entry.status = BackupStatus::Corrupt;
                entry.problem = Some(e.to_string());
            }
        }
        out.push(entry);
    }
    for d in prune_decisions(policy, &out, now) {
        if d.delete
            && let Some(e) = out.iter_mut().find(|e| e.name == d.name)
            && e.status == BackupStatus::Complete
        {
            e.status = BackupStatus::Expired;
        }
    }
    out.sort_by(|a, b| {
        b.completed_at
            .cmp(&a.completed_at)
            .then_with(|| b.name.cmp(&a.name))
    });
    Ok(out)
}

/// The name for a new on-demand backup at `now`: the policy's `manual-backup-YYYYMMDD`, with
/// a suffix when the store already has one of that name.
pub async fn next_backup_name(
    store: &BackupStore,
    policy: &Policy,
    now: Timestamp,
) -> Result<String> {
    let existing = store.list_objects().await?;
    let names: Vec<&str> = existing.keys().map(String::as_str).collect();
    let name = crate::names::on_demand_name(policy, now, &names);
    check_backup_name(&name)?;
    Ok(name)
}

/// What a prune did (or would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// The decision for every backup.
    pub decisions: Vec<PruneDecision>,
    /// The backups deleted (empty in a dry run).
    pub deleted: Vec<String>,
    /// Whether deletions were made (false for a dry run or when there was nothing to delete).
    pub applied: bool,
}

/// Deletes the backups that retention lets go (see [`crate::prune_decisions`]): one
/// destructive step, confirmed with the word `PRUNE`, audited with the names. In a dry run it
/// only reports the decisions.
#[tracing::instrument(skip_all, fields(store = %store))]
pub async fn prune_backups(
    executor: &Executor,
    store: &BackupStore,
    policy: &Policy,
) -> Result<PruneReport> {
    let now = executor.now();
    let entries = executor
        .read(
            Step::read(
                "list-backups",
                store.location(),
                "list backups and their status",
            ),
            list_backups(store, policy, now),
        )
        .await
        .map_err(Error::from_step)?;
    let decisions = prune_decisions(policy, &entries, now);
    let doomed: Vec<String> = decisions
        .iter()
        .filter(|d| d.delete)
        .map(|d| d.name.clone())
        .collect();
    if doomed.is_empty() {
        executor.skip(
            Step::change(
                "delete-backups",
                store.location(),
                "delete backups retention lets go",
            ),
            "nothing to delete",
        );
        return Ok(PruneReport {
            decisions,
            deleted: Vec::new(),
            applied: false,
        });
    }
    let word = ConfirmWord::new("PRUNE").map_err(|e| Error::Guard {
        op: "confirmation word".into(),
        source: e,
    })?;
    let step = Step::change(
        "delete-backups",
        store.location(),
        format!("delete {} backup(s): {}", doomed.len(), doomed.join(", ")),
    )
    .with_before(&doomed)
    .with_confirm(word);
    let applied = executor
        .change(step, || async {
            let objects = store.list_objects().await?;
            let mut deleted = Vec::new();
            for name in &doomed {
                if let Some(objs) = objects.get(name) {
                    store.delete_backup(name, objs).await?;
                    deleted.push(name.clone());
                }
            }
            Ok::<_, Error>(deleted)
        })
        .await
        .map_err(Error::from_step)?;
    let applied_now = applied.is_done();
    Ok(PruneReport {
        decisions,
        deleted: applied.done().unwrap_or_default(),
        applied: applied_now,
    })
}

/// Pins a complete backup: prunes keep it until it is unpinned.
#[tracing::instrument(skip_all, fields(store = %store, backup = name))]
pub async fn pin_backup(
    executor: &Executor,
    store: &BackupStore,
    name: &str,
    reason: &str,
) -> Result<()> {
    let m = store.manifest(name).await?;
    let pin = Pin {
        pinned_at: executor.now(),
        actor: executor.context().actor.clone(),
        reason: reason.to_owned(),
    };
    let bytes =
        serde_json::to_vec_pretty(&pin).map_err(|e| Error::invalid("pin", e.to_string()))?;
    executor
        .change(
            Step::change("pin", &format!("backup/{}", m.id), format!("pin: {reason}"))
                .with_after(&pin),
            || store.put_small(name, PIN_FILE, bytes, false),
        )
        .await
        .map_err(Error::from_step)?;
    Ok(())
}

/// Removes a backup's pin.
#[tracing::instrument(skip_all, fields(store = %store, backup = name))]
pub async fn unpin_backup(executor: &Executor, store: &BackupStore, name: &str) -> Result<()> {
    check_backup_name(name)?;
    executor
        .change(
            Step::change("unpin", &format!("backup/{name}"), "remove the pin"),
            || store.delete_file(name, PIN_FILE),
        )
        .await
        .map_err(Error::from_step)?;
    Ok(())
}
