//! Writing a remediation's audit trail as `fleet_guard::AuditRecord`s, the same lines
//! `fleet_guard::Executor` writes: an intent before acting (a failed write stops the action)
//! and the outcome after.
//!
//! `Executor::change` does not fit here as it is: a remediation's dry run must still read the
//! server to say what would change, and its outcome carries what the server did. The records
//! are written directly instead, in the executor's format (procedure `fleet-db`, the action's
//! step name, one run id per call).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fleet_guard::{AuditOutcome, AuditPhase, AuditRecord, AuditSink};
use jiff::Timestamp;
use serde_json::Value;

use crate::error::Error;
use crate::remediation::{Action, Request};

/// The procedure name on fleet-db's audit records.
pub(crate) const PROCEDURE: &str = "fleet-db";

static CALLS: AtomicU64 = AtomicU64::new(0);

/// The audit trail of one executed remediation.
pub(crate) struct Trail {
    sink: Arc<dyn AuditSink>,
    actor: String,
    reason: String,
    step: &'static str,
    action: String,
    target: String,
    run_id: String,
    pub(crate) written: Vec<AuditRecord>,
}

impl Trail {
    /// The trail for `action`, or `None` for a dry run. Executing without a sink is refused
    /// before anything is read or changed.
    pub(crate) fn start(
        sink: Option<&Arc<dyn AuditSink>>,
        server: &str,
        request: &Request,
        action: &Action,
    ) -> Result<Option<Self>, Error> {
        if request.is_dry_run() {
            return Ok(None);
        }
        let what = format!("{} {}", action.step(), action.object());
        let sink = sink.ok_or_else(|| Error::AuditNotConfigured {
            action: what.clone(),
        })?;
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Self {
            sink: Arc::clone(sink),
            actor: request.actor().to_owned(),
            reason: request.reason().to_owned(),
            step: action.step(),
            action: what,
            target: format!("postgresql://{server} {}", action.object()),
            run_id: format!(
                "{PROCEDURE}-{}-{}-{n}",
                Timestamp::now().as_millisecond(),
                std::process::id()
            ),
            written: Vec::new(),
        }))
    }

    fn record(
        &self,
        phase: AuditPhase,
        before: Option<Value>,
        after: Option<Value>,
        outcome: Option<AuditOutcome>,
    ) -> AuditRecord {
        AuditRecord {
            time: Timestamp::now(),
            actor: self.actor.clone(),
            reason: self.reason.clone(),
            procedure: PROCEDURE.into(),
            step: self.step.into(),
            target: self.target.clone(),
            before,
            after,
            phase,
            outcome,
            run_id: self.run_id.clone(),
        }
    }

    /// Writes the intent; when it cannot be written, nothing may be done.
    pub(crate) async fn intent(
        &mut self,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<(), Error> {
        let record = self.record(AuditPhase::Intent, before, after, None);
        self.sink
            .append(&record)
            .await
            .map_err(|source| Error::Audit {
                action: self.action.clone(),
                acted: false,
                source,
            })?;
        self.written.push(record);
        Ok(())
    }

    /// Writes a success; an error here means the change was made but is not on the trail.
    pub(crate) async fn succeeded(
        &mut self,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<(), Error> {
        let record = self.record(
            AuditPhase::Outcome,
            before,
            after,
            Some(AuditOutcome::Succeeded),
        );
        self.sink
            .append(&record)
            .await
            .map_err(|source| Error::Audit {
                action: self.action.clone(),
                acted: true,
                source,
            })?;
        self.written.push(record);
        Ok(())
    }

    /// Writes a failure (after the intent) or a refusal (instead of one). The action's own
    /// error is what the caller gets; a failed write here is logged, since it changes nothing
    /// on the server.
    pub(crate) async fn ended_without_change(&mut self, err: &Error) {
        let outcome = match err {
            Error::Refused { reason, .. } => AuditOutcome::Refused {
                reason: reason.clone(),
            },
            other => AuditOutcome::Failed {
                error: other.to_string(),
            },
        };
        let record = self.record(AuditPhase::Outcome, None, None, Some(outcome));
        match self.sink.append(&record).await {
            Ok(()) => self.written.push(record),
            Err(e) => {
                tracing::warn!(action = %self.action, error = %e, "outcome not audited");
            }
        }
    }
}
