//! The runbook drill: the release procedures and the disaster recovery, one after the other,
//! against the stand-ins of a [`DrillWorld`], each step's [`Report`] kept (see
//! [`run_drill_story`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fleet_azure::{ArmClient, ArmClientOptions, PollSettings, RetrySettings, ServerBackups};
use fleet_db::{DbOptions, PgClient, TlsMode};
use fleet_guard::{AuditSink, Executor, FileAuditSink, Guards, Mode, RunContext, TokenConfirm};
use fleet_policy::deploy::Approval;
use fleet_policy::{Outcome, Policy};
use fleet_testkit::azure::{RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID};
use fleet_testkit::k8s::Scenario;
use jiff::{SignedDuration, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{DRILL_RECOVERY_NAME, DrillOptions, DrillWorld, drill_err, kube};
use crate::procedures::deploy::{Deploy, DeployOptions};
use crate::procedures::deps::{AzureDatabase, Db, Kube, Signals};
use crate::procedures::preflight::{Preflight, PreflightOptions};
use crate::procedures::rollback::{Rollback, RollbackOptions};
use crate::procedures::validate::{Validate, ValidateOptions};
use crate::{Report, Result, SmokeCheck};

/// The release the drill deploys first (it passes).
pub const DRILL_GOOD_IMAGE: &str = "registry.example.com/fleet/fleet-api:1.4.3";
/// The release the drill deploys second (its pods crash-loop).
pub const DRILL_BAD_IMAGE: &str = "registry.example.com/fleet/fleet-api:1.5.0";

/// The actor of the drill's release steps in the audit log.
const ACTOR: &str = "drill@example.com";

/// One step of the drill and what it produced.
#[derive(Debug)]
#[non_exhaustive]
pub struct DrillChapter {
    /// What the step is, in the runbook's words.
    pub title: String,
    /// What the drill did to make the step happen (a stand-in's knob, a typed word).
    pub note: Option<String>,
    /// The procedure's report.
    pub report: Report,
    /// Whether this report is what the drill expects (a blocked deploy of the bad release is
    /// expected).
    pub as_expected: bool,
}

/// A whole runbook drill, as [`run_drill_story`] returns it.
///
/// Its `Display` is the text a person reads: each chapter's title, the drill's note and the
/// full report, then where the audit log and the reports are and the verdict.
#[derive(Debug)]
#[non_exhaustive]
pub struct DrillStory {
    /// The steps, in order.
    pub chapters: Vec<DrillChapter>,
    /// The audit log (JSON lines).
    pub audit_log: PathBuf,
    /// Where each report was written as JSON (`01-production-preflight-check.json`, ...).
    pub reports_dir: PathBuf,
}

impl DrillStory {
    /// True when every step ended as the drill expects.
    pub fn as_expected(&self) -> bool {
        self.chapters.iter().all(|c| c.as_expected)
    }

    /// The process exit code: 0 when every step ended as expected, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.as_expected())
    }

    /// Every report, in order, as one pretty-printed JSON array (each element schema
    /// `fleet-runbook/report`), with a final newline.
    pub fn to_json(&self) -> String {
        let reports: Vec<&Report> = self.chapters.iter().map(|c| &c.report).collect();
        // Plain data with string keys: serialization cannot fail.
        let mut s = serde_json::to_string_pretty(&reports).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl fmt::Display for DrillStory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, chapter) in self.chapters.iter().enumerate() {
            writeln!(f, "=== {}. {} ===", n + 1, chapter.title)?;
            if let Some(note) = &chapter.note {
                writeln!(f, "(drill: {note})")?;
            }
            writeln!(f, "{}", chapter.report.to_text())?;
        }
        writeln!(f, "audit log: {}", self.audit_log.display())?;
        writeln!(f, "reports:   {}", self.reports_dir.display())?;
        writeln!(
            f,
            "{}",
            if self.as_expected() {
                "every step ended as the runbook expects"
            } else {
                "some step did not end as expected: see its report above"
            }
        )
    }
}

/// Serves `200 ok` to every request on a local port: the application's critical paths.
async fn serve_app() -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| drill_err("application stand-in", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| drill_err("application stand-in", e))?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// The runbook's critical paths on the application stand-in at `base`.
fn smoke(base: &str) -> Vec<SmokeCheck> {
    [
        ("login flow", "/login"),
        ("vehicle dashboard", "/vehicles"),
        ("GPS tracking", "/gps"),
        ("work orders", "/work-orders"),
    ]
    .iter()
    .map(|(name, path)| SmokeCheck::get(*name, format!("{base}{path}")))
    .collect()
}

