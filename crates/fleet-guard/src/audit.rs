//! The audit trail: one JSON line per record, an intent before a change and its outcome after,
//! appended to a sink that can fail (a failed intent write stops the change).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Whether a record announces a change or reports how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditPhase {
    /// Written before acting; an intent without an outcome means the process stopped midway.
    Intent,
    /// Written after acting (or after a refusal).
    Outcome,
}

/// How an audited change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum AuditOutcome {
    /// The change was made.
    Succeeded,
    /// The change was attempted and failed.
    Failed {
        /// The error, as text (never a secret value).
        error: String,
    },
    /// A destructive change was not confirmed; nothing was attempted.
    Refused {
        /// Why.
        reason: String,
    },
}

/// One line of the audit log.
///
/// Field order is the order of the JSON line: when, who, why, what, on what, the values before
/// and after, how it ended. Values must never hold a secret: callers record a fingerprint or a
/// version id instead (the types of this workspace that hold secrets serialize redacted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the record was written.
    pub time: Timestamp,
    /// Who acted (a person or a service account), as given to the executor.
    pub actor: String,
    /// Why (an incident id, a change ticket, a sentence).
    pub reason: String,
    /// The procedure or operation family (`deploy`, `rollback`, `fleet-db.remediation`...).
    pub procedure: String,
    /// The step within it (`set-image`, `rollout-undo`...).
    pub step: String,
    /// The object changed (`deployment/fleet-management/fleet-api`, a server's resource id...).
    pub target: String,
    /// State before the change, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// State the change sets (intent) or left (outcome), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Intent or outcome.
    pub phase: AuditPhase,
    /// How it ended (outcome records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AuditOutcome>,
    /// Ties the records of one run together.
    pub run_id: String,
}

/// Where audit records go. Appending can fail, and callers must treat a failed intent as a
/// reason not to act.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Stores one record durably before returning.
    async fn append(&self, record: &AuditRecord) -> Result<()>;
}

/// The default sink: a JSON-lines file opened for appending only, never truncated or rewritten,
/// created with mode 0600, with every record flushed to disk (`fsync`) before `append` returns.
///
/// A line torn by a crash is terminated on the next open, so the following records stay
/// readable. Several processes may append to the same file: each record is one `write` to a
/// file opened with `O_APPEND`.
#[derive(Clone)]
pub struct FileAuditSink {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl fmt::Debug for FileAuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileAuditSink")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileAuditSink {
    /// Opens (or creates) the log at `path`. The parent directory must exist.
    ///
    /// # Errors
    /// [`Error::Audit`] when the file cannot be opened or its tail cannot be repaired.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let sink = path.display().to_string();
        let io = |source| Error::Audit {
            sink: sink.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.append(true).create(true).read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io)?;
        // A crash in the middle of a write leaves a line without its newline: end it, so the
        // next record starts on a line of its own.
        let len = file.metadata().map_err(io)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(io)?;
            file.read_exact(&mut last).map_err(io)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io)?;
                file.sync_data().map_err(io)?;
            }
        }
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every complete record of a log (skipping a torn last line).
    ///
    /// # Errors
    /// [`Error::Store`] when the file cannot be read, [`Error::Corrupt`] for a line that is
    /// not a record.
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<AuditRecord>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Store {
            path: path.to_path_buf(),
            operation: "read",
            source,
        })?;
        let mut records = Vec::new();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for (n, line) in complete.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(line).map_err(|source| Error::Corrupt {
                path: path.to_path_buf(),
                key: format!("line {}", n + 1),
                source,
            })?;
            records.push(record);
        }
        Ok(records)
    }
}

#[async_trait]
impl AuditSink for FileAuditSink {
    async fn append(&self, record: &AuditRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(|e| Error::Audit {
            sink: self.path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        let file = Arc::clone(&self.file);
        let sink = self.path.display().to_string();
        let write = move || -> std::io::Result<()> {
            let file = file
                .lock()
                .map_err(|_| std::io::Error::other("audit file lock poisoned"))?;
            // One write of the whole line: with O_APPEND it lands after whatever another
            // writer appended, never interleaved within a line.
            let mut handle: &File = &file;
            handle.write_all(&line)?;
            handle.sync_data()
        };
        tokio::task::spawn_blocking(write)
            .await
            .map_err(|e| Error::Audit {
                sink: sink.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| Error::Audit { sink, source })
    }
}

/// An in-memory sink for tests and dry runs; it can be told to fail.
#[derive(Debug, Default, Clone)]
pub struct MemoryAuditSink {
    records: Arc<Mutex<Vec<AuditRecord>>>,
    fail_after: Arc<Mutex<Option<usize>>>,
}

impl MemoryAuditSink {
    /// An empty sink that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink that accepts `n` records and then fails every append (to test that a failed
    /// audit write stops a change).
    pub fn failing_after(n: usize) -> Self {
        let sink = Self::default();
        if let Ok(mut limit) = sink.fail_after.lock() {
            *limit = Some(n);
        }
        sink
    }

    /// The records stored so far.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl AuditSink for MemoryAuditSink {
    async fn append(&self, record: &AuditRecord) -> Result<()> {
        let mut records = self.records.lock().map_err(|_| Error::Audit {
            sink: "memory".into(),
            source: std::io::Error::other("lock poisoned"),
        })?;
        let limit = self.fail_after.lock().ok().and_then(|l| *l);
        if limit.is_some_and(|n| records.len() >= n) {
            return Err(Error::Audit {
                sink: "memory".into(),
                source: std::io::Error::other("injected failure"),
            });
        }
        records.push(record.clone());
        Ok(())
    }
}
