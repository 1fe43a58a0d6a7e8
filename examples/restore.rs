//! `restore`: the runbook's "Restore from Backup" for fleet-backup's store. `database` restores
//! the dump into a new database (never over its source unless forced) and checks every table's
//! row count against the manifest; `config` restores the namespace's objects and Secrets in
//! Velero's order into a namespace (another one, or another cluster's: the DR path), after a
//! server-side dry run with a diff, then waits for the deployments to roll out.
//!
//! ```text
//! cargo run -p fleet-examples --features backup --example restore -- --store DIR --identity KEY \
//!     NAME database --server postgresql://admin@db/postgres --target-db fleetdb_restored [--confirm fleetdb_restored]
//! cargo run -p fleet-examples --features backup --example restore -- --store DIR --identity KEY \
//!     NAME config --namespace fleet-management [--update] [--confirm fleet-management]
//! ```
//! A dry run unless confirmed with the target's name (`--confirm NAME`, or `--execute` to be
//! asked on the terminal). Exit codes: 0 restored (or planned), 1 failed, 2 usage,
//! configuration or a refused confirmation.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fleet_backup::{
    ConfigRestoreOptions, ConflictPolicy, DatabaseRestoreOptions, Identities, PgTarget,
};
use fleet_examples::backup_support::{self as support, Common, Run, Tools};

/// Restore a backup's database or Kubernetes configuration: dry run unless confirmed.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// The age identity file that decrypts the backup.
    #[arg(long, env = "FLEET_BACKUP_IDENTITY")]
    identity: PathBuf,
    /// Restore: the target database's or namespace's name.
    #[arg(long, global = true)]
    confirm: Option<String>,
    /// Restore, asking for the target's name on the terminal.
    #[arg(long, global = true)]
    execute: bool,
    /// Why (recorded in the audit log).
    #[arg(long, global = true, default_value = "restore")]
    reason: String,
    /// The backup.
    name: String,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// The database, into a new database.
    Database {
        /// The target server (URL naming a maintenance database such as `postgres`).
        #[arg(long, env = "FLEET_RESTORE_SERVER_URL")]
        server: String,
        /// The database to create and restore into.
        #[arg(long)]
        target_db: String,
        /// Restore over the backup's own source database (destroys its current contents).
        #[arg(long)]
        force_over_source: bool,
        /// Leave out ownership and privileges (a server without the source's roles).
        #[arg(long)]
        no_owner: bool,
        #[command(flatten)]
        tools: Tools,
    },
    /// The namespace's configuration and Secrets.
    Config {
        /// The namespace to restore into (kubeconfig from the usual places).
        #[arg(long)]
        namespace: String,
        /// Replace objects that exist (default: leave them and show how they differ).
        #[arg(long)]
        update: bool,
        /// Where the restore's Lease is kept (an existing namespace; the target may not exist).
        #[arg(long, default_value = "fleet-management")]
        lock_namespace: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    support::main("restore", run(Args::parse())).await
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let store = args.common.store()?;
    let ids = Identities::from_file(&args.identity).map_err(|e| e.to_string())?;
    let mode = support::mode(args.confirm.is_some() || args.execute);
    let run = Run::start("restore", &args.common, &args.reason, mode, args.confirm)?;
    let (name, output) = (&args.name, args.common.output);
    let result = match args.what {
        What::Database {
            server,
            target_db,
            force_over_source,
            no_owner,
            tools,
        } => {
            let options = DatabaseRestoreOptions::new(target_db)
                .with_tools(tools.tools())
                .with_force_over_source(force_over_source)
                .with_no_owner(no_owner);
            let target = PgTarget::new(server);
            fleet_backup::restore_database(&run.executor, &store, name, &ids, &target, &options)
                .await
                .map(|r| support::show_restore(output, &r, r.applied, &r.database))
        }
        What::Config {
            namespace,
            update,
            lock_namespace,
        } => {
            let cluster = support::cluster(&namespace).await?;
            let policy = if update {
                ConflictPolicy::Update
            } else {
                ConflictPolicy::Skip
            };
            let options = ConfigRestoreOptions::default().with_conflict(policy);
            let target = format!("namespace/{namespace}");
            let held = support::hold(&run, &cluster, &lock_namespace, &target).await?;
            let restored =
                fleet_backup::restore_config(&run.executor, &store, name, &ids, &cluster, &options)
                    .await;
            held.release().await;
            restored.map(|r| support::show_restore(output, &r, r.applied, &r.target_namespace))
        }
    };
    run.finish().await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => support::failed("restore", e),
    }
}
