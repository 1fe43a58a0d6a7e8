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
use fleet_examples::drill_story::run_story;

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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let say = |line: &str| eprintln!("==> {line}");
    let story = match run_story(&cli.dir, &say).await {
        Ok(story) => story,
        Err(e) => {
            eprintln!("error: the drill could not run: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.output {
        Output::Json => {
            let reports: Vec<_> = story.chapters.iter().map(|c| &c.report).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&reports).unwrap_or_default()
            );
        }
        Output::Text => {
            for (n, chapter) in story.chapters.iter().enumerate() {
                println!("=== {}. {} ===", n + 1, chapter.title);
                if let Some(note) = &chapter.note {
                    println!("(drill: {note})");
                }
                println!("{}", chapter.report.to_text());
            }
            println!("audit log: {}", story.audit_log.display());
            println!("reports:   {}", story.reports_dir.display());
            println!(
                "{}",
                if story.as_expected() {
                    "every step ended as the runbook expects"
                } else {
                    "some step did not end as expected: see its report above"
                }
            );
        }
    }
    ExitCode::from(u8::from(!story.as_expected()))
}
