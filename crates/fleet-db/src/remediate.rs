//! [`Remediation`] for [`PgClient`]: look at the current state (the whole of a dry run), refuse
//! dangerous targets, then, when executing, audit the intent, act in one guarded statement that
//! re-checks the conditions on the server, and audit the outcome.
//!
//! SQL safety: values (pids, role names, application names, ages) are bound as parameters;
//! `ALTER ROLE` accepts no parameters, so there the role is quoted as an identifier and the
//! only values are integers formatted from typed durations and a SCRAM verifier made of
//! base64, digits, `$` and `:`.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::audit::Trail;
use crate::client::{Conn, PgClient};
use crate::error::Error;
use crate::options::whole_millis_up;
use crate::remediation::{
    Action, Backend, Outcome, Remediation, Request, RoleState, RoleTimeout, Skipped,
};
use crate::scram;
use crate::secret::Secret;
use crate::sql::quote_ident;

/// Looks a backend up (the plan).
const BACKEND_SQL: &str = "SELECT a.pid, a.usename::text, a.application_name, a.state, \
 a.backend_type, coalesce(r.rolsuper, false), a.pid = pg_backend_pid(), a.backend_start::text \
 FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid WHERE a.pid = $1";

/// Signals a backend only if it is still the same process (pid and start time), a client
/// session, not ours, and not a superuser's unless forced: check and signal in one statement,
/// so a pid reused between looking and acting is never hit.
fn signal_sql(function: &str) -> String {
    format!(
        "SELECT {function}(a.pid) FROM pg_stat_activity a \
 LEFT JOIN pg_roles r ON r.oid = a.usesysid \
 WHERE a.pid = $1 AND a.backend_start::text IS NOT DISTINCT FROM $2 \
 AND (a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datid IS NOT NULL)) \
 AND a.pid <> pg_backend_pid() AND (NOT coalesce(r.rolsuper, false) OR $3)"
    )
}

const ROLE_SQL: &str = "SELECT rolname::text, rolcanlogin, rolsuper, \
 coalesce(rolconfig, '{}'::text[]), rolname = current_user FROM pg_roles WHERE rolname = $1";

const IDLE_SQL: &str = "SELECT a.pid, a.usename::text, a.application_name, a.state, \
 coalesce(r.rolsuper, false), a.backend_start::text \
 FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid \
 WHERE a.application_name = $1 \
 AND a.state IN ('idle in transaction', 'idle in transaction (aborted)') \
 AND a.state_change < now() - make_interval(secs => $2) AND a.pid <> pg_backend_pid() \
 ORDER BY a.state_change";

/// Every condition of the plan re-checked in the statement that terminates.
const IDLE_TERMINATE_SQL: &str = "SELECT a.pid, pg_terminate_backend(a.pid) \
 FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid \
 JOIN unnest($1::int4[], $4::text[]) AS t(pid, started) \
 ON t.pid = a.pid AND a.backend_start::text IS NOT DISTINCT FROM t.started \
 WHERE a.application_name = $2 \
 AND a.state IN ('idle in transaction', 'idle in transaction (aborted)') \
 AND a.state_change < now() - make_interval(secs => $3) AND a.pid <> pg_backend_pid() \
 AND (NOT coalesce(r.rolsuper, false) OR $5)";

const ROLE_SESSIONS_SQL: &str = "SELECT a.pid, a.usename::text, a.application_name, a.state \
 FROM pg_stat_activity a WHERE a.usename = $1 AND a.pid <> pg_backend_pid() ORDER BY a.pid";

const ROLE_TERMINATE_SQL: &str = "SELECT a.pid, pg_terminate_backend(a.pid) \
 FROM pg_stat_activity a WHERE a.usename = $1 AND a.pid <> pg_backend_pid()";

/// The server's SCRAM iteration count (PostgreSQL 16+), else PostgreSQL's default.
const ITERATIONS_SQL: &str = "SELECT coalesce(current_setting('scram_iterations', true), '')";

/// Longest idle threshold accepted (a larger one is a mistake, and overflows `interval`).
const MAX_IDLE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Longest password accepted, in bytes.
const MAX_PASSWORD: usize = 1024;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn to_json(v: &impl serde::Serialize) -> Option<Value> {
    serde_json::to_value(v).ok()
}

fn check_role_name(role: &str) -> Result<(), Error> {
    if role.is_empty() || role.len() > 63 || role.contains('\0') {
        return Err(Error::InvalidInput {
            field: "role",
            reason: "a role name has 1 to 63 bytes and no NUL".into(),
        });
    }
    Ok(())
}

