//! `./scripts/production-preflight-check.sh` (runbook "Deployment Procedures", Pre-Deployment
//! Checklist): may this release go out now? The deploy window or the hotfix approval, the
//! running rollout, crash loops, the deploy's RBAC, CPU and memory headroom, the database's
//! connections and a backup within the RPO, judged by fleet-policy
//! (`fleet_runbook::Preflight`). Read-only.
//!
//! ```text
//! cargo run -p fleet-examples --features runbook --example production_preflight_check -- \
//!     --version v1.2.3 --database-url 'postgres://...' \
//!     --subscription SUB --resource-group fleet-production-rg --server fleet-postgres-server
//! ```
//! Without a database URL or an Azure server, those checks are reported as not run
//! (inconclusive, which blocks by default: missing data never passes).
//! Exit status: 0 clear to deploy, 1 a blocking finding, 2 usage or a cluster that cannot be
//! reached.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use fleet_examples::release::Release;
use fleet_examples::runbook::{self, BoxError, Common};
use fleet_policy::Policy;
use fleet_runbook::Preflight;

/// Pre-flight checks before a production deploy.
#[derive(Parser)]
#[command(name = "production_preflight_check")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    release: Release,
    /// The version about to be deployed.
    #[arg(long, default_value = "next")]
    version: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runbook::main(run(&cli)).await
}

async fn run(cli: &Cli) -> Result<ExitCode, BoxError> {
    let kube = cli.common.kube().await?;
    let (db, azure) = (cli.release.db()?, cli.release.azure()?);
    let options = cli.release.preflight(&cli.version);
    let preflight = Preflight::new(kube, db, azure, Policy::default(), options);
    let (run, _) = cli.common.executor("production-preflight-check")?;
    let report = preflight.run(&run).await;
    Ok(cli.common.finish(&report))
}
