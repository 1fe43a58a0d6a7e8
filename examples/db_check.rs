//! `db_check`: the runbook's database checks and the fix for leaked transactions.
#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool reports on the terminal.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use fleet_db::{DbOptions, Diagnostics, PgClient, Remediation, Request};
use fleet_guard::{Confirmation, FileAuditSink, cli_confirm};
use fleet_policy::metrics::MetricsSnapshot;
use fleet_policy::{GateInput, Outcome, Policy, gate};

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
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// "Fix connection leaks": terminate one application's sessions idle in a transaction for
    /// longer than a threshold. Shows the plan first; executing needs the typed word
    /// TERMINATE (`--confirm` or a terminal prompt) and an audit log.
    TerminateIdle {
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
    },
}

fn print<T: serde::Serialize + std::fmt::Display>(format: Format, value: &T) {
    match format {
        Format::Text => println!("{value}"),
        Format::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut options = DbOptions::from_url_with_sslmode(cli.url)?;
    let Some(Command::TerminateIdle { application, older_than, reason, actor, dry_run, confirm, audit_log }) =
        cli.command
    else {
        let snapshot = PgClient::new(options)?.snapshot().await?;
        print(cli.output, &snapshot);
        let input = GateInput {
            metrics: Some(MetricsSnapshot {
                subject: "postgresql".into(),
                db_connections: Some(f64::from(snapshot.connections.total)),
                ..MetricsSnapshot::default()
            }),
            ..GateInput::default()
        };
        let report = gate::evaluate(&Policy::default(), &input, snapshot.taken_at);
        let critical = report.findings.iter().any(|f| f.outcome == Outcome::Fail);
        return Ok(if critical { ExitCode::from(1) } else { ExitCode::SUCCESS });
    };
    if let Some(path) = &audit_log {
        options = options.with_audit(Arc::new(FileAuditSink::open(path)?));
    }
    let db = PgClient::new(options)?;
    let older = Duration::from_secs(older_than);
    let plan = db.terminate_idle_in_transaction(&application, older, &Request::dry_run(&actor, &reason)?).await?;
    print(cli.output, &plan);
    if dry_run || plan.backends.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(ask) = plan.confirm_request()
        && let Confirmation::Refused { reason } = cli_confirm(confirm).confirm(&ask).await
    {
        eprintln!("db_check: not confirmed: {reason}");
        return Ok(ExitCode::from(2));
    }
    let done = db.terminate_idle_in_transaction(&application, older, &Request::execute(&actor, &reason)?).await?;
    print(cli.output, &done);
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("db_check: {e}");
            // Unusable input (options, URL, audit path) is 2; a failure at the server is 1.
            let server = e.downcast_ref::<fleet_db::Error>().is_some_and(|e| !e.is_invalid_input());
            ExitCode::from(if server { 1 } else { 2 })
        }
    }
}
