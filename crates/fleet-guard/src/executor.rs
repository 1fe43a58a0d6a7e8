//! The executor: runs a procedure's steps under its guards. Reads always run; changes are
//! skipped in a dry run, confirmed when destructive, and audited (intent before, outcome
//! after) when executed; notifications never fail the procedure; every step is reported.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditOutcome, AuditPhase, AuditRecord, AuditSink};
use crate::clock::{Clock, SystemClock};
use crate::confirm::{Confirm, ConfirmRequest, Confirmation, RefuseConfirm};
use crate::error::{Error, Result, StepError};
use crate::plan::{Step, StepKind};
use crate::progress::{NoProgress, Progress, ProgressEvent};

/// Plan only, or act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Run the reads, report every change as planned, change nothing.
    DryRun,
    /// Act.
    Execute,
}

/// Who runs which procedure, why, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunContext {
    /// The procedure (`deploy`, `rollback`, `backup`...).
    pub procedure: String,
    /// Who acts: a person or a service account.
    pub actor: String,
    /// Why: an incident, a change ticket, a sentence.
    pub reason: String,
    /// Dry run or execute.
    pub mode: Mode,
}

impl RunContext {
    /// A context; actor and reason must be non-empty.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the empty field.
    pub fn new(procedure: &str, actor: &str, reason: &str, mode: Mode) -> Result<Self> {
        for (field, value) in [
            ("procedure", procedure),
            ("actor", actor),
            ("reason", reason),
        ] {
            if value.trim().is_empty() {
                return Err(Error::invalid(
                    match field {
                        "procedure" => "procedure",
                        "actor" => "actor",
                        _ => "reason",
                    },
                    "must not be empty: every change says who made it and why",
                ));
            }
        }
        Ok(Self {
            procedure: procedure.trim().to_owned(),
            actor: actor.trim().to_owned(),
            reason: reason.trim().to_owned(),
            mode,
        })
    }
}

/// The guards a run uses: confirmation, audit, progress and clock.
#[derive(Clone)]
pub struct Guards {
    /// Asks before destructive steps (default: refuse).
    pub confirm: Arc<dyn Confirm>,
    /// Where executed changes are recorded.
    pub audit: Arc<dyn AuditSink>,
    /// Where progress events go (default: nowhere).
    pub progress: Arc<dyn Progress>,
    /// The time source (default: the system clock).
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for Guards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guards")
            .field("audit", &self.audit)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Guards {
    /// The guards of a command-line tool: changes audited to the append-only log at
    /// `audit_log` (in memory without one), destructive steps confirmed by `token` or on the
    /// terminal ([`crate::cli_confirm`]), progress to `progress`. The sink is returned too, for
    /// a tool that hands it to a client crate or reads the log back.
    ///
    /// # Errors
    /// The audit log cannot be opened.
    pub fn for_cli(
        audit_log: Option<&std::path::Path>,
        token: Option<String>,
        progress: Arc<dyn Progress>,
    ) -> Result<(Self, Arc<dyn AuditSink>)> {
        let audit: Arc<dyn AuditSink> = match audit_log {
            Some(path) => Arc::new(crate::audit::FileAuditSink::open(path)?),
            None => Arc::new(crate::audit::MemoryAuditSink::new()),
        };
        let guards = Self::new(audit.clone())
            .with_confirm(crate::confirm::cli_confirm(token))
            .with_progress(progress);
        Ok((guards, audit))
    }

    /// Guards that audit to `audit`, refuse destructive steps, drop progress and read the
    /// system clock.
    pub fn new(audit: Arc<dyn AuditSink>) -> Self {
        Self {
            confirm: Arc::new(RefuseConfirm),
            audit,
            progress: Arc::new(NoProgress),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `confirm` for destructive steps.
    pub fn with_confirm(mut self, confirm: Arc<dyn Confirm>) -> Self {
        self.confirm = confirm;
        self
    }

    /// Sends progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Reads time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed (for a notification: it was not delivered).
    Failed,
    /// Dry run: it would have run.
    Planned,
    /// Its confirmation was refused; nothing changed.
    Refused,
    /// It was not run (an earlier step failed, or the procedure decided so).
    Skipped,
}

impl StepOutcome {
    fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Succeeded => "succeeded",
            StepOutcome::Failed => "failed",
            StepOutcome::Planned => "planned",
            StepOutcome::Refused => "refused",
            StepOutcome::Skipped => "skipped",
        }
    }
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The step.
    pub step: Step,
    /// How it ended.
    pub outcome: StepOutcome,
    /// When it started.
    pub started: Timestamp,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
    /// The error or the reason, when it did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How a destructive step was confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
}

/// The result of a change or wait: done, or only planned (dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied<T> {
    /// The step ran; its result.
    Done(T),
    /// Dry run: the step did not run.
    DryRun,
}

