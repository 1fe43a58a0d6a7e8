//! Runs the `production_preflight_check` example as a process against FakeCluster, a real
//! PostgreSQL and AzureReplay: a healthy fleet with an approved hotfix is clear (exit 0), the
//! backup check without an Azure server is reported as not run (inconclusive, exit 1), and a
//! crash-looping running release blocks (exit 1).
#![cfg(feature = "runbook")]

mod release;
mod support;

use std::time::Duration;

use fleet_testkit::k8s::{FLEET_NAMESPACE, Scenario};
use release::{World, expect_exit, outcome};

const HOTFIX: [&str; 6] = [
    "--hotfix",
    "--approved-by",
    "lead@example.com",
    "--version",
    "hotfix-v1.2.4",
    "--output",
];

/// A release repository made with `git`: `origin/main` at the released commit, `HEAD` one
/// commit ahead.
fn release_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=Ann", "-c", "user.email=ann@example.com"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "Release 1.2.3"]);
    let released = git(&["rev-parse", "HEAD"]);
    git(&["update-ref", "refs/remotes/origin/main", &released]);
    git(&["commit", "-q", "--allow-empty", "-m", "Fix GPS time zones"]);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_fleet_is_clear_and_missing_checks_or_crash_loops_block() {
    let w = World::start().await;
    let mut args = HOTFIX.to_vec();
    args.push("json");

    // With the release's repository, the commits to be released are listed in the plan.
    let repo = release_repo();
    let repo_path = repo.path().display().to_string();
    let mut with_repo = args.clone();
    with_repo.extend(["--repo", &repo_path]);
    let out = w.run("production_preflight_check", &with_repo, true).await;
    let report = expect_exit(&out, 0);
    assert_eq!(report["procedure"], "production-preflight-check");
    let notes = report["plan"]["notes"].to_string();
    assert!(
        notes.contains("changes to release (origin/main..HEAD): 1 commit(s)")
            && notes.contains("Fix GPS time zones")
            && !notes.contains("Release 1.2.3"),
        "{notes}"
    );
    for rule in [
        "backup.rpo",
        "metrics.db-connections",
        "preflight.rbac",
        "preflight.crash-loop",
    ] {
        assert_eq!(outcome(&report, rule), ["pass"], "{rule}: {report}");
    }

    // No Azure server given: the backup check is reported as not run, and blocks.
    let out = w.run("production_preflight_check", &args, false).await;
    let report = expect_exit(&out, 1);
    assert_eq!(outcome(&report, "backup.rpo"), ["inconclusive"]);
    assert!(
        report.to_string().contains("backups not checked"),
        "{report}"
    );

    // The running release starts crash-looping: blocked, and the text says why.
    let bad = "registry.example.com/fleet/fleet-api:6.6.6";
    w.cluster.set_scenario(
        bad,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 4,
        },
    );
    let set = tokio::process::Command::from(w.cluster.kubectl())
        .args([
            "-n",
            FLEET_NAMESPACE,
            "set",
            "image",
            "deployment/fleet-api",
        ])
        .arg(format!("fleet-api={bad}"))
        .output()
        .await
        .expect("kubectl runs");
    assert!(set.status.success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut text = HOTFIX.to_vec();
    text.push("text");
    let out = w.run("production_preflight_check", &text, true).await;
    expect_exit(&out, 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("preflight.crash-loop"), "{stdout}");
}
