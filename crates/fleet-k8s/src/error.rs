//! The crate's one error type and its coarse classification.

use std::time::Duration;

/// What kind of failure an [`Error`] is, for callers that branch on kinds rather than text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object (or revision, container, metrics API...) does not exist.
    NotFound,
    /// A write lost a race (409), or the object already exists.
    Conflict,
    /// The caller is authenticated but not allowed (403).
    Forbidden,
    /// The caller is not authenticated (401) or its credentials failed.
    Unauthorized,
    /// A wait or request ran past its deadline.
    Timeout,
    /// Worth retrying later: 429, 5xx, dropped or refused connections.
    Transient,
    /// The input was rejected, by our validation or by the server (400, 422).
    InvalidInput,
    /// The operation was refused in the current state (a paused deployment, a rollout that
    /// exceeded its progress deadline, an object deleted while waited on).
    Refused,
    /// A cap on what was read or waited for was reached (pages, items, output bytes).
    LimitExceeded,
    /// Anything else (a malformed response, a client configuration problem).
    Other,
}

/// Errors of `fleet-k8s`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation before any request was sent.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        /// What the value is (`deployment name`, `image`, `CIDR`...).
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The API server answered with an error `Status`.
    #[error("{op}: the API server answered {code} {reason}: {message}")]
    Api {
        /// The operation, e.g. `get deployment fleet-api`.
        op: String,
        /// HTTP status code.
        code: u16,
        /// The `Status` reason (`NotFound`, `Conflict`, `TooManyRequests`...).
        reason: String,
        /// The server's message.
        message: String,
        /// The server's `retryAfterSeconds`, when it sent one.
        retry_after: Option<Duration>,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The request did not get an API answer: connection refused or dropped, TLS, protocol.
    #[error("{op}: {source}")]
    Transport {
        /// The operation.
        op: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Transient failures went on past the retry budget.
    #[error("{op}: gave up after {attempts} attempts in {elapsed:?}: {last}")]
    RetriesExhausted {
        /// The operation.
        op: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },
    /// A request or a wait did not finish in time.
    #[error("{op}: timed out after {after:?}")]
    Timeout {
        /// The operation.
        op: String,
        /// The limit that passed.
        after: Duration,
    },
    /// Something the operation needs does not exist (a revision, a container, an object).
    #[error("{what} not found: {detail}")]
    NotFound {
        /// What was looked for (`revision`, `container`, `rollout history`...).
        what: &'static str,
        /// Which one, and where.
        detail: String,
    },
    /// The operation is refused in the object's current state, with kubectl's wording.
    #[error("{0}")]
    Refused(String),
    /// `kubectl rollout status` fails this way: the deployment's `Progressing` condition says
    /// `ProgressDeadlineExceeded`.
    #[error("deployment {name:?} exceeded its progress deadline: {message}")]
    ProgressDeadlineExceeded {
        /// Deployment name.
        name: String,
        /// The condition's message.
        message: String,
    },
    /// The operation was not run because the call or the cluster handle is a dry run and the
    /// operation cannot be checked without doing it (an exec runs a command for real).
    #[error("{op}: not run in a dry run ({detail})")]
    DryRun {
        /// The operation.
        op: String,
        /// What would have run, without secret values (no command arguments).
        detail: String,
    },
    /// A read or a list went past one of its caps (pages, items, bytes).
    #[error("{op}: more than {limit} {unit}")]
    LimitExceeded {
        /// The operation.
        op: String,
        /// The cap that was passed.
        limit: u64,
        /// What was counted (`pages`, `objects`, `bytes of output`).
        unit: &'static str,
    },
    /// The metrics.k8s.io API (v1 or v1beta1) is not served, e.g. no metrics-server.
    #[error("Metrics API not available: the server serves neither metrics.k8s.io/v1 nor v1beta1")]
    MetricsUnavailable,
    /// A response or object did not have the expected shape.
    #[error("unexpected data in {what}: {detail}")]
    Unexpected {
        /// Where.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Api { code, reason, .. } => kind_of_status(*code, reason),
            Error::Transport { source, .. } => match source.as_ref() {
                kube::Error::HyperError(_)
                | kube::Error::Service(_)
                | kube::Error::ReadEvents(_) => ErrorKind::Transient,
                kube::Error::Auth(_) => ErrorKind::Unauthorized,
                _ => ErrorKind::Other,
            },
            Error::RetriesExhausted { last, .. } => last.kind(),
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::NotFound { .. } | Error::MetricsUnavailable => ErrorKind::NotFound,
            Error::Refused(_) | Error::ProgressDeadlineExceeded { .. } | Error::DryRun { .. } => {
                ErrorKind::Refused
            }
            Error::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            Error::Unexpected { .. } => ErrorKind::Other,
        }
    }

    /// Not found: the object, revision, container or API.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }
    /// A conflicting write or an existing object.
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }
    /// Not allowed (403).
    pub fn is_forbidden(&self) -> bool {
        self.kind() == ErrorKind::Forbidden
    }
    /// Not authenticated (401).
    pub fn is_unauthorized(&self) -> bool {
        self.kind() == ErrorKind::Unauthorized
    }
    /// Forbidden or unauthorized.
    pub fn is_auth(&self) -> bool {
        self.is_forbidden() || self.is_unauthorized()
    }
    /// A deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }
    /// Worth retrying later (also true for [`Error::RetriesExhausted`] of transient failures).
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }
    /// Bad input, ours or the server's verdict.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }
    /// Refused in the current state.
    pub fn is_refused(&self) -> bool {
        self.kind() == ErrorKind::Refused
    }

    /// A cap on pages, items or bytes was reached.
    pub fn is_limit_exceeded(&self) -> bool {
        self.kind() == ErrorKind::LimitExceeded
    }
    /// Not run because of a dry run (see [`Error::DryRun`]).
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Error::DryRun { .. })
    }

    /// The HTTP status code, when the server answered with one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::RetriesExhausted { last, .. } => last.status_code(),
            _ => None,
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unexpected(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Unexpected {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Wraps a client error with the operation it came from.
    pub(crate) fn from_kube(op: impl Into<String>, e: kube::Error) -> Self {
        let op = op.into();
        match e {
            kube::Error::Api(status) => {
                let retry_after = status
                    .details
                    .as_ref()
                    .map(|d| d.retry_after_seconds)
                    .filter(|s| *s > 0)
                    .map(|s| Duration::from_secs(u64::from(s)));
                Error::Api {
                    op,
                    code: status.code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                    retry_after,
                    source: Box::new(kube::Error::Api(status)),
                }
            }
            kube::Error::SerdeError(ref se) => Error::Unexpected {
                what: op,
                detail: format!("could not decode the response: {se}"),
            },
            other => Error::Transport {
                op,
                source: Box::new(other),
            },
        }
    }
}

fn kind_of_status(code: u16, reason: &str) -> ErrorKind {
    match (code, reason) {
        (404, _) | (410, "Gone") => ErrorKind::NotFound,
        (409, _) => ErrorKind::Conflict,
        (403, _) => ErrorKind::Forbidden,
        (401, _) => ErrorKind::Unauthorized,
        (400, _) | (422, _) | (415, _) => ErrorKind::InvalidInput,
        (408, _) | (504, "Timeout") => ErrorKind::Transient,
        (429, _) | (500, _) | (502, _) | (503, _) | (504, _) => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> Error {
        let status = kube::core::Status::failure("x", reason).with_code(code);
        Error::from_kube("op", kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert!(api(404, "NotFound").is_not_found());
        assert!(api(409, "Conflict").is_conflict());
        assert!(api(409, "AlreadyExists").is_conflict());
        assert!(api(403, "Forbidden").is_forbidden());
        assert!(api(401, "Unauthorized").is_unauthorized());
        assert!(api(401, "Unauthorized").is_auth());
        assert!(api(429, "TooManyRequests").is_transient());
        assert!(api(500, "InternalError").is_transient());
        assert!(api(503, "ServiceUnavailable").is_transient());
        assert!(api(504, "Timeout").is_transient());
        assert!(api(422, "Invalid").is_invalid_input());
        assert_eq!(api(418, "Teapot").kind(), ErrorKind::Other);
        assert_eq!(api(503, "x").status_code(), Some(503));
    }

    #[test]
    fn exhausted_retries_keep_the_last_kind() {
        let e = Error::RetriesExhausted {
            op: "list pods".into(),
            attempts: 3,
            elapsed: Duration::from_millis(5),
            last: Box::new(api(503, "ServiceUnavailable")),
        };
        assert!(e.is_transient());
        assert_eq!(e.status_code(), Some(503));
        assert!(e.to_string().contains("gave up after 3 attempts"));
    }
}
