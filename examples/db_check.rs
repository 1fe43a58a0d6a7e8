//! `db_check`: the runbook's database checks ("Check database connections", "Check database
//! performance", "Database Connection Pool Exhausted") as one typed snapshot, and its fix for
//! leaked transactions as a guarded remediation.
//!
//! ```text
//! cargo run -p fleet-examples --features db --example db_check -- [--json] [URL]
//! cargo run -p fleet-examples --features db --example db_check -- --terminate-idle APP --older-than SECS \
//!     --reason TEXT [--execute] [URL]
//! ```
//!
//! The URL defaults to `FLEET_DB_URL`. TLS is required and verified unless the URL says
//! `sslmode=disable`. Without `--execute` the remediation is a dry run. Exit codes: 0 done,
//! 2 error.
#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool reports on the terminal.

use std::process::ExitCode;
use std::time::Duration;

use fleet_db::report::StatementsReport;
use fleet_db::{DbOptions, Diagnostics, PgDiagnostics, Remediation, Request, TlsMode};

#[derive(Default)]
struct Args {
    json: bool,
    url: Option<String>,
    terminate_idle: Option<String>,
    older_than: Option<u64>,
    reason: Option<String>,
    execute: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => a.json = true,
            "--execute" => a.execute = true,
            "--terminate-idle" => a.terminate_idle = it.next(),
            "--reason" => a.reason = it.next(),
            "--older-than" => {
                let v = it.next().ok_or("--older-than needs seconds")?;
                a.older_than = Some(
                    v.parse()
                        .map_err(|_| format!("--older-than {v:?}: not seconds"))?,
                );
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => a.url = Some(arg),
        }
    }
    if a.url.is_none() {
        a.url = std::env::var("FLEET_DB_URL").ok();
    }
    Ok(a)
}

async fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let url = a.url.clone().ok_or("give a URL or set FLEET_DB_URL")?;
    let mut options = DbOptions::from_url(url.clone());
    if url.contains("sslmode=disable") {
        options = options.tls_mode(TlsMode::Disable);
    }
    let db = PgDiagnostics::new(options)?;
    if let Some(app) = &a.terminate_idle {
        let reason = a.reason.as_deref().ok_or("--reason is required")?;
        let older = Duration::from_secs(a.older_than.ok_or("--older-than is required")?);
        let actor = std::env::var("USER").unwrap_or_else(|_| "db_check".into());
        let request = if a.execute {
            Request::execute(&actor, reason)?
        } else {
            Request::dry_run(&actor, reason)?
        };
        let outcome = db
            .terminate_idle_in_transaction(app, older, &request)
            .await?;
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(());
    }
    let s = db.snapshot().await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let c = &s.connections;
    println!(
        "connections: {} of {} usable ({:.0} %), {} slots left; max_connections {}",
        c.total,
        c.usable,
        c.utilization * 100.0,
        c.slots_left,
        c.max_connections
    );
    println!(
        "  active {}, idle {}, idle in transaction {} (+{} aborted), hidden {}",
        c.by_state.active,
        c.by_state.idle,
        c.by_state.idle_in_transaction,
        c.by_state.idle_in_transaction_aborted,
        c.by_state.hidden
    );
    for w in &c.warnings {
        println!("  warning: {w}");
    }
    for q in &s.active_queries {
        println!(
            "active pid {} {:?} for {:?}: {}",
            q.pid,
            q.application.as_deref().unwrap_or(""),
            q.query_age.unwrap_or_default(),
            q.query.as_deref().unwrap_or("")
        );
    }
    for g in &s.leak_suspects {
        println!(
            "leak suspect: {} has {} session(s) idle in a transaction, oldest {:?}",
            g.application, g.sessions, g.oldest_idle
        );
    }
    for root in &s.blocking.roots {
        println!(
            "root blocker pid {} blocks {} session(s)",
            root.pid,
            root.blocked.len()
        );
    }
    match &s.statements {
        StatementsReport::Available { top } => {
            for st in top.iter().filter(|st| st.slow) {
                println!(
                    "slow: {:?} mean over {} calls: {}",
                    st.mean_time, st.calls, st.query
                );
            }
        }
        StatementsReport::Unavailable { reason } => println!("slow queries: {reason}"),
        other => println!("slow queries: {other:?}"),
    }
    println!(
        "server: {}; up {:?}; cache hit {:?}; fewest xids left {}",
        s.health.version, s.health.uptime, s.health.cache_hit_ratio, s.health.min_xids_left
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("db_check: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("db_check: {e}");
            ExitCode::from(2)
        }
    }
}
