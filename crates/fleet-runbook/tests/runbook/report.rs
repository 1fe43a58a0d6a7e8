//! Reports of real `fleet_guard` runs: status and exit code for each way a run ends, the
//! text, and the JSON against the published schema.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fleet_guard::{
    AuditOutcome, ConfirmWord, Executor, Guards, ManualClock, MemoryAuditSink, Mode, Plan,
    RunContext, Step, StepOutcome, TokenConfirm,
};
use fleet_policy::deploy::{self, DeployKind, DeployRequest};
use fleet_policy::rollback::{self, RequestWindow, RollbackInput};
use fleet_policy::{Finding, Outcome, Policy, Section};
use fleet_runbook::{Report, RunStatus};
use serde_json::Value;

use crate::common::ts;

const SCHEMA: &str = include_str!("../../schema/report-v1.schema.json");

struct Run {
    executor: Executor,
    audit: MemoryAuditSink,
    plan: Plan,
}

fn run(mode: Mode, confirm: Option<&str>) -> Run {
    let audit = MemoryAuditSink::new();
    let mut guards = Guards::new(Arc::new(audit.clone()))
        .with_clock(Arc::new(ManualClock::new(ts("2026-07-16T22:05:00Z"))));
    if let Some(word) = confirm {
        guards = guards.with_confirm(Arc::new(TokenConfirm::new(word)));
    }
    let context =
        RunContext::new("rollback", "oncall@example.com", "INC-42", mode).expect("context");
    let mut plan = Plan::new("rollback");
    plan.push(read_step());
    plan.push(undo_step());
    Run {
        executor: Executor::new(context, guards),
        audit,
        plan,
    }
}

fn read_step() -> Step {
    Step::read(
        "rollout-history",
        "deployment/fleet-management/fleet-api",
        "list revisions",
    )
}

fn undo_step() -> Step {
    Step::change(
        "rollout-undo",
        "deployment/fleet-management/fleet-api",
        "roll back to revision 41",
    )
    .with_before(42)
    .with_after(41)
    .with_confirm(ConfirmWord::rollback())
}

fn failing_release() -> Vec<Finding> {
    rollback::evaluate(
        &Policy::default(),
        &RollbackInput {
            subject: "fleet-api v1.5.0".into(),
            window: Some(RequestWindow {
                requests: 2000,
                errors: 150,
            }),
            ..RollbackInput::default()
        },
    )
}

fn passing() -> Vec<Finding> {
    vec![Finding::new(
        "metrics.response-time",
        "fleet-api",
        Outcome::Pass,
        Section::MonitoringAlerts,
        "p95 320 ms is normal",
    )]
}

fn check_schema(report: &Report) -> Value {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let doc: Value = serde_json::from_str(&report.to_json()).expect("report is JSON");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "schema violations: {errors:#?}\n{}",
        report.to_json()
    );
    let back: Report = serde_json::from_value(doc.clone()).expect("reads back");
    assert_eq!(&back, report);
    doc
}

#[tokio::test]
async fn a_confirmed_rollback_that_passes_is_ok() {
    let r = run(Mode::Execute, Some("ROLLBACK"));
    r.executor
        .read(read_step(), async { Ok::<_, std::io::Error>(()) })
        .await
        .expect("read");
    r.executor
        .change(undo_step(), || async { Ok::<_, std::io::Error>(41) })
        .await
        .expect("undo");
    let report = Report::from_run(
        &r.executor,
        r.plan,
        &Policy::default(),
        passing(),
        ts("2026-07-16T22:04:00Z"),
    );
    assert_eq!((report.status, report.exit_code), (RunStatus::Ok, 0));
    assert!(report.stopped.is_none());
    assert_eq!(report.steps[1].confirmed_by.as_deref(), Some("token"));
    assert_eq!(
        report.finished_at,
        ts("2026-07-16T22:05:00Z"),
        "the run's clock"
    );
    let doc = check_schema(&report);
    assert_eq!(doc["schema"], "fleet-runbook/report");
    assert_eq!(doc["findings"]["schema"], "fleet-policy/report");
    let text = report.to_text();
    assert!(text.starts_with("rollback: OK (exit 0)"), "{text}");
    assert!(
        text.contains("1. [read] deployment/fleet-management/fleet-api: list revisions"),
        "{text}"
    );
    assert!(text.contains("succeeded rollout-undo"), "{text}");
    assert!(text.contains("confirmed by token"), "{text}");
    assert!(text.contains("metrics.response-time"), "{text}");
    assert_eq!(r.audit.records().len(), 2, "intent and outcome");
}

#[tokio::test]
async fn a_blocking_finding_is_exit_1() {
    let r = run(Mode::Execute, None);
    r.executor
        .read(read_step(), async { Ok::<_, std::io::Error>(()) })
        .await
        .expect("read");
    let report = Report::from_run(
        &r.executor,
        r.plan,
        &Policy::default(),
        failing_release(),
        ts("2026-07-16T22:04:00Z"),
    );
    assert_eq!((report.status, report.exit_code), (RunStatus::Blocked, 1));
    assert!(report.findings.blocked);
    assert!(report.to_text().contains("rollback.error-rate"));
    check_schema(&report);
}

