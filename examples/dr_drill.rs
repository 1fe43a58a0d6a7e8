//! The runbook's "Disaster Recovery" as a drill (RTO 4 h, RPO 24 h): the five steps of the
//! real procedure against stand-ins, with the measured RTO and RPO judged by the policy.
//!
//! ```text
//! cargo run -p fleet-examples --features drill --example dr_drill -- \
//!     [--source logical|point-in-time] [--backup-age-hours 6] [--dry-run] [--output text|json]
//! ```
//! It starts a fake primary cluster seeded with the fleet, an empty one for the backup region,
//! a throwaway PostgreSQL with data and AzureReplay; takes an encrypted fleet-backup backup of
//! the database and the namespace; declares the disaster `--backup-age-hours` after it; and
//! recovers: (1) the database from the logical backup (or Azure's point-in-time restore on
//! AzureReplay), (2) the configuration into the second cluster, pointed at the restored
//! database, (3) the DNS record on AzureReplay, (4) validation of every restored Deployment and
//! Service, (5) the notifications to the `--webhook`s. The drill confirms its own changes (the
//! stand-ins are throwaway). Exit status is the report's: 0 within the policy, 1 otherwise, 2 when
//! the drill could not run.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use fleet_guard::{FileAuditSink, Mode};
use fleet_runbook::{DrillOptions, DrillSource, Signals, run_drill};

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Source {
    /// The fleet-backup logical backup.
    Logical,
    /// Azure's point-in-time restore of the flexible server.
    PointInTime,
}

/// A disaster-recovery drill on stand-ins, reporting the measured RTO and RPO.
#[derive(Parser)]
#[command(name = "dr_drill")]
struct Cli {
    /// Where the backup store and the audit log go.
    #[arg(long, default_value = "fleet-dr-drill")]
    dir: PathBuf,
    /// Where the database is restored from.
    #[arg(long, value_enum, default_value = "logical")]
    source: Source,
    /// How long after the backup the disaster comes (the RPO the drill achieves).
    #[arg(long, default_value_t = 6)]
    backup_age_hours: i64,
    /// Plan and read only: the stand-ins are set up and backed up, the recovery writes nothing.
    #[arg(long)]
    dry_run: bool,
    /// Append-only audit log (JSON lines); default `DIR/audit.jsonl`.
    #[arg(long, value_name = "PATH")]
    audit_log: Option<PathBuf>,
    /// Webhook told in step 5 (repeatable).
    #[arg(long, value_name = "URL")]
    webhook: Vec<String>,
    /// The report and measurements as text, or as one JSON object.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

#[tokio::main]
async fn main() -> ExitCode {
    fleet_examples::init_tracing("error");
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: the drill could not run: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&cli.dir)?;
    let audit_path = cli.audit_log.clone().unwrap_or(cli.dir.join("audit.jsonl"));
    let audit = Arc::new(FileAuditSink::open(&audit_path)?);
    let signals = Signals::new(fleet_examples::webhook_notifiers(&cli.webhook)?, None);
    let source = match cli.source {
        Source::Logical => DrillSource::Logical,
        Source::PointInTime => DrillSource::PointInTime,
    };
    let options = DrillOptions::new(&cli.dir)
        .with_backup_age(jiff::SignedDuration::from_hours(cli.backup_age_hours))
        .with_source(source)
        .with_mode(if cli.dry_run {
            Mode::DryRun
        } else {
            Mode::Execute
        });
    let policy = options.policy.clone();
    eprintln!("==> starting the stand-ins, seeding the database and taking the backup");
    let (outcome, _world) = run_drill(options, audit, signals).await?;
    match cli.output {
        Output::Json => print!("{}", outcome.to_json()),
        Output::Text => {
            print!("{}", outcome.report.to_text());
            print!("{}", outcome.measured_against(&policy));
            println!("audit log: {}", audit_path.display());
        }
    }
    Ok(ExitCode::from(outcome.report.exit_code))
}
