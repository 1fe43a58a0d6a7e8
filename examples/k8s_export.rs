//! Exports every namespaced object of a namespace as JSON lines on stdout (the runbook's
//! `kubectl get all -n fleet-management -o yaml > k8s-backup-$(date +%Y%m%d).yaml`, covering
//! ConfigMaps, Secrets, Ingresses, HPAs, RBAC, PVCs and NetworkPolicies too). Objects are
//! streamed page by page, so memory stays flat however large the namespace.
//!
//! ```text
//! cargo run -p fleet-examples --features k8s --example k8s_export -- [NAMESPACE] [PAGE_SIZE] > backup.jsonl
//! ```
//! Secrets are exported as the API returns them (base64, not encrypted): pipe the output into
//! an encrypting writer for anything stored.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use fleet_k8s::{ClusterOptions, Export, ExportOptions, KubeCluster};
use futures::StreamExt;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(n) => {
            eprintln!("exported {n} objects");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<u64, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namespace = args
        .next()
        .unwrap_or_else(|| fleet_k8s::DEFAULT_NAMESPACE.to_string());
    let page: u32 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(500);
    let config = kube::Config::infer().await?;
    let cluster = KubeCluster::from_config(config, ClusterOptions::default().namespace(namespace))?;
    let mut stream = cluster
        .export_namespace(&ExportOptions::default().page_size(page))
        .await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut n = 0u64;
    while let Some(obj) = stream.next().await {
        serde_json::to_writer(&mut out, &obj?.object)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}