/// Intent, act, outcome. `act` returns its value and the state to record after.
async fn execute<T, F, Fut>(
    trail: &mut Trail,
    before: Option<Value>,
    planned: Option<Value>,
    act: F,
) -> Result<T, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(T, Option<Value>), Error>>,
{
    trail.intent(before.clone(), planned).await?;
    match act().await {
        Ok((value, after)) => {
            trail.succeeded(before, after).await?;
            Ok(value)
        }
        Err(e) => {
            trail.ended_without_change(&e).await;
            Err(e)
        }
    }
}

/// Records a refusal (when executing) and passes it on.
async fn refuse(trail: &mut Option<Trail>, err: Error) -> Error {
    if let Some(t) = trail.as_mut() {
        t.ended_without_change(&err).await;
    }
    err
}

impl PgClient {
    fn trail(&self, request: &Request, action: &Action) -> Result<Option<Trail>, Error> {
        Trail::start(self.audit_sink(), self.server(), request, action)
    }

    async fn role_state(
        &self,
        conn: &mut Conn<'_>,
        role: &str,
    ) -> Result<(RoleState, bool), Error> {
        let rows = conn
            .query(ROLE_SQL, &[&role], "looking up the role")
            .await?;
        let row = rows.first().ok_or_else(|| Error::NotFound {
            what: format!("role {role:?}"),
        })?;
        Ok((
            RoleState {
                role: row.get(0),
                can_login: row.get(1),
                superuser: row.get(2),
                settings: row.get(3),
            },
            row.get(4),
        ))
    }

    async fn signal_backend(
        &self,
        pid: i32,
        request: &Request,
        terminate: bool,
    ) -> Result<Outcome, Error> {
        let action = if terminate {
            Action::TerminateBackend { pid }
        } else {
            Action::CancelBackend { pid }
        };
        let mut trail = self.trail(request, &action)?;
        let verb = if terminate { "terminate" } else { "cancel" };
        let function = if terminate {
            "pg_terminate_backend"
        } else {
            "pg_cancel_backend"
        };
        let mut conn = self.conn(&format!("{verb} backend {pid}")).await?;
        let rows = conn
            .query(BACKEND_SQL, &[&pid], "looking up the backend")
            .await?;
        let row = rows.first().ok_or_else(|| Error::NotFound {
            what: format!("backend with pid {pid}"),
        })?;
        let backend_type: Option<String> = row.get(4);
        let superuser: bool = row.get(5);
        let own: bool = row.get(6);
        let started: Option<String> = row.get(7);
        let refusal = |reason: String| Error::Refused {
            action: format!("{verb} backend {pid}"),
            reason,
        };
        if own {
            let err = refusal("it is this tool's own connection".into());
            return Err(refuse(&mut trail, err).await);
        }
        if let Some(t) = backend_type.as_deref().filter(|t| *t != "client backend") {
            let err = refusal(format!("it is a {t} process, not a client session"));
            return Err(refuse(&mut trail, err).await);
        }
        if superuser && !request.forces_superuser() {
            let err = refusal("it belongs to a superuser (use force_superuser to override)".into());
            return Err(refuse(&mut trail, err).await);
        }
        let sql = signal_sql(function);
        let mut backend = Backend {
            pid,
            user: row.get(1),
            application: row.get(2),
            state: row.get(3),
            superuser,
            signalled: None,
        };
        let mut audit = Vec::new();
        if let Some(trail) = trail.as_mut() {
            let before = to_json(&backend);
            let planned = Some(json!({ "signal": function }));
            let force = request.forces_superuser();
            let statement = sql.clone();
            let signalled = execute(trail, before, planned, move || async move {
                let rows = conn
                    .query(
                        &statement,
                        &[&pid, &started, &force],
                        &format!("{verb}ing backend {pid}"),
                    )
                    .await?;
                match rows.first().map(|r| r.get::<_, bool>(0)) {
                    Some(true) => Ok((true, Some(json!({ "signalled": true })))),
                    Some(false) => Err(Error::NotFound {
                        what: format!("backend {pid}: the server did not signal it (gone)"),
                    }),
                    None => Err(Error::NotFound {
                        what: format!(
                            "backend {pid} as looked at: it ended or changed (another process, \
                             or no longer a plain client session) before it was signalled"
                        ),
                    }),
                }
            })
            .await?;
            backend.signalled = Some(signalled);
            audit = std::mem::take(&mut trail.written);
        }
        Ok(Outcome {
            action,
            dry_run: request.is_dry_run(),
            statements: vec![sql],
            backends: vec![backend],
            skipped: Vec::new(),
            before: None,
            after: None,
            audit,
        })
    }

