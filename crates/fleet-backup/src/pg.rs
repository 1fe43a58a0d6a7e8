//! Self-managed logical backups of PostgreSQL: connection, tool discovery and version checks,
//! the snapshot that the dump and the row counts share, and the `pg_dump`/`pg_restore`
//! processes. The procedures that use them (and their guard rails) are in `database`.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio_postgres::config::{Host, SslMode};

use crate::error::{Error, Result};
use crate::manifest::TableRows;

/// Where a PostgreSQL server (and database) is: a libpq URL such as
/// `postgresql://backup@db.example.com:5432/fleetdb?sslmode=require`. `Debug` hides the
/// password.
///
/// The same connection settings are handed to `pg_dump`/`pg_restore` as arguments, with the
/// password in their environment (never on a command line).
#[derive(Clone)]
#[non_exhaustive]
pub struct PgTarget {
    /// The URL (or libpq key-value string).
    pub url: String,
    /// The server's name in manifests and reports (an Azure server name, say); defaults to
    /// `host:port`.
    pub server_name: Option<String>,
    /// Extra trusted root certificates (PEM) for TLS, besides the Mozilla roots.
    pub extra_roots_pem: Vec<u8>,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match parse(&self.url) {
            Ok(c) => format!(
                "{}@{}/{}",
                c.get_user().unwrap_or("?"),
                host_port(&c),
                c.get_dbname().unwrap_or("?")
            ),
            Err(_) => "<unparsable>".into(),
        };
        f.debug_struct("PgTarget")
            .field("url", &shown)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// A target from a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            server_name: None,
            extra_roots_pem: Vec::new(),
        }
    }

    /// Names the server in manifests and reports.
    #[must_use]
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Trusts extra root certificates (PEM).
    #[must_use]
    pub fn with_extra_roots_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem = pem.into();
        self
    }

    /// The server's name: [`PgTarget::server_name`], else `host:port` from the URL.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the URL does not parse.
    pub fn server_label(&self) -> Result<String> {
        Ok(match &self.server_name {
            Some(n) => n.clone(),
            None => host_port(&parse(&self.url)?),
        })
    }

    /// The database the URL names.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the URL does not parse or names no database.
    pub fn database(&self) -> Result<String> {
        let c = parse(&self.url)?;
        c.get_dbname()
            .or(c.get_user())
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid("database URL", "names no database"))
    }
}

fn parse(url: &str) -> Result<tokio_postgres::Config> {
    url.parse::<tokio_postgres::Config>().map_err(|_| {
        Error::invalid(
            "database URL",
            "not a libpq URL or key-value string (the value is not shown: it may hold a password)",
        )
    })
}

