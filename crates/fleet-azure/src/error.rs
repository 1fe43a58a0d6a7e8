//! The crate's one error type, [`Error`], its coarse classification, [`ErrorKind`], and the one
//! mapping from azure_core's errors ([`Error::from_azure`]).
//!
//! Every failure keeps what Azure said (the ARM, Key Vault, Log Analytics or activity-log
//! `code` and `message`) and the HTTP status where there was one. Callers branch on
//! [`Error::kind`] or the `is_*` helpers, never on message text. No variant carries a secret
//! value: request bodies are never copied into errors.

use crate::lro::ResumeToken;
use std::time::Duration;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarsely. Stable for matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource does not exist (HTTP 404 or 410).
    NotFound,
    /// The resource exists or is in a conflicting state (HTTP 409).
    Conflict,
    /// A conditional request's precondition (`If-Match`, `If-None-Match`) did not hold.
    PreconditionFailed,
    /// Azure throttled the caller (HTTP 429) and the retry budget ran out.
    Throttled,
    /// No or an invalid token (HTTP 401), or the credential could not get one.
    Unauthorized,
    /// The identity lacks a role assignment (HTTP 403).
    Forbidden,
    /// The caller's input was rejected before any request, or by Azure (HTTP 400/422).
    InvalidInput,
    /// A long-running operation ended `Failed` or `Canceled`; Azure's code is kept.
    OperationFailed,
    /// A deadline passed (an operation's, a token fetch's or a long-running operation's).
    Timeout,
    /// A fault that may go away on its own (5xx, 408, connection errors) and outlasted the
    /// retry budget.
    Transient,
    /// Azure answered with something this crate cannot read, or pointed it somewhere it must
    /// not go (a status URL or `nextLink` on another host).
    InvalidResponse,
    /// An answer was larger than the configured cap (after decompression).
    ResponseTooLarge,
    /// Any other failure.
    Other,
}

