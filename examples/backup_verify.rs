//! `backup_verify`: proves a backup can be read back: every artifact is downloaded, its SHA-256
//! checked against the manifest, decrypted with the given age identity, decompressed, and its
//! content checked (`pg_restore --list` for the database dump, every object for configuration).
//!
//! ```text
//! cargo run -p fleet-examples --features backup --example backup_verify -- \
//!     --store /var/backups/fleet --identity ~/.config/fleet/backup-key.txt [NAME]
//! ```
//! Without NAME the newest backup is verified. Exit codes: 0 every artifact verified, 1 some
//! artifact is corrupt or unreadable, 2 usage or configuration error.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fleet_backup::{Identities, VerifyOptions};
use fleet_examples::backup_support::{self as support, Common, Run, Tools};
use fleet_guard::Mode;

/// Read a backup back and check every artifact end to end.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    tools: Tools,
    /// The age identity file that decrypts the backup (kept away from the store).
    #[arg(long, env = "FLEET_BACKUP_IDENTITY")]
    identity: PathBuf,
    /// The backup (default: the newest).
    name: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    support::main("backup_verify", run(Args::parse())).await
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let store = args.common.store()?;
    let ids = Identities::from_file(&args.identity).map_err(|e| e.to_string())?;
    let name = match args.name {
        Some(n) => n,
        None => {
            let policy = args.common.policy()?;
            let all = fleet_backup::list_backups(&store, &policy, jiff::Timestamp::now())
                .await
                .map_err(|e| e.to_string())?;
            all.into_iter()
                .next()
                .map(|e| e.name)
                .ok_or("the store has no backup")?
        }
    };
    let run = Run::start("backup-verify", &args.common, "verify", Mode::Execute, None)?;
    let options = VerifyOptions::default().with_tools(args.tools.tools());
    let result = fleet_backup::verify_backup(&run.executor, &store, &name, &ids, &options).await;
    run.finish().await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("backup_verify: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    support::report(args.common.output, &report);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
