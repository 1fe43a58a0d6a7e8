//! The world the release examples run in as processes: FakeCluster seeded with the fleet, a
//! real PostgreSQL (TempPostgres) as the application database, AzureReplay serving the
//! database server (with a backup taken an hour ago, inside the RPO), and a local application
//! answering the critical paths. Shared by two test binaries; each uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use fleet_testkit::azure::{AzureReplay, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use fleet_testkit::postgres::TempPostgres;

pub(crate) struct World {
    pub(crate) cluster: FakeCluster,
    pub(crate) pg: TempPostgres,
    pub(crate) replay: AzureReplay,
    ca: PathBuf,
    pub(crate) smoke: Vec<String>,
}

impl World {
    pub(crate) async fn start() -> World {
        let cluster = FakeCluster::builder()
            .seed_fleet()
            .pod_ready_after(Duration::from_millis(100))
            .start()
            .await
            .expect("fake cluster");
        let pg = tokio::task::spawn_blocking(TempPostgres::start)
            .await
            .expect("join")
            .expect("postgres");
        let replay = AzureReplay::start().await.expect("replay");
        let hour_ago = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .expect("t");
        replay.add_backup(
            SERVER,
            serde_json::json!({
                "name": "backup_recent",
                "type": "Microsoft.DBforPostgreSQL/flexibleServers/backups",
                "properties": {"backupType": "FULL", "completedTime": hour_ago.to_string(), "source": "Automatic"}
            }),
        );
        let ca = std::env::temp_dir().join(format!(
            "release-ca-{}-{}.pem",
            std::process::id(),
            replay.base_url().rsplit(':').next().unwrap_or("0")
        ));
        std::fs::write(&ca, replay.ca_certificate_pem()).expect("ca");
        let base = crate::support::ok_app().await;
        let smoke = [
            ("login flow", "/login"),
            ("vehicle dashboard", "/vehicles"),
            ("GPS tracking", "/gps"),
            ("work orders", "/work-orders"),
        ]
        .iter()
        .map(|(name, path)| format!("{name}={base}{path}"))
        .collect();
        World {
            cluster,
            pg,
            replay,
            ca,
            smoke,
        }
    }

    /// Runs example `name` with `args`, the smoke checks (for the examples that validate), the
    /// database and (with `azure`) the Azure server.
    pub(crate) async fn run(&self, name: &str, args: &[&str], azure: bool) -> Output {
        let mut command = tokio::process::Command::new(crate::support::exe(name));
        for (var, _) in std::env::vars() {
            if var.starts_with("AZURE") || var.starts_with("FLEET_") || var.starts_with("IDENTITY_")
            {
                command.env_remove(var);
            }
        }
        if name != "production_preflight_check" {
            for check in &self.smoke {
                command.args(["--smoke", check]);
            }
        }
        if azure {
            command
                .env("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
                .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
                .env("AZURE_CLIENT_SECRET", "s3cret-value")
                .env("AZURE_AUTHORITY_HOST", self.replay.base_url())
                .env("FLEET_AZURE_ARM_ENDPOINT", self.replay.base_url())
                .env("FLEET_AZURE_CA_CERT", &self.ca)
                .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION_ID)
                .env("FLEET_RESOURCE_GROUP", RESOURCE_GROUP)
                .env("FLEET_PG_SERVER", SERVER);
        }
        command
            .args(args)
            .env("KUBECONFIG", self.cluster.kubeconfig_path())
            .env(
                "FLEET_DATABASE_URL",
                format!("{}?sslmode=disable", self.pg.url()),
            )
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("the example runs")
    }

    /// The image of fleet-api's container in the store.
    pub(crate) fn image(&self) -> String {
        let d = self
            .cluster
            .store()
            .get("deployments", FLEET_NAMESPACE, "fleet-api")
            .expect("fleet-api");
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .expect("image")
            .to_owned()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca);
    }
}

/// The exit code, with stdout and stderr in the message when it is not `code`.
pub(crate) fn expect_exit(out: &Output, code: i32) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null)
}

/// The worst outcome of `rule` in a JSON report.
pub(crate) fn outcome(report: &serde_json::Value, rule: &str) -> Vec<String> {
    report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| f["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}
