//! Plain-data options for [`PgDiagnostics`](crate::PgDiagnostics): where to connect, TLS,
//! pool limits and deadlines, and the thresholds the reports use.
//!
//! Every wait has a finite default; none can be "forever". Nothing here reads the environment or
//! files: the binary that embeds this crate loads configuration and fills these structs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

/// Where to connect.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A libpq-style URL (`postgresql://user:pass@host:5432/db`) or key-value string
    /// (`host=... user=...`).
    Url(String),
    /// Separate parts.
    Parts {
        /// Host name, IP address or Unix socket directory.
        host: String,
        /// TCP port.
        port: u16,
        /// Role.
        user: String,
        /// Password, if the server asks for one.
        password: Option<String>,
        /// Database.
        dbname: String,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Url(url) => f.debug_tuple("Url").field(&redact_url(url)).finish(),
            Target::Parts {
                host,
                port,
                user,
                password,
                dbname,
            } => f
                .debug_struct("Parts")
                .field("host", host)
                .field("port", port)
                .field("user", user)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .field("dbname", dbname)
                .finish(),
        }
    }
}

/// Hides the password of a URL or key-value connection string.
fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            let user = userinfo.split(':').next().unwrap_or_default();
            return format!("{scheme}://{user}:<redacted>@{host}");
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=<redacted>"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether and how to use TLS. When TLS is used the server certificate and host name are
/// always verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// Plain TCP (local servers and Unix sockets only).
    Disable,
    /// TLS when the server offers it, plain otherwise.
    Prefer,
    /// TLS or fail; what Azure Database for PostgreSQL requires. The default.
    #[default]
    Require,
}

/// TLS settings.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// The mode.
    pub mode: TlsMode,
    /// Extra trusted root certificates (PEM), in addition to the Mozilla roots (which include
    /// the DigiCert and Microsoft roots Azure uses).
    pub extra_roots_pem: Vec<u8>,
    /// Trust only `extra_roots_pem`, not the Mozilla roots.
    pub only_extra_roots: bool,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("mode", &self.mode)
            .field(
                "extra_roots_pem",
                &format!("{} bytes", self.extra_roots_pem.len()),
            )
            .field("only_extra_roots", &self.only_extra_roots)
            .finish()
    }
}

/// Pool limits; all waits finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Most connections the pool opens (default 2: diagnostics need one at a time).
    pub max_size: usize,
    /// Longest wait for a free pooled connection (default 5 s).
    pub wait_timeout: Duration,
    /// Longest time to open a new connection, TLS and authentication included (default 5 s).
    pub create_timeout: Duration,
    /// Longest time to check an idle connection before reuse (default 2 s).
    pub recycle_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 2,
            wait_timeout: Duration::from_secs(5),
            create_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(2),
        }
    }
}

/// The thresholds reports use. Defaults follow PgHero where the runbook says nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Thresholds {
    /// A running query older than this is long-running (default 60 s, PgHero's).
    pub long_query: Duration,
    /// An open transaction older than this is long-running (default 60 s).
    pub long_transaction: Duration,
    /// An idle-in-transaction session idle for longer is a leak suspect (default 60 s).
    pub idle_in_transaction: Duration,
    /// A statement is slow with a mean time at least this (default 20 ms, PgHero's)...
    pub slow_query_mean: Duration,
    /// ...and at least this many calls (default 100, PgHero's).
    pub slow_query_calls: u64,
    /// How many statements the slow-query report lists at most, by total time (default 20).
    pub top_statements: u32,
    /// A sequence (or its column's type) this full is near exhaustion (default 0.9).
    pub sequence_used_fraction: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            long_query: Duration::from_secs(60),
            long_transaction: Duration::from_secs(60),
            idle_in_transaction: Duration::from_secs(60),
            slow_query_mean: Duration::from_millis(20),
            slow_query_calls: 100,
            top_statements: 20,
            sequence_used_fraction: 0.9,
        }
    }
}

/// Records every remediation (executed or dry run). The default sink emits a `tracing` event.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Stores one record.
    fn record(&self, record: &crate::remediation::AuditRecord);
}

