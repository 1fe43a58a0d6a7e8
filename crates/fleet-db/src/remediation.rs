//! The mutating [`Remediation`] trait and its guard rails: a dry run for everything, an
//! explicit reason, refusals for dangerous targets, and an audit record for every call.
//!
//! SQL safety: values (pids, role names, application names, ages) are bound as parameters;
//! `ALTER ROLE` accepts no parameters, so there the role is quoted as an identifier and the only
//! value is an integer number of milliseconds formatted from a typed `Duration`.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::pg::{Conn, PgDiagnostics};
use crate::sql::quote_ident;

/// Plan only, or act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Report what would happen; change nothing.
    DryRun,
    /// Do it.
    Execute,
}

/// Who asks, why, and how: required by every remediation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    actor: String,
    reason: String,
    mode: Mode,
    force_superuser: bool,
}

impl Request {
    fn new(actor: &str, reason: &str, mode: Mode) -> Result<Self, Error> {
        if actor.trim().is_empty() {
            return Err(Error::InvalidInput {
                field: "actor",
                reason: "say who is acting".into(),
            });
        }
        if reason.trim().is_empty() {
            return Err(Error::InvalidInput {
                field: "reason",
                reason: "a remediation needs an explicit reason".into(),
            });
        }
        Ok(Self {
            actor: actor.trim().to_owned(),
            reason: reason.trim().to_owned(),
            mode,
            force_superuser: false,
        })
    }

    /// A dry run: report the plan, change nothing.
    pub fn dry_run(actor: &str, reason: &str) -> Result<Self, Error> {
        Self::new(actor, reason, Mode::DryRun)
    }

    /// Act for real.
    pub fn execute(actor: &str, reason: &str) -> Result<Self, Error> {
        Self::new(actor, reason, Mode::Execute)
    }

    /// Allow acting on superuser sessions and roles (refused otherwise).
    pub fn force_superuser(mut self) -> Self {
        self.force_superuser = true;
        self
    }

    /// Who acts.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Dry run or execute.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn is_dry_run(&self) -> bool {
        self.mode == Mode::DryRun
    }
}

/// A role setting [`Remediation::set_role_timeout`] can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleTimeout {
    /// `statement_timeout`.
    StatementTimeout,
    /// `idle_in_transaction_session_timeout`.
    IdleInTransactionSessionTimeout,
}

impl RoleTimeout {
    /// The setting's name.
    pub fn setting(self) -> &'static str {
        match self {
            RoleTimeout::StatementTimeout => "statement_timeout",
            RoleTimeout::IdleInTransactionSessionTimeout => "idle_in_transaction_session_timeout",
        }
    }
}

/// What was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
#[non_exhaustive]
pub enum Action {
    /// `pg_cancel_backend`.
    CancelBackend {
        /// Target.
        pid: i32,
    },
    /// `pg_terminate_backend`.
    TerminateBackend {
        /// Target.
        pid: i32,
    },
    /// Terminate an application's idle-in-transaction sessions.
    TerminateIdleInTransaction {
        /// `application_name`.
        application: String,
        /// Minimum idle time, in milliseconds.
        idle_longer_than_ms: u64,
    },
    /// `ALTER ROLE ... NOLOGIN` and terminate its sessions.
    DisableRole {
        /// Role.
        role: String,
    },
    /// `ALTER ROLE ... LOGIN`.
    EnableRole {
        /// Role.
        role: String,
    },
    /// `ALTER ROLE ... SET <setting> = <ms>`.
    SetRoleTimeout {
        /// Role.
        role: String,
        /// Setting.
        setting: RoleTimeout,
        /// New value in milliseconds (0 disables).
        value_ms: u64,
    },
}

/// A backend acted on (or that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Backend {
    /// Process id.
    pub pid: i32,
    /// Role.
    pub user: Option<String>,
    /// `application_name`.
    pub application: Option<String>,
    /// State when looked at.
    pub state: Option<String>,
    /// The role is a superuser.
    pub superuser: bool,
    /// The server accepted the signal (`None` in a dry run).
    pub signalled: Option<bool>,
}

/// A backend left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Skipped {
    /// Process id.
    pub pid: i32,
    /// Why.
    pub reason: String,
}

