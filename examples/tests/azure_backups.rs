//! Runs the `azure_backups` example as a process against `fleet_testkit::azure::AzureReplay`:
//! the real credential chain (a client secret, from the replay's token endpoint), the real
//! pipeline over HTTPS trusting the replay's certificate, the policy's naming and restore
//! rule, confirmations, dry runs, exit codes and both output formats.
//!
//! Run with `cargo test -p fleet-examples --features azure` (a test target alone does not make
//! cargo build the example binary).

mod support;

use fleet_testkit::azure::{AzureReplay, OperationPlan, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use std::path::PathBuf;
use std::process::Output;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A replay, its certificate on disk, and a way to run the example against it.
struct Harness {
    replay: AzureReplay,
    ca: PathBuf,
}

impl Harness {
    async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let replay = AzureReplay::start().await?;
        replay.set_operation_plan(OperationPlan {
            in_progress_polls: 0,
            ..OperationPlan::default()
        });
        let ca = std::env::temp_dir().join(format!(
            "azure-backups-ca-{}-{}.pem",
            std::process::id(),
            replay.base_url().rsplit(':').next().unwrap_or("0")
        ));
        std::fs::write(&ca, replay.ca_certificate_pem())?;
        Ok(Self { replay, ca })
    }

    async fn run(&self, args: &[&str]) -> Result<Output, std::io::Error> {
        let mut command = tokio::process::Command::new(support::exe("azure_backups"));
        for (name, _) in std::env::vars() {
            if name.starts_with("AZURE")
                || name.starts_with("FLEET_")
                || name.starts_with("IDENTITY_")
            {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .env("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
            .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
            .env("AZURE_CLIENT_SECRET", "s3cret-value")
            .env("AZURE_AUTHORITY_HOST", self.replay.base_url())
            .env("FLEET_AZURE_ARM_ENDPOINT", self.replay.base_url())
            .env("FLEET_AZURE_CA_CERT", &self.ca)
            .env("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION_ID)
            .env("FLEET_RESOURCE_GROUP", RESOURCE_GROUP)
            .env("FLEET_PG_SERVER", SERVER)
            .stdin(std::process::Stdio::null())
            .output()
            .await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_reads_like_the_runbook_step() -> TestResult {
    let h = Harness::start().await?;
    let out = h.run(&["--help"]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for needle in [
        "point-in-time restore",
        "AZURE_CLIENT_SECRET",
        "--dry-run",
        "--confirm",
        "restore",
        "Exit codes",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
    let out = h.run(&["frobnicate"]).await?;
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_prints_the_backups_and_the_restore_window() -> TestResult {
    let h = Harness::start().await?;
    let out = h.run(&["list"]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("backup_638830782181266873"), "{stdout}");
    assert!(
        stdout.contains("ondemandbackup-20250601T183022"),
        "{stdout}"
    );
    assert!(
        stdout.contains("restore window: 2025-06-01T18:35:22.123456Z"),
        "{stdout}"
    );
    let out = h.run(&["list", "--output", "json"]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["backups"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["restore_points"]["retention_days"], 7);
    // The credential chain got its token from the replay's identity endpoint.
    assert!(h.replay.tokens_issued() >= 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_names_the_backup_by_the_policy_and_dry_runs_send_nothing() -> TestResult {
    let h = Harness::start().await?;
    let today = Timestamp::now()
        .to_zoned_datetime(TimeZone::UTC)
        .date()
        .strftime("%Y%m%d")
        .to_string();
    let expected = format!("manual-backup-{today}");
    let out = h.run(&["--dry-run", "create"]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("dry run, nothing sent"), "{stdout}");
    assert!(
        stdout.contains(&format!("PUT {}", h.replay.base_url())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("/backups/{expected}?api-version=2025-08-01")),
        "{stdout}"
    );
    assert!(h.replay.requests().iter().all(|r| r.method != "PUT"));

    let out = h.run(&["create", "--output", "json"]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["applied"]["name"], expected.as_str());
    assert!(
        text(&out.stderr).contains("resumeToken"),
        "statuses go to stderr"
    );
    // The same day's second backup gets the policy's suffix.
    let out = h.run(&["create"]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        h.replay
            .backup_names(SERVER)
            .contains(&format!("{expected}-2"))
    );
    let out = h.run(&["create", "bad name"]).await?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("invalid backup_name"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_needs_the_backups_name_confirmed() -> TestResult {
    let h = Harness::start().await?;
    let name = "ondemandbackup-20250601T183022";
    for args in [
        vec!["delete", name],
        vec!["--confirm", "exampleserver", "delete", name],
    ] {
        let out = h.run(&args).await?;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("not confirmed"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = h.run(&["--dry-run", "delete", name]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("DELETE"));
    assert!(h.replay.requests().iter().all(|r| r.method != "DELETE"));
    let out = h.run(&["--confirm", name, "delete", name]).await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "deleted");
    assert!(!h.replay.backup_names(SERVER).contains(&name.to_owned()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_follows_the_policy_and_confirms_with_the_new_servers_name() -> TestResult {
    let h = Harness::start().await?;
    // Outside the policy's 7-day window: refused by the policy, exit 1, nothing sent.
    let out = h
        .run(&[
            "--confirm",
            "fleet-restored",
            "restore",
            "fleet-restored",
            "2025-06-01T18:35:22Z",
        ])
        .await?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("backup.restore-target"),
        "{}",
        text(&out.stderr)
    );
    let time = Timestamp::now()
        .checked_sub(SignedDuration::from_hours(1))?
        .to_string();
    let out = h.run(&["restore", "fleet-restored", &time]).await?;
    assert_eq!(
        out.status.code(),
        Some(2),
        "no confirmation: {}",
        text(&out.stderr)
    );
    assert!(h.replay.requests().iter().all(|r| r.method != "PUT"));
    let out = h
        .run(&[
            "--confirm",
            "fleet-restored",
            "restore",
            "fleet-restored",
            &time,
        ])
        .await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("fleet-restored is Ready"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("resumeToken"));
    let restored = h.replay.server("fleet-restored").ok_or("no server")?;
    assert_eq!(restored["properties"]["state"], "Ready");
    Ok(())
}
