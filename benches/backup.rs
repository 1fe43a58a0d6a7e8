//! fleet-backup side by side with the shell a user would otherwise write, in one run:
//!
//! 1. A logical backup of a pgbench database (scale `FLEET_BENCH_PGBENCH_SCALE`, default 70,
//!    about 1 GiB) with `backup_now`, against `pg_dump -Fc | zstd | age -r KEY > file` (and the
//!    same with `pg_dump -Z0`, which does the work ours does), the same `pg_dump` for both;
//!    peak memory of the backing-up process (VmHWM, reset before each run) at a small scale and
//!    at the full one, to show it does not grow with the database.
//! 2. The configuration backup of a 10,000-object namespace (including encryption) against
//!    `kubectl get <every listable namespaced kind> -o yaml > file`.
//! 3. Restores: the database backup into a new database (row counts validated) and the
//!    configuration backup into a new namespace, timed beside the policy's RTO.
//!
//! ```text
//! cargo bench -p fleet-benches --bench backup
//! ```
//! Needs PostgreSQL server binaries, pg_dump/pg_restore 18 (fleet-testkit installs them),
//! `pgbench`, `zstd`, `age` and `kubectl`. Everything it creates lives under a temporary
//! directory that is removed at the end (the database itself and every backup of it).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_backup::{
    BackupRequest, BackupStore, ConfigRestoreOptions, DatabaseRestoreOptions, DatabaseSource,
    Identities, KubernetesSource, PgTarget, PgTools, backup_now, restore_config, restore_database,
};
use fleet_guard::{Executor, Guards, MemoryAuditSink, Mode, RunContext, TokenConfirm};
use fleet_k8s::{ClusterOptions, KubeCluster};
use fleet_testkit::k8s::FakeCluster;
use fleet_testkit::postgres::{PgClientTools, TempPostgres};
use serde_json::json;

const NS: &str = "bench";

fn executor(token: Option<&str>) -> Executor {
    let mut guards = Guards::new(Arc::new(MemoryAuditSink::new()));
    if let Some(t) = token {
        guards = guards.with_confirm(Arc::new(TokenConfirm::new(t)));
    }
    let ctx = RunContext::new("bench", "bench", "benchmark", Mode::Execute).expect("context");
    Executor::new(ctx, guards)
}

/// Resets this process's peak resident set (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident set since the last reset, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn sh(script: &str) -> Duration {
    let t = Instant::now();
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn pg_tools(t: &PgClientTools) -> PgTools {
    let mut tools = PgTools::in_dir(t.bindir());
    if let Some(l) = t.libdir() {
        tools = tools.with_libdir(l);
    }
    tools
}

async fn our_backup(
    store: &BackupStore,
    name: &str,
    pg: &TempPostgres,
    db: &str,
    tools: &PgTools,
    ids: &Identities,
) -> (Duration, u64, f64) {
    let target = PgTarget::new(pg.url_for(pg.user(), pg.password(), db));
    reset_peak();
    let t = Instant::now();
    let report = backup_now(
        &executor(None),
        store,
        BackupRequest::new(name, ids.public())
            .with_database(DatabaseSource::new(target, tools.clone())),
    )
    .await
    .expect("backup");
    let elapsed = t.elapsed();
    let stored = report.manifest.map_or(0, |m| m.stored_bytes());
    (elapsed, stored, peak_mib())
}

fn pgbench_init(client: &PgClientTools, pg: &TempPostgres, db: &str, scale: u32) {
    let mut cmd = client.command("pgbench");
    let out = cmd
        .args([
            "-i",
            "-q",
            "-s",
            &scale.to_string(),
            "-h",
            pg.host(),
            "-p",
            &pg.port().to_string(),
            "-U",
            "postgres",
            db,
        ])
        .env("PGPASSWORD", pg.password())
        .output()
        .expect("pgbench");
    assert!(
        out.status.success(),
        "pgbench: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn psql_value(pg: &TempPostgres, db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            pg.host(),
            "-p",
            &pg.port().to_string(),
            "-U",
            "postgres",
            "-d",
            db,
            "-tA",
            "-c",
            sql,
        ])
        .env("PGPASSWORD", pg.password())
        .output()
        .expect("psql");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

