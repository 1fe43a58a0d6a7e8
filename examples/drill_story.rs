//! The `drill` example's story: the whole runbook run with its real procedures against
//! fleet-testkit's stand-ins, one step after the other, each step's report kept.
//!
//! The stand-ins come from `fleet_runbook::DrillWorld` (a primary FakeCluster seeded with the
//! fleet, an empty recovery FakeCluster, a TempPostgres with the application's data, a
//! local-directory backup store holding one encrypted database and configuration backup, and
//! AzureReplay serving the flexible server and the DNS zone). On top of it the story adds the
//! application's critical paths as a tiny local HTTP server (the smoke tests need something to
//! answer) and then runs, with one append-only audit log:
//!
//! 1. the pre-flight of a release of `fleet-api`;
//! 2. the deploy of a good version (baked, validated);
//! 3. the deploy of a version whose pods crash-loop, with automatic rollback turned off, so that
//!    fleet-policy's rollback decision is what the report shows;
//! 4. the rollback, confirmed with the runbook's typed word `ROLLBACK` (given by the drill);
//! 5. the validation of the rolled-back release;
//! 6. the loss of the primary region and the disaster recovery from the backup into the
//!    recovery cluster and database, with the DNS switched, measured against RTO and RPO.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fleet_azure::{ArmClient, ArmClientOptions, PollSettings, RetrySettings, ServerBackups};
use fleet_db::{DbOptions, PgClient, TlsMode};
use fleet_guard::{AuditSink, Executor, FileAuditSink, Guards, Mode, RunContext, TokenConfirm};
use fleet_k8s::{ClusterOptions, KubeCluster};
use fleet_policy::Policy;
use fleet_policy::deploy::Approval;
use fleet_runbook::{
    AzureDatabase, DRILL_RECOVERY_NAME, Db, Deploy, DeployOptions, DrillOptions, DrillWorld, Kube,
    Preflight, PreflightOptions, Report, Rollback, RollbackOptions, Signals, SmokeCheck, Validate,
    ValidateOptions,
};
use fleet_testkit::azure::{RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID};
use fleet_testkit::k8s::{FLEET_NAMESPACE, Scenario};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The release the drill deploys first (it passes).
pub const GOOD_IMAGE: &str = "registry.example.com/fleet/fleet-api:1.4.3";
/// The release the drill deploys second (its pods crash-loop).
pub const BAD_IMAGE: &str = "registry.example.com/fleet/fleet-api:1.5.0";

/// One step of the story and what it produced.
#[derive(Debug)]
pub struct Chapter {
    /// What the step is, in the runbook's words.
    pub title: String,
    /// What the drill did to make the step happen (a stand-in's knob, a typed word).
    pub note: Option<String>,
    /// The procedure's report.
    pub report: Report,
    /// Whether this report is what the story expects (a blocked deploy of the bad release is
    /// expected).
    pub as_expected: bool,
}

/// The whole run.
#[derive(Debug)]
pub struct Story {
    /// The steps, in order.
    pub chapters: Vec<Chapter>,
    /// The audit log (JSON lines).
    pub audit_log: PathBuf,
    /// Where each report was written as JSON.
    pub reports_dir: PathBuf,
}

impl Story {
    /// True when every step ended as the story expects.
    pub fn as_expected(&self) -> bool {
        self.chapters.iter().all(|c| c.as_expected)
    }
}

/// Serves 200 `ok` to every request: the application's critical paths for the smoke tests.
async fn serve_app() -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
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

/// A hotfix approved by the technical lead: the drill runs at any hour, and the runbook's
/// deploy window would refuse a standard release outside it.
fn approvals() -> Result<Vec<Approval>, BoxError> {
    Ok(vec![Approval {
        role: "technical-lead".into(),
        by: "lead@example.com".into(),
        at: jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_mins(10))?,
    }])
}

fn executor(
    procedure: &str,
    audit: &Arc<dyn AuditSink>,
    confirm: Option<&str>,
) -> Result<Executor, BoxError> {
    let mut guards = Guards::new(audit.clone());
    if let Some(word) = confirm {
        guards = guards.with_confirm(Arc::new(TokenConfirm::new(word)));
    }
    let context = RunContext::new(
        procedure,
        "drill@example.com",
        "runbook drill",
        Mode::Execute,
    )?;
    Ok(Executor::new(context, guards))
}

async fn azure_database(world: &DrillWorld, policy: &Policy) -> Result<AzureDatabase, BoxError> {
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
    )?
    .flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER)?;
    // The runbook's "Manual Backup" before a release: an on-demand backup named by the policy,
    // so that the pre-flight finds one within the RPO.
    let name = policy.on_demand_backup_name(jiff::Timestamp::now(), []);
    let poller = client.begin_create_backup(&name, None).await?;
    fleet_azure::follow(poller, |_| {}).await?;
    Ok(AzureDatabase::from_client(client))
}

