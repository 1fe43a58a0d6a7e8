//! Exports every namespaced object of a namespace (`fleet_k8s::Export`): the runbook's
//! `kubectl get all -n fleet-management -o yaml > k8s-backup-$(date +%Y%m%d).yaml`, covering
//! ConfigMaps, Secrets, Ingresses, HPAs, RBAC, PVCs and NetworkPolicies too. Objects are
//! streamed page by page, so memory stays flat however large the namespace.
//!
//! ```text
//! cargo run -p fleet-examples --features k8s --example k8s_export -- --help
//! ```
//! Secrets are exported as the API returns them (base64, not encrypted): pipe the output into
//! an encrypting writer for anything stored.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use fleet_k8s::{ClusterOptions, Export, ExportOptions, ExportSummary, KubeCluster};
use futures::StreamExt;

/// Back up a namespace's Kubernetes objects (Backup & Recovery: "kubectl get all -o yaml").
///
/// Finds every namespaced, listable kind through discovery (more than `get all` covers:
/// ConfigMaps, Secrets, Ingresses, HPAs, roles, PVCs, NetworkPolicies; events are left out)
/// and lists each page by page against the current kubeconfig context.
///
///   --output json   one object per line (JSON lines), the backup itself; redirect to a file
///   --output text   how many objects of each kind there are, to check what a backup holds
///
/// Secrets come out as the API returns them (base64, not encrypted): encrypt before storing.
/// Exit status: 0 exported, 2 usage or cluster errors.
#[derive(Parser)]
#[command(name = "k8s_export", verbatim_doc_comment)]
struct Args {
    /// Namespace to export.
    #[arg(short, long, default_value = "fleet-management")]
    namespace: String,
    /// Objects per list request (bounds memory).
    #[arg(long, default_value_t = 500)]
    page_size: u32,
    /// Leave a resource out (`resource` or `resource.group`); repeatable.
    #[arg(long, value_name = "RESOURCE")]
    exclude: Vec<String>,
    /// Export only these resources (`resource` or `resource.group`; repeatable or comma
    /// separated), e.g. under a Role that grants `list` on those alone.
    #[arg(long, value_name = "RESOURCE", value_delimiter = ',')]
    include: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Json)]
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
        Ok(n) => {
            eprintln!("exported {n} objects");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<u64, Box<dyn std::error::Error>> {
    let config = kube::Config::infer().await?;
    let cluster = KubeCluster::from_config(
        config,
        ClusterOptions::default().with_namespace(&args.namespace),
    )?;
    let mut options = ExportOptions::default().with_page_size(args.page_size);
    for resource in &args.exclude {
        options = options.with_exclude(resource);
    }
    for resource in &args.include {
        options = options.with_include(resource);
    }
    let mut stream = cluster.export_namespace(Some(options)).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut summary = ExportSummary::default();
    while let Some(obj) = stream.next().await {
        let obj = obj?;
        summary.add(&obj);
        if let Output::Json = args.output {
            serde_json::to_writer(&mut out, &obj.object)?;
            out.write_all(b"\n")?;
        }
    }
    if let Output::Text = args.output {
        out.write_all(summary.render_text().as_bytes())?;
    }
    out.flush()?;
    Ok(summary.total)
}
