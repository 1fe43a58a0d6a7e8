//! Verification: read every artifact back, check its size and SHA-256 against the manifest,
//! decrypt and decompress all of it, and check the content (`pg_restore --list` for a dump,
//! object counts for configuration).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fleet_guard::{Executor, Step};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::Identities;
use crate::manifest::{Artifact, ArtifactKind, Manifest};
use crate::pg::PgTools;
use crate::pipeline::read_artifact;
use crate::store::BackupStore;

/// Options of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Where `pg_restore` is (for `--list`).
    pub tools: PgTools,
}

impl VerifyOptions {
    /// Uses these tools.
    #[must_use]
    pub fn with_tools(mut self, tools: PgTools) -> Self {
        self.tools = tools;
        self
    }
}

/// How one artifact fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactCheck {
    /// The artifact.
    pub name: String,
    /// What it holds.
    pub kind: ArtifactKind,
    /// Whether every check passed.
    pub ok: bool,
    /// What was found (`pg_restore --list: 42 entries`), or what is wrong.
    pub detail: String,
    /// The kind of failure (`corrupt`, `auth`...), when it failed.
    pub error: Option<ErrorKind>,
}

/// The result of verifying a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The backup.
    pub backup: String,
    /// One check per artifact.
    pub checks: Vec<ArtifactCheck>,
}

impl VerifyReport {
    /// Whether every artifact passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// Whether some artifact is corrupt.
    pub fn is_corrupt(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.error == Some(ErrorKind::Corrupt))
    }
}

/// Verifies a backup: its manifest, then every artifact. Problems with an artifact are in the
/// report (and the other artifacts are still checked); an error means the backup could not be
/// verified at all (missing, incomplete, unreadable manifest).
#[tracing::instrument(skip_all, fields(store = %store, backup = name))]
pub async fn verify_backup(
    executor: &Executor,
    store: &BackupStore,
    name: &str,
    identities: &Identities,
    options: &VerifyOptions,
) -> Result<VerifyReport> {
    let manifest = executor
        .read(
            Step::read(
                "read-manifest",
                &format!("backup/{name}"),
                "read the manifest",
            ),
            store.manifest(name),
        )
        .await
        .map_err(Error::from_step)?;
    let mut checks = Vec::new();
    for artifact in &manifest.artifacts {
        let step_id = format!("verify-{}", artifact.name);
        let r = executor
            .read(
                Step::read(
                    &step_id,
                    &format!("backup/{name}/{}", artifact.name),
                    "read back, check SHA-256, decrypt, decompress, check content",
                ),
                check_artifact(
                    executor, &step_id, store, &manifest, artifact, identities, options,
                ),
            )
            .await
            .map_err(Error::from_step);
        checks.push(match r {
            Ok(detail) => ArtifactCheck {
                name: artifact.name.clone(),
                kind: artifact.kind,
                ok: true,
                detail,
                error: None,
            },
            Err(e) => ArtifactCheck {
                name: artifact.name.clone(),
                kind: artifact.kind,
                ok: false,
                detail: e.to_string(),
                error: Some(e.kind()),
            },
        });
    }
    Ok(VerifyReport {
        backup: manifest.id.clone(),
        checks,
    })
}

async fn check_artifact(
    executor: &Executor,
    step: &str,
    store: &BackupStore,
    manifest: &Manifest,
    artifact: &Artifact,
    identities: &Identities,
    options: &VerifyOptions,
) -> Result<String> {
    let progress = Arc::new(AtomicU64::new(0));
    let counter = progress.clone();
    let total = artifact.size;
    let work = async {
        match artifact.kind {
            ArtifactKind::DatabaseDump => {
                let entries = crate::database::list_archive(
                    store,
                    manifest,
                    artifact,
                    identities,
                    &options.tools,
                    progress,
                )
                .await?;
                Ok(format!(
                    "SHA-256 matches; decrypted and decompressed {} bytes; pg_restore --list: {entries} entries",
                    artifact.content_size
                ))
            }
            kind => {
                let backup = manifest.id.clone();
                let file = artifact.name.clone();
                let (lines, stats) = read_artifact(
                    store,
                    &manifest.id,
                    artifact,
                    identities,
                    progress,
                    move |r| {
                        let mut n = 0u64;
                        for (i, line) in
                            std::io::BufRead::lines(std::io::BufReader::new(r)).enumerate()
                        {
                            let line = line.map_err(|e| Error::io(format!("reading {file}"), e))?;
                            if line.trim().is_empty() {
                                continue;
                            }
                            let ok = serde_json::from_str::<serde_json::Value>(&line)
                                .ok()
                                .is_some_and(|v| {
                                    v.get("resource").is_some() && v.get("object").is_some()
                                });
                            if !ok {
                                return Err(Error::corrupt(
                                    &backup,
                                    &file,
                                    format!("line {} is not an object record", i + 1),
                                ));
                            }
                            n += 1;
                        }
                        Ok(n)
                    },
                )
                .await?;
                if stats.content != artifact.content_size {
                    return Err(Error::corrupt(
                        &manifest.id,
                        &artifact.name,
                        format!(
                            "{} content bytes, the manifest says {}",
                            stats.content, artifact.content_size
                        ),
                    ));
                }
                let expected = expected_objects(manifest, kind);
                if let Some(expected) = expected
                    && expected != lines
                {
                    return Err(Error::corrupt(
                        &manifest.id,
                        &artifact.name,
                        format!("{lines} objects, the manifest says {expected}"),
                    ));
                }
                Ok(format!(
                    "SHA-256 matches; {lines} objects decrypted and parsed"
                ))
            }
        }
    };
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            r = &mut work => {
                executor.advance(step, total, Some(total), "bytes", "verified");
                return r;
            }
            _ = tick.tick() => executor.advance(step, counter.load(Ordering::Relaxed), Some(total), "bytes", "verifying"),
        }
    }
}

/// Objects an artifact must hold according to the manifest's counts.
fn expected_objects(manifest: &Manifest, kind: ArtifactKind) -> Option<u64> {
    let k = manifest.kubernetes.as_ref()?;
    let secrets: u64 = k
        .kinds
        .iter()
        .filter(|c| c.kind == "Secret" && c.api_version == "v1")
        .map(|c| c.objects)
        .sum();
    let all: u64 = k.kinds.iter().map(|c| c.objects).sum();
    match kind {
        // The namespace object comes first in the configuration artifact.
        ArtifactKind::KubernetesConfig => Some(all - secrets + 1),
        ArtifactKind::KubernetesSecrets => Some(secrets),
        _ => None,
    }
}
