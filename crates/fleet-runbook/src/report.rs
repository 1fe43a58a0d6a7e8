//! The result of a procedure: its plan, the steps as they happened (`fleet_guard`), the
//! findings judged by fleet-policy's gate, an overall status and the gate's exit codes,
//! rendered as text and as JSON (schema `fleet-runbook/report`, version 1, described in
//! `docs/runbook-report.md` and `schema/report-v1.schema.json`).

use std::fmt::Write as _;

use fleet_guard::{Executor, Mode, Plan, RunContext, StepKind, StepOutcome, StepReport};
use fleet_policy::deploy::Preflight;
use fleet_policy::gate::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE};
use fleet_policy::render::{Format, RenderOptions};
use fleet_policy::{Finding, Policy, waiver};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The schema name of the JSON report.
pub const REPORT_SCHEMA: &str = "fleet-runbook/report";
/// Its version. Fields are only added within a version; a removal or a change of meaning
/// bumps it.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// How a run ended, worst last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step that ran succeeded and no finding blocks (exit 0). In a dry run: the plan
    /// was made and the reads found nothing blocking.
    Ok,
    /// A finding blocks under the policy's gate (exit 1): the procedure stopped or
    /// recommends stopping.
    Blocked,
    /// A step (read, change or wait) failed (exit 1). Failed notifications do not count.
    Failed,
    /// The identity it runs as lacks a permission of the procedure's Role (`docs/rbac.md`);
    /// it stopped at its access check, before any write (exit 2). `stopped` names every verb
    /// and resource refused.
    Forbidden,
    /// A destructive step's confirmation was refused; nothing was changed by it (exit 2).
    Refused,
    /// The procedure's input was unusable; nothing ran (exit 2).
    Invalid,
}

impl RunStatus {
    /// The exit code a binary returns: 0, 1 or 2, as the CI gate's.
    pub fn exit_code(self) -> u8 {
        match self {
            RunStatus::Ok => EXIT_PASS,
            RunStatus::Blocked | RunStatus::Failed => EXIT_FAIL,
            RunStatus::Forbidden | RunStatus::Refused | RunStatus::Invalid => EXIT_USAGE,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Blocked => "blocked",
            RunStatus::Failed => "failed",
            RunStatus::Forbidden => "forbidden",
            RunStatus::Refused => "refused",
            RunStatus::Invalid => "invalid",
        }
    }
}

/// The report of one run of a procedure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The procedure (`deploy`, `rollback`).
    pub procedure: String,
    /// The id tying the run's audit records together (empty when nothing ran).
    pub run_id: String,
    /// Who, why, dry run or execute.
    pub context: RunContext,
    /// When it started.
    pub started_at: Timestamp,
    /// When the report was made.
    pub finished_at: Timestamp,
    /// How it ended.
    pub status: RunStatus,
    /// [`RunStatus::exit_code`].
    pub exit_code: u8,
    /// Why it stopped early, when it did (the failed or refused step, the invalid input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The plan as made before acting.
    pub plan: Plan,
    /// Every step as it happened, in order (dry runs show changes as `planned`).
    pub steps: Vec<StepReport>,
    /// The findings judged by the CI gate's rules (waivers applied): fleet-policy's report,
    /// renderable in all of its formats.
    pub findings: fleet_policy::Report,
}

impl Report {
    /// The report of a run: its plan, the executor's steps, and `findings` judged at the run's
    /// `now` under `policy` (waivers applied, then gated as the CI gate does). The status is
    /// the worst of: a refused step, a failed non-notification step, a blocking finding.
    pub fn from_run(
        run: &Executor,
        plan: Plan,
        policy: &Policy,
        mut findings: Vec<Finding>,
        started_at: Timestamp,
    ) -> Report {
        let now = run.now();
        // As the CI gate does: the policy's own lint findings, then waivers.
        findings.extend(fleet_policy::lint(policy));
        waiver::apply(policy, &mut findings, now);
        let judged = fleet_policy::Report::new(policy, now, findings);
        let steps = run.steps();
        let refused = steps.iter().find(|s| s.outcome == StepOutcome::Refused);
        let failed = steps
            .iter()
            .find(|s| s.outcome == StepOutcome::Failed && s.step.kind != StepKind::Notify);
        let (status, stopped) = if let Some(s) = refused {
            (RunStatus::Refused, Some(stop_line(s)))
        } else if let Some(s) = failed {
            (RunStatus::Failed, Some(stop_line(s)))
        } else if judged.blocked {
            (RunStatus::Blocked, None)
        } else {
            (RunStatus::Ok, None)
        };
        Report {
            schema: REPORT_SCHEMA.into(),
            schema_version: REPORT_SCHEMA_VERSION,
            procedure: run.context().procedure.clone(),
            run_id: run.run_id().to_owned(),
            context: run.context().clone(),
            started_at,
            finished_at: now,
            status,
            exit_code: status.exit_code(),
            stopped,
            plan,
            steps,
            findings: judged,
        }
    }

