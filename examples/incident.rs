//! The runbook's "Incident Response" on an incident record directory: open (page), ack,
//! assess (evidence bundle), mitigate (the decision tree; `--apply NAME` executes one),
//! update (status update), check (the P0/P1 clock and escalation), fixed, resolve, and
//! postmortem (Markdown). Every subcommand loads the record, acts, and saves it, so a second
//! engineer (or a restart) carries on where the last one stopped.
//!
//! ```text
//! cargo run -p fleet-examples --features incident --example incident -- --help
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use fleet_examples::runbook::{BoxError, Common, Incident};
use fleet_policy::incident::Severity;
use fleet_runbook::{Declaration, IncidentStatus};

/// Incident response, one step per subcommand, on a record directory.
#[derive(Parser)]
#[command(name = "incident")]
struct Args {
    #[command(flatten)]
    incident: Incident,
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    step: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Sev {
    P0,
    P1,
    P2,
    P3,
}

#[derive(Subcommand)]
enum Cmd {
    /// Declare and page.
    Open {
        #[arg(long)]
        title: String,
        #[arg(long, value_enum)]
        severity: Sev,
        #[arg(long, default_value = "fleet-api")]
        service: String,
    },
    /// Acknowledge the page.
    Ack,
    /// Collect the evidence bundle; write it as Markdown and JSON next to the record.
    Assess,
    /// Show the recommendations; `--apply rollback|scale-up|circuit-breaker` executes one.
    Mitigate {
        #[arg(long)]
        apply: Option<String>,
    },
    /// Post a status update.
    Update {
        #[arg(long)]
        message: String,
    },
    /// The clock: what is due, escalation when a deadline passed.
    Check,
    /// The fix is deployed: monitoring starts.
    Fixed,
    /// Resolve (after the hour of monitoring).
    Resolve {
        #[arg(long)]
        message: String,
    },
    /// Write the post-mortem draft (Markdown) from the record and the audit log.
    Postmortem {
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    fleet_examples::runbook::main(run(&Args::parse())).await
}

async fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let c = &args.common;
    let p = args.incident.response(c).await?;
    let (run, _) = c.executor("incident")?;
    let id = args.incident.id.as_str();
    let out = match &args.step {
        Cmd::Open {
            title,
            severity,
            service,
        } => {
            let sev = [Severity::P0, Severity::P1, Severity::P2, Severity::P3][*severity as usize];
            let declaration = Declaration::new(id, title, service).with_severity(sev);
            p.open(&run, declaration).await?
        }
        Cmd::Ack => {
            p.acknowledge(&run, Declaration::new(id, id, "fleet-api"))
                .await?
        }
        Cmd::Assess => {
            let out = p.assess(&run, id).await?;
            if let Some(bundle) = &out.evidence {
                bundle.write_to(&args.incident.records)?;
            }
            out
        }
        Cmd::Mitigate { apply } => p.mitigate(&run, id, apply.as_deref()).await?,
        Cmd::Update { message } => {
            p.update(&run, id, IncidentStatus::Identified, message)
                .await?
        }
        Cmd::Check => p.check(&run, id).await?,
        Cmd::Fixed => p.mark_fixed(&run, id).await?,
        Cmd::Resolve { message } => p.resolve(&run, id, message, false).await?,
        Cmd::Postmortem { out } => {
            let (o, md) = p.post_mortem(&run, id, &c.audit_records()?).await?;
            std::fs::write(out, md)?;
            o
        }
    };
    for line in out.due.to_do() {
        eprintln!("due: {line}");
    }
    Ok(c.finish(&out.report))
}