/// A role's state before or after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleState {
    /// Name.
    pub role: String,
    /// `rolcanlogin`.
    pub can_login: bool,
    /// `rolsuper`.
    pub superuser: bool,
    /// Per-role settings (`rolconfig`), e.g. `statement_timeout=5000`.
    pub settings: Vec<String>,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// What.
    pub action: Action,
    /// Plan only.
    pub dry_run: bool,
    /// `planned`, `done`, `refused: ...` or `failed: ...`.
    pub result: String,
    /// Backends acted on.
    pub pids: Vec<i32>,
    /// Role before.
    pub before: Option<RoleState>,
    /// Role after.
    pub after: Option<RoleState>,
}

/// What a remediation did or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Outcome {
    /// What was asked.
    pub action: Action,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The statements that ran (or would run); `$n` are bound parameters.
    pub statements: Vec<String>,
    /// Backends acted on (or that would be).
    pub backends: Vec<Backend>,
    /// Backends left alone.
    pub skipped: Vec<Skipped>,
    /// Role before.
    pub before: Option<RoleState>,
    /// Role after (equals `before` in a dry run).
    pub after: Option<RoleState>,
    /// The audit record that was written.
    pub audit: AuditRecord,
}

/// Guarded changes to a PostgreSQL server. Every method takes a [`Request`] (actor, reason,
/// dry run or execute), refuses dangerous targets with [`Error::Refused`], and writes an
/// audit record whatever the result.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Remediation: Send + Sync {
    /// Cancels the running query of `pid`. Refuses our own backend, non-client processes,
    /// and superuser sessions unless forced.
    async fn cancel_backend(&self, pid: i32, request: &Request) -> Result<Outcome, Error>;

    /// Terminates `pid`'s session. Same refusals as [`cancel_backend`](Self::cancel_backend).
    async fn terminate_backend(&self, pid: i32, request: &Request) -> Result<Outcome, Error>;

    /// Terminates the sessions of `application` idle in a transaction for longer than
    /// `idle_longer_than` (conditions re-checked at execution; superuser sessions skipped
    /// unless forced).
    async fn terminate_idle_in_transaction(
        &self,
        application: &str,
        idle_longer_than: Duration,
        request: &Request,
    ) -> Result<Outcome, Error>;

    /// `ALTER ROLE ... NOLOGIN`, then terminates the role's sessions (the security runbook's
    /// "disable compromised accounts"). Refuses the diagnostics role itself, and superusers
    /// unless forced.
    async fn disable_role(&self, role: &str, request: &Request) -> Result<Outcome, Error>;

    /// `ALTER ROLE ... LOGIN`.
    async fn enable_role(&self, role: &str, request: &Request) -> Result<Outcome, Error>;

    /// `ALTER ROLE ... SET statement_timeout | idle_in_transaction_session_timeout`; applies to
    /// the role's new sessions. Zero disables the timeout.
    async fn set_role_timeout(
        &self,
        role: &str,
        setting: RoleTimeout,
        value: Duration,
        request: &Request,
    ) -> Result<Outcome, Error>;
}

const BACKEND_SQL: &str = "SELECT a.pid, a.usename::text, a.application_name, a.state, \
 a.backend_type, coalesce(r.rolsuper, false), a.pid = pg_backend_pid() \
 FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid WHERE a.pid = $1";

const ROLE_SQL: &str = "SELECT rolname::text, rolcanlogin, rolsuper, \
 coalesce(rolconfig, '{}'::text[]), rolname = current_user FROM pg_roles WHERE rolname = $1";

const IDLE_SQL: &str = "SELECT a.pid, a.usename::text, a.application_name, a.state, \
 coalesce(r.rolsuper, false) FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid \
 WHERE a.application_name = $1 \
 AND a.state IN ('idle in transaction', 'idle in transaction (aborted)') \
 AND a.state_change < now() - make_interval(secs => $2) AND a.pid <> pg_backend_pid() \
 ORDER BY a.state_change";

const IDLE_TERMINATE_SQL: &str = "SELECT a.pid, pg_terminate_backend(a.pid) \
 FROM pg_stat_activity a WHERE a.pid = ANY($1) AND a.application_name = $2 \
 AND a.state IN ('idle in transaction', 'idle in transaction (aborted)') \
 AND a.state_change < now() - make_interval(secs => $3)";

const ROLE_SESSIONS_SQL: &str = "SELECT a.pid, a.usename::text, a.application_name, a.state \
 FROM pg_stat_activity a WHERE a.usename = $1 AND a.pid <> pg_backend_pid() ORDER BY a.pid";

