//! The mutating [`Remediation`] trait and its vocabulary: the [`Request`] every call takes (who,
//! why, dry run or execute: its per-call safety options), the [`Action`]s, and the [`Outcome`]
//! they report. The implementation is in `remediate.rs`.

use std::time::Duration;

use async_trait::async_trait;
use fleet_guard::{AuditRecord, ConfirmRequest, ConfirmWord, Mode};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::secret::Secret;

/// Longest actor or reason accepted, in bytes.
const MAX_TEXT: usize = 1000;

/// Who asks, why, and how: the per-call safety options every remediation takes.
///
/// Built with [`dry_run`](Self::dry_run) or [`execute`](Self::execute), which check that the
/// actor and reason are given. Deserializing runs the same checks, and refuses
/// `force_superuser: true`: overriding the superuser guard is a decision made in code
/// ([`force_superuser`](Self::force_superuser)), never by a request read from a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RequestFields")]
pub struct Request {
    actor: String,
    reason: String,
    mode: Mode,
    force_superuser: bool,
}

/// The serialized form, checked by `TryFrom` before it becomes a [`Request`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFields {
    actor: String,
    reason: String,
    mode: Mode,
    #[serde(default)]
    force_superuser: bool,
}

impl TryFrom<RequestFields> for Request {
    type Error = Error;

    fn try_from(f: RequestFields) -> Result<Self, Error> {
        if f.force_superuser {
            return Err(Error::InvalidInput {
                field: "force_superuser",
                reason: "cannot be set from serialized input; call Request::force_superuser in \
                         code"
                    .into(),
            });
        }
        Request::new(&f.actor, &f.reason, f.mode)
    }
}

fn check_text(field: &'static str, value: &str, missing: &str) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::InvalidInput {
            field,
            reason: missing.into(),
        });
    }
    if value.len() > MAX_TEXT {
        return Err(Error::InvalidInput {
            field,
            reason: format!("at most {MAX_TEXT} bytes"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidInput {
            field,
            reason: "must not contain control characters (it goes into one audit line)".into(),
        });
    }
    Ok(value.to_owned())
}

impl Request {
    fn new(actor: &str, reason: &str, mode: Mode) -> Result<Self, Error> {
        Ok(Self {
            actor: check_text("actor", actor, "say who is acting")?,
            reason: check_text("reason", reason, "a remediation needs an explicit reason")?,
            mode,
            force_superuser: false,
        })
    }

    /// A dry run: look at the current state, report the plan, change nothing.
    pub fn dry_run(actor: &str, reason: &str) -> Result<Self, Error> {
        Self::new(actor, reason, Mode::DryRun)
    }

    /// Act for real (needs an audit sink in the client's options).
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

    /// Whether superuser targets are allowed.
    pub fn forces_superuser(&self) -> bool {
        self.force_superuser
    }

    /// Whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
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
    /// `ALTER ROLE ... PASSWORD '<SCRAM-SHA-256 verifier>'` (the password itself is never
    /// sent, logged or recorded).
    ChangePassword {
        /// Role.
        role: String,
    },
}

impl Action {
    /// The audit step name (`terminate-backend`, `disable-role`...).
    pub fn step(&self) -> &'static str {
        match self {
            Action::CancelBackend { .. } => "cancel-backend",
            Action::TerminateBackend { .. } => "terminate-backend",
            Action::TerminateIdleInTransaction { .. } => "terminate-idle-in-transaction",
            Action::DisableRole { .. } => "disable-role",
            Action::EnableRole { .. } => "enable-role",
            Action::SetRoleTimeout { .. } => "set-role-timeout",
            Action::ChangePassword { .. } => "change-password",
        }
    }

    /// What it acts on (`backend 1234`, `role "app"`, `idle-in-transaction sessions of
    /// "billing"`).
    pub fn object(&self) -> String {
        match self {
            Action::CancelBackend { pid } | Action::TerminateBackend { pid } => {
                format!("backend {pid}")
            }
            Action::TerminateIdleInTransaction { application, .. } => {
                format!("idle-in-transaction sessions of {application:?}")
            }
            Action::DisableRole { role }
            | Action::EnableRole { role }
            | Action::SetRoleTimeout { role, .. }
            | Action::ChangePassword { role } => format!("role {role:?}"),
        }
    }

    /// The word a person types to confirm it, for the destructive ones (ending sessions,
    /// locking a role out, replacing a password); `None` for the rest.
    pub fn confirm_word(&self) -> Option<ConfirmWord> {
        let word = match self {
            Action::CancelBackend { .. }
            | Action::EnableRole { .. }
            | Action::SetRoleTimeout { .. } => return None,
            Action::TerminateBackend { .. } | Action::TerminateIdleInTransaction { .. } => {
                "TERMINATE"
            }
            Action::DisableRole { .. } => "DISABLE",
            Action::ChangePassword { .. } => "ROTATE",
        };
        ConfirmWord::new(word).ok()
    }
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

/// What a remediation did or would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The audit records written for it: the intent and the outcome when executed, none in a
    /// dry run.
    pub audit: Vec<AuditRecord>,
}