async fn database(work: &Path, scale: u32) {
    let client = PgClientTools::newest().expect("pg_dump 18");
    let tools = pg_tools(&client);
    let pg = TempPostgres::builder()
        .setting("shared_buffers", "256MB")
        .setting("max_wal_size", "4GB")
        .start()
        .expect("server");
    let ids = Identities::generate();
    let recipient = ids.public().to_strings()[0].clone();
    let store = BackupStore::local(work.join("store")).expect("store");
    psql_value(&pg, "postgres", "CREATE DATABASE small");
    psql_value(&pg, "postgres", "CREATE DATABASE big");

    // Peak memory at a small scale first.
    pgbench_init(&client, &pg, "small", 5);
    let small_size: u64 = psql_value(&pg, "small", "SELECT pg_database_size('small')")
        .parse()
        .unwrap_or(0);
    let (t_small, stored_small, peak_small) =
        our_backup(&store, "small", &pg, "small", &tools, &ids).await;
    println!(
        "db small: {:.0} MiB database, backup {:.2} s, {:.1} MiB stored, peak RSS {:.1} MiB",
        mib(small_size),
        t_small.as_secs_f64(),
        mib(stored_small),
        peak_small
    );

    let t = Instant::now();
    pgbench_init(&client, &pg, "big", scale);
    let size: u64 = psql_value(&pg, "big", "SELECT pg_database_size('big')")
        .parse()
        .unwrap_or(0);
    println!(
        "db big: pgbench scale {scale}: {:.0} MiB database (initialised in {:.0} s)",
        mib(size),
        t.elapsed().as_secs_f64()
    );

    let conn = format!(
        "PGPASSWORD='{}' LD_LIBRARY_PATH={} {} -h 127.0.0.1 -p {} -U postgres -d big",
        pg.password(),
        client.libdir().map(quote).unwrap_or_default(),
        quote(&client.pg_dump()),
        pg.port()
    );
    let out = work.join("shell.dump.zst.age");
    let shell = format!(
        "{conn} -Fc | zstd -q -c | age -r {recipient} > {}",
        quote(&out)
    );
    let shell_z0 = format!(
        "{conn} -Fc -Z0 | zstd -q -c | age -r {recipient} > {}",
        quote(&out)
    );
    for round in 1..=2 {
        let d = sh(&shell);
        let shell_bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        println!(
            "db round {round}: shell `pg_dump -Fc | zstd | age` {:.1} s ({:.0} MiB/s of database), {:.1} MiB",
            d.as_secs_f64(),
            mib(size) / d.as_secs_f64(),
            mib(shell_bytes)
        );
        let d = sh(&shell_z0);
        let shell_bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        println!(
            "db round {round}: shell `pg_dump -Fc -Z0 | zstd | age` {:.1} s ({:.0} MiB/s), {:.1} MiB",
            d.as_secs_f64(),
            mib(size) / d.as_secs_f64(),
            mib(shell_bytes)
        );
        let _ = std::fs::remove_file(&out);
        let (d, stored, peak) =
            our_backup(&store, &format!("big-{round}"), &pg, "big", &tools, &ids).await;
        println!(
            "db round {round}: fleet-backup backup_now {:.1} s ({:.0} MiB/s), {:.1} MiB stored, peak RSS {:.1} MiB",
            d.as_secs_f64(),
            mib(size) / d.as_secs_f64(),
            mib(stored),
            peak
        );
    }

    let t = Instant::now();
    let report = restore_database(
        &executor(Some("restored")),
        &store,
        "big-1",
        &ids,
        &PgTarget::new(pg.url()),
        &DatabaseRestoreOptions::new("restored").with_tools(tools.clone()),
    )
    .await
    .expect("restore");
    println!(
        "db restore: {:.1} s for {:.0} MiB of database ({} tables, {} rows validated); policy RTO 4 h",
        t.elapsed().as_secs_f64(),
        mib(size),
        report.tables_checked,
        report.rows_checked
    );
}

