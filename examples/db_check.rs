//! `db_check`: the runbook's database checks and the fix for leaked transactions.
#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool reports on the terminal.

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::{Parser, Subcommand};
use fleet_db::{DbOptions, Diagnostics, PgClient, Remediation, Request};
use fleet_guard::{Confirmation, FileAuditSink, cli_confirm};
use fleet_policy::metrics::{Metric, check};
use fleet_policy::{Outcome, Policy};

/// The runbook's database checks ("Check database connections", "Check database performance",
/// "Database Connection Pool Exhausted") as one read-only snapshot: connections against usable
/// slots by state and application, active and long-running queries, idle-in-transaction leak
/// suspects, lock waits, slow statements and server health. Exits 1 when the connection count
/// is in the runbook's critical band (> 80).
#[derive(Parser)]
#[command(name = "db_check", version)]
struct Cli {
    /// Connection URL or key=value string; `sslmode` disable|prefer|require (default
    /// require, certificate and host name always verified).
    #[arg(long, env = "FLEET_DB_URL", hide_env_values = true)]
    url: String,
    /// Report format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// "Fix connection leaks": terminate one application's sessions idle in a transaction for
    /// longer than a threshold. Shows the plan first; executing needs the typed word
    /// TERMINATE (`--confirm` or a terminal prompt) and an audit log.
    TerminateIdle(Fix),
}

#[derive(clap::Args)]
struct Fix {
    /// The leaking application's `application_name`.
    #[arg(long)]
    application: String,
    /// Only sessions idle in a transaction for longer than this many seconds.
    #[arg(long, default_value_t = 300)]
    older_than: u64,
    /// Why (an incident or ticket); recorded in the audit log.
    #[arg(long)]
    reason: String,
    /// Who acts (default: $USER).
    #[arg(long, env = "USER")]
    actor: String,
    /// Show what would be terminated and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The confirmation word, for automation (TERMINATE).
    #[arg(long)]
    confirm: Option<String>,
    /// Append-only audit log (JSON lines) for the intent and outcome.
    #[arg(long, required_unless_present = "dry_run")]
    audit_log: Option<std::path::PathBuf>,
}

fn print<T: serde::Serialize + std::fmt::Display>(format: &str, value: &T) {
    let json = || serde_json::to_string_pretty(value).unwrap_or_default();
    println!(
        "{}",
        if format == "json" {
            json()
        } else {
            value.to_string()
        }
    );
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let options = DbOptions::from_url_with_sslmode(cli.url)?;
    let Some(Command::TerminateIdle(fix)) = cli.command else {
        let snapshot = PgClient::new(options)?.snapshot().await?;
        print(&cli.output, &snapshot);
        let (policy, total) = (Policy::default().metrics, snapshot.connections.total);
        let band = check(&policy, "db", Metric::DbConnections, Some(total.into()));
        return Ok(ExitCode::from(u8::from(band.outcome == Outcome::Fail)));
    };
    let options = match &fix.audit_log {
        Some(path) => options.with_audit(Arc::new(FileAuditSink::open(path)?)),
        None => options,
    };
    let (db, older) = (PgClient::new(options)?, Duration::from_secs(fix.older_than));
    let (app, dry) = (&fix.application, Request::dry_run(&fix.actor, &fix.reason)?);
    let plan = db.terminate_idle_in_transaction(app, older, &dry).await?;
    print(&cli.output, &plan);
    if fix.dry_run || plan.backends.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(ask) = plan.confirm_request()
        && let Confirmation::Refused { reason } = cli_confirm(fix.confirm).confirm(&ask).await
    {
        eprintln!("db_check: not confirmed: {reason}");
        return Ok(ExitCode::from(2));
    }
    let execute = Request::execute(&fix.actor, &fix.reason)?;
    let done = db
        .terminate_idle_in_transaction(app, older, &execute)
        .await?;
    print(&cli.output, &done);
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    fleet_examples::init_tracing("error");
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("db_check: {e}");
            // Unusable input (options, URL, audit path) is 2; a failure at the server is 1.
            let server = e
                .downcast_ref::<fleet_db::Error>()
                .is_some_and(|e| !e.is_invalid_input());
            ExitCode::from(if server { 1 } else { 2 })
        }
    }
}