    async fn alter_role(
        &self,
        role: &str,
        request: &Request,
        action: Action,
        clause: String,
        terminate_sessions: bool,
    ) -> Result<Outcome, Error> {
        let mut trail = self.trail(request, &action)?;
        check_role_name(role)?;
        let operation = format!("altering role {role:?}");
        let mut conn = self.conn(&operation).await?;
        let (before, is_current) = self.role_state(&mut conn, role).await?;
        let refusal = |reason: &str| Error::Refused {
            action: operation.clone(),
            reason: reason.to_owned(),
        };
        if terminate_sessions && is_current {
            let err =
                refusal("it is the role this client runs as; disabling it would lock the tool out");
            return Err(refuse(&mut trail, err).await);
        }
        if terminate_sessions && before.superuser && !request.forces_superuser() {
            let err = refusal("it is a superuser role (use force_superuser to override)");
            return Err(refuse(&mut trail, err).await);
        }
        let alter = format!("ALTER ROLE {} {clause}", quote_ident(role));
        let mut statements = vec![alter.clone()];
        let mut backends = Vec::new();
        if terminate_sessions {
            statements.push(ROLE_TERMINATE_SQL.to_owned());
            let rows = conn
                .query(ROLE_SESSIONS_SQL, &[&role], "listing the role's sessions")
                .await?;
            backends = rows
                .iter()
                .map(|r| Backend {
                    pid: r.get(0),
                    user: r.get(1),
                    application: r.get(2),
                    state: r.get(3),
                    superuser: before.superuser,
                    signalled: None,
                })
                .collect();
        }
        let Some(trail) = trail.as_mut() else {
            return Ok(Outcome {
                action,
                dry_run: true,
                statements,
                backends,
                skipped: Vec::new(),
                before: Some(before.clone()),
                after: Some(before),
                audit: Vec::new(),
            });
        };
        let planned = Some(json!({ "statements": statements }));
        let superuser = before.superuser;
        let (after, backends) = execute(trail, to_json(&before), planned, move || async move {
            conn.batch(&alter, &operation).await?;
            if terminate_sessions {
                let rows = conn
                    .query(
                        ROLE_TERMINATE_SQL,
                        &[&role],
                        "terminating the role's sessions",
                    )
                    .await?;
                let signalled: Vec<(i32, bool)> =
                    rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                for b in &mut backends {
                    b.signalled = Some(signalled.iter().any(|(p, ok)| *p == b.pid && *ok));
                }
                // Sessions that appeared between listing and terminating.
                for (pid, ok) in signalled {
                    if !backends.iter().any(|b| b.pid == pid) {
                        backends.push(Backend {
                            pid,
                            user: Some(role.to_owned()),
                            application: None,
                            state: None,
                            superuser,
                            signalled: Some(ok),
                        });
                    }
                }
            }
            let (after, _) = self.role_state(&mut conn, role).await?;
            let recorded = json!({
                "role": after,
                "terminated": backends.iter().filter(|b| b.signalled == Some(true)).map(|b| b.pid).collect::<Vec<_>>(),
            });
            Ok(((after, backends), Some(recorded)))
        })
        .await?;
        Ok(Outcome {
            action,
            dry_run: false,
            statements,
            backends,
            skipped: Vec::new(),
            before: Some(before),
            after: Some(after),
            audit: std::mem::take(&mut trail.written),
        })
    }
}

