//! `backup_now`: the runbook's "Manual Backup" and "Backup Kubernetes configs" in one step: an
//! encrypted, verified-on-write backup of the database (`pg_dump`) and/or the namespace's
//! configuration and Secrets, named `manual-backup-YYYYMMDD` from the policy, into the store.
//!
//! ```text
//! cargo run -p fleet-examples --features backup --example backup_now -- \
//!     --store /var/backups/fleet --recipient age1... \
//!     --database postgresql://backup@db:5432/fleetdb --namespace fleet-management
//! ```
//! Exit codes: 0 done, 1 the backup failed, 2 usage or configuration error.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use fleet_backup::{BackupRequest, DatabaseSource, KubernetesSource, PgTarget, Recipients};
use fleet_examples::backup_support::{self as support, Common, Run, Tools};

/// Back up the database and/or the namespace now, encrypted to the given age recipients.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    tools: Tools,
    /// age recipient (age1...) to encrypt to; repeat for more (an ops key and a break-glass key).
    #[arg(long = "recipient")]
    recipients: Vec<String>,
    /// A file of age recipients, one per line.
    #[arg(long)]
    recipients_file: Vec<PathBuf>,
    /// The database to dump (libpq URL; its password is handed to pg_dump in the environment).
    #[arg(long, env = "FLEET_DB_URL")]
    database: Option<String>,
    /// The database server's name in the manifest (defaults to host:port).
    #[arg(long)]
    server_name: Option<String>,
    /// The namespace whose configuration and Secrets to back up (kubeconfig from the usual places).
    #[arg(long)]
    namespace: Option<String>,
    /// The backup's name (default: the policy's on-demand name for today, UTC).
    #[arg(long)]
    name: Option<String>,
    /// Why (recorded in the manifest and the audit log).
    #[arg(long, default_value = "on-demand backup")]
    reason: String,
    /// Check everything and show the plan; write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    support::main("backup_now", run(Args::parse())).await
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let store = args.common.store()?;
    let policy = args.common.policy()?;
    let recipients = Recipients::from_keys_and_files(&args.recipients, &args.recipients_file)
        .map_err(|e| e.to_string())?;
    let name = match args.name.clone() {
        Some(n) => n,
        None => fleet_backup::next_backup_name(&store, &policy, jiff::Timestamp::now())
            .await
            .map_err(|e| e.to_string())?,
    };
    let mut request = BackupRequest::new(&name, recipients);
    if let Some(url) = &args.database {
        let mut target = PgTarget::new(url);
        if let Some(s) = &args.server_name {
            target = target.with_server_name(s);
        }
        request = request.with_database(DatabaseSource::new(target, args.tools.tools()));
    }
    if let Some(ns) = &args.namespace {
        let cluster = support::cluster(ns).await?;
        request = request.with_kubernetes(KubernetesSource::new(Arc::new(cluster)));
    }
    let mode = support::mode(!args.dry_run);
    let run = Run::start("backup", &args.common, &args.reason, mode, None)?;
    let result = fleet_backup::backup_now(&run.executor, &store, request).await;
    run.finish().await;
    match result {
        Ok(report) => {
            support::report(args.common.output, &report);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_invalid_input() => Err(e.to_string()),
        Err(e) => {
            eprintln!("backup_now: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