/// A failed Azure operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input rejected before any request was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input (e.g. `backup_name`, `point_in_time`).
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Azure answered with an error status.
    #[error("{operation}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Service {
        /// What was being done, e.g. `get backup b1 of exampleserver`.
        operation: String,
        /// Classification derived from the status.
        kind: ErrorKind,
        /// HTTP status code.
        status: u16,
        /// Azure's error code (`error.code`, a top-level `code`, or `x-ms-error-code`).
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
        /// How it ended.
        status: OperationEnd,
        /// Azure's error code (`Canceled` when the operation was canceled without one).
        code: String,
        /// Azure's error message.
        message: String,
        /// The status URL, for a person following up.
        status_url: String,
    },
    /// A deadline passed. For a long-running operation the work may still be running in Azure
    /// and can be picked up again from `resume_token`.
    #[error("{operation} did not finish within {after:?}{}", resume_token.as_ref().map(|t| format!("; resume from {}", t.status_url)).unwrap_or_default())]
    Timeout {
        /// What was being waited for.
        operation: String,
        /// The deadline.
        after: Duration,
        /// Where a long-running operation can be resumed from.
        resume_token: Option<Box<ResumeToken>>,
    },
    /// Azure's answer could not be read, or was refused (a URL on another host).
    #[error("{operation}: unreadable response: {reason}")]
    InvalidResponse {
        /// What was being done.
        operation: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// An answer was larger than the cap.
    #[error("{operation}: the response is larger than the {limit}-byte cap")]
    ResponseTooLarge {
        /// What was being done (the request's method and path when known).
        operation: String,
        /// The cap in bytes.
        limit: u64,
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

/// How a failed long-running operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperationEnd {
    /// The status monitor said `Failed`.
    Failed,
    /// The status monitor said `Canceled`.
    Canceled,
    /// A `Location` monitor answered this error status (how it reports a failure).
    HttpStatus(u16),
}

impl std::fmt::Display for OperationEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed => f.write_str("Failed"),
            Self::Canceled => f.write_str("Canceled"),
            Self::HttpStatus(s) => write!(f, "HTTP {s}"),
        }
    }
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput { .. } => ErrorKind::InvalidInput,
            Self::Service { kind, .. } => *kind,
            Self::OperationFailed { .. } => ErrorKind::OperationFailed,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Self::ResponseTooLarge { .. } => ErrorKind::ResponseTooLarge,
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

    /// A conflict with the resource's current state, or a failed precondition.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Conflict | ErrorKind::PreconditionFailed
        )
    }

    /// A conditional request's precondition did not hold (someone else changed the resource).
    pub fn is_precondition_failed(&self) -> bool {
        self.kind() == ErrorKind::PreconditionFailed
    }

    /// Authentication or authorization failed (401, 403 or no token).
    pub fn is_auth(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unauthorized | ErrorKind::Forbidden)
    }

    /// The input was refused, by this crate before any request or by Azure.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// A deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
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

    /// Where a long-running operation that hit its deadline can be resumed from.
    pub fn resume_token(&self) -> Option<&ResumeToken> {
        match self {
            Self::Timeout { resume_token, .. } => resume_token.as_deref(),
            _ => None,
        }
    }

    /// The one mapping from an azure_core error to this crate's: an error of this crate that
    /// travelled through azure_core (out of a [`azure_core::http::Poller`] or
    /// [`azure_core::http::Pager`] callback, or the response-size cap) comes back unchanged;
    /// HTTP answers become [`Error::Service`] with Azure's code and message (both the
    /// `{"error":{..}}` and the top-level `{"code","message"}` shapes); credential failures
    /// become [`Error::Credential`]; unreadable data [`Error::InvalidResponse`]; everything
    /// else [`Error::Transport`].
    pub fn from_azure(operation: &str, error: azure_core::Error) -> Self {
        let error = match take_ours(error) {
            Ok(ours) => return ours,
            Err(error) => error,
        };
        match error.kind() {
            azure_core::error::ErrorKind::HttpResponse {
                status,
                error_code,
                raw_response,
            } => {
                let status = u16::from(*status);
                let (body_code, message) = raw_response
                    .as_ref()
                    .map(|r| error_body(r.body()))
                    .unwrap_or((None, None));
                let retry_after = raw_response
                    .as_ref()
                    .and_then(|r| crate::http::retry_after(r.headers()));
                Self::Service {
                    operation: operation.to_owned(),
                    kind: kind_for_status(status),
                    status,
                    code: body_code.or_else(|| error_code.clone()),
                    message: message.unwrap_or_else(|| error.to_string()),
                    retry_after: retry_after.filter(|_| matches!(status, 429 | 503)),
                }
            }
            azure_core::error::ErrorKind::DataConversion => Self::InvalidResponse {
                operation: operation.to_owned(),
                reason: chain(&error),
            },
            azure_core::error::ErrorKind::Credential => Self::Credential {
                operation: operation.to_owned(),
                source: error,
            },
            _ => Self::Transport {
                operation: operation.to_owned(),
                source: error,
            },
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

    /// This error wrapped for a trip through azure_core (a poller or pager callback must
    /// return azure_core's error); [`Error::from_azure`] unwraps it again.
    pub(crate) fn into_azure(self) -> azure_core::Error {
        let kind = match self.kind() {
            ErrorKind::Unauthorized if matches!(self, Self::Credential { .. }) => {
                azure_core::error::ErrorKind::Credential
            }
            ErrorKind::InvalidResponse => azure_core::error::ErrorKind::DataConversion,
            _ => azure_core::error::ErrorKind::Other,
        };
        azure_core::Error::new(kind, self)
    }
}

impl From<azure_core::Error> for Error {
    fn from(error: azure_core::Error) -> Self {
        Self::from_azure("azure request", error)
    }
}

impl From<Error> for azure_core::Error {
    fn from(error: Error) -> Self {
        error.into_azure()
    }
}

/// Finds an error of this crate inside `error` (azure_core wraps errors with context as they
/// pass through its policies) and takes it out; otherwise gives `error` back.
fn take_ours(error: azure_core::Error) -> std::result::Result<Error, azure_core::Error> {
    // Look first, so that an azure_core error without ours inside comes back untouched.
    let mut found = false;
    let mut cursor: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = cursor {
        if e.downcast_ref::<Error>().is_some() {
            found = true;
            break;
        }
        cursor = e.source();
    }
    if !found {
        return Err(error);
    }
    let mut current = error;
    // Each level is an azure_core error wrapping the next; bounded by the chain just walked.
    for _ in 0..64 {
        let inner = current.into_inner()?;
        match inner.downcast::<Error>() {
            Ok(ours) => return Ok(*ours),
            Err(other) => match other.downcast::<azure_core::Error>() {
                Ok(next) => current = *next,
                Err(_) => {
                    return Err(azure_core::Error::with_message(
                        azure_core::error::ErrorKind::Other,
                        "an error of an unexpected type wrapped a fleet-azure error",
                    ));
                }
            },
        }
    }
    Err(azure_core::Error::with_message(
        azure_core::error::ErrorKind::Other,
        "an error chain deeper than 64 levels",
    ))
}

/// Azure's error `code` and `message` from a body in any of its shapes: ARM, Key Vault, DNS
/// and Log Analytics wrap them in `{"error":{..}}`; the activity log sends them at the top.
pub(crate) fn error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Inner {
        code: Option<String>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Option<Inner>,
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            error: Some(inner), ..
        }) => (inner.code, inner.message),
        Ok(Envelope { code, message, .. }) if code.is_some() || message.is_some() => {
            (code, message)
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                (None, None)
            } else {
                (None, Some(text.chars().take(300).collect()))
            }
        }
    }
}

