//! `ci_gate`: the runbook's pre-flight gate. Evaluates every rule of the runbook over one JSON
//! input document and gates the pipeline step with its exit code.
//!
//! ```text
//! cargo run -p fleet-examples --example ci_gate -- [--policy FILE] [--format F] [INPUT.json | -]
//! cargo run -p fleet-examples --example ci_gate -- --help
//! ```
//!
//! With no INPUT it evaluates the sample release in `examples/data/release.json`, embedded in
//! the binary. Exit codes: 0 pass, 1 a blocking finding, 2 usage or input error (with the
//! field path, line and column). With `--format github` and `$GITHUB_STEP_SUMMARY` set, the
//! full Markdown summary is appended there. See `docs/ci-gates.md` for pipeline wiring.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use fleet_examples::read_input;
use fleet_policy::gate::{self, EXIT_USAGE};
use fleet_policy::render::{self, Format, RenderOptions};
use jiff::Timestamp;

const DEFAULT_INPUT: (&str, &[u8]) = (
    "examples/data/release.json",
    include_bytes!("data/release.json"),
);

/// Pre-flight gate: run before a deployment (the runbook's `production-preflight-check.sh`
/// step) or after it (the rollback triggers), and let the exit code stop the pipeline.
///
/// Checks the weekly Thursday 22:00 New York deploy window, freezes and the pre-flight result,
/// hotfix approval and branch, the rollback triggers (error rate above 5 %, degradation above
/// 50 %, smoke tests of the critical paths, data corruption, security), the metric bands,
/// backups (RPO 24 h, retention, restore target, RTO 4 h), the incident clock, scaling signals,
/// alert responses and the runbook's review dates: whichever parts the input has.
#[derive(Parser)]
#[command(
    name = "ci_gate",
    after_help = "Exit codes: 0 nothing blocks; 1 a blocking finding (roll back, stop the deploy, escalate); 2 bad usage, unreadable or malformed input or policy (no report).\nInput keys, formats and pipeline wiring: docs/ci-gates.md. The project's readings of the runbook: docs/decisions.md."
)]
struct Args {
    /// Policy TOML: thresholds, windows, freezes, waivers (default: the runbook's numbers).
    #[arg(long, value_name = "FILE")]
    policy: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = PossibleValuesParser::new(Format::ALL.map(Format::name)).try_map(|s| s.parse::<Format>()))]
    format: Format,
    /// Write the rendering to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    /// Repository path reported as the findings' location (default: INPUT).
    #[arg(long, value_name = "PATH")]
    artifact: Option<String>,
    /// Evaluation time, RFC 3339 (default: the input's `now`, else the clock).
    #[arg(long, value_name = "RFC3339")]
    now: Option<Timestamp>,
    /// Print the effective policy as TOML and exit.
    #[arg(long)]
    print_policy: bool,
    /// Gate input JSON (`-` for standard input; default: the embedded sample release).
    #[arg(value_name = "INPUT.json")]
    input: Option<String>,
}

fn main() -> ExitCode {
    // clap exits 0 for --help and 2 (EXIT_USAGE) for a usage error.
    let args = Args::parse();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            eprintln!("ci_gate: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(args: &Args) -> Result<u8, String> {
    let policy = fleet_examples::load_policy(args.policy.as_deref())?;
    if args.print_policy {
        print!("{}", policy.to_toml_string());
        return Ok(0);
    }
    let (bytes, source) = read_input(args.input.as_deref(), DEFAULT_INPUT).map_err(|e| {
        let name = args.input.as_deref().unwrap_or("");
        format!("cannot read input {name}: {e}")
    })?;
    let input = gate::parse_input(&bytes).map_err(|e| format!("{}: {e}", source.name()))?;
    let now = args.now.or(input.now).unwrap_or_else(Timestamp::now);
    let report = gate::evaluate(&policy, &input, now);

    let artifact = args.artifact.as_deref().unwrap_or(source.name());
    let opts = RenderOptions {
        github_annotation_cap: policy.gate.github_annotation_cap,
        ..RenderOptions::for_artifact(artifact, &bytes)
    };
    let out = render::render(&report, args.format, &opts);
    match &args.output {
        Some(path) => std::fs::write(path, out).map_err(|e| format!("cannot write {path}: {e}"))?,
        None => print!("{out}"),
    }
    let summary_path =
        std::env::var_os("GITHUB_STEP_SUMMARY").filter(|_| args.format == Format::Github);
    if let Some(path) = summary_path {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(render::github_summary(&report).as_bytes()))
            .map_err(|e| format!("cannot append to $GITHUB_STEP_SUMMARY: {e}"))?;
    }
    Ok(report.exit_code)
}
