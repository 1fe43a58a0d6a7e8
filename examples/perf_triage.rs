//! The runbook's "Performance Degradation Response" and "Site Down / 503": why requests fail
//! behind the ingress, the bottleneck ranked against the policy's bands, and the quick fixes
//! (`--scale N`, `--restart`) as confirmed, audited actions. `perf_triage issues` runs the
//! "Common Issues & Solutions" diagnoses instead: crash loops (with database connectivity and
//! recent releases), the connection pool, and with `--page URL` a slow page load.
//!
//! ```text
//! cargo run -p fleet-examples --features incident --example perf_triage -- --help
//! cargo run -p fleet-examples --features incident --example perf_triage -- issues \
//!     --page https://fleet.example.com/
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fleet_examples::runbook::{BoxError, Common};
use fleet_policy::Policy;
use fleet_runbook::{CommonIssues, CommonIssuesOptions, PerfTriage, QuickFix};

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
    /// Application Insights application id: its requests' p95 and failure rate and the
    /// slowest dependencies join the ranking (Entra ID credential from the environment).
    #[arg(long, env = "FLEET_APP_INSIGHTS_APP_ID", value_name = "GUID")]
    app_insights_app_id: Option<String>,
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    issues: Option<Issues>,
}

#[derive(Subcommand)]
enum Issues {
    /// Diagnose the runbook's common issues, each with its evidence and solutions (read-only).
    Issues {
        /// A page to time: over the policy's response-time band, its size, compression and
        /// cache headers are named (runbook: slow page load).
        #[arg(long, value_name = "URL")]
        page: Option<String>,
        /// The application database (connectivity, connection pool); from the environment so
        /// that its password is never on a command line.
        #[arg(long, env = "FLEET_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    fleet_examples::runbook::main(run(&Args::parse())).await
}

async fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let c = &args.common;
    let kube = c.kube().await?;
    if let Some(Issues::Issues { page, database_url }) = &args.issues {
        let db = database_url
            .as_deref()
            .map(|url| fleet_examples::database(url, None))
            .transpose()?;
        let mut options = CommonIssuesOptions::default();
        options.page_url.clone_from(page);
        let (run, _) = c.executor("common-issues")?;
        let outcome = CommonIssues::new(kube, db, Policy::default())
            .run(&run, &options)
            .await;
        for d in &outcome.diagnoses {
            eprintln!("{:?} at {}:", d.issue, d.subject);
            d.evidence.iter().for_each(|e| eprintln!("  seen: {e}"));
            d.actions.iter().for_each(|a| eprintln!("  do:   {a}"));
        }
        return Ok(c.finish(&outcome.report));
    }
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
    let mut triage = PerfTriage::new(kube, None, Policy::default());
    if let Some(app) = &args.app_insights_app_id {
        let telemetry = fleet_examples::azure::app_insights_client(app)?;
        triage = triage.with_telemetry(std::sync::Arc::new(telemetry));
    }
    let (report, found) = triage.run(&run, &fixes).await;
    for cause in &found.serving {
        eprintln!("503 cause: {cause}");
    }
    for b in &found.bottlenecks {
        eprintln!(
            "bottleneck ({:?}): {}: {} {:.0}",
            b.band, b.subject, b.what, b.value
        );
    }
    Ok(c.finish(&report))
}
