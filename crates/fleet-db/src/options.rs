//! Plain-data options for [`PgClient`](crate::PgClient): where to connect, TLS,
//! pool limits and deadlines, and the thresholds the reports use.
//!
//! Every wait has a finite default; none can be "forever". Nothing here reads the environment or
//! files: the binary that embeds this crate loads configuration and fills these structs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fleet_guard::AuditSink;

use crate::error::Error;
use crate::redact::{parse_failure, redact_connection_string};
use crate::secret::Secret;

/// Where to connect.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A libpq-style URL (`postgresql://user:pass@host:5432/db`) or key-value string
    /// (`host=... user=...`). `Debug` shows it through [`redact_connection_string`]: parsed,
    /// rebuilt without the password, or not at all when it does not parse.
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
        password: Option<Secret>,
        /// Database.
        dbname: String,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Url(url) => f
                .debug_tuple("Url")
                .field(&redact_connection_string(url))
                .finish(),
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
                .field("password", password)
                .field("dbname", dbname)
                .finish(),
        }
    }
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

/// Longest wait any option may set (one day): larger values are typos, and some of them
/// overflow the driver's or the server's integer fields.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// All options of a [`PgClient`](crate::PgClient).
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
    /// role's setting). Sent in whole milliseconds, rounded up, so a value under 1 ms is 1 ms
    /// (never 0, which would disable it).
    pub statement_timeout: Option<Duration>,
    /// Client-side deadline per statement (default 12 s). When it passes the statement is
    /// cancelled on the server, not only abandoned, and the connection is discarded.
    pub query_deadline: Duration,
    /// Report thresholds.
    pub thresholds: Thresholds,
    /// Longest query text kept in reports, in characters (default 1000).
    pub query_text_limit: usize,
    /// Replace literals and comments in query texts with `?` (default true; see
    /// [`mask_literals`](crate::mask_literals)), so that a password in an `ALTER ROLE`
    /// statement never lands in a report.
    pub mask_literals: bool,
    /// Where remediation audit records go: an intent before each executed change and its
    /// outcome after. Required to execute (dry runs need none); there is no default, because a
    /// record that nobody keeps is no record: use a durable sink such as
    /// [`fleet_guard::FileAuditSink`].
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
        password: Option<Secret>,
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

    /// Options for `target`, with defaults for the rest.
    pub fn new(target: Target) -> Self {
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
            mask_literals: true,
            audit: None,
        }
    }

    /// Sets the TLS mode. With [`TlsMode::Prefer`], a connection the server does not
    /// encrypt is logged as a warning.
    pub fn with_tls_mode(mut self, mode: TlsMode) -> Self {
        self.tls.mode = mode;
        self
    }

    /// Adds trusted roots (PEM).
    pub fn with_extra_roots_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.extra_roots_pem = pem.into();
        self
    }

    /// Sets the pool limits.
    pub fn with_pool(mut self, pool: PoolOptions) -> Self {
        self.pool = pool;
        self
    }

    /// Sets the server-side statement timeout.
    pub fn with_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Sets the client-side deadline per statement.
    pub fn with_query_deadline(mut self, deadline: Duration) -> Self {
        self.query_deadline = deadline;
        self
    }

    /// Sets the report thresholds.
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Sets whether query texts are masked.
    pub fn with_mask_literals(mut self, mask: bool) -> Self {
        self.mask_literals = mask;
        self
    }

    /// Sets the audit sink that executed remediations write to.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Sets `application_name`.
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Options for a URL or key-value string with the TLS mode its `sslmode` asks for
    /// (`disable`, `prefer`, `require`; verification is always on when TLS is used), and
    /// [`TlsMode::Require`] when it names none. `verify-ca` and `verify-full` are read as
    /// `require`, which here always verifies the certificate and the host name; `allow` is
    /// rejected.
    pub fn from_url_with_sslmode(url: impl Into<String>) -> Result<Self, Error> {
        let mut url = url.into();
        let mode = sslmode_of(&url)?;
        // The driver's parser knows only disable/prefer/require.
        for strict in ["sslmode=verify-full", "sslmode=verify-ca"] {
            if url.contains(strict) {
                url = url.replace(strict, "sslmode=require");
            }
        }
        Ok(Self::from_url(url).with_tls_mode(mode.unwrap_or(TlsMode::Require)))
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
        let bounded = |field: &'static str, d: Duration| {
            positive(field, d)?;
            if d > MAX_WAIT {
                return Err(Error::InvalidInput {
                    field,
                    reason: format!("must be at most {MAX_WAIT:?}"),
                });
            }
            Ok(())
        };
        bounded("pool.wait_timeout", self.pool.wait_timeout)?;
        bounded("pool.create_timeout", self.pool.create_timeout)?;
        bounded("pool.recycle_timeout", self.pool.recycle_timeout)?;
        bounded("connect_timeout", self.connect_timeout)?;
        bounded("query_deadline", self.query_deadline)?;
        if let Some(t) = self.statement_timeout {
            bounded("statement_timeout", t)?;
        }
        for (field, d) in [
            ("thresholds.long_query", self.thresholds.long_query),
            (
                "thresholds.long_transaction",
                self.thresholds.long_transaction,
            ),
            (
                "thresholds.idle_in_transaction",
                self.thresholds.idle_in_transaction,
            ),
            (
                "thresholds.slow_query_mean",
                self.thresholds.slow_query_mean,
            ),
        ] {
            if d > Duration::from_secs(365 * 24 * 3600) {
                return Err(Error::InvalidInput {
                    field,
                    reason: "must be at most a year".into(),
                });
            }
        }
        if !(1..=1000).contains(&self.pool.max_size) {
            return Err(Error::InvalidInput {
                field: "pool.max_size",
                reason: "must be between 1 and 1000".into(),
            });
        }
        if !(1..=1_000_000).contains(&self.query_text_limit) {
            return Err(Error::InvalidInput {
                field: "query_text_limit",
                reason: "must be between 1 and 1000000 characters".into(),
            });
        }
        if !(1..=10_000).contains(&self.thresholds.top_statements) {
            return Err(Error::InvalidInput {
                field: "thresholds.top_statements",
                reason: "must be between 1 and 10000".into(),
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
            Target::Url(url) => {
                url.parse::<tokio_postgres::Config>()
                    .map_err(|e| Error::InvalidInput {
                        field: "target",
                        // Neither the string nor the driver's message (which can quote a
                        // fragment of a misquoted password) is repeated.
                        reason: format!("unparsable connection string: {}", parse_failure(&e)),
                    })?
            }
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
                    cfg.password(p.expose());
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
            opts.push_str(&format!("-c statement_timeout={}", whole_millis_up(t)));
            cfg.options(opts);
        }
        Ok(cfg)
    }

    /// `host:port/dbname` of the first host, for spans, audit targets and messages (never a
    /// user or password).
    pub(crate) fn server_label(&self) -> String {
        match &self.target {
            Target::Parts {
                host, port, dbname, ..
            } => format!("{host}:{port}/{dbname}"),
            Target::Url(url) => match url.parse::<tokio_postgres::Config>() {
                Ok(cfg) => {
                    let host = match cfg.get_hosts().first() {
                        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                        None => "?".into(),
                    };
                    let port = cfg.get_ports().first().copied().unwrap_or(5432);
                    let db = cfg.get_dbname().or(cfg.get_user()).unwrap_or("?");
                    // A password equal to one of these fields is still not shown.
                    let label = format!("{host}:{port}/{db}");
                    match cfg.get_password().map(String::from_utf8_lossy) {
                        Some(pw) if !pw.is_empty() && label.contains(pw.as_ref()) => {
                            label.replace(pw.as_ref(), crate::redact::REDACTED)
                        }
                        _ => label,
                    }
                }
                Err(_) => "<unparsable target>".into(),
            },
        }
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

/// Milliseconds, rounded up, at least 1: the server reads a bare number as milliseconds and
/// 0 as "no timeout".
pub(crate) fn whole_millis_up(d: Duration) -> u64 {
    let nanos = d.as_nanos();
    let ms = nanos.div_ceil(1_000_000).max(1);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The `sslmode` a connection string names, if any.
fn sslmode_of(url: &str) -> Result<Option<TlsMode>, Error> {
    let value = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        url.split_once('?').and_then(|(_, query)| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .filter(|(k, _)| *k == "sslmode")
                .map(|(_, v)| v.to_owned())
                .next_back()
        })
    } else {
        // key=value: the value follows `sslmode`, `=` and optional spaces.
        let mut found = None;
        let mut rest = url;
        while let Some(at) = rest.find("sslmode") {
            let before_ok = rest[..at].chars().last().is_none_or(char::is_whitespace);
            let after = rest[at + "sslmode".len()..].trim_start();
            if before_ok && let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start().trim_start_matches('\'');
                found = Some(
                    v.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect::<String>(),
                );
            }
            rest = &rest[at + "sslmode".len()..];
        }
        found
    };
    match value.as_deref() {
        None => Ok(None),
        Some("disable") => Ok(Some(TlsMode::Disable)),
        Some("prefer") => Ok(Some(TlsMode::Prefer)),
        Some("require" | "verify-ca" | "verify-full") => Ok(Some(TlsMode::Require)),
        Some(other) => Err(Error::InvalidInput {
            field: "sslmode",
            reason: format!(
                "{other:?} is not supported: use disable, prefer or require (require always \
                 verifies the certificate and host name)"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_passwords_in_every_form() {
        let o = DbOptions::from_url("postgresql://app:s3cret@db.example:5432/fleet");
        let text = format!("{o:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("user=app password=<redacted>"), "{text}");
        for url in [
            "host=db user=app password=s3cret",
            "host=db user=app password = s3cret",
            "host=db user=app password='s3cret and more'",
            "postgresql://db/fleet?user=app&password=s3cret",
            "postgresql://db/fleet?password=s3cret&sslmode=disable",
            "host=db password=s3cret x",
        ] {
            let text = format!("{:?}", DbOptions::from_url(url));
            assert!(!text.contains("s3cret"), "{url}: {text}");
        }
        let o = DbOptions::from_parts("db", 5432, "app", Some("s3cret".into()), "fleet");
        assert!(!format!("{o:?}").contains("s3cret"));
    }

    #[test]
    fn unparsable_strings_do_not_leak_into_errors() {
        for url in [
            "postgresql://a:s3cret@h:notaport/d",
            "host=h password=abc s3cret=x",
            "host=h password=s3cret rest",
            "host=h password='s3cret",
        ] {
            let err = DbOptions::from_url(url).pg_config().expect_err(url);
            assert!(err.is_invalid_input());
            assert!(!err.to_string().contains("s3cret"), "{url}: {err}");
        }
    }

    #[test]
    fn rejects_zero_and_extreme_settings() {
        let mut o = DbOptions::from_url("postgresql://a@h/d");
        o.pool.wait_timeout = Duration::ZERO;
        assert!(matches!(
            o.validate(),
            Err(Error::InvalidInput {
                field: "pool.wait_timeout",
                ..
            })
        ));
        let base = DbOptions::from_url("postgresql://a@h/d");
        let cases: Vec<(&str, DbOptions)> = vec![
            (
                "query_deadline",
                base.clone().with_query_deadline(Duration::MAX),
            ),
            (
                "statement_timeout",
                base.clone().with_statement_timeout(Some(Duration::MAX)),
            ),
            ("pool.max_size", {
                let mut o = base.clone();
                o.pool.max_size = usize::MAX;
                o
            }),
            ("query_text_limit", {
                let mut o = base.clone();
                o.query_text_limit = usize::MAX;
                o
            }),
            ("thresholds.top_statements", {
                let mut o = base.clone();
                o.thresholds.top_statements = u32::MAX;
                o
            }),
            ("thresholds.long_query", {
                let mut o = base.clone();
                o.thresholds.long_query = Duration::MAX;
                o
            }),
        ];
        for (field, o) in cases {
            match o.validate() {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(DbOptions::from_url("user=a").pg_config().is_err());
    }

    #[test]
    fn statement_timeout_goes_into_options_rounded_up() {
        let o = DbOptions::from_url("postgresql://a@h/d?options=-c%20work_mem%3D4MB")
            .with_statement_timeout(Some(Duration::from_millis(1500)));
        let cfg = o.pg_config().expect("valid");
        assert_eq!(
            cfg.get_options(),
            Some("-c work_mem=4MB -c statement_timeout=1500")
        );
        assert_eq!(cfg.get_application_name(), Some("fleet-db"));
        // Under a millisecond is 1 ms, never 0 (which the server reads as "no timeout").
        let o = DbOptions::from_url("postgresql://a@h/d")
            .with_statement_timeout(Some(Duration::from_micros(300)));
        let cfg = o.pg_config().expect("valid");
        assert_eq!(cfg.get_options(), Some("-c statement_timeout=1"));
        assert_eq!(whole_millis_up(Duration::from_nanos(1_000_001)), 2);
        assert_eq!(whole_millis_up(Duration::from_millis(7)), 7);
    }

    #[test]
    fn sslmode_from_the_string() {
        let mode = |u: &str| DbOptions::from_url_with_sslmode(u).map(|o| o.tls.mode);
        assert_eq!(mode("postgresql://a@h/d").expect("ok"), TlsMode::Require);
        assert_eq!(
            mode("postgresql://a@h/d?sslmode=disable").expect("ok"),
            TlsMode::Disable
        );
        assert_eq!(
            mode("host=h sslmode = prefer").expect("ok"),
            TlsMode::Prefer
        );
        let o =
            DbOptions::from_url_with_sslmode("postgresql://a@h/d?sslmode=verify-full").expect("ok");
        assert_eq!(o.tls.mode, TlsMode::Require);
        o.pg_config().expect("the driver parses the rewritten mode");
        assert!(mode("postgresql://a@h/d?sslmode=allow").is_err());
    }

    #[test]
    fn server_label_has_no_credentials() {
        let o = DbOptions::from_url("postgresql://app:pw@db.example:6432/fleet");
        assert_eq!(o.server_label(), "db.example:6432/fleet");
        let o = DbOptions::from_url("host=h user=x password=fleet dbname=fleet");
        assert!(!o.server_label().contains("fleet"), "{}", o.server_label());
    }

    #[test]
    fn tls_config_builds_and_rejects_garbage_roots() {
        let o = DbOptions::from_url("postgresql://a@h/d");
        assert!(o.rustls_config().is_ok());
        let o = o.with_extra_roots_pem(b"not pem".to_vec());
        assert!(o.rustls_config().is_err());
    }
}
