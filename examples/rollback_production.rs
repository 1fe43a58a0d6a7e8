//! `./scripts/rollback-production.sh [--list]` (runbook "Rollback Procedures"): list the
//! revisions, or roll back to the previous (or a named) revision after the typed `ROLLBACK`,
//! validate, and tell #incidents (`fleet_runbook::Rollback`).
//!
//! ```text
//! cargo run -p fleet-examples --features runbook --example rollback_production -- --list
//! cargo run -p fleet-examples --features runbook --example rollback_production -- --confirm ROLLBACK \
//!     --smoke 'login flow=https://fleet.example.com/login' ...
//! ```
//! Exit status: 0 rolled back and healthy (or listed), 1 failed or blocked, 2 refused or usage.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use fleet_examples::runbook::{self, BoxError, Common, Smoke};
use fleet_policy::Policy;
use fleet_runbook::{Rollback, RollbackOptions, Signals, ValidateOptions};

/// Roll back a deployment (confirm with ROLLBACK), validate it, notify #incidents.
#[derive(Parser)]
#[command(name = "rollback_production")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    smoke: Smoke,
    /// The deployment.
    #[arg(short, long, default_value = "fleet-api")]
    deployment: String,
    /// List the revisions (image, change cause, age) and stop.
    #[arg(long)]
    list: bool,
    /// Roll back to this revision instead of the previous one.
    #[arg(long)]
    to_revision: Option<i64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runbook::main(run(&cli)).await
}

async fn run(cli: &Cli) -> Result<ExitCode, BoxError> {
    let kube = cli.common.kube().await?;
    let validate = ValidateOptions::new(cli.deployment.clone(), cli.smoke.checks.clone());
    let mut options = RollbackOptions::new(validate);
    if let Some(r) = cli.to_revision {
        options = options.to_revision(r);
    }
    let mut rollback = Rollback::new(
        kube,
        Signals::new(cli.common.notifiers()?, None),
        Policy::default(),
        options,
    );
    if let Some(lock) = cli.common.lock().await? {
        rollback = rollback.with_lock(lock);
    }
    if cli.list {
        let lines = rollback.list(jiff::Timestamp::now()).await?;
        match cli.common.output {
            fleet_examples::runbook::Output::Json => {
                println!("{}", serde_json::to_string_pretty(&lines)?);
            }
            fleet_examples::runbook::Output::Text => {
                println!("REVISION    AGE  IMAGES  CHANGE-CAUSE");
                for line in &lines {
                    println!("{line}");
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (run, _) = cli.common.executor("rollback")?;
    let report = rollback.run(&run).await;
    Ok(cli.common.finish(&report))
}
