//! Checking that a directory holds a usable PostgreSQL installation: the programs a caller needs
//! are there, and one of them runs and reports its version. Shared by the server binaries
//! ([`super::PgBinaries`]) and the dump tools ([`super::PgClientTools`]).

use std::path::Path;
use std::process::Command;

use super::Error;

/// What a probe found: the full version (`15.14`, `18.4`) and its major.
#[derive(Debug)]
pub(super) struct Probed {
    pub(super) version: String,
    pub(super) major: u32,
}

/// Checks that `bindir` holds every program in `required`, then runs `version_tool --version`
/// (with `libdir` on `LD_LIBRARY_PATH` when given) and reads the third word of its answer,
/// e.g. `postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` or `pg_dump (PostgreSQL) 18.4`.
pub(super) fn probe(
    bindir: &Path,
    libdir: Option<&Path>,
    required: &[&str],
    version_tool: &str,
) -> Result<Probed, Error> {
    if let Some(missing) = required.iter().find(|tool| !bindir.join(tool).is_file()) {
        return Err(Error::BinariesNotFound {
            tried: format!("{} has no {missing}", bindir.display()),
        });
    }
    let program = bindir.join(version_tool);
    let mut cmd = Command::new(&program);
    cmd.arg("--version");
    if let Some(lib) = libdir {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    let out = cmd.output().map_err(|e| Error::Io {
        what: format!("running {} --version", program.display()),
        source: e,
    })?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(Error::BinariesNotFound {
            tried: format!(
                "{} --version failed: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    parse_version(&text).ok_or_else(|| Error::BinariesNotFound {
        tried: format!(
            "unrecognised `{} --version` output: {text:?}",
            program.display()
        ),
    })
}

/// The version in a `--version` answer: its third word, whose leading digits are the major.
fn parse_version(text: &str) -> Option<Probed> {
    let version = text.split_whitespace().nth(2)?.to_owned();
    let major = version
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(Probed { version, major })
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn reads_server_and_client_versions() {
        let server = parse_version("postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)")
            .expect("a Debian server version");
        assert_eq!((server.version.as_str(), server.major), ("15.14", 15));
        let client = parse_version("pg_dump (PostgreSQL) 18.4").expect("a client version");
        assert_eq!((client.version.as_str(), client.major), ("18.4", 18));
        let beta = parse_version("postgres (PostgreSQL) 19beta1").expect("a beta");
        assert_eq!(beta.major, 19);
    }

    #[test]
    fn refuses_answers_without_a_version() {
        assert!(parse_version("").is_none());
        assert!(parse_version("postgres (PostgreSQL)").is_none());
        assert!(parse_version("postgres (PostgreSQL) beta").is_none());
    }
}