#[async_trait]
impl Remediation for PgClient {
    #[tracing::instrument(skip_all, fields(server = %self.server(), pid = pid))]
    async fn cancel_backend(&self, pid: i32, request: &Request) -> Result<Outcome, Error> {
        self.signal_backend(pid, request, false).await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server(), pid = pid))]
    async fn terminate_backend(&self, pid: i32, request: &Request) -> Result<Outcome, Error> {
        self.signal_backend(pid, request, true).await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server(), application = %application))]
    async fn terminate_idle_in_transaction(
        &self,
        application: &str,
        idle_longer_than: Duration,
        request: &Request,
    ) -> Result<Outcome, Error> {
        let action = Action::TerminateIdleInTransaction {
            application: application.to_owned(),
            idle_longer_than_ms: millis(idle_longer_than),
        };
        let mut trail = self.trail(request, &action)?;
        if idle_longer_than > MAX_IDLE {
            return Err(Error::InvalidInput {
                field: "idle_longer_than",
                reason: format!("must be at most {MAX_IDLE:?}"),
            });
        }
        let secs = idle_longer_than.as_secs_f64();
        let mut conn = self
            .conn("terminating idle-in-transaction sessions")
            .await?;
        let rows = conn
            .query(
                IDLE_SQL,
                &[&application, &secs],
                "listing idle-in-transaction sessions",
            )
            .await?;
        let mut backends = Vec::new();
        let mut starts: Vec<Option<String>> = Vec::new();
        let mut skipped = Vec::new();
        for r in &rows {
            let b = Backend {
                pid: r.get(0),
                user: r.get(1),
                application: r.get(2),
                state: r.get(3),
                superuser: r.get(4),
                signalled: None,
            };
            if b.superuser && !request.forces_superuser() {
                skipped.push(Skipped {
                    pid: b.pid,
                    reason: "superuser session (use force_superuser to include)".into(),
                });
            } else {
                starts.push(r.get(5));
                backends.push(b);
            }
        }
        let statements = vec![IDLE_TERMINATE_SQL.to_owned()];
        let Some(trail) = trail.as_mut() else {
            return Ok(Outcome {
                action,
                dry_run: true,
                statements,
                backends,
                skipped,
                before: None,
                after: None,
                audit: Vec::new(),
            });
        };
        if backends.is_empty() {
            // Nothing to change: no intent, but the call is on the trail.
            trail
                .ended_without_change(&Error::NotFound {
                    what: format!(
                        "sessions of {application:?} idle in a transaction for longer than \
                         {idle_longer_than:?}"
                    ),
                })
                .await;
            return Ok(Outcome {
                action,
                dry_run: false,
                statements,
                backends,
                skipped,
                before: None,
                after: None,
                audit: std::mem::take(&mut trail.written),
            });
        }
        let pids: Vec<i32> = backends.iter().map(|b| b.pid).collect();
        let force = request.forces_superuser();
        let planned = Some(json!({ "terminate": pids }));
        let before = to_json(&backends);
        let (backends, skipped) = execute(trail, before, planned, move || async move {
            let rows = conn
                .query(
                    IDLE_TERMINATE_SQL,
                    &[&pids, &application, &secs, &starts, &force],
                    "terminating idle-in-transaction sessions",
                )
                .await?;
            let signalled: Vec<(i32, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            for b in &mut backends {
                b.signalled = Some(signalled.iter().any(|(p, ok)| *p == b.pid && *ok));
            }
            for b in backends.iter().filter(|b| b.signalled == Some(false)) {
                skipped.push(Skipped {
                    pid: b.pid,
                    reason: "no longer idle in a transaction (or gone, or another process) at \
                             execution"
                        .into(),
                });
            }
            backends.retain(|b| b.signalled == Some(true));
            let done: Vec<i32> = backends.iter().map(|b| b.pid).collect();
            Ok(((backends, skipped), Some(json!({ "terminated": done }))))
        })
        .await?;
        Ok(Outcome {
            action,
            dry_run: false,
            statements,
            backends,
            skipped,
            before: None,
            after: None,
            audit: std::mem::take(&mut trail.written),
        })
    }

    #[tracing::instrument(skip_all, fields(server = %self.server(), role = %role))]
    async fn disable_role(&self, role: &str, request: &Request) -> Result<Outcome, Error> {
        let action = Action::DisableRole {
            role: role.to_owned(),
        };
        self.alter_role(role, request, action, "NOLOGIN".into(), true)
            .await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server(), role = %role))]
    async fn enable_role(&self, role: &str, request: &Request) -> Result<Outcome, Error> {
        let action = Action::EnableRole {
            role: role.to_owned(),
        };
        self.alter_role(role, request, action, "LOGIN".into(), false)
            .await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server(), role = %role, setting = setting.setting()))]
    async fn set_role_timeout(
        &self,
        role: &str,
        setting: RoleTimeout,
        value: Duration,
        request: &Request,
    ) -> Result<Outcome, Error> {
        // Zero disables; anything else is whole milliseconds rounded up (never 0 by accident).
        let value_ms = if value.is_zero() {
            0
        } else {
            whole_millis_up(value)
        };
        let action = Action::SetRoleTimeout {
            role: role.to_owned(),
            setting,
            value_ms,
        };
        if value_ms > i32::MAX as u64 {
            self.trail(request, &action)?;
            return Err(Error::InvalidInput {
                field: "value",
                reason: format!("{value:?} exceeds the server's maximum of {} ms", i32::MAX),
            });
        }
        // The value is an integer formatted here; the server reads a bare integer as ms.
        let clause = format!("SET {} = {value_ms}", setting.setting());
        self.alter_role(role, request, action, clause, false).await
    }

    #[tracing::instrument(skip_all, fields(server = %self.server(), role = %role))]
    async fn change_password(
        &self,
        role: &str,
        new_password: &Secret,
        request: &Request,
    ) -> Result<Outcome, Error> {
        let action = Action::ChangePassword {
            role: role.to_owned(),
        };
        let mut trail = self.trail(request, &action)?;
        check_role_name(role)?;
        if new_password.is_empty()
            || new_password.len() > MAX_PASSWORD
            || new_password.expose().contains('\0')
        {
            return Err(Error::InvalidInput {
                field: "new_password",
                reason: format!("must be 1 to {MAX_PASSWORD} bytes without NUL"),
            });
        }
        let operation = format!("changing the password of role {role:?}");
        let mut conn = self.conn(&operation).await?;
        let (before, _) = self.role_state(&mut conn, role).await?;
        if before.superuser && !request.forces_superuser() {
            let err = Error::Refused {
                action: operation.clone(),
                reason: "it is a superuser role (use force_superuser to override)".into(),
            };
            return Err(refuse(&mut trail, err).await);
        }
        let iterations = conn
            .query(ITERATIONS_SQL, &[], "reading scram_iterations")
            .await?
            .first()
            .and_then(|r| r.get::<_, String>(0).parse::<u32>().ok())
            .unwrap_or(scram::DEFAULT_ITERATIONS);
        let shown = format!(
            "ALTER ROLE {} PASSWORD '<SCRAM-SHA-256 verifier, {iterations} iterations>'",
            quote_ident(role)
        );
        let statements = vec![shown];
        let Some(trail) = trail.as_mut() else {
            return Ok(Outcome {
                action,
                dry_run: true,
                statements,
                backends: Vec::new(),
                skipped: Vec::new(),
                before: Some(before.clone()),
                after: Some(before),
                audit: Vec::new(),
            });
        };
        let password = new_password.clone();
        let verifier = tokio::task::spawn_blocking(move || scram::verifier(&password, iterations))
            .await
            .map_err(|e| Error::InvalidInput {
                field: "new_password",
                reason: format!("computing the verifier failed: {e}"),
            })??;
        if !verifier.starts_with("SCRAM-SHA-256$") || verifier.contains('\'') {
            return Err(Error::Decode {
                operation,
                reason: "the computed verifier has an unexpected shape".into(),
            });
        }
        let alter = format!("ALTER ROLE {} PASSWORD '{verifier}'", quote_ident(role));
        let planned = Some(json!({
            "password": format!("replaced by a SCRAM-SHA-256 verifier ({iterations} iterations)"),
        }));
        let after = execute(trail, to_json(&before), planned, move || async move {
            conn.batch(&alter, &operation).await?;
            let (after, _) = self.role_state(&mut conn, role).await?;
            let recorded = to_json(&after);
            Ok((after, recorded))
        })
        .await?;
        Ok(Outcome {
            action,
            dry_run: false,
            statements,
            backends: Vec::new(),
            skipped: Vec::new(),
            before: Some(before),
            after: Some(after),
            audit: std::mem::take(&mut trail.written),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_checked() {
        assert!(check_role_name("").is_err());
        assert!(check_role_name(&"x".repeat(64)).is_err());
        assert!(
            check_role_name("app\"; DROP").is_ok(),
            "quoted, so harmless"
        );
    }

    #[test]
    fn the_signal_is_guarded_in_the_same_statement() {
        let sql = signal_sql("pg_terminate_backend");
        for guard in [
            "a.pid = $1",
            "a.backend_start::text IS NOT DISTINCT FROM $2",
            "a.pid <> pg_backend_pid()",
            "NOT coalesce(r.rolsuper, false) OR $3",
            "'client backend'",
        ] {
            assert!(sql.contains(guard), "{guard}");
        }
    }
}
