//! The runbook, end to end, on stand-ins: the README's first command.
//!
//! ```text
//! scripts/drill            # installs PostgreSQL and pg_dump when missing, then runs this
//! cargo run -p fleet-examples --features drill --example drill -- [--dir DIR] [--output text|json]
//! ```
//! It starts a fake Kubernetes cluster seeded with the runbook's world (and an empty one for the
//! recovery region), a throwaway PostgreSQL with data, AzureReplay and a local backup store, then
//! runs the real procedures: pre-flight, a good deploy, a deploy that crash-loops and the
//! policy's rollback decision, the rollback (the drill types `ROLLBACK`), validation, and the
//! disaster recovery from the backup with its measured RTO and RPO. The audit log and every
//! report (JSON) are written under `--dir`. Exit status 0 when every step ended as expected.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use fleet_runbook::run_drill_story;

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Run the fleet runbook end to end against stand-ins and report each step.
#[derive(Parser)]
#[command(name = "drill")]
struct Cli {
    /// Where the backup store, the audit log and the reports go.
    #[arg(long, default_value = "fleet-drill")]
    dir: PathBuf,
    /// Each step's full report as text, or every report as one JSON array.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

#[tokio::main]
async fn main() -> ExitCode {
    fleet_examples::init_tracing("error");
    let cli = Cli::parse();
    let say = |line: &str| eprintln!("==> {line}");
    let story = match run_drill_story(&cli.dir, &say).await {
        Ok(story) => story,
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            eprintln!("error: the drill could not run: {why}");
            return ExitCode::from(2);
        }
    };
    match cli.output {
        Output::Json => print!("{}", story.to_json()),
        Output::Text => print!("{story}"),
    }
    ExitCode::from(story.exit_code())
}
