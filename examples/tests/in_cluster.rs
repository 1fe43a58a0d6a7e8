//! The runbook's schedule inside Kubernetes: the objects `fleet_runbook::in_cluster_objects`
//! generates are applied to FakeCluster with the real `kubectl apply -f`, and a run of the
//! health CronJob, as its Job, runs the `k8s_triage` binary, and a run of the configuration
//! backup CronJob runs `k8s_export` limited to the kinds its Role may list (each a child
//! process acting as the CronJob's service account, with RBAC on), both to success with no
//! request refused. Built with `--features in-cluster`.
#![cfg(feature = "in-cluster")]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use fleet_runbook::{ScheduleOptions, in_cluster_objects};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};

/// The directory of the built examples (where `k8s_triage` and `k8s_export` are).
fn examples_dir() -> PathBuf {
    let dir = support::examples_dir();
    for binary in ["k8s_triage", "k8s_export"] {
        assert!(
            dir.join(binary).exists(),
            "{binary} not built in {}",
            dir.display()
        );
    }
    dir
}

#[tokio::test]
async fn the_schedule_applies_with_kubectl_and_its_jobs_succeed_under_their_roles() {
    let fake = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(50))
        .start()
        .await
        .expect("fake cluster");
    let options = ScheduleOptions::default().with_binary_dir(examples_dir().display().to_string());
    let documents = in_cluster_objects(&options)
        .expect("objects")
        .to_documents()
        .expect("documents");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fleet-runbook.yaml");
    std::fs::write(&file, documents).expect("write");

    let out = tokio::process::Command::from(fake.kubectl())
        .arg("apply")
        .arg("-f")
        .arg(&file)
        .output()
        .await
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for created in [
        "serviceaccount/fleet-runbook created",
        "role.rbac.authorization.k8s.io/fleet-triage created",
        "rolebinding.rbac.authorization.k8s.io/fleet-backup-config created",
        "cronjob.batch/fleet-backup-config created",
        "cronjob.batch/fleet-health created",
    ] {
        assert!(stdout.contains(created), "{created} in {stdout}");
    }
    let cron = fake
        .store()
        .get("cronjobs", FLEET_NAMESPACE, "fleet-backup-config")
        .expect("stored");
    assert_eq!(cron["spec"]["schedule"], "0 2 * * *");

    // From here on the jobs are held to their Roles.
    fake.set_rbac(true);
    for cron_job in ["fleet-health", "fleet-backup-config"] {
        run_job(&fake, cron_job).await;
    }
}

/// Triggers `cron_job`, waits for its Job to end, and checks it succeeded with every request
/// its service account made allowed.
async fn run_job(fake: &FakeCluster, cron_job: &str) {
    fake.clear_requests();
    let job = fake
        .trigger_cronjob(FLEET_NAMESPACE, cron_job)
        .expect("job created");
    let done = fake
        .wait_until(Duration::from_secs(60), |s| {
            s.get("jobs", FLEET_NAMESPACE, &job).is_some_and(|j| {
                j["status"]["succeeded"].as_i64() == Some(1)
                    || j["status"]["failed"].as_i64() >= Some(1)
            })
        })
        .await;
    assert!(done, "the job {job} finished");
    let stored = fake
        .store()
        .get("jobs", FLEET_NAMESPACE, &job)
        .expect("job");
    assert_eq!(
        stored["status"]["succeeded"].as_i64(),
        Some(1),
        "job {job} of {cron_job}: {}",
        stored["status"]
    );
    // The run was the service account's, and it was refused nothing.
    let as_sa: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.user == "system:serviceaccount:fleet-management:fleet-runbook")
        .collect();
    assert!(
        !as_sa.is_empty(),
        "the requests of {cron_job} came from its service account"
    );
    assert!(
        as_sa.iter().all(|r| r.status != 403),
        "{cron_job}: {:?}",
        as_sa
            .iter()
            .filter(|r| r.status == 403)
            .map(|r| &r.path)
            .collect::<Vec<_>>()
    );
}
