//! The fleet's health in one read: the runbook's post-deployment validation (rollout complete,
//! every replica ready, no crash loop, the critical paths' smoke checks) on every cluster of a
//! kubeconfig at once (`fleet_runbook::validate_across`), with one combined report.
//!
//! ```text
//! cargo run -p fleet-examples --features runbook --example fleet_health -- \
//!     --context prod-westeurope --context prod-northeurope --max-in-flight 8
//! ```
//! Exit status: 0 every cluster healthy, 1 a blocking finding somewhere, 2 a cluster that could
//! not be read in time (or bad flags).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fleet_examples::runbook::{self, BoxError, Common, Output, Smoke};
use fleet_guard::{Guards, Mode, RunContext};
use fleet_k8s::ClusterOptions;
use fleet_policy::Policy;
use fleet_runbook::{
    FleetOptions, ValidateOptions, cluster_for_context, health_exit_code, validate_across,
};

/// Validate the release on many clusters at once (kubeconfig contexts).
#[derive(Parser)]
#[command(name = "fleet_health")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    smoke: Smoke,
    /// The deployment.
    #[arg(short, long, default_value = "fleet-api")]
    deployment: String,
    /// Clusters read at once.
    #[arg(long, default_value_t = 8)]
    max_in_flight: usize,
    /// Seconds one cluster's read may take.
    #[arg(long, default_value_t = 120)]
    deadline: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runbook::main(run(&cli)).await
}

async fn run(cli: &Cli) -> Result<ExitCode, BoxError> {
    let kubeconfig = kube::config::Kubeconfig::read()?;
    let names: Vec<String> = if cli.common.contexts.is_empty() {
        kubeconfig.contexts.iter().map(|c| c.name.clone()).collect()
    } else {
        cli.common.contexts.clone()
    };
    let options = ClusterOptions::default().with_namespace(cli.common.namespace.clone());
    let mut clusters = Vec::new();
    for name in names {
        let cluster = cluster_for_context(&kubeconfig, &name, options.clone()).await?;
        clusters.push((name, cluster));
    }
    let context = RunContext::new(
        "fleet-health",
        &cli.common.actor,
        &cli.common.reason,
        Mode::DryRun,
    )?;
    let guards = Guards::new(cli.common.audit_sink()?);
    let fleet = FleetOptions::default()
        .with_max_in_flight(cli.max_in_flight)
        .with_deadline(Duration::from_secs(cli.deadline));
    let validate = ValidateOptions::new(cli.deployment.clone(), cli.smoke.checks.clone());
    let report = validate_across(
        clusters,
        &validate,
        &Policy::default(),
        &context,
        &guards,
        &fleet,
    )
    .await;
    let code = health_exit_code(&report);
    match cli.common.output {
        Output::Json => {
            let mut json = report.to_json();
            json["exit_code"] = code.into();
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        Output::Text => {
            print!("{report}");
            for o in &report.outcomes {
                if let Ok(r) = &o.result {
                    println!("\n== {} ==\n{}", o.cluster, r.to_text());
                }
            }
        }
    }
    Ok(ExitCode::from(code))
}
