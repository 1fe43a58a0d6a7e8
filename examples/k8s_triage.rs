//! The runbook's "Site Down / 503 Errors" checks against the current kubeconfig context:
//! pods (with a diagnosis of every unhealthy one), recent ERROR lines of the API pods, the
//! ingress and the services.
//!
//! ```text
//! cargo run -p fleet-examples --features k8s --example k8s_triage -- [NAMESPACE] [SELECTOR]
//! ```
//! NAMESPACE defaults to `fleet-management`, SELECTOR to `app=fleet-api`. The kubeconfig (or
//! in-cluster configuration) is found by kube's own inference (`KUBECONFIG`, `~/.kube/config`,
//! the service account).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use fleet_k8s::{ClusterOptions, KubeCluster, LogQuery, Logs, Networking, Pods};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(healthy) => {
            if healthy {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namespace = args
        .next()
        .unwrap_or_else(|| fleet_k8s::DEFAULT_NAMESPACE.to_string());
    let selector = args.next().unwrap_or_else(|| "app=fleet-api".to_string());
    let config = kube::Config::infer().await?;
    let cluster = KubeCluster::from_config(config, ClusterOptions::default().namespace(namespace))?;
    let now = k8s_openapi::jiff::Timestamp::now();

    println!("== pods ({})", cluster.namespace());
    println!(
        "{:<45} {:<7} {:<26} {:<14} AGE",
        "NAME", "READY", "STATUS", "RESTARTS"
    );
    let pods = cluster.list_pods().await?;
    for p in &pods {
        println!(
            "{:<45} {:<7} {:<26} {:<14} {}",
            p.name,
            p.ready_column(),
            p.status,
            p.restarts_column(now),
            p.age_column(now)
        );
    }
    let mut healthy = true;
    for p in pods
        .iter()
        .filter(|p| !p.is_healthy() && p.status != "Completed")
    {
        let d = cluster.diagnose_pod(&p.name).await?;
        for cause in &d.causes {
            healthy = false;
            println!(
                "!! {}: {}\n   next: {}",
                p.name,
                cause.summary(),
                cause.action()
            );
        }
    }

    println!("\n== ERROR lines in the last 50 lines of each pod matching {selector}");
    for line in cluster
        .logs_by_selector(&selector, &LogQuery::tail(50).grep("ERROR"))
        .await?
    {
        println!("{line}");
    }

    println!("\n== ingresses");
    for i in cluster.list_ingresses().await? {
        println!(
            "{} class={} addresses={}",
            i.name,
            i.class.as_deref().unwrap_or("<none>"),
            if i.addresses.is_empty() {
                "<pending>".to_string()
            } else {
                i.addresses.join(",")
            }
        );
        for p in &i.paths {
            println!("  {}{} ({}) -> {}", p.host, p.path, p.path_type, p.backend);
        }
        let denied = i.denylist();
        if !denied.is_empty() {
            println!("  denied sources: {}", denied.join(","));
        }
    }

    println!("\n== services");
    println!(
        "{:<25} {:<13} {:<16} {:<16} PORT(S)",
        "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"
    );
    for s in cluster.list_services().await? {
        println!(
            "{:<25} {:<13} {:<16} {:<16} {}",
            s.name, s.type_, s.cluster_ip, s.external_ip, s.ports
        );
    }
    Ok(healthy)
}