#[tokio::test]
async fn a_waived_finding_does_not_block_and_stays_visible() {
    let policy = Policy::from_toml_str(
        "[[waiver]]\nrule = \"rollback.*\"\nreason = \"known flaky canary\"\nowner = \"sre\"\nexpires_at = \"2026-07-20T00:00:00Z\"\n\
         [[waiver]]\nrule = \"alert.error-rate\"\nreason = \"same\"\nowner = \"sre\"\nexpires_at = \"2026-07-20T00:00:00Z\"\n",
    )
    .expect("policy");
    let r = run(Mode::Execute, None);
    let report = Report::from_run(
        &r.executor,
        r.plan,
        &policy,
        failing_release(),
        ts("2026-07-16T22:04:00Z"),
    );
    assert!(!report.findings.blocked, "{}", report.to_text());
    assert_eq!(report.status, RunStatus::Ok);
    assert!(report.to_text().contains("WAIVED"));
    check_schema(&report);
}

#[tokio::test]
async fn a_failed_step_is_exit_1_and_says_where() {
    let r = run(Mode::Execute, Some("ROLLBACK"));
    let e = r
        .executor
        .read(read_step(), async {
            Err::<(), _>(std::io::Error::other("apiserver unreachable"))
        })
        .await
        .expect_err("fails");
    assert_eq!(e.step(), "rollout-history");
    r.executor.skip(undo_step(), "an earlier step failed");
    let report = Report::from_run(
        &r.executor,
        r.plan,
        &Policy::default(),
        passing(),
        ts("2026-07-16T22:04:00Z"),
    );
    assert_eq!((report.status, report.exit_code), (RunStatus::Failed, 1));
    let stopped = report.stopped.as_deref().expect("stopped");
    assert!(
        stopped.contains("rollout-history") && stopped.contains("apiserver unreachable"),
        "{stopped}"
    );
    assert_eq!(report.steps[1].outcome, StepOutcome::Skipped);
    assert!(report.as_preflight() == fleet_policy::deploy::Preflight::Failed);
    check_schema(&report);
}

#[tokio::test]
async fn a_refused_confirmation_is_exit_2_and_changes_nothing() {
    let r = run(Mode::Execute, Some("rollback")); // the wrong word
    let acted = AtomicBool::new(false);
    let e = r
        .executor
        .change(undo_step(), || async {
            acted.store(true, Ordering::SeqCst);
            Ok::<_, std::io::Error>(41)
        })
        .await
        .expect_err("refused");
    assert!(e.is_refused());
    assert!(!acted.load(Ordering::SeqCst));
    let report = Report::from_run(
        &r.executor,
        r.plan,
        &Policy::default(),
        passing(),
        ts("2026-07-16T22:04:00Z"),
    );
    assert_eq!((report.status, report.exit_code), (RunStatus::Refused, 2));
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("rollout-undo refused"))
    );
    let records = r.audit.records();
    assert_eq!(records.len(), 1);
    assert!(matches!(
        records[0].outcome,
        Some(AuditOutcome::Refused { .. })
    ));
    check_schema(&report);
}

#[tokio::test]
async fn a_dry_run_plans_the_change() {
    let r = run(Mode::DryRun, None);
    r.executor
        .read(read_step(), async { Ok::<_, std::io::Error>(()) })
        .await
        .expect("read");
    let applied = r
        .executor
        .change(undo_step(), || async { Ok::<_, std::io::Error>(41) })
        .await
        .expect("planned");
    assert!(!applied.is_done());
    let report = Report::from_run(
        &r.executor,
        r.plan,
        &Policy::default(),
        passing(),
        ts("2026-07-16T22:04:00Z"),
    );
    assert_eq!((report.status, report.exit_code), (RunStatus::Ok, 0));
    assert_eq!(report.steps[1].outcome, StepOutcome::Planned);
    assert!(report.to_text().starts_with("rollback (dry run): OK"));
    assert!(r.audit.records().is_empty());
    check_schema(&report);
}

#[tokio::test]
async fn invalid_input_is_exit_2_without_a_run() {
    let context =
        RunContext::new("deploy", "ci@example.com", "CHG-9", Mode::Execute).expect("context");
    let report = Report::invalid(
        context,
        &Policy::default(),
        ts("2026-07-16T22:00:00Z"),
        "image tag \"latest\" is not a version",
    );
    assert_eq!((report.status, report.exit_code), (RunStatus::Invalid, 2));
    assert!(report.to_text().contains("stopped: image tag"));
    check_schema(&report);
}

#[tokio::test]
async fn a_preflight_report_feeds_the_deploy_rules() {
    let r = run(Mode::Execute, None);
    let report = Report::from_run(
        &r.executor,
        r.plan,
        &Policy::default(),
        passing(),
        ts("2026-07-16T22:04:00Z"),
    );
    let request = DeployRequest {
        service: "fleet-api".into(),
        version: "v1.5.0".into(),
        kind: DeployKind::Standard,
        at: None,
        preflight: report.as_preflight(),
        approvals: Vec::new(),
        base_branch: None,
    };
    // Thursday 22:30 New York time: inside the weekly window, pre-flight passed.
    let findings = deploy::evaluate(&Policy::default(), &request, ts("2026-07-17T02:30:00Z"));
    let pre = findings
        .iter()
        .find(|f| f.rule == "deploy.preflight")
        .expect("preflight rule");
    assert_eq!(pre.outcome, Outcome::Pass, "{findings:#?}");
}
