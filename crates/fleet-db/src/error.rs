//! The crate's error type and its coarse classification.
//!
//! Errors are classified by SQLSTATE and by the kind of transport failure, never by message
//! text: PostgreSQL words "too many connections" three different ways across versions, but the
//! code is always 53300.

use std::time::Duration;

use tokio_postgres::error::SqlState;

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What the runbook does about an error; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// SQLSTATE 53300: the server (or the role's/database's connection limit) is full.
    TooManyConnections,
    /// The server rejected the credentials.
    Authentication,
    /// The server could not be reached, or the connection broke.
    Unreachable,
    /// The server is shutting down, starting up or in recovery (57P01..57P03).
    Unavailable,
    /// A deadline passed (client side or `statement_timeout`).
    Timeout,
    /// The role lacks a privilege.
    PermissionDenied,
    /// A backend, role or object does not exist.
    NotFound,
    /// A remediation guard refused the action.
    Refused,
    /// TLS could not be set up or the certificate did not verify.
    Tls,
    /// The caller passed unusable options or arguments.
    InvalidInput,
    /// SQLSTATE 53100: the server ran out of disk space while writing.
    DiskFull,
    /// An audit record could not be written, or executing was asked for without a durable
    /// audit sink.
    Audit,
    /// Anything else the server reported.
    Other,
}

/// What happened to the server-side statement when a client deadline passed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
#[non_exhaustive]
pub enum CancelOutcome {
    /// A cancel request was delivered to the server.
    Sent,
    /// The cancel request could not be delivered (the text says why).
    Failed(String),
    /// Nothing to cancel: the deadline passed before a statement was sent (waiting for a pool
    /// slot or connecting), or the server itself cancelled it (`statement_timeout`).
    NotNeeded,
}

/// Whether the diagnostics role could have used a reserved connection slot when the server was
/// full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservedSlot {
    /// The role is a superuser or (PostgreSQL 16+) a member of `pg_use_reserved_connections`,
    /// so the reserved slots themselves were exhausted too.
    Eligible,
    /// The role has no right to a reserved slot.
    NotEligible,
    /// Never connected successfully, so eligibility is unknown.
    Unknown,
}