impl Outcome {
    /// For a planned destructive action, what a person (or a token) must confirm before it is
    /// executed, for [`fleet_guard::Confirm`]; `None` when the action needs no confirmation.
    pub fn confirm_request(&self) -> Option<ConfirmRequest> {
        let word = self.action.confirm_word()?;
        let what = match self.backends.len() {
            0 if matches!(
                self.action,
                Action::TerminateBackend { .. } | Action::TerminateIdleInTransaction { .. }
            ) =>
            {
                "no session matches now".to_owned()
            }
            0 => String::new(),
            n => format!("; ends {n} session(s)"),
        };
        Some(ConfirmRequest {
            procedure: "fleet-db".into(),
            step: self.action.step().into(),
            summary: format!("{} {}{what}", self.action.step(), self.action.object()),
            word,
        })
    }
}

/// Guarded changes to a PostgreSQL server. Every method takes a [`Request`] (actor, reason,
/// dry run or execute) and refuses dangerous targets with [`Error::Refused`]. A dry run reads
/// the current state and reports the plan. Executing needs an audit sink
/// ([`Error::AuditNotConfigured`] otherwise): an intent record is written before acting (if it
/// cannot be, nothing is done) and the outcome after.
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

    /// `ALTER ROLE ... NOLOGIN`, then terminates the role's sessions, as one guarded and
    /// audited action (the security runbook's "disable compromised accounts"). Refuses the
    /// client's own role, and superusers unless forced.
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

    /// Sets `role`'s password without sending it: the SCRAM-SHA-256 verifier is computed here
    /// (with the server's `scram_iterations` on PostgreSQL 16+, else 4096) and sent as
    /// `ALTER ROLE ... PASSWORD '<verifier>'`, so neither `pg_stat_activity`, the server log
    /// nor the audit trail sees the password. Existing sessions stay; new logins need the new
    /// password. Refuses superuser roles unless forced.
    async fn change_password(
        &self,
        role: &str,
        new_password: &Secret,
        request: &Request,
    ) -> Result<Outcome, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_need_actor_and_reason() {
        assert!(Request::dry_run("", "why").is_err());
        assert!(Request::execute("oncall", "  ").is_err());
        assert!(Request::execute("oncall", "a\nforged line").is_err());
        let r = Request::execute("oncall", "leak in billing")
            .expect("valid")
            .force_superuser();
        assert_eq!(r.mode(), Mode::Execute);
        assert!(r.forces_superuser());
    }

    #[test]
    fn deserializing_runs_the_same_checks() {
        let ok: Request =
            serde_json::from_str(r#"{"actor":" oncall ","reason":"INC-1","mode":"execute"}"#)
                .expect("valid");
        assert_eq!((ok.actor(), ok.mode()), ("oncall", Mode::Execute));
        for bad in [
            r#"{"actor":"","reason":"INC-1","mode":"execute"}"#,
            r#"{"actor":"oncall","reason":" ","mode":"execute"}"#,
            r#"{"actor":"oncall","mode":"execute"}"#,
            r#"{"actor":"oncall","reason":"x","mode":"execute","force_superuser":true}"#,
            r#"{"actor":"oncall","reason":"x","mode":"execute","extra":1}"#,
        ] {
            let err = serde_json::from_str::<Request>(bad).expect_err(bad);
            assert!(!err.to_string().is_empty());
        }
        // A plain request round-trips.
        let r = Request::dry_run("oncall", "why").expect("valid");
        let back: Request =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("back");
        assert_eq!(back, r);
    }

    #[test]
    fn destructive_actions_ask_for_a_word() {
        assert!(Action::CancelBackend { pid: 1 }.confirm_word().is_none());
        assert_eq!(
            Action::TerminateBackend { pid: 1 }
                .confirm_word()
                .expect("word")
                .as_str(),
            "TERMINATE"
        );
        assert_eq!(
            Action::ChangePassword { role: "a".into() }.step(),
            "change-password"
        );
    }
}