impl<T> Applied<T> {
    /// The result when the step ran.
    pub fn done(self) -> Option<T> {
        match self {
            Applied::Done(t) => Some(t),
            Applied::DryRun => None,
        }
    }

    /// Whether the step ran.
    pub fn is_done(&self) -> bool {
        matches!(self, Applied::Done(_))
    }
}

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Runs steps under a [`RunContext`] and [`Guards`], keeping a report of each.
pub struct Executor {
    context: RunContext,
    guards: Guards,
    run_id: String,
    steps: Mutex<Vec<StepReport>>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("context", &self.context)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor for one run.
    pub fn new(context: RunContext, guards: Guards) -> Self {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let run_id = format!(
            "{}-{}-{}-{n}",
            context.procedure,
            guards.clock.now().as_millisecond(),
            std::process::id()
        );
        Self {
            context,
            guards,
            run_id,
            steps: Mutex::new(Vec::new()),
        }
    }

    /// The run's context.
    pub fn context(&self) -> &RunContext {
        &self.context
    }

    /// The id that ties this run's audit records together.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.context.mode == Mode::DryRun
    }

    /// The clock the run reads.
    pub fn now(&self) -> Timestamp {
        self.guards.clock.now()
    }

    /// The guards (to hand the same ones to a nested procedure).
    pub fn guards(&self) -> &Guards {
        &self.guards
    }

    /// The steps so far, in order.
    pub fn steps(&self) -> Vec<StepReport> {
        self.steps.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Reports progress of a long step.
    pub fn advance(&self, step: &str, done: u64, total: Option<u64>, unit: &str, message: &str) {
        self.guards.progress.event(ProgressEvent::Advanced {
            step: step.to_owned(),
            done,
            total,
            unit: unit.to_owned(),
            message: message.to_owned(),
        });
    }

    /// Shows a line while a step runs.
    pub fn note(&self, step: &str, message: impl Into<String>) {
        self.guards.progress.event(ProgressEvent::Note {
            step: step.to_owned(),
            message: message.into(),
        });
    }

    /// Records a step that was not run, and why.
    pub fn skip(&self, step: Step, why: impl Into<String>) {
        let started = self.now();
        self.finish(
            step,
            StepOutcome::Skipped,
            started,
            0,
            Some(why.into()),
            None,
        );
    }

    /// Runs a read step (in dry runs too).
    ///
    /// # Errors
    /// [`StepError::Failed`] with the read's error.
    pub async fn read<T, E, Fut>(&self, step: Step, read: Fut) -> Result<T, StepError<E>>
    where
        E: fmt::Display,
        Fut: Future<Output = Result<T, E>>,
    {
        let (started, clock) = self.start(&step);
        match read.await {
            Ok(value) => {
                self.finish(step, StepOutcome::Succeeded, started, ms(clock), None, None);
                Ok(value)
            }
            Err(e) => {
                let id = step.id.clone();
                self.finish(
                    step,
                    StepOutcome::Failed,
                    started,
                    ms(clock),
                    Some(e.to_string()),
                    None,
                );
                Err(StepError::Failed {
                    step: id,
                    source: e,
                })
            }
        }
    }

    /// Runs a wait (a rollout, a bake period). Skipped in a dry run: there is nothing to wait
    /// for when nothing changed.
    ///
    /// # Errors
    /// [`StepError::Failed`] with the wait's error.
    pub async fn wait<T, E, F, Fut>(&self, step: Step, wait: F) -> Result<Applied<T>, StepError<E>>
    where
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if self.is_dry_run() {
            self.planned(step);
            return Ok(Applied::DryRun);
        }
        self.read(step, wait()).await.map(Applied::Done)
    }

    /// Takes `lock` for `request` as the change step `step` (audited like any change; skipped
    /// in a dry run, which holds nothing), holder and reason from the run's context when
    /// `request` leaves them empty. Hold the result for the run and release it at the end.
    ///
    /// # Errors
    /// As [`Executor::change`]; a lock held by someone else is [`StepError::Failed`] with
    /// [`Error::Locked`] naming the holder and their reason.
    pub async fn take_lock(
        &self,
        step: Step,
        lock: &dyn crate::lock::TargetLock,
        mut request: crate::lock::LockRequest,
    ) -> Result<crate::lock::HeldLock, StepError<Error>> {
        if request.holder.is_empty() {
            request.holder = format!("{} ({})", self.context.actor, self.run_id);
        }
        if request.reason.is_empty() {
            request.reason.clone_from(&self.context.reason);
        }
        let applied = self.change(step, || lock.acquire(&request)).await?;
        Ok(crate::lock::HeldLock(applied.done()))
    }

    /// Runs a change: in a dry run it is only reported as planned; otherwise it is confirmed
    /// when destructive, its intent is audited, it runs, and its outcome is audited.
    ///
    /// # Errors
    /// [`StepError::Refused`] when the confirmation is refused, [`StepError::Audit`] when an
    /// audit record cannot be written (before acting: nothing changed), [`StepError::Failed`]
    /// with the action's error.
    pub async fn change<T, E, F, Fut>(&self, step: Step, act: F) -> Result<Applied<T>, StepError<E>>
    where
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if self.is_dry_run() {
            self.planned(step);
            return Ok(Applied::DryRun);
        }
        let (started, clock) = self.start(&step);
        let mut confirmed_by = None;
        if let Some(word) = &step.confirm {
            let request = ConfirmRequest {
                procedure: self.context.procedure.clone(),
                step: step.id.clone(),
                summary: format!("{}: {}", step.target, step.summary),
                word: word.clone(),
            };
            match self.guards.confirm.confirm(&request).await {
                Confirmation::Confirmed { by } => confirmed_by = Some(by),
                Confirmation::Refused { reason } => {
                    // Who tried and was refused is worth keeping; nothing changed either way,
                    // so a failed write here does not change the answer.
                    let record = self.record(
                        &step,
                        AuditPhase::Outcome,
                        Some(AuditOutcome::Refused {
                            reason: reason.clone(),
                        }),
                    );
                    if let Err(e) = self.guards.audit.append(&record).await {
                        tracing::warn!(step = %step.id, error = %e, "refusal not audited");
                    }
                    let id = step.id.clone();
                    self.finish(
                        step,
                        StepOutcome::Refused,
                        started,
                        ms(clock),
                        Some(reason.clone()),
                        None,
                    );
                    return Err(StepError::Refused { step: id, reason });
                }
            }
        }
        let intent = self.record(&step, AuditPhase::Intent, None);
        if let Err(source) = self.guards.audit.append(&intent).await {
            let id = step.id.clone();
            self.finish(
                step,
                StepOutcome::Failed,
                started,
                ms(clock),
                Some(format!("not started: audit intent not written: {source}")),
                confirmed_by,
            );
            return Err(StepError::Audit {
                step: id,
                acted: false,
                source,
            });
        }
        let result = act().await;
        let (outcome, detail) = match &result {
            Ok(_) => (AuditOutcome::Succeeded, None),
            Err(e) => (
                AuditOutcome::Failed {
                    error: e.to_string(),
                },
                Some(e.to_string()),
            ),
        };
        let audited = self
            .guards
            .audit
            .append(&self.record(&step, AuditPhase::Outcome, Some(outcome)))
            .await;
        let id = step.id.clone();
        let report_outcome = if result.is_ok() {
            StepOutcome::Succeeded
        } else {
            StepOutcome::Failed
        };
        let detail = match (&audited, detail) {
            (Err(e), Some(d)) => Some(format!("{d}; outcome not audited: {e}")),
            (Err(e), None) => Some(format!("outcome not audited: {e}")),
            (Ok(()), d) => d,
        };
        self.finish(
            step,
            report_outcome,
            started,
            ms(clock),
            detail,
            confirmed_by,
        );
        match (result, audited) {
            (Err(source), _) => Err(StepError::Failed { step: id, source }),
            (Ok(_), Err(source)) => Err(StepError::Audit {
                step: id,
                acted: true,
                source,
            }),
            (Ok(value), Ok(())) => Ok(Applied::Done(value)),
        }
    }

    /// Sends a notification: skipped in a dry run; a failure is reported, never returned.
    /// Returns whether it was delivered.
    pub async fn notify<E, F, Fut>(&self, step: Step, send: F) -> bool
    where
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        if self.is_dry_run() {
            self.planned(step);
            return false;
        }
        let (started, clock) = self.start(&step);
        match send().await {
            Ok(()) => {
                self.finish(step, StepOutcome::Succeeded, started, ms(clock), None, None);
                true
            }
            Err(e) => {
                tracing::warn!(step = %step.id, target = %step.target, error = %e, "notification not delivered");
                self.finish(
                    step,
                    StepOutcome::Failed,
                    started,
                    ms(clock),
                    Some(e.to_string()),
                    None,
                );
                false
            }
        }
    }

    fn planned(&self, step: Step) {
        let started = self.now();
        self.guards.progress.event(ProgressEvent::Started {
            step: step.id.clone(),
            summary: step.summary.clone(),
        });
        self.finish(step, StepOutcome::Planned, started, 0, None, None);
    }

    fn start(&self, step: &Step) -> (Timestamp, Instant) {
        tracing::debug!(procedure = %self.context.procedure, step = %step.id, target = %step.target, "step started");
        self.guards.progress.event(ProgressEvent::Started {
            step: step.id.clone(),
            summary: step.summary.clone(),
        });
        (self.now(), Instant::now())
    }

    fn finish(
        &self,
        step: Step,
        outcome: StepOutcome,
        started: Timestamp,
        elapsed_ms: u64,
        detail: Option<String>,
        confirmed_by: Option<String>,
    ) {
        tracing::info!(
            procedure = %self.context.procedure,
            step = %step.id,
            target = %step.target,
            kind = ?step.kind,
            %outcome,
            elapsed_ms,
            "step finished"
        );
        self.guards.progress.event(ProgressEvent::Finished {
            step: step.id.clone(),
            outcome: outcome.as_str().to_owned(),
        });
        if let Ok(mut steps) = self.steps.lock() {
            steps.push(StepReport {
                step,
                outcome,
                started,
                elapsed_ms,
                detail,
                confirmed_by,
            });
        }
    }

    fn record(&self, step: &Step, phase: AuditPhase, outcome: Option<AuditOutcome>) -> AuditRecord {
        debug_assert!(step.kind == StepKind::Change || phase == AuditPhase::Outcome);
        AuditRecord {
            time: self.now(),
            actor: self.context.actor.clone(),
            reason: self.context.reason.clone(),
            procedure: self.context.procedure.clone(),
            step: step.id.clone(),
            target: step.target.clone(),
            before: step.before.clone(),
            after: step.after.clone(),
            phase,
            outcome,
            run_id: self.run_id.clone(),
        }
    }
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod cli_guards_tests {
    use std::sync::Arc;

    use crate::audit::{AuditPhase, FileAuditSink};
    use crate::executor::{Executor, Guards, Mode, RunContext};
    use crate::plan::Step;
    use crate::progress::NoProgress;

    #[tokio::test]
    async fn a_command_line_run_audits_to_its_log_and_confirms_by_its_token() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("audit.jsonl");
        let (guards, _) =
            Guards::for_cli(Some(&log), Some("GO".into()), Arc::new(NoProgress)).expect("guards");
        let context = RunContext::new("restore", "oncall", "INC-1", Mode::Execute).expect("ctx");
        let run = Executor::new(context, guards);
        let step = Step::change("drop", "db/x", "drop it")
            .with_confirm(crate::confirm::ConfirmWord::new("GO").expect("word"));
        run.change(step, || async { Ok::<_, std::io::Error>(()) })
            .await
            .expect("confirmed by the token");
        let phases: Vec<AuditPhase> = FileAuditSink::read_all(&log)
            .expect("log")
            .iter()
            .map(|r| r.phase)
            .collect();
        assert_eq!(phases, [AuditPhase::Intent, AuditPhase::Outcome]);
        let (none, _) = Guards::for_cli(None, None, Arc::new(NoProgress)).expect("in memory");
        drop(none);
    }
}
