//! `ci_gate`: evaluate the runbook's rules over a JSON input document and gate a pipeline.
//!
//! ```text
//! cargo run -p fleet-examples --example ci_gate -- [OPTIONS] [INPUT.json | -]
//!
//!   --policy FILE     policy TOML (defaults: the runbook's numbers)
//!   --format F        text (default), json, junit, sarif, github, azure, gitlab
//!   --output FILE     write the rendering to FILE instead of standard output
//!   --artifact PATH   repository path reported as the findings' location (default: INPUT)
//!   --now RFC3339     evaluation time (default: the input's `now`, else the clock)
//!   --print-policy    print the effective policy as TOML and exit
//! ```
//!
//! With no INPUT it evaluates the sample release in `examples/data/release.json`, embedded in
//! the binary. Exit codes: 0 pass, 1 a blocking finding, 2 usage or input error (with the
//! field path, line and column). With `--format github` and `$GITHUB_STEP_SUMMARY` set, the
//! full Markdown summary is appended there. See `docs/ci-gates.md` for pipeline wiring.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool prints

use std::io::Write as _;
use std::process::ExitCode;

use fleet_examples::read_input;
use fleet_policy::Policy;
use fleet_policy::gate::{self, EXIT_USAGE};
use fleet_policy::render::{self, Format, RenderOptions};
use jiff::Timestamp;

const DEFAULT_INPUT: (&str, &[u8]) = (
    "examples/data/release.json",
    include_bytes!("data/release.json"),
);

struct Args {
    policy: Option<String>,
    format: Format,
    output: Option<String>,
    artifact: Option<String>,
    now: Option<Timestamp>,
    print_policy: bool,
    input: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        policy: None,
        format: Format::Text,
        output: None,
        artifact: None,
        now: None,
        print_policy: false,
        input: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--policy" => a.policy = Some(value("--policy")?),
            "--format" => a.format = value("--format")?.parse()?,
            "--output" | "-o" => a.output = Some(value("--output")?),
            "--artifact" => a.artifact = Some(value("--artifact")?),
            "--now" => {
                let v = value("--now")?;
                a.now = Some(v.parse().map_err(|e| format!("--now `{v}`: {e}"))?);
            }
            "--print-policy" => a.print_policy = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--") => return Err(format!("unknown option `{s}`")),
            s if a.input.is_none() => a.input = Some(s.to_owned()),
            s => return Err(format!("unexpected argument `{s}` (one input at most)")),
        }
    }
    Ok(a)
}

const USAGE: &str = "usage: ci_gate [--policy FILE] [--format text|json|junit|sarif|github|azure|gitlab] \
[--output FILE] [--artifact PATH] [--now RFC3339] [--print-policy] [INPUT.json | -]";

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            if msg.is_empty() {
                eprintln!("{USAGE}");
            } else {
                eprintln!("ci_gate: {msg}");
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run() -> Result<u8, String> {
    let args = parse_args().map_err(|e| {
        if e.is_empty() {
            e
        } else {
            format!("{e}\n{USAGE}")
        }
    })?;
    let policy = match &args.policy {
        None => Policy::default(),
        Some(path) => {
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read policy {path}: {e}"))?;
            Policy::from_toml_bytes(&bytes).map_err(|e| format!("{path}: {e}"))?
        }
    };
    if args.print_policy {
        print!("{}", policy.to_toml_string());
        return Ok(0);
    }
    let (bytes, source) = read_input(args.input.as_deref(), DEFAULT_INPUT).map_err(|e| {
        format!(
            "cannot read input {}: {e}",
            args.input.as_deref().unwrap_or("")
        )
    })?;
    let input = gate::parse_input(&bytes).map_err(|e| format!("{}: {e}", source.name()))?;
    let now = args.now.or(input.now).unwrap_or_else(Timestamp::now);
    let report = gate::evaluate(&policy, &input, now);

    let opts = RenderOptions {
        artifact: args
            .artifact
            .clone()
            .unwrap_or_else(|| source.name().to_owned()),
        github_annotation_cap: policy.gate.github_annotation_cap,
        ..RenderOptions::default()
    };
    let out = render::render(&report, args.format, &opts);
    match &args.output {
        Some(path) => std::fs::write(path, out).map_err(|e| format!("cannot write {path}: {e}"))?,
        None => print!("{out}"),
    }
    let summary_path =
        std::env::var_os("GITHUB_STEP_SUMMARY").filter(|_| args.format == Format::Github);
    if let Some(path) = summary_path {
        let summary = render::github_summary(&report);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(summary.as_bytes()))
            .map_err(|e| format!("cannot append to $GITHUB_STEP_SUMMARY: {e}"))?;
    }
    Ok(report.exit_code)
}
