//! `./scripts/validate-production-deployment.sh` (runbook "Post-Deployment Validation"): is the
//! running release healthy? Rollout complete with every replica ready, no pod crash-looping,
//! the critical paths' smoke tests, judged by fleet-policy (`fleet_runbook::Validate`).
//!
//! ```text
//! cargo run -p fleet-examples --features runbook --example validate_production_deployment -- \
//!     --smoke 'login flow=https://fleet.example.com/login' --smoke 'work orders=https://...'
//! ```
//! Exit status: 0 healthy, 1 a blocking finding, 2 usage or a cluster that cannot be reached.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use fleet_examples::runbook::{self, BoxError, Common, Smoke};
use fleet_policy::Policy;
use fleet_runbook::{Signals, Validate, ValidateOptions};

/// Validate a production deployment: rollout, readiness, crash loops, smoke tests.
#[derive(Parser)]
#[command(name = "validate_production_deployment")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    smoke: Smoke,
    /// The deployment.
    #[arg(short, long, default_value = "fleet-api")]
    deployment: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runbook::main(run(&cli)).await
}

async fn run(cli: &Cli) -> Result<ExitCode, BoxError> {
    let kube = cli.common.kube().await?;
    let options = ValidateOptions::new(cli.deployment.clone(), cli.smoke.checks.clone());
    let validate = Validate::new(
        kube,
        Signals::new(cli.common.notifiers()?, None),
        Policy::default(),
        options,
    );
    let (run, _) = cli.common.executor("validate-production-deployment")?;
    let report = validate.run(&run).await;
    Ok(cli.common.finish(&report))
}
