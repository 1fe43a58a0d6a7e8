//! The runbook's "Security Incident Response", step 1 (isolate): block suspicious addresses at
//! the ingress (the NGINX denylist annotation), confirmed with `ISOLATE`, audited, and #security
//! told through the `--webhook`s.
//!
//! ```text
//! cargo run -p fleet-examples --features incident --example security_isolate -- \
//!     --block 203.0.113.7/32 --block 198.51.100.0/24 --confirm ISOLATE
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use fleet_examples::runbook::{self, BoxError, Common};
use fleet_policy::Policy;
use fleet_runbook::{Azure, SecurityResponse, Signals};

/// Blocks addresses at the ingress; `--dry-run` shows the change, `--confirm ISOLATE` makes it.
#[derive(Parser)]
#[command(name = "security_isolate")]
struct Args {
    /// The ingress that gets the denylist.
    #[arg(long, default_value = "fleet-ingress")]
    ingress: String,
    /// An address or CIDR range to block (repeatable).
    #[arg(long = "block", value_name = "CIDR", required = true)]
    blocks: Vec<String>,
    #[command(flatten)]
    common: Common,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    runbook::main(run(&args)).await
}

async fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let c = &args.common;
    let kube = c.kube().await?;
    let (run, _) = c.executor("security-isolate")?;
    let signals = Signals::new(c.notifiers()?, None);
    let report = SecurityResponse::new(kube, None, Azure::default(), signals, Policy::default())
        .isolate(&run, &args.ingress, &args.blocks)
        .await;
    Ok(c.finish(&report))
}