const ROLE_TERMINATE_SQL: &str = "SELECT a.pid, pg_terminate_backend(a.pid) \
 FROM pg_stat_activity a WHERE a.usename = $1 AND a.pid <> pg_backend_pid()";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl PgDiagnostics {
    fn record(
        &self,
        request: &Request,
        action: &Action,
        result: String,
        pids: Vec<i32>,
        before: Option<RoleState>,
        after: Option<RoleState>,
    ) -> AuditRecord {
        let record = AuditRecord {
            at: Timestamp::now(),
            actor: request.actor.clone(),
            reason: request.reason.clone(),
            action: action.clone(),
            dry_run: request.is_dry_run(),
            result,
            pids,
            before,
            after,
        };
        self.audit(&record);
        record
    }

    /// Writes the audit record for a failure and passes the error on.
    fn fail(&self, request: &Request, action: &Action, err: Error) -> Error {
        let result = match &err {
            Error::Refused { reason, .. } => format!("refused: {reason}"),
            other => format!("failed: {other}"),
        };
        self.record(request, action, result, Vec::new(), None, None);
        err
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
        let verb = if terminate { "terminate" } else { "cancel" };
        let function = if terminate {
            "pg_terminate_backend"
        } else {
            "pg_cancel_backend"
        };
        let run = async {
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
            let refuse = |reason: String| Error::Refused {
                action: format!("{verb} backend {pid}"),
                reason,
            };
            if own {
                return Err(refuse("it is this tool's own connection".into()));
            }
            if let Some(t) = backend_type.as_deref().filter(|t| *t != "client backend") {
                return Err(refuse(format!("it is a {t} process, not a client session")));
            }
            if superuser && !request.force_superuser {
                return Err(refuse(
                    "it belongs to a superuser (use force_superuser to override)".into(),
                ));
            }
            let sql = format!("SELECT {function}($1)");
            let mut backend = Backend {
                pid,
                user: row.get(1),
                application: row.get(2),
                state: row.get(3),
                superuser,
                signalled: None,
            };
            if !request.is_dry_run() {
                let rows = conn
                    .query(&sql, &[&pid], &format!("{verb}ing backend {pid}"))
                    .await?;
                backend.signalled = rows.first().map(|r| r.get::<_, bool>(0));
            }
            Ok((sql, backend))
        };
        match run.await {
            Ok((sql, backend)) => {
                let result = match backend.signalled {
                    None => "planned".to_owned(),
                    Some(true) => "done".to_owned(),
                    Some(false) => "failed: the server did not signal the backend".to_owned(),
                };
                let audit = self.record(request, &action, result, vec![pid], None, None);
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
            Err(e) => Err(self.fail(request, &action, e)),
        }
    }

    async fn alter_role(
        &self,
        role: &str,
        request: &Request,
        action: Action,
        clause: String,
        terminate_sessions: bool,
    ) -> Result<Outcome, Error> {
        let run = async {
            let operation = format!("altering role {role:?}");
            let mut conn = self.conn(&operation).await?;
            let (before, is_current) = self.role_state(&mut conn, role).await?;
            let refuse = |reason: &str| Error::Refused {
                action: operation.clone(),
                reason: reason.to_owned(),
            };
            if terminate_sessions && is_current {
                return Err(refuse(
                    "it is the role these diagnostics run as; disabling it would lock the tool out",
                ));
            }
            if terminate_sessions && before.superuser && !request.force_superuser {
                return Err(refuse(
                    "it is a superuser role (use force_superuser to override)",
                ));
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
            if request.is_dry_run() {
                return Ok((statements, backends, before.clone(), before));
            }
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
                            superuser: before.superuser,
                            signalled: Some(ok),
                        });
                    }
                }
            }
            let (after, _) = self.role_state(&mut conn, role).await?;
            Ok((statements, backends, before, after))
        };
        match run.await {
            Ok((statements, backends, before, after)) => {
                let result = if request.is_dry_run() {
                    "planned"
                } else {
                    "done"
                };
                let audit = self.record(
                    request,
                    &action,
                    result.into(),
                    backends.iter().map(|b| b.pid).collect(),
                    Some(before.clone()),
                    Some(after.clone()),
                );
                Ok(Outcome {
                    action,
                    dry_run: request.is_dry_run(),
                    statements,
                    backends,
                    skipped: Vec::new(),
                    before: Some(before),
                    after: Some(after),
                    audit,
                })
            }
            Err(e) => Err(self.fail(request, &action, e)),
        }
    }
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

