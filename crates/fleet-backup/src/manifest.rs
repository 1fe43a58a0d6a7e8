//! The manifest: the one object that commits a backup. It is written last, after every artifact
//! is stored, and says what was backed up, when, with which tools, and how to check and read
//! each artifact (size, SHA-256, compression, encryption and its recipients). A backup without
//! one is incomplete.
//!
//! Format versions: [`FORMAT_VERSION`] is what this code writes; every older version is read
//! (and converted), a newer one is refused with a message saying so. Within a version, fields
//! are only ever added, and readers ignore fields they do not know.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The manifest format this code writes.
pub const FORMAT_VERSION: u32 = 1;
/// The `format` field of every manifest.
pub(crate) const FORMAT_NAME: &str = "fleet-backup";
/// The manifest's file name inside a backup.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";

/// What a backup holds and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `fleet-backup`.
    pub format: String,
    /// The manifest format version.
    pub format_version: u32,
    /// The backup's name (`manual-backup-20251124`).
    pub id: String,
    /// When the backup started (the database snapshot is taken right after).
    pub started_at: Timestamp,
    /// When the last artifact was stored.
    pub completed_at: Timestamp,
    /// Who made it and why (from the run's context).
    pub actor: String,
    /// Why it was made.
    pub reason: String,
    /// The program that wrote it.
    pub tool: ToolInfo,
    /// Compression of every artifact.
    pub compression: Compression,
    /// Encryption of every artifact.
    pub encryption: Encryption,
    /// The stored objects.
    pub artifacts: Vec<Artifact>,
    /// The database part, when the backup has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseInfo>,
    /// The Kubernetes part, when the backup has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesInfo>,
}

/// The writing program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `fleet-backup`.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl ToolInfo {
    pub(crate) fn this() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// How artifacts are compressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    /// `zstd` (a standard zstd frame: `zstd -d` reads it).
    pub algorithm: String,
    /// The level used.
    pub level: i32,
}

/// How artifacts are encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// `age` (age-encryption.org/v1, binary form: `age -d -i KEY` reads it).
    pub scheme: String,
    /// The recipients' public keys (`age1...`). Any one matching identity decrypts.
    pub recipients: Vec<String>,
}

/// What an artifact contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ArtifactKind {
    /// A `pg_dump` custom-format archive (uncompressed inside; zstd outside).
    DatabaseDump,
    /// Kubernetes objects other than Secrets, one JSON object per line.
    KubernetesConfig,
    /// Kubernetes Secrets, one JSON object per line (only ever stored encrypted).
    KubernetesSecrets,
}

impl ArtifactKind {
    /// The artifact's file name in its backup.
    pub fn file_name(self) -> &'static str {
        match self {
            ArtifactKind::DatabaseDump => "database.dump.zst.age",
            ArtifactKind::KubernetesConfig => "kubernetes-config.jsonl.zst.age",
            ArtifactKind::KubernetesSecrets => "kubernetes-secrets.jsonl.zst.age",
        }
    }
}

/// One stored object of a backup. Layers from the inside out: the content, zstd, age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// File name inside the backup.
    pub name: String,
    /// What it holds.
    pub kind: ArtifactKind,
    /// Bytes stored (the age file).
    pub size: u64,
    /// SHA-256 of the stored bytes, lower-case hex (`sha256sum` of the object).
    pub sha256: String,
    /// Bytes of content before compression and encryption.
    pub content_size: u64,
}

/// The database part of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    /// The server as the caller names it (a host, an Azure server name).
    pub server: String,
    /// The server's version (`SHOW server_version`).
    pub server_version: String,
    /// The server's major version.
    pub server_major: u32,
    /// The database.
    pub database: String,
    /// The server's system identifier (`pg_control_system()`), when the backup role could
    /// read it: tells a restore whether a target is the source server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_identifier: Option<String>,
    /// `pg_dump`'s version.
    pub pg_dump_version: String,
    /// The exported snapshot the dump and the row counts share.
    pub snapshot: String,
    /// Rows per table, counted in the dump's snapshot.
    pub tables: Vec<TableRows>,
}

/// One table's row count at backup time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableRows {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Rows.
    pub rows: u64,
}

/// The Kubernetes part of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesInfo {
    /// The namespace backed up.
    pub namespace: String,
    /// The namespace object's labels (recreated on restore).
    #[serde(default)]
    pub namespace_labels: std::collections::BTreeMap<String, String>,
    /// Objects per kind (Secrets included; their names and values are only in the encrypted
    /// secrets artifact).
    pub kinds: Vec<KindCount>,
    /// Objects left out and why, counted by reason and kind.
    #[serde(default)]
    pub skipped: Vec<SkipCount>,
    /// Whether `metadata.managedFields` was kept.
    pub managed_fields: bool,
}