/// The technical lead's approval of a hotfix, given ten minutes ago.
fn approvals() -> Result<Vec<Approval>> {
    let at = Timestamp::now()
        .checked_sub(SignedDuration::from_mins(10))
        .map_err(|e| drill_err("approval time", e))?;
    Ok(vec![Approval {
        role: "technical-lead".into(),
        by: "lead@example.com".into(),
        at,
    }])
}

/// The pre-flight options of a hotfix release of `image`.
fn preflight_options(image: &str) -> Result<PreflightOptions> {
    let version = image.rsplit(':').next().unwrap_or(image).to_owned();
    Ok(PreflightOptions::new("fleet-api", version).hotfix(approvals()?, "main"))
}

fn executor(
    procedure: &str,
    audit: &Arc<dyn AuditSink>,
    confirm: Option<&str>,
) -> Result<Executor> {
    let mut guards = Guards::new(audit.clone());
    if let Some(word) = confirm {
        guards = guards.with_confirm(Arc::new(TokenConfirm::new(word)));
    }
    let context = RunContext::new(procedure, ACTOR, "runbook drill", Mode::Execute)
        .map_err(|e| drill_err("context", e))?;
    Ok(Executor::new(context, guards))
}

/// The flexible server on AzureReplay, after the runbook's "Manual Backup" before a release
/// (an on-demand backup named by the policy, so that the pre-flight finds one within the RPO).
async fn azure_database(world: &DrillWorld, policy: &Policy) -> Result<AzureDatabase> {
    let mut options = ArmClientOptions {
        polling: PollSettings {
            default_interval: Duration::from_millis(10),
            min_interval: Duration::ZERO,
            max_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
        },
        ..ArmClientOptions::default()
    };
    options.client_options.transport = Some(world.azure.transport());
    options.client_options.retry = RetrySettings::fast_for_tests(3).into();
    let client = ArmClient::new(
        world.azure.base_url(),
        world.azure.credential(),
        Some(options),
    )
    .and_then(|c| c.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER))
    .map_err(|e| drill_err("azure flexible server client", e))?;
    let name = policy.on_demand_backup_name(Timestamp::now(), []);
    let poller = client
        .begin_create_backup(&name, None)
        .await
        .map_err(|e| drill_err("on-demand backup", e))?;
    fleet_azure::follow(poller, |_| {})
        .await
        .map_err(|e| drill_err("on-demand backup", e))?;
    Ok(AzureDatabase::from_client(client))
}

fn hours(d: Option<SignedDuration>) -> String {
    d.map_or_else(
        || "not measured".into(),
        |d| {
            format!(
                "{:.2} h ({:.1} s)",
                d.as_secs_f64() / 3600.0,
                d.as_secs_f64()
            )
        },
    )
}

/// The story's clients and the chapters written so far.
struct Teller<'a> {
    kube: Kube,
    db: Db,
    azure: AzureDatabase,
    policy: Policy,
    validate: ValidateOptions,
    audit: Arc<dyn AuditSink>,
    chapters: Vec<DrillChapter>,
    say: &'a (dyn Fn(&str) + Sync),
}

impl Teller<'_> {
    fn push(&mut self, title: &str, note: Option<String>, report: Report, as_expected: bool) {
        (self.say)(&format!(
            "{title}: {:?} (exit {})",
            report.status, report.exit_code
        ));
        self.chapters.push(DrillChapter {
            title: title.to_owned(),
            note,
            report,
            as_expected,
        });
    }

    fn deploy(&self, image: &str, auto_rollback: bool) -> Result<Deploy> {
        let options = DeployOptions::new(
            preflight_options(image)?,
            "fleet-api",
            image,
            self.validate.clone(),
        )
        .with_bake(Duration::from_secs(2), Duration::from_millis(250))
        .with_rollout_timeout(Duration::from_secs(60))
        .with_auto_rollback(auto_rollback);
        Ok(Deploy::new(
            self.kube.clone(),
            Some(self.db.clone()),
            Some(self.azure.clone()),
            Signals::default(),
            self.policy.clone(),
            options,
        ))
    }
}

