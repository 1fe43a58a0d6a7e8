//! `./scripts/deploy-to-production.sh v1.2.3` (runbook "Deployment Procedures"; with `--hotfix`
//! the hotfix command, pre-flight still run): the pre-flight, set image, the rollout watched,
//! a bake period, fleet-policy's rollback rules, an automatic rollback when they fail, and the
//! validation (`fleet_runbook::Deploy`).
//!
//! ```text
//! cargo run -p fleet-examples --features runbook --example deploy_to_production -- v1.2.3 \
//!     --image registry.example.com/fleet/fleet-api:1.2.3 --smoke 'login flow=https://...' \
//!     --database-url 'postgres://...' --subscription SUB --resource-group RG --server SERVER
//! ```
//! Exit status: 0 released and healthy (or, with `--dry-run`, validated by the server), 1 a
//! blocking finding (pre-flight, or a release rolled back), 2 usage, a refusal or a failed step.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fleet_examples::release::Release;
use fleet_examples::runbook::{self, BoxError, Common, Smoke};
use fleet_policy::Policy;
use fleet_runbook::{Deploy, DeployOptions, ValidateOptions};

/// Deploy a version to production, watch it, and roll it back when the rules say so.
#[derive(Parser)]
#[command(name = "deploy_to_production")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    smoke: Smoke,
    #[command(flatten)]
    release: Release,
    /// The version (`v1.2.3`, `hotfix-v1.2.4`).
    version: String,
    /// The image to run (`registry.example.com/fleet/fleet-api:1.2.3`).
    #[arg(long)]
    image: String,
    /// The container whose image changes.
    #[arg(long, default_value = "fleet-api")]
    container: String,
    /// Seconds of bake after the rollout.
    #[arg(long, default_value_t = 600)]
    bake_secs: u64,
    /// Seconds the rollout may take.
    #[arg(long, default_value_t = 600)]
    rollout_timeout_secs: u64,
    /// Only recommend a rollback instead of rolling back.
    #[arg(long)]
    no_auto_rollback: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runbook::main(run(&cli)).await
}

async fn run(cli: &Cli) -> Result<ExitCode, BoxError> {
    let kube = cli.common.kube().await?;
    let (db, azure) = (cli.release.db()?, cli.release.azure()?);
    let validate = ValidateOptions::new(cli.release.deployment.clone(), cli.smoke.checks.clone());
    let preflight = cli.release.preflight(&cli.version);
    let options = DeployOptions::new(preflight, &cli.container, &cli.image, validate)
        .with_bake(Duration::from_secs(cli.bake_secs), Duration::from_secs(2))
        .with_rollout_timeout(Duration::from_secs(cli.rollout_timeout_secs))
        .with_auto_rollback(!cli.no_auto_rollback);
    let mut deploy = Deploy::new(
        kube,
        db,
        azure,
        cli.release.signals()?,
        Policy::default(),
        options,
    );
    if let Some(lock) = cli.common.lock().await? {
        deploy = deploy.with_lock(lock);
    }
    let (run, _) = cli.common.executor("deploy-to-production")?;
    let report = deploy.run(&run).await;
    Ok(cli.common.finish(&report))
}