    /// The report of a run that stopped at its access check: [`RunStatus::Forbidden`], with
    /// `why` (the [`crate::Error::Forbidden`] naming every verb and resource refused) as
    /// `stopped`. The steps show the failed check and nothing after it.
    pub fn forbidden(
        run: &Executor,
        plan: Plan,
        policy: &Policy,
        started_at: Timestamp,
        why: impl Into<String>,
    ) -> Report {
        let mut report = Report::from_run(run, plan, policy, Vec::new(), started_at);
        report.status = RunStatus::Forbidden;
        report.exit_code = RunStatus::Forbidden.exit_code();
        report.stopped = Some(why.into());
        report
    }

    /// The report of a procedure whose input was unusable before anything ran (exit 2).
    pub fn invalid(
        context: RunContext,
        policy: &Policy,
        at: Timestamp,
        why: impl Into<String>,
    ) -> Report {
        let plan = Plan::new(context.procedure.clone());
        Report {
            schema: REPORT_SCHEMA.into(),
            schema_version: REPORT_SCHEMA_VERSION,
            procedure: context.procedure.clone(),
            run_id: String::new(),
            context,
            started_at: at,
            finished_at: at,
            status: RunStatus::Invalid,
            exit_code: RunStatus::Invalid.exit_code(),
            stopped: Some(why.into()),
            plan,
            steps: Vec::new(),
            findings: fleet_policy::Report::new(policy, at, Vec::new()),
        }
    }

    /// Notification steps that were not delivered (they never change the status; show them).
    pub fn undelivered(&self) -> impl Iterator<Item = &StepReport> {
        self.steps
            .iter()
            .filter(|s| s.step.kind == StepKind::Notify && s.outcome == StepOutcome::Failed)
    }

    /// What a pre-flight report means for fleet-policy's deploy rules: `Passed` only when it
    /// ended `ok`.
    pub fn as_preflight(&self) -> Preflight {
        if self.status == RunStatus::Ok {
            Preflight::Passed
        } else {
            Preflight::Failed
        }
    }

    /// The JSON document (schema `fleet-runbook/report` version 1), pretty-printed, with a
    /// final newline.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The text a person reads: header, plan, steps, then the findings as the CI gate prints
    /// them.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let mode = match self.context.mode {
            Mode::DryRun => " (dry run)",
            Mode::Execute => "",
        };
        let _ = writeln!(
            s,
            "{}{mode}: {} (exit {})",
            self.procedure,
            self.status.as_str().to_uppercase(),
            self.exit_code
        );
        let _ = writeln!(
            s,
            "  by {} because {:?}; run {}",
            self.context.actor,
            self.context.reason,
            if self.run_id.is_empty() {
                "-"
            } else {
                &self.run_id
            }
        );
        let took = self.finished_at.duration_since(self.started_at);
        let _ = writeln!(
            s,
            "  from {} to {} ({:.1} s)",
            self.started_at,
            self.finished_at,
            took.as_secs_f64()
        );
        if let Some(why) = &self.stopped {
            let _ = writeln!(s, "  stopped: {why}");
        }
        if !self.plan.steps.is_empty() || !self.plan.notes.is_empty() {
            for line in self.plan.to_string().lines() {
                let _ = writeln!(s, "{line}");
            }
        }
        if !self.steps.is_empty() {
            let _ = writeln!(s, "steps:");
            for r in &self.steps {
                let confirmed = r
                    .confirmed_by
                    .as_deref()
                    .map(|c| format!(", confirmed by {c}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "  {:<9} {}: {} ({} ms{confirmed})",
                    r.outcome.to_string(),
                    r.step.id,
                    r.step.target,
                    r.elapsed_ms
                );
                if let Some(d) = &r.detail {
                    let _ = writeln!(s, "            {d}");
                }
            }
        }
        let undelivered = self.undelivered().count();
        if undelivered > 0 {
            let _ = writeln!(
                s,
                "  {undelivered} notification(s) not delivered (see the steps above)"
            );
        }
        let _ = writeln!(s, "findings:");
        s.push_str(&fleet_policy::render::render(
            &self.findings,
            Format::Text,
            &RenderOptions::default(),
        ));
        s
    }
}

fn stop_line(s: &StepReport) -> String {
    match &s.detail {
        Some(d) => format!("step {} {}: {d}", s.step.id, s.outcome),
        None => format!("step {} {}", s.step.id, s.outcome),
    }
}
