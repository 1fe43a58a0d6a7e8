//! The pre-flight on FakeCluster, a real PostgreSQL and the server's restore points.

use fleet_guard::{Mode, StepOutcome};
use fleet_policy::Outcome;
use fleet_runbook::{Preflight, PreflightOptions, RunStatus};
use fleet_testkit::k8s::Scenario;

use crate::world::{World, approvals, executor};

fn outcome(report: &fleet_runbook::Report, rule: &str) -> Outcome {
    report
        .findings
        .findings
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} in {}", report.to_text()))
        .outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_fleet_passes_the_preflight_and_writes_nothing() {
    let w = World::start().await;
    // The release's repository: three commits not yet in origin/main.
    let repo = crate::changes::repo();
    let options = PreflightOptions::new("fleet-api", "hotfix-v1.2.4")
        .hotfix(approvals(), "main")
        .with_changes(repo.path(), fleet_runbook::ChangesOptions::default());
    let pre = Preflight::new(
        w.kube.clone(),
        Some(w.db.clone()),
        Some(w.azure.clone()),
        w.policy.clone(),
        options,
    );
    let (run, audit, _) = executor("preflight", Mode::Execute, None);
    w.cluster.clear_requests();
    let report = pre.run(&run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    for rule in [
        "preflight.rollout",
        "preflight.crash-loop",
        "preflight.rbac",
        "metrics.cpu-usage",
        "metrics.memory-usage",
        "metrics.db-connections",
        "backup.rpo",
        "deploy.hotfix-approval",
    ] {
        assert_eq!(outcome(&report, rule), Outcome::Pass, "{rule}");
    }
    assert!(
        report
            .steps
            .iter()
            .all(|s| s.outcome == StepOutcome::Succeeded)
    );
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert!(audit.records().is_empty(), "reads are not audited");
    // The changes to be released are listed, as `git log --oneline origin/main..HEAD` would.
    let notes = &report.plan.notes;
    assert!(
        notes
            .iter()
            .any(|n| n == "changes to release (origin/main..HEAD): 3 commit(s)"),
        "{notes:?}"
    );
    for summary in [
        "Merge fix/work-orders",
        "Fix work-order pagination",
        "Add GPS batching",
    ] {
        assert!(
            notes.iter().any(|n| n.ends_with(summary)),
            "{summary} in {notes:?}"
        );
    }
    assert!(report.to_text().contains("Add GPS batching"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_fleet_and_missing_rights_block_the_preflight() {
    let w = World::start().await;
    w.cluster.set_rbac(true);
    // The running release starts crash-looping.
    let image = w.image();
    w.cluster.set_scenario(
        &image,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    let _ = w
        .cluster
        .kubectl()
        .args([
            "-n",
            "fleet-management",
            "delete",
            "pods",
            "-l",
            "app=fleet-api",
        ])
        .output();
    let settled = w
        .cluster
        .wait_until(std::time::Duration::from_secs(10), |s| {
            s.list("pods", Some("fleet-management")).iter().any(|p| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "CrashLoopBackOff"
            })
        })
        .await;
    assert!(settled, "pods crash-loop");
    // A client acting as a user who may run the pre-flight (its Role) but not deploy.
    let store = w.cluster.store();
    let perms = fleet_runbook::permissions("preflight").expect("preflight");
    let preflight_role = fleet_runbook::role("preflight", "fleet-management", perms).expect("role");
    store
        .insert(serde_json::to_value(preflight_role).expect("json"))
        .expect("role");
    store
        .insert(serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "jane-preflight", "namespace": "fleet-management"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fleet-preflight"},
            "subjects": [{"kind": "User", "name": "jane"}]}))
        .expect("binding");
    let mut cfg = kube::Config::new(w.cluster.url().parse().expect("url"));
    cfg.default_namespace = "fleet-management".into();
    cfg.auth_info.impersonate = Some("jane".into());
    let jane = fleet_runbook::Kube::from_cluster(
        fleet_k8s::KubeCluster::from_config(cfg, fleet_k8s::ClusterOptions::default())
            .expect("cluster"),
    );
    let mut kube = w.kube.clone();
    kube.access = jane.access;
    let options = PreflightOptions::new("fleet-api", "v1.3.0").with_headroom(false);
    let pre = Preflight::new(kube, Some(w.db.clone()), None, w.policy.clone(), options);
    let (run, _, _) = executor("preflight", Mode::Execute, None);
    let report = pre.run(&run).await;
    assert_eq!(report.status, RunStatus::Blocked, "{}", report.to_text());
    assert_eq!(report.exit_code, 1);
    assert_eq!(outcome(&report, "preflight.crash-loop"), Outcome::Fail);
    assert_eq!(outcome(&report, "preflight.rbac"), Outcome::Fail);
    assert_eq!(outcome(&report, "backup.rpo"), Outcome::Inconclusive);
    let rbac = report
        .findings
        .findings
        .iter()
        .find(|f| f.rule == "preflight.rbac")
        .expect("rbac");
    assert!(
        rbac.message
            .contains("patch deployments.apps in fleet-management"),
        "{}",
        rbac.message
    );
}