/// How many objects of one kind a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    /// `apps/v1`.
    pub api_version: String,
    /// `Deployment`.
    pub kind: String,
    /// `deployments`.
    pub resource: String,
    /// How many.
    pub objects: u64,
}

/// How many objects of one kind were left out for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipCount {
    /// `Pod`.
    pub kind: String,
    /// Why (`controller-owned`, `never restored`...).
    pub reason: String,
    /// How many.
    pub objects: u64,
}

impl Manifest {
    /// The artifact of a kind, if the backup has it.
    pub fn artifact(&self, kind: ArtifactKind) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.kind == kind)
    }

    /// Bytes stored by all artifacts.
    pub fn stored_bytes(&self) -> u64 {
        self.artifacts.iter().map(|a| a.size).sum()
    }

    /// What the backup covers, for grouping backups into series (retention keeps the newest
    /// good backup of each): `postgres:SERVER/DATABASE`, `k8s:NAMESPACE`, or both joined by
    /// `+`.
    pub fn scope(&self) -> String {
        let mut parts = Vec::new();
        if let Some(db) = &self.database {
            parts.push(format!("postgres:{}/{}", db.server, db.database));
        }
        if let Some(k) = &self.kubernetes {
            parts.push(format!("k8s:{}", k.namespace));
        }
        parts.join("+")
    }

    /// Encodes the manifest (pretty JSON, newline-terminated).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::invalid("manifest", e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Decodes a stored manifest of any supported format version.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when it is not a manifest (naming `manifest.json` and the JSON path
    /// and line of the problem), [`Error::InvalidInput`] when it was written by a newer format
    /// version than this code reads.
    pub fn from_json(backup: &str, bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| Error::corrupt(backup, MANIFEST_FILE, reason);
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("not a fleet-backup manifest: {e}")))?;
        if head.format != FORMAT_NAME {
            return Err(corrupt(format!(
                "format is {:?}, not {FORMAT_NAME:?}",
                head.format
            )));
        }
        match head.format_version {
            1 => {
                let de = &mut serde_json::Deserializer::from_slice(bytes);
                let m: Manifest = serde_path_to_error::deserialize(de)
                    .map_err(|e| corrupt(format!("at {}: {}", e.path(), e.inner())))?;
                if m.id != backup {
                    return Err(corrupt(format!(
                        "it names backup {:?}, but is stored under {backup:?}",
                        m.id
                    )));
                }
                Ok(m)
            }
            v if v > FORMAT_VERSION => Err(Error::invalid(
                "manifest",
                format!(
                    "backup {backup} was written in format version {v}; this fleet-backup reads versions 1 to {FORMAT_VERSION}: upgrade it"
                ),
            )),
            v => Err(corrupt(format!("unknown format version {v}"))),
        }
    }
}

#[derive(Deserialize)]
struct Head {
    format: String,
    format_version: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            id: "b1".into(),
            started_at: "2026-01-01T02:00:00Z".parse().expect("ts"),
            completed_at: "2026-01-01T02:05:00Z".parse().expect("ts"),
            actor: "ci".into(),
            reason: "test".into(),
            tool: ToolInfo::this(),
            compression: Compression {
                algorithm: "zstd".into(),
                level: 3,
            },
            encryption: Encryption {
                scheme: "age".into(),
                recipients: vec!["age1x".into()],
            },
            artifacts: vec![],
            database: None,
            kubernetes: Some(KubernetesInfo {
                namespace: "fleet-management".into(),
                namespace_labels: Default::default(),
                kinds: vec![],
                skipped: vec![],
                managed_fields: false,
            }),
        }
    }

    #[test]
    fn round_trips_and_names_problems() {
        let m = sample();
        let bytes = m.to_json().expect("encodes");
        assert_eq!(Manifest::from_json("b1", &bytes).expect("decodes"), m);
        assert_eq!(m.scope(), "k8s:fleet-management");

        let moved = Manifest::from_json("b2", &bytes).expect_err("wrong place");
        assert!(moved.is_corrupt(), "{moved}");

        let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        v["format_version"] = 99.into();
        let newer =
            Manifest::from_json("b1", &serde_json::to_vec(&v).expect("json")).expect_err("newer");
        assert!(newer.is_invalid_input() && newer.to_string().contains("upgrade"));

        v["format_version"] = 1.into();
        v["completed_at"] = "yesterday".into();
        let bad = Manifest::from_json("b1", &serde_json::to_vec(&v).expect("json"))
            .expect_err("bad field");
        assert!(
            bad.is_corrupt() && bad.to_string().contains("completed_at"),
            "{bad}"
        );

        let truncated = Manifest::from_json("b1", &bytes[..bytes.len() / 2]).expect_err("cut");
        assert!(truncated.is_corrupt());
    }
}
