//! `backup_list`: the runbook's "List available backups" for fleet-backup's store: every backup
//! with its status (complete, incomplete, corrupt, expired by the policy's retention), size,
//! what it covers and its pin. It reads manifests and sizes, not artifacts (`backup_verify`
//! does that).
//!
//! ```text
//! cargo run -p fleet-examples --features backup --example backup_list -- --store /var/backups/fleet
//! ```
//! Exit codes: 0 listed, 1 some backup is corrupt or no backup is complete, 2 usage or
//! configuration error.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::process::ExitCode;

use clap::Parser;
use fleet_backup::{BackupEntry, BackupStatus};
use fleet_examples::backup_support::{self as support, Common, Output};

/// List the backups of a store with their status under the policy's retention.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
}

#[tokio::main]
async fn main() -> ExitCode {
    support::main("backup_list", run(Args::parse())).await
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let store = args.common.store()?;
    let policy = args.common.policy()?;
    let entries = fleet_backup::list_backups(&store, &policy, jiff::Timestamp::now())
        .await
        .map_err(|e| e.to_string())?;
    if args.common.output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", BackupEntry::TABLE_HEADER);
        for e in &entries {
            println!("{e}");
        }
    }
    let corrupt = entries.iter().any(|e| e.status == BackupStatus::Corrupt);
    let none_complete = !entries
        .iter()
        .any(|e| matches!(e.status, BackupStatus::Complete | BackupStatus::Expired));
    Ok(if corrupt || none_complete {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
