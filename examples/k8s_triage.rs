//! The runbook's "Site Down / 503 Errors" checks against the current kubeconfig context, as one
//! report (`fleet_k8s::site_down_triage`): pods, the service's recent log lines, ingresses,
//! services, and a diagnosis of every unhealthy pod.
//!
//! ```text
//! cargo run -p fleet-examples --features k8s --example k8s_triage -- --help
//! ```
//! The kubeconfig (or in-cluster configuration) is found by kube's own inference
//! (`KUBECONFIG`, `~/.kube/config`, the service account). `RUST_LOG=debug` shows retries.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use fleet_k8s::{ClusterOptions, ContainerResources, KubeCluster, LabelSelector, TriageOptions};
use fleet_policy::Policy;

/// Site Down / 503 Errors: the runbook's first checks, read-only.
///
/// Runs, against the current kubeconfig context:
///   1. kubectl get pods -n NAMESPACE           every pod with READY, STATUS, RESTARTS, AGE
///   2. kubectl logs -l SELECTOR --tail=N       the service's recent lines (optionally | grep)
///   3. kubectl describe ingress                hosts, paths, backends, load-balancer address
///   4. kubectl get svc                         types, cluster IPs, EXTERNAL-IP, ports
///   5. kubectl describe pod POD                for each failing pod: causes and next steps
///
/// Resolution when pods are failing: restart them (rollout restart) or roll back (rollout
/// undo) if a recent deploy started it. Exit status: 0 nothing wrong, 1 problems found,
/// 2 usage, policy or cluster errors.
#[derive(Parser)]
#[command(name = "k8s_triage", verbatim_doc_comment)]
struct Args {
    /// Namespace to check.
    #[arg(short, long, default_value = "fleet-management")]
    namespace: String,
    /// Pods whose logs are read (kubectl's -l).
    #[arg(short = 'l', long, default_value = "app=fleet-api")]
    selector: String,
    /// Last lines read per pod (kubectl's --tail).
    #[arg(long, default_value_t = 50)]
    tail: u32,
    /// Only log lines containing this text (| grep -F).
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,
    /// Policy TOML whose vertical step is advised for OOMKilled pods (default: the runbook's).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // Quiet unless RUST_LOG asks (`RUST_LOG=fleet_k8s=debug` shows retries and waits).
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let policy = match &args.policy {
        None => Policy::default(),
        Some(path) => Policy::from_toml_bytes(&std::fs::read(path)?)
            .map_err(|e| format!("{}: {e}", path.display()))?,
    };
    let step = fleet_policy::scaling::vertical_step(&policy);
    let mut options = TriageOptions::default()
        .with_selector(LabelSelector::parse(&args.selector)?)
        .with_log_tail(args.tail)
        .with_vertical_step(
            ContainerResources::default()
                .with_requests(&step.requests_cpu, &step.requests_memory)
                .with_limits(&step.limits_cpu, &step.limits_memory),
        );
    options.log_pattern = args.grep.clone();
    let config = kube::Config::infer().await?;
    let cluster = KubeCluster::from_config(
        config,
        ClusterOptions::default().with_namespace(&args.namespace),
    )?;
    let now = jiff::Timestamp::now();
    let report = fleet_k8s::site_down_triage(&cluster, cluster.namespace(), &options, now).await?;
    match args.output {
        Output::Text => print!("{}", report.render_text()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.is_healthy())
}