/// Runs the runbook drill in `dir` (created if missing): starts a [`DrillWorld`] there, writes
/// the audit log to `dir/audit.jsonl` and each report as JSON under `dir/reports`. `say` is
/// told what happens as it happens (one line per step started and ended; the library itself
/// never prints).
///
/// On top of the world the drill serves the application's critical paths from a tiny local
/// HTTP server (every request answered `200 ok`, so that the smoke tests have something to
/// call) and takes the runbook's "Manual Backup" on AzureReplay's flexible server, then runs,
/// with one append-only audit log:
///
/// 1. the pre-flight of a release of `fleet-api` ([`Preflight`]);
/// 2. the deploy of a good version ([`DRILL_GOOD_IMAGE`]), baked and validated ([`Deploy`]);
/// 3. the deploy of a version whose pods crash-loop ([`DRILL_BAD_IMAGE`]), with automatic
///    rollback off, so that fleet-policy's rollback decision is what the report shows;
/// 4. the rollback, confirmed with the runbook's typed word `ROLLBACK` ([`Rollback`]);
/// 5. the validation of the rolled-back release ([`Validate`]);
/// 6. the loss of the primary region and the recovery from the backup
///    ([`DrillWorld::recover`]), measured against the policy's RTO and RPO.
///
/// The drill runs at any hour, so its releases are hotfixes approved by a technical lead (the
/// runbook's deploy window would refuse a standard release outside it).
///
/// A procedure that ends badly is not an error: its chapter says so, and
/// [`DrillStory::as_expected`] is false.
///
/// # Errors
/// A stand-in that does not start (PostgreSQL binaries or `pg_dump` missing, no free port), a
/// client that cannot be built, or a directory, audit log or report that cannot be written;
/// see also [`DrillWorld::start`] and [`DrillWorld::recover`].
pub async fn run_drill_story(dir: &Path, say: &(dyn Fn(&str) + Sync)) -> Result<DrillStory> {
    let io = |what: &'static str| move |e: std::io::Error| drill_err(what, e);
    std::fs::create_dir_all(dir).map_err(io("drill directory"))?;
    let reports_dir = dir.join("reports");
    std::fs::create_dir_all(&reports_dir).map_err(io("reports directory"))?;
    let audit_log = dir.join("audit.jsonl");
    let audit: Arc<dyn AuditSink> =
        Arc::new(FileAuditSink::open(&audit_log).map_err(|e| drill_err("audit log", e))?);
    let policy = Policy::default();

    say(
        "starting the stand-ins: FakeCluster x2, PostgreSQL, AzureReplay; seeding the database and taking an encrypted backup",
    );
    let world = DrillWorld::start(DrillOptions::new(dir)).await?;
    let db_client =
        PgClient::new(DbOptions::from_url(world.postgres.url()).with_tls_mode(TlsMode::Disable))
            .map_err(|e| drill_err("database client", e))?;
    let app = serve_app().await?;
    let mut t = Teller {
        kube: Kube::from_cluster(kube(&world.primary)?),
        db: Db::from_client(db_client, "fleetdb (drill)"),
        azure: azure_database(&world, &policy).await?,
        validate: ValidateOptions::new("fleet-api", smoke(&app))
            .with_metrics_window(Duration::from_secs(60)),
        policy,
        audit,
        chapters: Vec::new(),
        say,
    };

    say("1/6 pre-flight");
    let report = Preflight::new(
        t.kube.clone(),
        Some(t.db.clone()),
        Some(t.azure.clone()),
        t.policy.clone(),
        preflight_options(DRILL_GOOD_IMAGE)?,
    )
    .run(&executor("production-preflight-check", &t.audit, None)?)
    .await;
    let ok = report.exit_code == 0;
    let hotfix_note =
        "a hotfix approved by the technical lead, since the drill runs outside the deploy window";
    t.push("Pre-flight checklist", Some(hotfix_note.into()), report, ok);

    say("2/6 deploy of a good release");
    let report = t
        .deploy(DRILL_GOOD_IMAGE, true)?
        .run(&executor("deploy-to-production", &t.audit, None)?)
        .await;
    let ok = report.exit_code == 0;
    t.push("Deploy fleet-api 1.4.3", None, report, ok);

    say("3/6 deploy of a release whose pods crash-loop");
    world.primary.set_scenario(
        DRILL_BAD_IMAGE,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 4,
        },
    );
    let report = t
        .deploy(DRILL_BAD_IMAGE, false)?
        .run(&executor("deploy-to-production", &t.audit, None)?)
        .await;
    let ok = report.exit_code != 0
        && report
            .findings
            .findings
            .iter()
            .any(|f| f.rule.starts_with("rollback.") && f.outcome == Outcome::Fail);
    t.push(
        "Deploy fleet-api 1.5.0: rollback decision",
        Some("the stand-in makes 1.5.0's pods exit 1 (CrashLoopBackOff); automatic rollback is off so that the decision shows".into()),
        report,
        ok,
    );

    say("4/6 rollback (the drill types ROLLBACK)");
    let report = Rollback::new(
        t.kube.clone(),
        Signals::default(),
        t.policy.clone(),
        RollbackOptions::new(t.validate.clone()).with_poll_interval(Duration::from_millis(250)),
    )
    .run(&executor(
        "rollback-production",
        &t.audit,
        Some("ROLLBACK"),
    )?)
    .await;
    let ok = report.exit_code == 0;
    t.push(
        "Rollback procedure",
        Some("confirmation given by the drill: ROLLBACK".into()),
        report,
        ok,
    );

    say("5/6 validation of the rolled-back release");
    let report = Validate::new(
        t.kube.clone(),
        Signals::default(),
        t.policy.clone(),
        t.validate.clone(),
    )
    .run(&executor("validate-production-deployment", &t.audit, None)?)
    .await;
    let ok = report.exit_code == 0;
    t.push("Validate production deployment", None, report, ok);

    say("6/6 the primary region is lost: disaster recovery from the backup");
    let outcome = world
        .recover(
            Mode::Execute,
            Some(DRILL_RECOVERY_NAME),
            t.audit.clone(),
            Signals::default(),
        )
        .await?;
    let ok = outcome.report.exit_code == 0;
    t.push(
        "Disaster recovery (RTO 4 h, RPO 24 h)",
        Some(format!(
            "confirmation given by the drill: {DRILL_RECOVERY_NAME}; measured RTO {}, RPO {}",
            hours(outcome.measurements.rto),
            hours(outcome.measurements.rpo),
        )),
        outcome.report,
        ok,
    );

    for (n, chapter) in t.chapters.iter().enumerate() {
        let report = &chapter.report;
        let path = reports_dir.join(format!("{:02}-{}.json", n + 1, report.procedure));
        std::fs::write(path, report.to_json()).map_err(io("report"))?;
    }
    Ok(DrillStory {
        chapters: t.chapters,
        audit_log,
        reports_dir,
    })
}