fn host_port(c: &tokio_postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Where `pg_dump` and `pg_restore` are. The default looks them up on `PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgTools {
    /// The directory holding them; `None` for `PATH`.
    pub bindir: Option<PathBuf>,
    /// A directory for `LD_LIBRARY_PATH` (builds that carry their own `libpq`).
    pub libdir: Option<PathBuf>,
    /// Longest time a tool may run (default 24 h: a dump of a large database is slow, but
    /// never endless).
    pub timeout: Duration,
}

/// A tool's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolVersion {
    /// The full version (`18.4`).
    pub version: String,
    /// The major version (`18`).
    pub major: u32,
}

impl PgTools {
    /// Tools in `bindir`.
    pub fn in_dir(bindir: impl Into<PathBuf>) -> Self {
        Self {
            bindir: Some(bindir.into()),
            ..Self::default()
        }
    }

    /// Tools in `bindir` (on `PATH` when `None`), with `libdir` for their libraries when they
    /// need one: what a command line's optional `--pg-bin`/`--pg-lib` flags give.
    pub fn from_dirs(bindir: Option<PathBuf>, libdir: Option<PathBuf>) -> Self {
        Self {
            bindir,
            libdir,
            ..Self::default()
        }
    }

    /// Sets the longest time a tool may run.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a library directory.
    #[must_use]
    pub fn with_libdir(mut self, libdir: impl Into<PathBuf>) -> Self {
        self.libdir = Some(libdir.into());
        self
    }

    pub(crate) fn timeout(&self) -> Duration {
        if self.timeout.is_zero() {
            Duration::from_secs(24 * 3600)
        } else {
            self.timeout
        }
    }

    fn path(&self, tool: &str) -> PathBuf {
        match &self.bindir {
            Some(d) => d.join(tool),
            None => PathBuf::from(tool),
        }
    }

    pub(crate) fn command(&self, tool: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(self.path(tool));
        if let Some(lib) = &self.libdir {
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        cmd.kill_on_drop(true).stdin(Stdio::null());
        cmd
    }

    /// Runs `TOOL --version`.
    ///
    /// # Errors
    /// [`Error::Tool`] when the tool cannot run or prints something unexpected.
    pub async fn version(&self, tool: &'static str) -> Result<ToolVersion> {
        let out = self
            .command(tool)
            .arg("--version")
            .output()
            .await
            .map_err(|e| Error::Tool {
                tool,
                detail: format!(
                    "cannot run {}: {e}; install PostgreSQL's client programs or set PgTools::bindir",
                    self.path(tool).display()
                ),
            })?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        parse_version(&text)
            .filter(|_| out.status.success())
            .ok_or_else(|| Error::Tool {
                tool,
                detail: format!("unexpected `{tool} --version` output {text:?}"),
            })
    }

    /// Checks that `tool` is at least `needed` (a server's or an archive's major version).
    pub(crate) async fn require(
        &self,
        tool: &'static str,
        needed: u32,
        what: &'static str,
    ) -> Result<ToolVersion> {
        let v = self.version(tool).await?;
        if v.major < needed {
            return Err(Error::ToolVersion {
                tool,
                found: v.version,
                what,
                needed_major: needed,
                hint: format!(
                    "found {}; PostgreSQL {needed}'s or a newer release's client programs dump and restore every older server",
                    self.path(tool).display()
                ),
            });
        }
        Ok(v)
    }
}

/// `pg_dump (PostgreSQL) 18.4`, `pg_restore (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`.
pub(crate) fn parse_version(text: &str) -> Option<ToolVersion> {
    let version = text.split_whitespace().nth(2)?.to_owned();
    let major = version
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(ToolVersion { version, major })
}

fn rustls_config(target: &PgTarget) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in CertificateDer::pem_slice_iter(&target.extra_roots_pem) {
        let cert = cert.map_err(|e| Error::invalid("extra_roots_pem", e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| Error::invalid("extra_roots_pem", e.to_string()))?;
    }
    // Name the provider: the program may link several and have no process default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("TLS", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A connection whose driver task ends when it is dropped.
pub(crate) struct Conn {
    pub client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to `target`, or to another database of the same server.
pub(crate) async fn connect(target: &PgTarget, database: Option<&str>) -> Result<Conn> {
    let mut cfg = parse(&target.url)?;
    if let Some(d) = database {
        cfg.dbname(d);
    }
    cfg.application_name("fleet-backup");
    cfg.connect_timeout(Duration::from_secs(10));
    let label = format!(
        "connect to {}/{}",
        target.server_label()?,
        cfg.get_dbname().unwrap_or("?")
    );
    let (client, task) = match cfg.get_ssl_mode() {
        SslMode::Disable => {
            let (client, conn) = cfg
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| Error::db(&label, e))?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        }
        _ => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(rustls_config(target)?);
            let (client, conn) = cfg.connect(tls).await.map_err(|e| Error::db(&label, e))?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        }
    };
    Ok(Conn { client, task })
}

/// What the server says about itself and the database.
#[derive(Debug, Clone)]
pub(crate) struct ServerFacts {
    pub version: String,
    pub major: u32,
    pub database: String,
    pub size: u64,
    pub system_identifier: Option<String>,
}

pub(crate) async fn server_facts(conn: &Conn) -> Result<ServerFacts> {
    let row = conn
        .client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, \
             current_database()::text, pg_database_size(current_database())::bigint",
            &[],
        )
        .await
        .map_err(|e| Error::db("read the server version", e))?;
    let num: i32 = row.get(1);
    // Readable by superusers and pg_monitor members; optional.
    let system_identifier = conn
        .client
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .await
        .ok()
        .map(|r| r.get::<_, String>(0));
    Ok(ServerFacts {
        version: row.get(0),
        major: u32::try_from(num / 10000).unwrap_or(0),
        database: row.get(2),
        size: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
        system_identifier,
    })
}

/// Quotes an identifier for SQL.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The tables whose rows a backup counts: ordinary tables (partitions included, each counted
/// on its own), outside the system schemas, not belonging to an extension.
const TABLES_SQL: &str = "SELECT n.nspname::text, c.relname::text FROM pg_class c \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind = 'r' \
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                      AND d.objid = c.oid AND d.deptype = 'e') \
    ORDER BY 1, 2";

/// Counts rows of every table (in the session's current snapshot).
pub(crate) async fn count_rows(conn: &Conn) -> Result<Vec<TableRows>> {
    let tables = conn
        .client
        .query(TABLES_SQL, &[])
        .await
        .map_err(|e| Error::db("list tables", e))?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let schema: String = t.get(0);
        let table: String = t.get(1);
        let sql = format!(
            "SELECT count(*) FROM ONLY {}.{}",
            quote_ident(&schema),
            quote_ident(&table)
        );
        let n: i64 = conn
            .client
            .query_one(&sql, &[])
            .await
            .map_err(|e| Error::db(format!("count rows of {schema}.{table}"), e))?
            .get(0);
        out.push(TableRows {
            schema,
            table,
            rows: u64::try_from(n).unwrap_or(0),
        });
    }
    Ok(out)
}

/// Counts the rows of the given tables, reporting each missing table or different count.
pub(crate) async fn compare_rows(conn: &Conn, expected: &[TableRows]) -> Result<Vec<String>> {
    let mut mismatches = Vec::new();
    for t in expected {
        let exists: bool = conn
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r')",
                &[&t.schema, &t.table],
            )
            .await
            .map_err(|e| Error::db("look up a restored table", e))?
            .get(0);
        if !exists {
            mismatches.push(format!("table {}.{} is missing", t.schema, t.table));
            continue;
        }
        let sql = format!(
            "SELECT count(*) FROM ONLY {}.{}",
            quote_ident(&t.schema),
            quote_ident(&t.table)
        );
        let n: i64 = conn
            .client
            .query_one(&sql, &[])
            .await
            .map_err(|e| Error::db(format!("count rows of {}.{}", t.schema, t.table), e))?
            .get(0);
        let n = u64::try_from(n).unwrap_or(0);
        if n != t.rows {
            mismatches.push(format!(
                "{}.{} has {n} rows, the backup had {}",
                t.schema, t.table, t.rows
            ));
        }
    }
    Ok(mismatches)
}

/// Environment variables for a tool (the password among them: never on a command line).
pub(crate) type ToolEnv = Vec<(&'static str, String)>;

/// The libpq connection settings of a target as arguments and environment for the tools.
pub(crate) fn tool_connection(target: &PgTarget, database: &str) -> Result<(Vec<String>, ToolEnv)> {
    let c = parse(&target.url)?;
    let mut args = Vec::new();
    match c.get_hosts().first() {
        Some(Host::Tcp(h)) => args.extend(["--host".to_owned(), h.clone()]),
        #[cfg(unix)]
        Some(Host::Unix(p)) => args.extend(["--host".to_owned(), p.display().to_string()]),
        None => {}
    }
    if let Some(port) = c.get_ports().first() {
        args.extend(["--port".to_owned(), port.to_string()]);
    }
    if let Some(user) = c.get_user() {
        args.extend(["--username".to_owned(), user.to_owned()]);
    }
    args.extend([
        "--dbname".to_owned(),
        database.to_owned(),
        "--no-password".to_owned(),
    ]);
    let mut env = vec![
        ("PGAPPNAME", "fleet-backup".to_owned()),
        ("PGCONNECT_TIMEOUT", "10".to_owned()),
        (
            "PGSSLMODE",
            match c.get_ssl_mode() {
                SslMode::Disable => "disable",
                SslMode::Prefer => "prefer",
                _ => "require",
            }
            .to_owned(),
        ),
    ];
    if let Some(pw) = c.get_password() {
        env.push(("PGPASSWORD", String::from_utf8_lossy(pw).into_owned()));
    }
    Ok((args, env))
}

/// Keeps the last `cap` bytes of a tool's error output.
pub(crate) async fn tail<R: tokio::io::AsyncRead + Unpin>(mut r: R, cap: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > cap {
                    kept.drain(..kept.len() - cap);
                }
            }
        }
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_quoting() {
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 18.4"),
            Some(ToolVersion {
                version: "18.4".into(),
                major: 18
            })
        );
        assert_eq!(
            parse_version("pg_restore (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)")
                .map(|v| v.major),
            Some(15)
        );
        assert_eq!(parse_version("nonsense"), None);
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
    }

    #[test]
    fn passwords_stay_out_of_debug_arguments_and_errors() {
        let t =
            PgTarget::new("postgresql://backup:s3cret@db.example.com:6543/fleetdb?sslmode=require");
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("db.example.com:6543"),
            "{shown}"
        );
        let (args, env) = tool_connection(&t, "fleetdb").expect("parses");
        assert!(!args.iter().any(|a| a.contains("s3cret")));
        assert!(env.contains(&("PGPASSWORD", "s3cret".into())));
        assert!(env.contains(&("PGSSLMODE", "require".into())));
        assert_eq!(t.server_label().expect("label"), "db.example.com:6543");
        let bad = PgTarget::new("postgresql://u:s3cret@[broken")
            .database()
            .expect_err("bad");
        assert!(!bad.to_string().contains("s3cret"));
    }
}