/// Everything that can go wrong in `fleet-db`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLSTATE 53300.
    #[error("too many connections (SQLSTATE 53300) while {operation}: {message}; {}", reserved_hint(*.reserved_slot))]
    TooManyConnections {
        /// What was being done.
        operation: String,
        /// The server's message.
        message: String,
        /// Whether a reserved slot could have been used.
        reserved_slot: ReservedSlot,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// SQLSTATE class 28.
    #[error("authentication failed while {operation}: {message}")]
    Authentication {
        /// What was being done.
        operation: String,
        /// The server's message.
        message: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server could not be reached or the connection broke.
    #[error("server unreachable while {operation}: {source}")]
    Unreachable {
        /// What was being done.
        operation: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The server is shutting down, starting or recovering.
    #[error("server unavailable while {operation}: {message}")]
    Unavailable {
        /// What was being done.
        operation: String,
        /// The server's message.
        message: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A deadline passed.
    #[error("timed out{} while {operation} (server-side cancel: {cancel:?})", after.map(|d| format!(" after {d:?}")).unwrap_or_default())]
    Timeout {
        /// What was being done.
        operation: String,
        /// The client deadline that passed (`None` when the server cancelled the statement:
        /// `statement_timeout`, or a cancel request from elsewhere).
        after: Option<Duration>,
        /// What happened to the statement on the server.
        cancel: CancelOutcome,
        /// The server's error, when the server cancelled (SQLSTATE 57014).
        #[source]
        source: Option<tokio_postgres::Error>,
    },
    /// The role lacks a privilege.
    #[error("permission denied while {operation}: {message}")]
    PermissionDenied {
        /// What was being done.
        operation: String,
        /// The server's message.
        message: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Something named does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// A remediation guard refused.
    #[error("refused to {action}: {reason}")]
    Refused {
        /// The action.
        action: String,
        /// Why.
        reason: String,
    },
    /// TLS set-up or verification failed.
    #[error("TLS failure while {operation}: {source}")]
    Tls {
        /// What was being done.
        operation: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Unusable options or arguments.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which option or argument.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Any other server error.
    #[error("{operation} failed: {source}")]
    Query {
        /// What was being done.
        operation: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server answered in a shape this crate does not understand.
    #[error("unexpected result while {operation}: {reason}")]
    Decode {
        /// What was being done.
        operation: String,
        /// Why.
        reason: String,
    },
    /// The pool was closed.
    #[error("the connection pool is closed")]
    PoolClosed,
    /// SQLSTATE 53100: the server could not extend a file.
    #[error("the server's disk is full (SQLSTATE 53100) while {operation}: {message}")]
    DiskFull {
        /// What was being done.
        operation: String,
        /// The server's message (names the file it could not extend).
        message: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Executing a remediation needs a durable audit sink (`DbOptions::audit`); none was
    /// configured, so nothing was done. Dry runs need none.
    #[error(
        "refused to {action}: executing needs a durable audit sink (set DbOptions::audit, e.g. \
         to a fleet_guard::FileAuditSink); nothing was changed"
    )]
    AuditNotConfigured {
        /// The action.
        action: String,
    },
    /// An audit record could not be written. When `acted` is false it was the intent record
    /// and nothing was changed; when true the change was made and its outcome is missing from
    /// the trail.
    #[error("audit record for {action} not written ({}): {source}", if *.acted { "the change WAS made" } else { "nothing was changed" })]
    Audit {
        /// The action.
        action: String,
        /// Whether the change was made.
        acted: bool,
        /// The sink's error.
        #[source]
        source: fleet_guard::Error,
    },
}

fn reserved_hint(slot: ReservedSlot) -> &'static str {
    match slot {
        ReservedSlot::Eligible => "the role may use reserved slots, so those are exhausted as well",
        ReservedSlot::NotEligible => {
            "the role cannot use reserved slots: connect as a superuser, or on PostgreSQL 16+ \
             grant pg_use_reserved_connections and set reserved_connections"
        }
        ReservedSlot::Unknown => "whether the role may use reserved slots is unknown",
    }
}

impl Error {
    /// The coarse kind callers branch on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::TooManyConnections { .. } => ErrorKind::TooManyConnections,
            Error::Authentication { .. } => ErrorKind::Authentication,
            Error::Unreachable { .. } | Error::PoolClosed => ErrorKind::Unreachable,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Tls { .. } => ErrorKind::Tls,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::DiskFull { .. } => ErrorKind::DiskFull,
            Error::AuditNotConfigured { .. } | Error::Audit { .. } => ErrorKind::Audit,
            Error::Query { .. } | Error::Decode { .. } => ErrorKind::Other,
        }
    }

    /// SQLSTATE 53100: the server's disk is full.
    pub fn is_disk_full(&self) -> bool {
        self.kind() == ErrorKind::DiskFull
    }

    /// The caller passed unusable options or arguments.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// A remediation guard refused.
    pub fn is_refused(&self) -> bool {
        self.kind() == ErrorKind::Refused
    }

    /// Worth retrying later: full server, unreachable, unavailable, timeouts.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::TooManyConnections
                | ErrorKind::Unreachable
                | ErrorKind::Unavailable
                | ErrorKind::Timeout
        )
    }

    /// SQLSTATE 53300.
    pub fn is_too_many_connections(&self) -> bool {
        self.kind() == ErrorKind::TooManyConnections
    }

    /// A backend, role or object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// Credentials were rejected.
    pub fn is_auth(&self) -> bool {
        self.kind() == ErrorKind::Authentication
    }

    /// A privilege is missing.
    pub fn is_permission(&self) -> bool {
        self.kind() == ErrorKind::PermissionDenied
    }

    /// A deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// The SQLSTATE, when the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        use std::error::Error as _;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = self.source();
        while let Some(e) = cur {
            if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
                return pg.code().map(SqlState::code);
            }
            cur = e.source();
        }
        None
    }

    /// Classifies a driver error. `reserved_slot` is what is known about reserved-slot
    /// eligibility, used only for 53300.
    pub(crate) fn from_pg(
        source: tokio_postgres::Error,
        operation: &str,
        reserved_slot: ReservedSlot,
    ) -> Self {
        let operation = operation.to_owned();
        if let Some(db) = source.as_db_error() {
            let message = db.message().to_owned();
            let code = db.code().clone();
            return if code == SqlState::TOO_MANY_CONNECTIONS {
                Error::TooManyConnections {
                    operation,
                    message,
                    reserved_slot,
                    source,
                }
            } else if code.code().starts_with("28") {
                Error::Authentication {
                    operation,
                    message,
                    source,
                }
            } else if code == SqlState::INSUFFICIENT_PRIVILEGE {
                Error::PermissionDenied {
                    operation,
                    message,
                    source,
                }
            } else if code == SqlState::QUERY_CANCELED {
                Error::Timeout {
                    operation: format!("{operation} ({message})"),
                    after: None,
                    cancel: CancelOutcome::NotNeeded,
                    source: Some(source),
                }
            } else if code == SqlState::ADMIN_SHUTDOWN
                || code == SqlState::CRASH_SHUTDOWN
                || code == SqlState::CANNOT_CONNECT_NOW
            {
                Error::Unavailable {
                    operation,
                    message,
                    source,
                }
            } else if code == SqlState::DISK_FULL {
                Error::DiskFull {
                    operation,
                    message,
                    source,
                }
            } else if code == SqlState::UNDEFINED_OBJECT {
                Error::NotFound { what: message }
            } else {
                Error::Query { operation, source }
            };
        }
        if is_tls(&source) {
            return Error::Tls {
                operation,
                source: Box::new(source),
            };
        }
        if source.is_closed() || has_io_source(&source) {
            return Error::Unreachable {
                operation,
                source: Box::new(source),
            };
        }
        Error::Query { operation, source }
    }
}

fn has_io_source(e: &tokio_postgres::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = cur {
        if inner.is::<std::io::Error>() {
            return true;
        }
        cur = inner.source();
    }
    false
}

fn is_tls(e: &tokio_postgres::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = cur {
        if inner.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|r| r.is::<rustls::Error>())
        {
            return true;
        }
        cur = inner.source();
    }
    // tokio-postgres keeps its TLS error kind private; its Display text for that kind is the
    // only signal left (driver wording, not server text).
    let text = e.to_string();
    text.starts_with("error performing TLS handshake")
        || text.starts_with("server does not support TLS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_classify() {
        let e = Error::Timeout {
            operation: "x".into(),
            after: Some(Duration::from_secs(1)),
            cancel: CancelOutcome::Sent,
            source: None,
        };
        assert!(e.is_timeout() && e.is_transient());
        let e = Error::NotFound {
            what: "pid 1".into(),
        };
        assert!(e.is_not_found() && !e.is_transient());
        let e = Error::Refused {
            action: "terminate".into(),
            reason: "own backend".into(),
        };
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert!(e.to_string().contains("own backend"));
    }
}
