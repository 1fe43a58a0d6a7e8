//! Serves the runbook's world (namespace `fleet-management`: `fleet-api`, `fleet-frontend`, the
//! `fleet-postgres` StatefulSet, services, ingress, HPA, config, RBAC) as a fake Kubernetes API
//! server, so that kubectl and every k8s example can be tried by hand without a cluster.
//!
//! ```text
//! cargo run -p fleet-examples --features fake-cluster --example fake_cluster -- --postgres
//! ```
//! It writes a kubeconfig to `--kubeconfig` (default `fleet-fake.kubeconfig`), prints what to
//! try, and runs until Ctrl-C, then removes the kubeconfig. With `--postgres` it starts a
//! throwaway PostgreSQL (installing nothing; it needs the server binaries) and routes
//! `kubectl exec fleet-postgres-0 -- psql ...` to it. `RUST_LOG=debug` shows every request.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fleet_testkit::k8s::{FakeCluster, PostgresTarget};
use fleet_testkit::postgres::TempPostgres;

/// Serve the runbook's world as a fake Kubernetes cluster until Ctrl-C.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Where to write the kubeconfig that points at the fake cluster.
    #[arg(long, default_value = "fleet-fake.kubeconfig")]
    kubeconfig: PathBuf,
    /// Attach a throwaway PostgreSQL: `kubectl exec fleet-postgres-0 -- psql -U fleetadmin -d
    /// fleetdb` then reaches a real database.
    #[arg(long)]
    postgres: bool,
    /// How long new pods take to become ready, in milliseconds (long enough to watch a
    /// rollout).
    #[arg(long, default_value_t = 2000)]
    pod_ready_ms: u64,
    /// Authorize requests with RBAC (the kubeconfig stays the administrator; try
    /// `kubectl auth can-i --list --as=system:serviceaccount:fleet-management:fleet-api`).
    #[arg(long)]
    rbac: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(args.pod_ready_ms));
    if args.rbac {
        builder = builder.rbac();
    }
    let cluster = builder.start().await?;
    let database = if args.postgres {
        let pg = tokio::task::spawn_blocking(TempPostgres::start).await??;
        cluster.attach_fleet_database(PostgresTarget::from(&pg))?;
        Some(pg)
    } else {
        None
    };
    std::fs::write(&args.kubeconfig, cluster.kubeconfig_yaml())?;
    let kubeconfig = std::fs::canonicalize(&args.kubeconfig)?;
    let k = kubeconfig.display();
    println!("fake cluster at {}", cluster.url());
    println!("kubeconfig: {k}");
    println!();
    println!("Try, in another shell:");
    println!("  export KUBECONFIG={k}");
    println!("  kubectl get pods");
    println!("  kubectl describe ingress fleet-ingress");
    println!(
        "  kubectl set image deploy/fleet-api fleet-api=registry.example.com/fleet/fleet-api:1.5.0"
    );
    println!("  kubectl rollout status deploy/fleet-api");
    println!("  kubectl rollout undo deploy/fleet-api");
    println!("  kubectl delete pod fleet-postgres-0   # the StatefulSet brings it back");
    if database.is_some() {
        println!(
            "  kubectl exec fleet-postgres-0 -n fleet-management -- psql -U fleetadmin -d fleetdb -c 'SELECT COUNT(*) FROM pg_stat_activity;'"
        );
    }
    println!("and the examples against it:");
    println!("  KUBECONFIG={k} cargo run -p fleet-examples --features k8s --example k8s_triage");
    println!(
        "  KUBECONFIG={k} cargo run -p fleet-examples --features k8s --example k8s_export -- fleet-management"
    );
    println!(
        "Ctrl-C stops the cluster{}.",
        if database.is_some() {
            " and the database"
        } else {
            ""
        }
    );
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    cluster.shutdown().await;
    drop(database);
    std::fs::remove_file(&kubeconfig)?;
    Ok(())
}
