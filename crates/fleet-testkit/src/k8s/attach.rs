//! Real services behind the fake: a PostgreSQL server that `kubectl exec` of the PostgreSQL
//! client programs in a pod reaches, so that the runbook's
//! `kubectl exec fleet-postgres-0 -- psql -U fleetadmin -d fleetdb -c '...'` runs the real
//! `psql` against a real server.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::cluster::FakeCluster;
use super::defaults::base64_decode;
use super::exec::{ExecOutput, ExecRequest};
use super::knobs::lock;
use super::seed::{FLEET_DB_NAME, FLEET_DB_USER, FLEET_NAMESPACE};

/// The PostgreSQL client programs an attached pod runs for real.
pub const POSTGRES_PROGRAMS: &[&str] =
    &["psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_isready"];

/// A PostgreSQL server to attach: where it listens, a superuser, and where its client programs
/// are.
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresTarget {
    /// Host to connect to (`127.0.0.1`).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// A superuser role.
    pub superuser: String,
    /// The superuser's password.
    pub superuser_password: String,
    /// Directory of `psql`, `pg_dump` and the other client programs (`PATH` when they are not
    /// there).
    pub bin_dir: PathBuf,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("superuser", &self.superuser)
            .field("superuser_password", &"<redacted>")
            .field("bin_dir", &self.bin_dir)
            .finish()
    }
}

impl PostgresTarget {
    /// A server at `host:port` with this superuser, its client programs in `bin_dir`.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        superuser: impl Into<String>,
        superuser_password: impl Into<String>,
        bin_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            superuser: superuser.into(),
            superuser_password: superuser_password.into(),
            bin_dir: bin_dir.into(),
        }
    }

    fn program(&self, name: &str) -> PathBuf {
        let p = self.bin_dir.join(name);
        if p.is_file() { p } else { PathBuf::from(name) }
    }

    /// A client program's command, connected to this server as `user`.
    fn command(&self, program: &str, user: &str, password: &str) -> Command {
        let mut c = Command::new(self.program(program));
        c.env("PGHOST", &self.host)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", user)
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10");
        c
    }
}

#[cfg(feature = "postgres")]
impl From<&crate::postgres::TempPostgres> for PostgresTarget {
    fn from(pg: &crate::postgres::TempPostgres) -> Self {
        Self::new(
            pg.host(),
            pg.port(),
            pg.user(),
            pg.password(),
            pg.binaries().bindir(),
        )
    }
}

/// The role a client command connects as: its `-U` / `--username`, else `default`.
fn user_of<'a>(args: &'a [String], default: &'a str) -> &'a str {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-U" || a == "--username" {
            return it.next().map_or(default, String::as_str);
        }
        if let Some(u) = a.strip_prefix("--username=") {
            return u;
        }
        if let Some(u) = a.strip_prefix("-U").filter(|u| !u.is_empty()) {
            return u;
        }
    }
    default
}

/// Runs a command with `stdin`, as an exec's output.
fn run(mut cmd: Command, stdin: &[u8]) -> ExecOutput {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ExecOutput::fail(
                format!("exec: {:?}: {e}\n", cmd.get_program()),
                if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                },
            );
        }
    };
    if let Some(mut input) = child.stdin.take() {
        // A program that stops reading early is not an error of ours.
        let _ = input.write_all(stdin);
    }
    match child.wait_with_output() {
        Ok(out) => ExecOutput {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.status.code().unwrap_or(1),
        },
        Err(e) => ExecOutput::fail(format!("waiting for the program: {e}\n"), 1),
    }
}