/// All options of a [`PgDiagnostics`](crate::PgDiagnostics).
#[derive(Clone)]
#[non_exhaustive]
pub struct DbOptions {
    /// Where to connect.
    pub target: Target,
    /// TLS (verification on by default).
    pub tls: TlsOptions,
    /// `application_name` the server shows for our sessions (default `fleet-db`).
    pub application_name: String,
    /// Pool limits.
    pub pool: PoolOptions,
    /// Per-host TCP connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` for our sessions (default 10 s; `None` leaves the
    /// role's setting).
    pub statement_timeout: Option<Duration>,
    /// Client-side deadline per statement (default 12 s). When it passes the statement is
    /// cancelled on the server, not only abandoned, and the connection is discarded.
    pub query_deadline: Duration,
    /// Report thresholds.
    pub thresholds: Thresholds,
    /// Longest query text kept in reports, in characters (default 1000).
    pub query_text_limit: usize,
    /// Replace literals in query texts with `?` (default false).
    pub mask_literals: bool,
    /// Where audit records go (default: `tracing` events on target `fleet_db::audit`).
    pub audit: Option<Arc<dyn AuditSink>>,
}

impl fmt::Debug for DbOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbOptions")
            .field("target", &self.target)
            .field("tls", &self.tls)
            .field("application_name", &self.application_name)
            .field("pool", &self.pool)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("query_deadline", &self.query_deadline)
            .field("thresholds", &self.thresholds)
            .field("query_text_limit", &self.query_text_limit)
            .field("mask_literals", &self.mask_literals)
            .field("audit", &self.audit)
            .finish()
    }
}

