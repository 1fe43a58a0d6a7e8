//! The runbook's "Performance Degradation Response" and "Site Down / 503": why requests fail
//! behind the ingress, the bottleneck ranked against the policy's bands, and the quick fixes
//! (`--scale N`, `--restart`) as confirmed, audited actions.
//!
//! ```text
//! cargo run -p fleet-examples --features incident --example perf_triage -- --help
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use fleet_examples::runbook::{BoxError, Common};
use fleet_policy::Policy;
use fleet_runbook::{PerfTriage, QuickFix};

/// Performance triage, read-only unless a quick fix is asked for.
#[derive(Parser)]
#[command(name = "perf_triage")]
struct Args {
    /// The deployment the quick fixes act on.
    #[arg(long, default_value = "fleet-api")]
    deployment: String,
    /// Scale to this many replicas (clamped to the policy's bounds; confirm with SCALE).
    #[arg(long, value_name = "N")]
    scale: Option<u32>,
    /// Restart the deployment's pods (confirm with RESTART).
    #[arg(long)]
    restart: bool,
    #[command(flatten)]
    common: Common,
}

#[tokio::main]
async fn main() -> ExitCode {
    fleet_examples::runbook::main(run(&Args::parse())).await
}

async fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let c = &args.common;
    let (kube, _) = c.kube().await?;
    let mut fixes = Vec::new();
    if let Some(n) = args.scale {
        fixes.push(QuickFix::Scale {
            deployment: args.deployment.clone(),
            replicas: n,
        });
    }
    if args.restart {
        fixes.push(QuickFix::Restart {
            deployment: args.deployment.clone(),
        });
    }
    let (run, _) = c.executor("perf-triage")?;
    let (report, found) = PerfTriage::new(kube, None, Policy::default())
        .run(&run, &fixes)
        .await;
    for cause in &found.serving {
        eprintln!("503 cause: {cause}");
    }
    Ok(c.finish(&report))
}