/// An error and its sources, joined by `: ` (azure_core's `Display` shows only the outermost
/// context, which hides the cause).
pub(crate) fn chain(error: &azure_core::Error) -> String {
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
        409 => ErrorKind::Conflict,
        412 => ErrorKind::PreconditionFailed,
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
        assert_eq!(kind_for_status(412), ErrorKind::PreconditionFailed);
        assert_eq!(kind_for_status(429), ErrorKind::Throttled);
        assert_eq!(kind_for_status(503), ErrorKind::Transient);
        assert_eq!(kind_for_status(401), ErrorKind::Unauthorized);
        assert_eq!(kind_for_status(403), ErrorKind::Forbidden);
        assert_eq!(kind_for_status(400), ErrorKind::InvalidInput);
        assert_eq!(kind_for_status(418), ErrorKind::Other);
    }

    #[test]
    fn helpers_follow_kind() {
        let e = Error::Service {
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
        let e = Error::invalid("name", "bad");
        assert!(e.to_string().contains("invalid name"));
        assert!(e.is_invalid_input());
    }

    #[test]
    fn ours_survive_a_trip_through_azure_core_with_context() {
        let ours = Error::ResponseTooLarge {
            operation: "GET /x".into(),
            limit: 10,
        };
        let wrapped = ours
            .into_azure()
            .with_context("non-transport error occurred which will not be retried")
            .with_context("one more layer");
        let back = Error::from_azure("ignored", wrapped);
        assert_eq!(back.kind(), ErrorKind::ResponseTooLarge);
        assert_eq!(
            back.to_string(),
            "GET /x: the response is larger than the 10-byte cap"
        );
    }

    #[test]
    fn plain_azure_errors_map_by_kind() {
        let e = Error::from_azure(
            "op",
            azure_core::Error::with_message(azure_core::error::ErrorKind::Connection, "refused"),
        );
        assert!(e.is_transient());
        let e = Error::from_azure(
            "op",
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, "no"),
        );
        assert!(e.is_auth());
        let e = Error::from_azure(
            "op",
            azure_core::Error::with_message(azure_core::error::ErrorKind::DataConversion, "bad"),
        );
        assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    }

    #[test]
    fn error_bodies_in_every_shape() {
        assert_eq!(
            error_body(br#"{"error":{"code":"ResourceNotFound","message":"gone"}}"#),
            (Some("ResourceNotFound".into()), Some("gone".into()))
        );
        assert_eq!(
            error_body(br#"{"code":"BadRequest","message":"bad filter"}"#),
            (Some("BadRequest".into()), Some("bad filter".into()))
        );
        assert_eq!(error_body(b"<html>"), (None, Some("<html>".into())));
        assert_eq!(error_body(b""), (None, None));
    }

    #[test]
    fn errors_are_send_and_sync_and_small() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
        // Below clippy's `result_large_err` threshold, so callers' `Result`s stay cheap.
        assert!(
            std::mem::size_of::<Error>() < 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
