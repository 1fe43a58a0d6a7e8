//! The crate's one error type.
//!
//! Messages name what failed and where (the service, a URL without its secret path or query,
//! a field, a repository path) and never carry a secret value: webhook URLs, routing keys and
//! API keys are not part of any variant, and servers' answers are scrubbed of them before they
//! are kept.

use std::path::PathBuf;
use std::time::Duration;

/// Why an operation of this crate failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value given to this crate is unusable (an empty routing key, a bad PromQL template, a
    /// regex that does not compile...). Nothing was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input (`pagerduty.routing_key`, `smoke[2].expect_body`).
        field: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The server answered with an HTTP error status (after the retries the budget allowed).
    #[error("{service} at {target} answered HTTP {status} after {attempts} attempt(s): {detail}")]
    Http {
        /// The service (`slack`, `pagerduty`, `statuspage`, `webhook`, `prometheus`).
        service: &'static str,
        /// Where: scheme, host and, where it is not secret, the path.
        target: String,
        /// The status.
        status: u16,
        /// Requests made.
        attempts: u32,
        /// The server's answer (capped, scrubbed of secrets) or a description.
        detail: String,
        /// The `Retry-After` the server asked for, when it did.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, DNS, TLS, or a timeout.
    #[error("{service} at {target} not reachable after {attempts} attempt(s): {detail}")]
    Transport {
        /// The service.
        service: &'static str,
        /// Where.
        target: String,
        /// Requests made.
        attempts: u32,
        /// Whether the last attempt timed out.
        timeout: bool,
        /// What happened (without the URL).
        detail: String,
    },
    /// The server answered, but not in the documented shape.
    #[error("{service} at {target} sent an unexpected answer: {detail}")]
    Response {
        /// The service.
        service: &'static str,
        /// Where.
        target: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Prometheus refused or failed the query (`errorType` and `error` of its answer).
    #[error("prometheus at {target} failed the query ({error_type}): {detail}")]
    Query {
        /// Where.
        target: String,
        /// Prometheus' `errorType` (`bad_data`, `execution`, `timeout`, ...).
        error_type: String,
        /// Prometheus' `error`.
        detail: String,
    },
    /// Something named does not exist (a git ref, a Statuspage incident for a key).
    #[error("{what} {name} not found")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A local git repository could not be read.
    #[error("git repository {}: {operation} failed: {detail}", path.display())]
    Git {
        /// The repository.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// The library's message.
        detail: String,
    },
    /// The caller lacks permissions a procedure needs (checked before its first change, so
    /// nothing was changed): each entry names the verb, the resource and the API group.
    #[error("{procedure} in namespace {namespace} is not allowed to: {}", missing.join("; "))]
    Forbidden {
        /// The procedure.
        procedure: String,
        /// The namespace.
        namespace: String,
        /// What it may not do (`cannot patch resource "deployments" in API group apps`).
        missing: Vec<String>,
    },
    /// A client crate's call failed (fleet-azure's telemetry, ...).
    #[error("{service} failed")]
    Source {
        /// The service (`application-insights`).
        service: &'static str,
        /// Whether the client classified it as transient.
        transient: bool,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A destructive step of a procedure was not confirmed: nothing was changed by it.
    #[error("step {step} refused: {reason}")]
    Refused {
        /// The step's id.
        step: String,
        /// Why (wrong word, no terminal, no token).
        reason: String,
    },
    /// A step of a procedure failed: the client's call (a [`fleet_k8s::Error`], a
    /// [`fleet_db::Error`], a [`fleet_azure::Error`], this crate's own) or the guard around it
    /// (a [`fleet_guard::Error`]: the audit could not be written, the target is locked).
    /// Downcast `source` for the typed error.
    #[error("step {step} failed")]
    Step {
        /// The step's id.
        step: String,
        /// Whether the failure is worth retrying later.
        transient: bool,
        /// The error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A coarse classification of [`Error`] to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidInput`]; also Prometheus' `bad_data`.
    InvalidInput,
    /// No answer (see [`Error::Transport`]).
    Transport,
    /// A timeout, on our side or the server's.
    Timeout,
    /// HTTP 429 (or Statuspage's 420).
    RateLimited,
    /// HTTP 401 or 403.
    Auth,
    /// HTTP 404, or see [`Error::NotFound`].
    NotFound,
    /// Another HTTP 4xx: the request was refused as sent.
    Rejected,
    /// HTTP 5xx, or a server-side query failure.
    Server,
    /// See [`Error::Response`].
    Response,
    /// A query that failed to evaluate (Prometheus' `execution`).
    Query,
    /// See [`Error::Git`].
    Git,
    /// See [`Error::Source`].
    Source,
    /// See [`Error::Refused`].
    Refused,
    /// See [`Error::Step`].
    Step,
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Http { status, .. } => match status {
                420 | 429 => ErrorKind::RateLimited,
                401 | 403 => ErrorKind::Auth,
                404 => ErrorKind::NotFound,
                408 => ErrorKind::Timeout,
                500.. => ErrorKind::Server,
                _ => ErrorKind::Rejected,
            },
            Error::Transport { timeout: true, .. } => ErrorKind::Timeout,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Response { .. } => ErrorKind::Response,
            Error::Query { error_type, .. } => match error_type.as_str() {
                "bad_data" => ErrorKind::InvalidInput,
                "timeout" | "canceled" => ErrorKind::Timeout,
                "not_found" => ErrorKind::NotFound,
                "internal" | "unavailable" => ErrorKind::Server,
                _ => ErrorKind::Query,
            },
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Git { .. } => ErrorKind::Git,
            Error::Source { .. } => ErrorKind::Source,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Step { .. } => ErrorKind::Step,
            Error::Forbidden { .. } => ErrorKind::Auth,
        }
    }

    /// Worth trying again later: no answer, a timeout, rate limiting, a server error.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Source { transient, .. } | Error::Step { transient, .. } => *transient,
            _ => matches!(
                self.kind(),
                ErrorKind::Transport
                    | ErrorKind::Timeout
                    | ErrorKind::RateLimited
                    | ErrorKind::Server
            ),
        }
    }

    /// The input was unusable.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// A timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// The credentials were refused.
    pub fn is_auth(&self) -> bool {
        self.kind() == ErrorKind::Auth
    }

    /// Something named does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// The server asked to slow down.
    pub fn is_rate_limited(&self) -> bool {
        self.kind() == ErrorKind::RateLimited
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Error {
    /// A step's failure, keeping the client's error typed (as the `source`).
    pub(crate) fn from_step<E>(e: fleet_guard::StepError<E>, transient: impl Fn(&E) -> bool) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        match e {
            fleet_guard::StepError::Refused { step, reason } => Error::Refused { step, reason },
            fleet_guard::StepError::Audit { step, source, .. } => Error::Step {
                step,
                transient: false,
                source: Box::new(source),
            },
            fleet_guard::StepError::Failed { step, source } => Error::Step {
                step,
                transient: transient(&source),
                source: Box::new(source),
            },
            // StepError is non-exhaustive: keep a future variant as its text.
            other => Error::Step {
                step: other.step().to_owned(),
                transient: false,
                source: other.to_string().into(),
            },
        }
    }

    /// Whether a destructive step was refused.
    pub fn is_refused(&self) -> bool {
        self.kind() == ErrorKind::Refused
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> Error {
        Error::Http {
            service: "slack",
            target: "https://hooks.slack.com/…".into(),
            status,
            attempts: 1,
            detail: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn kinds_follow_the_status() {
        assert!(http(429).is_rate_limited() && http(429).is_transient());
        assert!(http(420).is_rate_limited());
        assert!(http(503).is_transient());
        assert!(http(403).is_auth() && !http(403).is_transient());
        assert_eq!(http(400).kind(), ErrorKind::Rejected);
        assert!(http(404).is_not_found());
        let q = Error::Query {
            target: "http://p".into(),
            error_type: "bad_data".into(),
            detail: "parse error".into(),
        };
        assert!(q.is_invalid_input());
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