impl DbOptions {
    /// Options for a URL or key-value connection string, with defaults for the rest.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self::new(Target::Url(url.into()))
    }

    /// Options for separate connection parts, with defaults for the rest.
    pub fn from_parts(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: Option<String>,
        dbname: impl Into<String>,
    ) -> Self {
        Self::new(Target::Parts {
            host: host.into(),
            port,
            user: user.into(),
            password,
            dbname: dbname.into(),
        })
    }

    fn new(target: Target) -> Self {
        Self {
            target,
            tls: TlsOptions::default(),
            application_name: "fleet-db".into(),
            pool: PoolOptions::default(),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Some(Duration::from_secs(10)),
            query_deadline: Duration::from_secs(12),
            thresholds: Thresholds::default(),
            query_text_limit: 1000,
            mask_literals: false,
            audit: None,
        }
    }

    /// Sets the TLS mode.
    pub fn tls_mode(mut self, mode: TlsMode) -> Self {
        self.tls.mode = mode;
        self
    }

    /// Adds trusted roots (PEM).
    pub fn extra_roots_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.extra_roots_pem = pem.into();
        self
    }

    /// Sets the pool limits.
    pub fn pool(mut self, pool: PoolOptions) -> Self {
        self.pool = pool;
        self
    }

    /// Sets the server-side statement timeout.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Sets the client-side deadline per statement.
    pub fn query_deadline(mut self, deadline: Duration) -> Self {
        self.query_deadline = deadline;
        self
    }

    /// Sets the report thresholds.
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Sets the audit sink.
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Checks the options, naming the first unusable one.
    pub fn validate(&self) -> Result<(), Error> {
        let positive = |field: &'static str, d: Duration| {
            if d.is_zero() {
                Err(Error::InvalidInput {
                    field,
                    reason: "must be greater than zero".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("pool.wait_timeout", self.pool.wait_timeout)?;
        positive("pool.create_timeout", self.pool.create_timeout)?;
        positive("pool.recycle_timeout", self.pool.recycle_timeout)?;
        positive("connect_timeout", self.connect_timeout)?;
        positive("query_deadline", self.query_deadline)?;
        if let Some(t) = self.statement_timeout {
            positive("statement_timeout", t)?;
        }
        if self.pool.max_size == 0 {
            return Err(Error::InvalidInput {
                field: "pool.max_size",
                reason: "must be at least 1".into(),
            });
        }
        if self.application_name.is_empty()
            || self.application_name.len() > 63
            || !self
                .application_name
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ')
        {
            return Err(Error::InvalidInput {
                field: "application_name",
                reason: "must be 1 to 63 printable ASCII characters".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.thresholds.sequence_used_fraction) {
            return Err(Error::InvalidInput {
                field: "thresholds.sequence_used_fraction",
                reason: "must be between 0 and 1".into(),
            });
        }
        Ok(())
    }

    /// The driver configuration these options describe.
    pub(crate) fn pg_config(&self) -> Result<tokio_postgres::Config, Error> {
        let mut cfg = match &self.target {
            Target::Url(url) => url.parse::<tokio_postgres::Config>().map_err(|e| {
                // The driver's message never contains the URL, so the password stays hidden.
                Error::InvalidInput {
                    field: "target",
                    reason: format!("unparsable connection string {}: {e}", redact_url(url)),
                }
            })?,
            Target::Parts {
                host,
                port,
                user,
                password,
                dbname,
            } => {
                let mut cfg = tokio_postgres::Config::new();
                cfg.host(host).port(*port).user(user).dbname(dbname);
                if let Some(p) = password {
                    cfg.password(p);
                }
                cfg
            }
        };
        if cfg.get_hosts().is_empty() {
            return Err(Error::InvalidInput {
                field: "target",
                reason: "no host given".into(),
            });
        }
        cfg.application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3)
            .tcp_user_timeout(self.query_deadline.max(Duration::from_secs(5)))
            .ssl_mode(match self.tls.mode {
                TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
                TlsMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                TlsMode::Require => tokio_postgres::config::SslMode::Require,
            });
        if let Some(t) = self.statement_timeout {
            let mut opts = cfg.get_options().unwrap_or_default().to_owned();
            if !opts.is_empty() {
                opts.push(' ');
            }
            opts.push_str(&format!("-c statement_timeout={}", t.as_millis()));
            cfg.options(opts);
        }
        Ok(cfg)
    }

    /// The rustls client configuration for these options.
    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, Error> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        if !self.tls.only_extra_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if !self.tls.extra_roots_pem.is_empty() {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&self.tls.extra_roots_pem) {
                let cert = cert.map_err(|e| Error::InvalidInput {
                    field: "tls.extra_roots_pem",
                    reason: format!("not a PEM certificate: {e}"),
                })?;
                roots.add(cert).map_err(|e| Error::InvalidInput {
                    field: "tls.extra_roots_pem",
                    reason: format!("unusable root certificate: {e}"),
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(Error::InvalidInput {
                    field: "tls.extra_roots_pem",
                    reason: "no CERTIFICATE block found".into(),
                });
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidInput {
                field: "tls",
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_passwords() {
        let o = DbOptions::from_url("postgresql://app:s3cret@db.example:5432/fleet");
        let text = format!("{o:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("app:<redacted>@db.example"));
        let o = DbOptions::from_url("host=db user=app password=s3cret");
        assert!(!format!("{o:?}").contains("s3cret"));
        let o = DbOptions::from_parts("db", 5432, "app", Some("s3cret".into()), "fleet");
        assert!(!format!("{o:?}").contains("s3cret"));
    }

    #[test]
    fn rejects_zero_waits_and_bad_urls() {
        let mut o = DbOptions::from_url("postgresql://a@h/d");
        o.pool.wait_timeout = Duration::ZERO;
        assert!(matches!(
            o.validate(),
            Err(Error::InvalidInput {
                field: "pool.wait_timeout",
                ..
            })
        ));
        let o = DbOptions::from_url("postgresql://a:pw@h:notaport/d");
        let err = o.pg_config().expect_err("bad port");
        assert!(!err.to_string().contains("pw@"), "{err}");
        assert!(DbOptions::from_url("user=a").pg_config().is_err());
    }

    #[test]
    fn statement_timeout_goes_into_options() {
        let o = DbOptions::from_url("postgresql://a@h/d?options=-c%20work_mem%3D4MB")
            .statement_timeout(Some(Duration::from_millis(1500)));
        let cfg = o.pg_config().expect("valid");
        assert_eq!(
            cfg.get_options(),
            Some("-c work_mem=4MB -c statement_timeout=1500")
        );
        assert_eq!(cfg.get_application_name(), Some("fleet-db"));
    }

    #[test]
    fn tls_config_builds_and_rejects_garbage_roots() {
        let o = DbOptions::from_url("postgresql://a@h/d");
        assert!(o.rustls_config().is_ok());
        let o = o.extra_roots_pem(b"not pem".to_vec());
        assert!(o.rustls_config().is_err());
    }
}