#[async_trait]
impl Remediation for PgDiagnostics {
    async fn cancel_backend(&self, pid: i32, request: &Request) -> Result<Outcome, Error> {
        self.signal_backend(pid, request, false).await
    }

    async fn terminate_backend(&self, pid: i32, request: &Request) -> Result<Outcome, Error> {
        self.signal_backend(pid, request, true).await
    }

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
        let secs = idle_longer_than.as_secs_f64();
        let run = async {
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
                if b.superuser && !request.force_superuser {
                    skipped.push(Skipped {
                        pid: b.pid,
                        reason: "superuser session (use force_superuser to include)".into(),
                    });
                } else {
                    backends.push(b);
                }
            }
            if !request.is_dry_run() && !backends.is_empty() {
                let pids: Vec<i32> = backends.iter().map(|b| b.pid).collect();
                let rows = conn
                    .query(
                        IDLE_TERMINATE_SQL,
                        &[&pids, &application, &secs],
                        "terminating idle-in-transaction sessions",
                    )
                    .await?;
                let signalled: Vec<(i32, bool)> =
                    rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                for b in &mut backends {
                    b.signalled = Some(signalled.iter().any(|(p, ok)| *p == b.pid && *ok));
                }
                for b in backends.iter().filter(|b| b.signalled == Some(false)) {
                    skipped.push(Skipped {
                        pid: b.pid,
                        reason: "no longer idle in a transaction (or gone) at execution".into(),
                    });
                }
                backends.retain(|b| b.signalled == Some(true));
            }
            Ok::<_, Error>((backends, skipped))
        };
        match run.await {
            Ok((backends, skipped)) => {
                let result = if request.is_dry_run() {
                    "planned"
                } else {
                    "done"
                };
                let audit = self.record(
                    request,
                    &action,
                    result.into(),
                    backends.iter().map(|b| b.pid).collect(),
                    None,
                    None,
                );
                Ok(Outcome {
                    action,
                    dry_run: request.is_dry_run(),
                    statements: vec![IDLE_TERMINATE_SQL.to_owned()],
                    backends,
                    skipped,
                    before: None,
                    after: None,
                    audit,
                })
            }
            Err(e) => Err(self.fail(request, &action, e)),
        }
    }

    async fn disable_role(&self, role: &str, request: &Request) -> Result<Outcome, Error> {
        let action = Action::DisableRole {
            role: role.to_owned(),
        };
        check_role_name(role).map_err(|e| self.fail(request, &action, e))?;
        self.alter_role(role, request, action, "NOLOGIN".into(), true)
            .await
    }

    async fn enable_role(&self, role: &str, request: &Request) -> Result<Outcome, Error> {
        let action = Action::EnableRole {
            role: role.to_owned(),
        };
        check_role_name(role).map_err(|e| self.fail(request, &action, e))?;
        self.alter_role(role, request, action, "LOGIN".into(), false)
            .await
    }

    async fn set_role_timeout(
        &self,
        role: &str,
        setting: RoleTimeout,
        value: Duration,
        request: &Request,
    ) -> Result<Outcome, Error> {
        let value_ms = millis(value);
        let action = Action::SetRoleTimeout {
            role: role.to_owned(),
            setting,
            value_ms,
        };
        check_role_name(role).map_err(|e| self.fail(request, &action, e))?;
        if value_ms > i32::MAX as u64 {
            return Err(self.fail(
                request,
                &action,
                Error::InvalidInput {
                    field: "value",
                    reason: format!("{value:?} exceeds the server's maximum of {} ms", i32::MAX),
                },
            ));
        }
        // The value is an integer formatted here; the server reads a bare integer as ms.
        let clause = format!("SET {} = {value_ms}", setting.setting());
        self.alter_role(role, request, action, clause, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_need_actor_and_reason() {
        assert!(Request::dry_run("", "why").is_err());
        assert!(Request::execute("oncall", "  ").is_err());
        let r = Request::execute("oncall", "leak in billing")
            .expect("valid")
            .force_superuser();
        assert_eq!(r.mode(), Mode::Execute);
        assert!(r.force_superuser);
    }

    #[test]
    fn role_names_are_checked() {
        assert!(check_role_name("").is_err());
        assert!(check_role_name(&"x".repeat(64)).is_err());
        assert!(
            check_role_name("app\"; DROP").is_ok(),
            "quoted, so harmless"
        );
    }
}
