//! Running the server as an unprivileged user when the tests run as root (PostgreSQL refuses
//! to start as root, and CI runs as root).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::Error;

/// Environment variable naming the account to run the server as when the tests run as root.
pub const ENV_USER: &str = "FLEET_PG_USER";

/// An account to switch to with `setpriv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// `None` when the process is not root (run the tools directly), else the account to use:
/// `FLEET_PG_USER`, else `postgres` (created by Debian's `postgresql` package), else `nobody`.
pub(super) fn run_as() -> Result<Option<RunAs>, Error> {
    static RESOLVED: OnceLock<Result<Option<RunAs>, String>> = OnceLock::new();
    RESOLVED
        .get_or_init(resolve)
        .clone()
        .map_err(|reason| Error::NoUnprivilegedUser { reason })
}

fn resolve() -> Result<Option<RunAs>, String> {
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let candidates: Vec<String> = match std::env::var(ENV_USER) {
        Ok(name) => vec![name],
        Err(_) => vec!["postgres".into(), "nobody".into()],
    };
    for name in &candidates {
        if let Some(found) = lookup(name) {
            if found.uid == 0 {
                return Err(format!("{name} has uid 0; PostgreSQL will not run as root"));
            }
            return Ok(Some(found));
        }
    }
    Err(format!(
        "running as root and none of the accounts {candidates:?} exists; create one or set {ENV_USER}"
    ))
}

fn lookup(name: &str) -> Option<RunAs> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let mut fields = line.trim().split(':');
    let name = fields.next()?.to_owned();
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some(RunAs { name, uid, gid })
}

/// A command for `program`, wrapped in `setpriv` when an account switch is needed.
pub(super) fn command(run_as: Option<&RunAs>, program: &Path) -> Command {
    match run_as {
        None => Command::new(program),
        Some(user) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={}", user.uid))
                .arg(format!("--regid={}", user.gid))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            cmd
        }
    }
}

/// Hands `path` to the account (no-op when not switching).
pub(super) fn give(run_as: Option<&RunAs>, path: &Path) -> Result<(), Error> {
    if let Some(user) = run_as {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).map_err(|source| {
            Error::Io {
                what: format!("handing {} to {}", path.display(), user.name),
                source,
            }
        })?;
    }
    Ok(())
}
