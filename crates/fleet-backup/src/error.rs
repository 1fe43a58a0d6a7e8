//! The crate's one error type and its coarse classification.

use std::fmt;

/// What kind of failure an [`Error`] is, for callers that branch on kinds rather than text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unusable input: a bad key, name, option or manifest field.
    InvalidInput,
    /// The backup, artifact or object does not exist.
    NotFound,
    /// Someone else got there first (a backup name taken, a database that already exists).
    Conflict,
    /// A backup has no manifest: it never committed, or is still being written.
    Incomplete,
    /// Stored data does not match its manifest (checksum, size, truncation, bad encryption).
    Corrupt,
    /// Not allowed: no identity matches the recipients, credentials rejected.
    Auth,
    /// Worth retrying later: a network error or a throttled request.
    Transient,
    /// A command-line tool is missing, too old for the server or archive, or failed.
    Tool,
    /// A restore finished but does not match what the manifest says was backed up.
    Validation,
    /// The operation was refused: a confirmation was not given, or it would overwrite a source.
    Refused,
    /// Anything else (an unexpected answer, an I/O error).
    Other,
}

/// Errors of `fleet-backup`. Messages name the backup, artifact, object or field concerned and
/// never carry a secret value (keys, passwords, Secret data).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation before anything was read or written.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What the value is (`recipient`, `backup name`, `target database`...).
        what: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// The object store failed.
    #[error("{op} {path}: {source}")]
    Store {
        /// What was being done (`put`, `get`, `list`, `delete`).
        op: &'static str,
        /// The object's path in the store.
        path: String,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// Something asked for does not exist.
    #[error("{what} not found: {detail}")]
    NotFound {
        /// What was looked for (`backup`, `artifact`, `table`...).
        what: &'static str,
        /// Which one.
        detail: String,
    },
    /// A backup name is taken, or a restore target already exists.
    #[error("{what} already exists: {detail}")]
    Conflict {
        /// What (`backup`, `database`).
        what: &'static str,
        /// Which one, and what to do.
        detail: String,
    },
    /// The backup has no manifest: it was never committed and must not be restored.
    #[error(
        "backup {backup} is incomplete (no manifest): it was never committed and cannot be used"
    )]
    Incomplete {
        /// The backup.
        backup: String,
    },
    /// Stored data does not match the manifest.
    #[error("backup {backup}: artifact {artifact} is corrupt: {reason}")]
    Corrupt {
        /// The backup.
        backup: String,
        /// The artifact (or `manifest.json`).
        artifact: String,
        /// What does not match.
        reason: String,
    },
    /// Decryption was not possible with the identities given.
    #[error("backup {backup}: artifact {artifact} cannot be decrypted: {reason}")]
    Decrypt {
        /// The backup.
        backup: String,
        /// The artifact.
        artifact: String,
        /// Why (no identity matches the recipients...).
        reason: String,
    },
    /// A command-line tool is missing or failed.
    #[error("{tool}: {detail}")]
    Tool {
        /// The tool (`pg_dump`, `pg_restore`).
        tool: &'static str,
        /// What happened (its exit status and the tail of its error output).
        detail: String,
    },
    /// A tool is older than the server or archive needs.
    #[error(
        "{tool} {found} cannot handle {what} {needed_major}: use {tool} {needed_major} or newer ({hint})"
    )]
    ToolVersion {
        /// The tool.
        tool: &'static str,
        /// Its version.
        found: String,
        /// What it has to handle (`a PostgreSQL server`, `an archive written by pg_dump`).
        what: &'static str,
        /// The major version needed at least.
        needed_major: u32,
        /// Where such a binary is found.
        hint: String,
    },
    /// A PostgreSQL request failed.
    #[error("{op}: {source}")]
    Database {
        /// What was being done.
        op: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A Kubernetes request failed.
    #[error("{op}: {source}")]
    Kubernetes {
        /// What was being done.
        op: String,
        /// fleet-k8s' error.
        #[source]
        source: Box<fleet_k8s::Error>,
    },
    /// An Azure request failed (fleet-azure's error, classified where it is called).
    #[error("{op}: {source}")]
    Azure {
        /// What was being done.
        op: String,
        /// Its classification.
        kind: ErrorKind,
        /// fleet-azure's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A restore does not match the manifest.
    #[error("restore into {target} does not match backup {backup}: {}", summarize(.mismatches))]
    Validation {
        /// The backup.
        backup: String,
        /// The restored database or namespace.
        target: String,
        /// Each difference, one line each.
        mismatches: Vec<String>,
    },
    /// Refused: a confirmation was not given, or the action would overwrite its own source.
    #[error("refused: {reason}")]
    Refused {
        /// Why.
        reason: String,
    },
    /// The guard rails failed (an audit write, a record store).
    #[error("{op}: {source}")]
    Guard {
        /// What was being done.
        op: String,
        /// fleet-guard's error.
        #[source]
        source: fleet_guard::Error,
    },
    /// A local I/O or pipeline failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn summarize(lines: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = lines
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if lines.len() > SHOWN {
        s.push_str(&format!("; and {} more", lines.len() - SHOWN));
    }
    s
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Store { source, .. } => match source.as_ref() {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. } => ErrorKind::Conflict,
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. } => ErrorKind::Auth,
                object_store::Error::Generic { .. } => ErrorKind::Transient,
                _ => ErrorKind::Other,
            },
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Incomplete { .. } => ErrorKind::Incomplete,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Decrypt { .. } => ErrorKind::Auth,
            Error::Tool { .. } | Error::ToolVersion { .. } => ErrorKind::Tool,
            Error::Database { source, .. } => db_kind(source),
            Error::Kubernetes { source, .. } => match source.kind() {
                fleet_k8s::ErrorKind::NotFound => ErrorKind::NotFound,
                fleet_k8s::ErrorKind::Conflict => ErrorKind::Conflict,
                fleet_k8s::ErrorKind::Forbidden | fleet_k8s::ErrorKind::Unauthorized => {
                    ErrorKind::Auth
                }
                fleet_k8s::ErrorKind::Transient | fleet_k8s::ErrorKind::Timeout => {
                    ErrorKind::Transient
                }
                fleet_k8s::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                fleet_k8s::ErrorKind::Refused => ErrorKind::Refused,
                _ => ErrorKind::Other,
            },
            Error::Azure { kind, .. } => *kind,
            Error::Validation { .. } => ErrorKind::Validation,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Guard { source, .. } => match source.kind() {
                fleet_guard::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                fleet_guard::ErrorKind::Conflict => ErrorKind::Conflict,
                _ => ErrorKind::Other,
            },
            Error::Io { .. } => ErrorKind::Other,
        }
    }

    /// Input was unusable.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }
    /// Something does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }
    /// A name or target is taken.
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }
    /// The backup never committed.
    pub fn is_incomplete(&self) -> bool {
        self.kind() == ErrorKind::Incomplete
    }
    /// Stored data does not match its manifest.
    pub fn is_corrupt(&self) -> bool {
        self.kind() == ErrorKind::Corrupt
    }
    /// Keys or credentials were not accepted.
    pub fn is_auth(&self) -> bool {
        self.kind() == ErrorKind::Auth
    }
    /// Worth retrying.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }
    /// A tool is missing, too old or failed.
    pub fn is_tool(&self) -> bool {
        self.kind() == ErrorKind::Tool
    }
    /// A restore does not match its manifest.
    pub fn is_validation(&self) -> bool {
        self.kind() == ErrorKind::Validation
    }
    /// Refused (not confirmed, or unsafe).
    pub fn is_refused(&self) -> bool {
        self.kind() == ErrorKind::Refused
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn store(
        op: &'static str,
        path: impl fmt::Display,
        source: object_store::Error,
    ) -> Self {
        Error::Store {
            op,
            path: path.to_string(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn db(op: impl Into<String>, source: tokio_postgres::Error) -> Self {
        Error::Database {
            op: op.into(),
            source,
        }
    }

    pub(crate) fn k8s(op: impl Into<String>, source: fleet_k8s::Error) -> Self {
        Error::Kubernetes {
            op: op.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn corrupt(
        backup: impl Into<String>,
        artifact: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            backup: backup.into(),
            artifact: artifact.into(),
            reason: reason.into(),
        }
    }

    /// Turns the error of a guarded step into this crate's error.
    pub(crate) fn from_step(e: fleet_guard::StepError<Error>) -> Self {
        match e {
            fleet_guard::StepError::Failed { source, .. } => source,
            fleet_guard::StepError::Refused { step, reason } => Error::Refused {
                reason: format!("step {step}: {reason}"),
            },
            fleet_guard::StepError::Audit { step, source, .. } => Error::Guard {
                op: format!("audit of step {step}"),
                source,
            },
            other => Error::Refused {
                reason: format!("step {} did not complete", other.step()),
            },
        }
    }
}

fn db_kind(e: &tokio_postgres::Error) -> ErrorKind {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            ErrorKind::Auth
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => ErrorKind::Auth,
        Some(c) if *c == SqlState::DUPLICATE_DATABASE => ErrorKind::Conflict,
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME || *c == SqlState::UNDEFINED_TABLE => {
            ErrorKind::NotFound
        }
        Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS || *c == SqlState::ADMIN_SHUTDOWN => {
            ErrorKind::Transient
        }
        Some(_) => ErrorKind::Other,
        None if e.is_closed() => ErrorKind::Transient,
        None => ErrorKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages() {
        let e = Error::corrupt("b1", "database.dump.zst.age", "SHA-256 differs");
        assert!(e.is_corrupt());
        assert_eq!(
            e.to_string(),
            "backup b1: artifact database.dump.zst.age is corrupt: SHA-256 differs"
        );
        let v = Error::Validation {
            backup: "b".into(),
            target: "db".into(),
            mismatches: (0..7).map(|i| format!("t{i}")).collect(),
        };
        assert!(v.is_validation());
        assert!(v.to_string().ends_with("t4; and 2 more"), "{v}");
        assert!(Error::Incomplete { backup: "x".into() }.is_incomplete());
    }
}
