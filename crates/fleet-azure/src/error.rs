//! The crate's one error type, [`AzureError`], and its coarse classification, [`ErrorKind`].
//!
//! Every failure keeps what Azure said (the ARM/Key Vault/Log Analytics `error.code` and
//! `error.message`) and the HTTP status where there was one. Callers branch on
//! [`AzureError::kind`] or the `is_*` helpers, never on message text.

use std::time::Duration;

/// Result alias for this crate.
pub type Result<T, E = AzureError> = std::result::Result<T, E>;

/// What went wrong, coarsely. Stable for matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource does not exist (HTTP 404).
    NotFound,
    /// The resource exists or is in a conflicting state (HTTP 409).
    Conflict,
    /// Azure throttled the caller (HTTP 429) and the retry budget ran out.
    Throttled,
    /// No or an invalid token (HTTP 401), or the credential could not get one.
    Unauthorized,
    /// The identity lacks a role assignment (HTTP 403).
    Forbidden,
    /// The caller's input was rejected before any request, or by Azure (HTTP 400/422).
    InvalidInput,
    /// A long-running operation ended Failed or Canceled; Azure's code is kept.
    OperationFailed,
    /// An overall deadline passed.
    Timeout,
    /// A fault that may go away on its own (5xx, 408, connection errors) and outlasted the
    /// retry budget.
    Transient,
    /// Azure answered with something this crate cannot read (malformed JSON, missing fields).
    InvalidResponse,
    /// Any other failure.
    Other,
}

/// A failed Azure operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AzureError {
    /// Input rejected before any request was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input (e.g. `target_server_name`, `point_in_time`).
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Azure answered with an error status.
    #[error("{operation}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Service {
        /// What was being done, e.g. `GET backup manual-backup-20250601`.
        operation: String,
        /// Classification derived from the status.
        kind: ErrorKind,
        /// HTTP status code.
        status: u16,
        /// Azure's error code (`error.code` or `x-ms-error-code`).
        code: Option<String>,
        /// Azure's error message.
        message: String,
        /// `Retry-After` sent with a throttling answer.
        retry_after: Option<Duration>,
    },
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error("{operation} ended {status}: {code}: {message}")]
    OperationFailed {
        /// What was being done.
        operation: String,
        /// `Failed` or `Canceled`.
        status: String,
        /// Azure's error code (`Canceled` when the operation was canceled without one).
        code: String,
        /// Azure's error message.
        message: String,
        /// The status URL, for a person following up.
        status_url: String,
    },
    /// The poller's overall deadline passed; the operation may still be running in Azure and
    /// can be resumed from `status_url`.
    #[error("{operation} did not finish within {after:?}; resume from {status_url}")]
    Timeout {
        /// What was being waited for.
        operation: String,
        /// The deadline.
        after: Duration,
        /// The status URL to resume from.
        status_url: String,
    },
    /// Azure's answer could not be read.
    #[error("{operation}: unreadable response: {reason}")]
    InvalidResponse {
        /// What was being done.
        operation: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The credential could not provide a token.
    #[error("getting a token for {operation}: {}", chain(source))]
    Credential {
        /// What the token was for.
        operation: String,
        /// The credential's error.
        #[source]
        source: azure_core::Error,
    },
    /// The request did not get an answer (connection, TLS, I/O), after retries, or the
    /// pipeline refused to send it (e.g. a token over plain HTTP).
    #[error("{operation}: {}", chain(source))]
    Transport {
        /// What was being done.
        operation: String,
        /// The transport's error.
        #[source]
        source: azure_core::Error,
    },
}

impl AzureError {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput { .. } => ErrorKind::InvalidInput,
            Self::Service { kind, .. } => *kind,
            Self::OperationFailed { .. } => ErrorKind::OperationFailed,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Self::Credential { .. } => ErrorKind::Unauthorized,
            Self::Transport { source, .. } => match source.kind() {
                azure_core::error::ErrorKind::Io | azure_core::error::ErrorKind::Connection => {
                    ErrorKind::Transient
                }
                azure_core::error::ErrorKind::Credential => ErrorKind::Unauthorized,
                _ => ErrorKind::Other,
            },
        }
    }

    /// Worth retrying later: transient faults and throttling.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::Transient | ErrorKind::Throttled)
    }

    /// The resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// A conflict with the resource's current state.
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }

    /// Authentication or authorization failed (401, 403 or no token).
    pub fn is_auth(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unauthorized | ErrorKind::Forbidden)
    }

    /// Azure's error code, where it sent one.
    pub fn azure_code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => code.as_deref(),
            Self::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn response(operation: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            operation: operation.into(),
            reason: reason.into(),
        }
    }
}

/// An error and its sources, joined by `: ` (azure_core's `Display` shows only the outermost
/// context, which hides the cause).
fn chain(error: &azure_core::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// The classification of an HTTP error status.
pub(crate) fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 422 => ErrorKind::InvalidInput,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 | 410 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        429 => ErrorKind::Throttled,
        408 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(kind_for_status(404), ErrorKind::NotFound);
        assert_eq!(kind_for_status(409), ErrorKind::Conflict);
        assert_eq!(kind_for_status(429), ErrorKind::Throttled);
        assert_eq!(kind_for_status(503), ErrorKind::Transient);
        assert_eq!(kind_for_status(401), ErrorKind::Unauthorized);
        assert_eq!(kind_for_status(403), ErrorKind::Forbidden);
        assert_eq!(kind_for_status(400), ErrorKind::InvalidInput);
        assert_eq!(kind_for_status(418), ErrorKind::Other);
    }

    #[test]
    fn helpers_follow_kind() {
        let e = AzureError::Service {
            operation: "GET x".into(),
            kind: ErrorKind::Throttled,
            status: 429,
            code: Some("TooManyRequests".into()),
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(1)),
        };
        assert!(e.is_transient());
        assert_eq!(e.azure_code(), Some("TooManyRequests"));
        assert_eq!(e.to_string(), "GET x: HTTP 429 TooManyRequests: slow down");
        assert!(
            AzureError::invalid("name", "bad")
                .to_string()
                .contains("invalid name")
        );
    }
}