async fn config(work: &Path) {
    let fc = FakeCluster::builder()
        .without_controllers()
        .history_limit(100)
        .object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        .start()
        .await
        .expect("fake cluster");
    for i in 0..10_000usize {
        let obj = match i % 10 {
            0..=5 => {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cfg-{i:05}"), "namespace": NS, "labels": {"app": "fleet"}},
                "data": {"log_level": "info", "feature_flags": "gps-tracking,work-orders", "index": i.to_string()}})
            }
            6 | 7 => {
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("sec-{i:05}"), "namespace": NS}, "type": "Opaque",
                "data": {"password": "bm90LWEtcmVhbC1wYXNzd29yZA==", "user": "ZmxlZXQ="}})
            }
            8 => {
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i:05}"), "namespace": NS},
                "spec": {"selector": {"app": format!("a{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}})
            }
            _ => {
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("dep-{i:05}"), "namespace": NS},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("a{i}")}},
                    "template": {"metadata": {"labels": {"app": format!("a{i}")}}, "spec": {"containers": [{"name": "c", "image": "registry.example.com/fleet/fleet-api:1.4.2"}]}}}})
            }
        };
        fc.store().insert(obj).expect("object");
    }
    let url = fc.url().parse().expect("url");
    let cluster = Arc::new(
        KubeCluster::from_config(
            kube::Config::new(url),
            ClusterOptions::default().with_namespace(NS),
        )
        .expect("cluster"),
    );
    let ids = Identities::generate();
    let store = BackupStore::local(work.join("config-store")).expect("store");

    let kinds = "configmaps,secrets,services,deployments.apps,serviceaccounts,persistentvolumeclaims,endpoints,pods,replicasets.apps,statefulsets.apps,daemonsets.apps,jobs.batch,cronjobs.batch,horizontalpodautoscalers.autoscaling,ingresses.networking.k8s.io,networkpolicies.networking.k8s.io,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io";
    let yaml = work.join("kubectl.yaml");
    for round in 1..=2 {
        let mut cmd = fc.kubectl();
        let t = Instant::now();
        let out = cmd
            .args(["get", kinds, "-n", NS, "-o", "yaml"])
            .output()
            .expect("kubectl");
        let d_kubectl = t.elapsed();
        assert!(
            out.status.success(),
            "kubectl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&yaml, &out.stdout).expect("yaml");
        let t = Instant::now();
        let report = backup_now(
            &executor(None),
            &store,
            BackupRequest::new(format!("cfg-{round}"), ids.public())
                .with_kubernetes(KubernetesSource::new(cluster.clone())),
        )
        .await
        .expect("config backup");
        let d_ours = t.elapsed();
        let stored = report.manifest.map_or(0, |m| m.stored_bytes());
        println!(
            "config round {round}: kubectl get -o yaml {:.2} s ({:.1} MiB plaintext); fleet-backup {:.2} s ({:.2} MiB encrypted): {:.1}x",
            d_kubectl.as_secs_f64(),
            mib(out.stdout.len() as u64),
            d_ours.as_secs_f64(),
            mib(stored),
            d_kubectl.as_secs_f64() / d_ours.as_secs_f64()
        );
    }
    let _ = std::fs::remove_file(&yaml);
    let target = KubeCluster::from_config(
        kube::Config::new(fc.url().parse().expect("url")),
        ClusterOptions::default().with_namespace("restored"),
    )
    .expect("cluster");
    let t = Instant::now();
    let report = restore_config(
        &executor(Some("restored")),
        &store,
        "cfg-1",
        &ids,
        &target,
        &ConfigRestoreOptions::default().with_rollout_timeout(None),
    )
    .await
    .expect("config restore");
    println!(
        "config restore: {:.1} s for {} objects into a new namespace ({} failed); policy RTO 4 h",
        t.elapsed().as_secs_f64(),
        report.items.len(),
        report.failures().count()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let scale: u32 = std::env::var("FLEET_BENCH_PGBENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(70);
    // Removed on the way out, panics included: the database and every backup of it.
    let work = tempfile::Builder::new()
        .prefix("fleet-backup-bench-")
        .tempdir()
        .expect("temp");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var("FLEET_BENCH_SKIP_DB").is_err() {
        rt.block_on(database(work.path(), scale));
    }
    rt.block_on(config(work.path()));
}