impl FakeCluster {
    /// Routes `kubectl exec` of the PostgreSQL client programs ([`POSTGRES_PROGRAMS`]) in pod
    /// `namespace/pod` to the real programs, connected to `target` (`PGHOST`, `PGPORT`, and the
    /// password of the role the command names with `-U`, from `roles`; the superuser's is
    /// known). Other commands go to the exec handler set before, if any.
    pub fn route_postgres_exec(
        &self,
        namespace: &str,
        pod: &str,
        target: PostgresTarget,
        roles: Vec<(String, String)>,
    ) {
        let previous = lock(&self.shared.knobs.exec).clone();
        let (ns, pod) = (namespace.to_string(), pod.to_string());
        let mut passwords = roles;
        passwords.push((target.superuser.clone(), target.superuser_password.clone()));
        let handler = move |req: &ExecRequest, stdin: &[u8]| -> ExecOutput {
            let program = req.command.first().map(String::as_str).unwrap_or("");
            if req.namespace == ns && req.pod == pod && POSTGRES_PROGRAMS.contains(&program) {
                let args = &req.command[1..];
                let user = user_of(args, &target.superuser);
                let password = passwords
                    .iter()
                    .find(|(u, _)| u == user)
                    .map_or("", |(_, p)| p.as_str());
                let mut cmd = target.command(program, user, password);
                cmd.args(args);
                return run(cmd, stdin);
            }
            match &previous {
                Some(h) => h(req, stdin),
                None => ExecOutput::fail(
                    format!(
                        "fleet fake cluster: pod {} runs only the PostgreSQL client programs ({}); cannot run {:?}\n",
                        req.pod,
                        POSTGRES_PROGRAMS.join(", "),
                        req.command
                    ),
                    126,
                ),
            }
        };
        *lock(&self.shared.knobs.exec) = Some(Arc::new(handler));
    }

    /// Attaches the seeded world's database to a real server: creates role
    /// [`FLEET_DB_USER`](super::FLEET_DB_USER) with the password of Secret
    /// `fleet-db-credentials` and database [`FLEET_DB_NAME`](super::FLEET_DB_NAME) owned by
    /// it (when missing), and routes the PostgreSQL client programs run in `fleet-postgres-0`
    /// to the server. Needs [`seed_fleet`](super::FakeClusterBuilder::seed_fleet). Errors name
    /// what failed (the Secret, or the server's answer); no password appears in them.
    pub fn attach_fleet_database(&self, target: PostgresTarget) -> std::io::Result<()> {
        let secret = self
            .store()
            .get("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "Secret fleet-management/fleet-db-credentials not found (seed the fleet world)",
                )
            })?;
        let password = secret["data"]["password"]
            .as_str()
            .and_then(base64_decode)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "Secret fleet-db-credentials has no readable key password",
                )
            })?;
        let quoted = password.replace('\'', "''");
        // The SQL goes through stdin: the password never appears in a command line.
        let sql = format!(
            "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '{FLEET_DB_USER}', '{quoted}') \
             WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{FLEET_DB_USER}')\\gexec\n\
             SELECT format('CREATE DATABASE %I OWNER %I', '{FLEET_DB_NAME}', '{FLEET_DB_USER}') \
             WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{FLEET_DB_NAME}')\\gexec\n"
        );
        let mut cmd = target.command("psql", &target.superuser, &target.superuser_password);
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]);
        let out = run(cmd, sql.as_bytes());
        if out.exit_code != 0 {
            return Err(std::io::Error::other(format!(
                "creating role {FLEET_DB_USER} and database {FLEET_DB_NAME} failed (exit {}): {}",
                out.exit_code,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        self.route_postgres_exec(
            FLEET_NAMESPACE,
            "fleet-postgres-0",
            target,
            vec![(FLEET_DB_USER.to_string(), password)],
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_from_the_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(
            user_of(&args(&["-U", "fleetadmin", "-d", "x"]), "postgres"),
            "fleetadmin"
        );
        assert_eq!(user_of(&args(&["-Ufleetadmin"]), "postgres"), "fleetadmin");
        assert_eq!(user_of(&args(&["--username=a"]), "postgres"), "a");
        assert_eq!(user_of(&args(&["-c", "select 1"]), "postgres"), "postgres");
    }

    #[test]
    fn debug_hides_the_password() {
        let t = PostgresTarget::new("127.0.0.1", 5432, "postgres", "s3cret", "/usr/bin");
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