fn hours(d: Option<jiff::SignedDuration>) -> String {
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

fn save(dir: &Path, n: usize, report: &Report) -> Result<(), BoxError> {
    let path = dir.join(format!("{n:02}-{}.json", report.procedure));
    std::fs::write(path, report.to_json())?;
    Ok(())
}

/// Runs the story in `dir` (created if missing): the backup store, the audit log and the
/// reports go there. `say` is told what happens as it happens.
///
/// # Errors
/// A stand-in that does not start (PostgreSQL binaries or `pg_dump` missing, no free port), or
/// an audit log that cannot be written. A procedure that ends badly is not an error: its
/// report says so.
pub async fn run_story(dir: &Path, say: &(dyn Fn(&str) + Sync)) -> Result<Story, BoxError> {
    std::fs::create_dir_all(dir)?;
    let reports_dir = dir.join("reports");
    std::fs::create_dir_all(&reports_dir)?;
    let audit_log = dir.join("audit.jsonl");
    let audit: Arc<dyn AuditSink> = Arc::new(FileAuditSink::open(&audit_log)?);
    let policy = Policy::default();

    say(
        "starting the stand-ins: FakeCluster x2, PostgreSQL, AzureReplay; seeding the database and taking an encrypted backup",
    );
    let world = DrillWorld::start(DrillOptions::new(dir)).await?;
    let mut config = kube::Config::new(world.primary.url().parse()?);
    config.default_namespace = FLEET_NAMESPACE.into();
    let kube = Kube::from_cluster(KubeCluster::from_config(
        config,
        ClusterOptions::default().with_namespace(FLEET_NAMESPACE),
    )?);
    let db_client =
        PgClient::new(DbOptions::from_url(world.postgres.url()).with_tls_mode(TlsMode::Disable))?;
    let db = Db::from_client(db_client, "fleetdb (drill)");
    let azure = azure_database(&world, &policy).await?;
    let app = serve_app().await?;
    let validate =
        ValidateOptions::new("fleet-api", smoke(&app)).with_metrics_window(Duration::from_secs(60));
    let preflight = |image: &str| {
        let version = image.rsplit(':').next().unwrap_or(image).to_owned();
        approvals().map(|a| PreflightOptions::new("fleet-api", version).hotfix(a, "main"))
    };

    let mut chapters = Vec::new();
    let mut push = |title: &str, note: Option<String>, report: Report, expected: bool| {
        say(&format!(
            "{title}: {:?} (exit {})",
            report.status, report.exit_code
        ));
        chapters.push(Chapter {
            title: title.to_owned(),
            note,
            report,
            as_expected: expected,
        });
    };
    let hotfix_note =
        "a hotfix approved by the technical lead, since the drill runs outside the deploy window"
            .to_owned();

    say("1/6 pre-flight");
    let check = Preflight::new(
        kube.clone(),
        Some(db.clone()),
        Some(azure.clone()),
        policy.clone(),
        preflight(GOOD_IMAGE)?,
    );
    let report = check
        .run(&executor("production-preflight-check", &audit, None)?)
        .await;
    let ok = report.exit_code == 0;
    push(
        "Pre-flight checklist",
        Some(hotfix_note.clone()),
        report,
        ok,
    );

    say("2/6 deploy of a good release");
    let deploy = |image: &str, auto: bool| -> Result<Deploy, BoxError> {
        let options = DeployOptions::new(preflight(image)?, "fleet-api", image, validate.clone())
            .with_bake(Duration::from_secs(2), Duration::from_millis(250))
            .with_rollout_timeout(Duration::from_secs(60))
            .with_auto_rollback(auto);
        Ok(Deploy::new(
            kube.clone(),
            Some(db.clone()),
            Some(azure.clone()),
            Signals::default(),
            policy.clone(),
            options,
        ))
    };
    let report = deploy(GOOD_IMAGE, true)?
        .run(&executor("deploy-to-production", &audit, None)?)
        .await;
    let ok = report.exit_code == 0;
    push("Deploy fleet-api 1.4.3", None, report, ok);

    say("3/6 deploy of a release whose pods crash-loop");
    world.primary.set_scenario(
        BAD_IMAGE,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 4,
        },
    );
    let report = deploy(BAD_IMAGE, false)?
        .run(&executor("deploy-to-production", &audit, None)?)
        .await;
    let ok =
        report.exit_code != 0
            && report.findings.findings.iter().any(|f| {
                f.rule.starts_with("rollback.") && f.outcome == fleet_policy::Outcome::Fail
            });
    push(
        "Deploy fleet-api 1.5.0: rollback decision",
        Some("the stand-in makes 1.5.0's pods exit 1 (CrashLoopBackOff); automatic rollback is off so that the decision shows".into()),
        report,
        ok,
    );

    say("4/6 rollback (the drill types ROLLBACK)");
    let rollback = Rollback::new(
        kube.clone(),
        Signals::default(),
        policy.clone(),
        RollbackOptions::new(validate.clone()).with_poll_interval(Duration::from_millis(250)),
    );
    let report = rollback
        .run(&executor("rollback-production", &audit, Some("ROLLBACK"))?)
        .await;
    let ok = report.exit_code == 0;
    push(
        "Rollback procedure",
        Some("confirmation given by the drill: ROLLBACK".into()),
        report,
        ok,
    );

    say("5/6 validation of the rolled-back release");
    let report = Validate::new(
        kube.clone(),
        Signals::default(),
        policy.clone(),
        validate.clone(),
    )
    .run(&executor("validate-production-deployment", &audit, None)?)
    .await;
    let ok = report.exit_code == 0;
    push("Validate production deployment", None, report, ok);

    say("6/6 the primary region is lost: disaster recovery from the backup");
    let outcome = world
        .recover(
            Mode::Execute,
            Some(DRILL_RECOVERY_NAME),
            audit.clone(),
            Signals::default(),
        )
        .await?;
    let ok = outcome.report.exit_code == 0;
    push(
        "Disaster recovery (RTO 4 h, RPO 24 h)",
        Some(format!(
            "confirmation given by the drill: {DRILL_RECOVERY_NAME}; measured RTO {}, RPO {}",
            hours(outcome.measurements.rto),
            hours(outcome.measurements.rpo),
        )),
        outcome.report,
        ok,
    );

    for (n, chapter) in chapters.iter().enumerate() {
        save(&reports_dir, n + 1, &chapter.report)?;
    }
    Ok(Story {
        chapters,
        audit_log,
        reports_dir,
    })
}