#[cfg(test)]
mod tests {
    use fleet_guard::{MemoryAuditSink, Plan};

    use super::*;

    fn report(procedure: &str) -> Report {
        let context = RunContext::new(procedure, ACTOR, "test", Mode::Execute).expect("context");
        let run = Executor::new(context, Guards::new(Arc::new(MemoryAuditSink::new())));
        let started = run.now();
        Report::from_run(
            &run,
            Plan::new(procedure),
            &Policy::default(),
            Vec::new(),
            started,
        )
    }

    fn story(second_as_expected: bool) -> DrillStory {
        DrillStory {
            chapters: vec![
                DrillChapter {
                    title: "Pre-flight checklist".into(),
                    note: Some("a hotfix".into()),
                    report: report("production-preflight-check"),
                    as_expected: true,
                },
                DrillChapter {
                    title: "Rollback procedure".into(),
                    note: None,
                    report: report("rollback-production"),
                    as_expected: second_as_expected,
                },
            ],
            audit_log: PathBuf::from("drill/audit.jsonl"),
            reports_dir: PathBuf::from("drill/reports"),
        }
    }

    #[test]
    fn the_text_numbers_the_chapters_and_gives_the_verdict() {
        let good = story(true);
        let text = good.to_string();
        assert!(text.starts_with("=== 1. Pre-flight checklist ===\n(drill: a hotfix)\n"));
        assert!(text.contains("=== 2. Rollback procedure ===\nrollback-production"));
        assert!(text.contains("audit log: drill/audit.jsonl\nreports:   drill/reports\n"));
        assert!(
            text.ends_with("every step ended as the runbook expects\n"),
            "{text}"
        );
        assert_eq!(good.exit_code(), 0);

        let bad = story(false);
        assert!(!bad.as_expected());
        assert_eq!(bad.exit_code(), 1);
        assert!(bad.to_string().ends_with("see its report above\n"));
    }

    #[test]
    fn the_json_is_every_report_in_order() {
        let json: serde_json::Value =
            serde_json::from_str(&story(true).to_json()).expect("one JSON document");
        let procedures: Vec<&str> = json
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| r["procedure"].as_str().expect("procedure"))
            .collect();
        assert_eq!(
            procedures,
            ["production-preflight-check", "rollback-production"]
        );
    }
}
