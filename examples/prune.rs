//! `prune`: deletes the backups the policy's retention lets go (older than the retention
//! window, abandoned incomplete ones), never a pinned backup or the newest good one of what it
//! covers. A dry run (the default) lists every decision; `--confirm PRUNE` deletes.
//!
//! ```text
//! cargo run -p fleet-examples --features backup --example prune -- --store /var/backups/fleet [--confirm PRUNE]
//! ```
//! Exit codes: 0 done (or planned), 1 the prune failed, 2 usage, configuration or a refused
//! confirmation.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::process::ExitCode;

use clap::Parser;
use fleet_examples::backup_support::{self as support, Common, Output, Run};
use fleet_guard::Mode;

/// Apply the policy's retention to the store: dry run unless confirmed.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Delete: the word PRUNE (without it, or `--execute` on a terminal, nothing is deleted).
    #[arg(long)]
    confirm: Option<String>,
    /// Delete, asking for the word on the terminal.
    #[arg(long)]
    execute: bool,
    /// Why (recorded in the audit log).
    #[arg(long, default_value = "retention")]
    reason: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    support::main("prune", run(Args::parse())).await
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let store = args.common.store()?;
    let policy = args.common.policy()?;
    let mode = support::mode(args.confirm.is_some() || args.execute);
    let run = Run::start(
        "prune",
        &args.common,
        &args.reason,
        mode,
        args.confirm.clone(),
    )?;
    let result = fleet_backup::prune_backups(&run.executor, &store, &policy).await;
    run.finish().await;
    let report = match result {
        Ok(r) => r,
        Err(e) => return support::failed("prune", e),
    };
    support::report(args.common.output, &report);
    if args.common.output == Output::Text && mode == Mode::DryRun {
        println!("dry run: nothing deleted (pass --confirm PRUNE to delete)");
    }
    Ok(ExitCode::SUCCESS)
}
