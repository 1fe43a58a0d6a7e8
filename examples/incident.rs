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
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use fleet_examples::runbook::{BoxError, Common, init_tracing};
use fleet_guard::FileRecordStore;
use fleet_k8s::LabelSelector;
use fleet_policy::Policy;
use fleet_policy::incident::Severity;
use fleet_runbook::{
    Declaration, IncidentBook, IncidentOptions, IncidentResponse, IncidentStatus, Signals,
};

/// Incident response, one step per subcommand, on a record directory.
#[derive(Parser)]
#[command(name = "incident")]
struct Args {
    /// Directory of incident records.
    #[arg(long, value_name = "DIR", default_value = "incidents")]
    records: PathBuf,
    /// The incident id.
    #[arg(long)]
    id: String,
    /// The service's deployments (state and rollout history).
    #[arg(long, default_value = "fleet-api")]
    deployment: Vec<String>,
    /// Pods whose last 100 log lines are read.
    #[arg(short = 'l', long, default_value = "app=fleet-api")]
    selector: String,
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
    init_tracing();
    let args = Args::parse();
    match run(&args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let c = &args.common;
    let (kube, _) = c.kube().await?;
    let book = IncidentBook::new(Arc::new(FileRecordStore::open(&args.records)?));
    let options = IncidentOptions::default()
        .with_deployments(args.deployment.clone())
        .with_log_selector(LabelSelector::parse(&args.selector)?);
    let p = IncidentResponse::new(
        kube,
        Signals::new(c.notifiers()?, None),
        Policy::default(),
        book,
    )
    .with_options(options);
    let (run, _) = c.executor("incident")?;
    let id = args.id.as_str();
    let out = match &args.step {
        Cmd::Open {
            title,
            severity,
            service,
        } => {
            let sev = [Severity::P0, Severity::P1, Severity::P2, Severity::P3][*severity as usize];
            p.open(
                &run,
                Declaration::new(id, title, service).with_severity(sev),
            )
            .await?
        }
        Cmd::Ack => {
            p.acknowledge(&run, Declaration::new(id, id, "fleet-api"))
                .await?
        }
        Cmd::Assess => {
            let out = p.assess(&run, id).await?;
            if let Some(bundle) = &out.evidence {
                std::fs::write(
                    args.records.join(format!("{id}-evidence.md")),
                    bundle.to_markdown(),
                )?;
                std::fs::write(
                    args.records.join(format!("{id}-evidence.json")),
                    serde_json::to_vec_pretty(&bundle.to_json())?,
                )?;
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
            let audit = match &c.audit_log {
                Some(path) => fleet_guard::FileAuditSink::read_all(path)?,
                None => Vec::new(),
            };
            let (o, md) = p.post_mortem(&run, id, &audit).await?;
            std::fs::write(out, md)?;
            o
        }
    };
    for line in out.due.to_do() {
        eprintln!("due: {line}");
    }
    Ok(c.finish(&out.report))
}
