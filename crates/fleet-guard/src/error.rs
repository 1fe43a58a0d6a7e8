//! The crate's one error type and the error of a guarded step.

use std::fmt;
use std::path::PathBuf;

/// What went wrong in the guard rails themselves (audit, records, input).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value given to the guard rails is unusable (an empty actor, a bad record key...).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// The audit sink could not store a record; the change it describes was not started
    /// (intent) or its outcome is not on record (outcome).
    #[error("audit write to {sink} failed")]
    Audit {
        /// Where the record was going.
        sink: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A record store could not read or write.
    #[error("record store {path}: {operation} failed")]
    Store {
        /// The file (or store name).
        path: PathBuf,
        /// What it was doing.
        operation: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored record is not valid JSON of the expected shape.
    #[error("record {key} in {path} is unreadable")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The record's key.
        key: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The target is locked by another run.
    #[error("{holder}")]
    Locked {
        /// Who holds it, since when, why, until when.
        holder: Box<crate::lock::LockHolder>,
    },
    /// The lock backend failed (not a refusal: the lock state is unknown).
    #[error("lock on {target}: {reason}")]
    Lock {
        /// The target.
        target: String,
        /// What failed.
        reason: String,
    },
    /// Someone else saved the record since it was loaded (another engineer, a second run).
    #[error(
        "record {key} changed since it was loaded (expected version {expected}, found {found})"
    )]
    Conflict {
        /// The record's key.
        key: String,
        /// The version this writer loaded.
        expected: u64,
        /// The version in the store now.
        found: u64,
    },
}

/// A coarse classification of [`Error`] to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Audit`].
    Audit,
    /// See [`Error::Store`] and [`Error::Corrupt`].
    Store,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::Locked`].
    Locked,
    /// See [`Error::Lock`].
    Lock,
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Audit { .. } => ErrorKind::Audit,
            Error::Store { .. } | Error::Corrupt { .. } => ErrorKind::Store,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Lock { .. } => ErrorKind::Lock,
        }
    }

    /// The input was unusable.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// Another writer got there first: reload and decide again.
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }

    /// Another run holds the target's lock; [`Error::lock_holder`] says who.
    pub fn is_locked(&self) -> bool {
        self.kind() == ErrorKind::Locked
    }

    /// Who holds the lock, for [`Error::Locked`].
    pub fn lock_holder(&self) -> Option<&crate::lock::LockHolder> {
        match self {
            Error::Locked { holder } => Some(holder),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a guarded step did not complete: refused, not audited, or failed itself.
///
/// `E` is the error of the action (a client crate's `Error`), kept typed so the caller can
/// still branch on its kind.
#[derive(Debug)]
#[non_exhaustive]
pub enum StepError<E> {
    /// The step is destructive and its confirmation was refused: nothing was changed.
    Refused {
        /// The step's id.
        step: String,
        /// Why (wrong word, no terminal, no token).
        reason: String,
    },
    /// The audit record could not be written: before acting (nothing was changed) or after
    /// (the change happened but its outcome is not on record; `acted` says which).
    Audit {
        /// The step's id.
        step: String,
        /// Whether the action ran.
        acted: bool,
        /// The audit failure.
        source: Error,
    },
    /// The action ran and failed.
    Failed {
        /// The step's id.
        step: String,
        /// The action's error.
        source: E,
    },
}

impl<E> StepError<E> {
    /// The id of the step that did not complete.
    pub fn step(&self) -> &str {
        match self {
            StepError::Refused { step, .. }
            | StepError::Audit { step, .. }
            | StepError::Failed { step, .. } => step,
        }
    }

    /// The confirmation was refused (nothing changed).
    pub fn is_refused(&self) -> bool {
        matches!(self, StepError::Refused { .. })
    }

    /// Turns the action's error into another type, keeping the rest.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> StepError<F> {
        match self {
            StepError::Refused { step, reason } => StepError::Refused { step, reason },
            StepError::Audit {
                step,
                acted,
                source,
            } => StepError::Audit {
                step,
                acted,
                source,
            },
            StepError::Failed { step, source } => StepError::Failed {
                step,
                source: f(source),
            },
        }
    }
}

impl<E: fmt::Display> fmt::Display for StepError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Refused { step, reason } => {
                write!(f, "step {step} not confirmed, nothing changed: {reason}")
            }
            StepError::Audit {
                step, acted: false, ..
            } => write!(
                f,
                "step {step} not started: its audit record could not be written"
            ),
            StepError::Audit {
                step, acted: true, ..
            } => write!(
                f,
                "step {step} ran but its outcome could not be written to the audit log"
            ),
            StepError::Failed { step, source } => write!(f, "step {step} failed: {source}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StepError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StepError::Refused { .. } => None,
            StepError::Audit { source, .. } => Some(source),
            StepError::Failed { source, .. } => Some(source),
        }
    }
}
