//! Kubernetes configuration: back up the runbook's seeded namespace, delete it, restore it
//! (dry run first, then confirmed), and the deployments roll out again with the same specs and
//! secrets; restores into another namespace and another cluster; conflict policies.

use std::sync::Arc;

use fleet_backup::{
    ApplyOutcome, BackupRequest, ConfigRestoreOptions, ConflictPolicy, KubernetesSource,
    RestoreAction, backup_now, restore_config,
};
use fleet_guard::{AuditPhase, Mode};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use serde_json::Value;

use crate::common::{fleet, keys, kube, local_store, run};

/// The seeded Secret's password, base64 and plain.
const SECRET_B64: &str = "bm90LWEtcmVhbC1wYXNzd29yZA==";
const SECRET_PLAIN: &str = "not-a-real-password";

fn deployment_specs(fc: &FakeCluster, ns: &str) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = fc
        .store()
        .list("deployments", Some(ns))
        .into_iter()
        .map(|d| {
            (
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                serde_json::json!({
                    "replicas": d["spec"]["replicas"],
                    "selector": d["spec"]["selector"],
                    "template": d["spec"]["template"],
                    "strategy": d["spec"]["strategy"],
                }),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .expect("readable")
                .windows(needle.len())
                .any(|w| w == needle)
            {
                return true;
            }
        }
    }
    false
}

async fn rolled_out(fc: &FakeCluster, ns: &str) -> bool {
    fc.wait_until(std::time::Duration::from_secs(20), |s| {
        let ds = s.list("deployments", Some(ns));
        !ds.is_empty()
            && ds.iter().all(|d| {
                d["status"]["readyReplicas"] == d["spec"]["replicas"]
                    && d["status"]["updatedReplicas"] == d["spec"]["replicas"]
            })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_namespace_is_backed_up_deleted_and_restored() {
    let logs = crate::common::captured_logs();
    let fc = fleet().await;
    let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
    let (dir, store) = local_store();
    let (ids, recipients) = keys();
    let specs_before = deployment_specs(&fc, FLEET_NAMESPACE);
    let secret_before = fc
        .store()
        .get("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
        .expect("seeded secret")["data"]
        .clone();

    let backup = run(Mode::Execute, None);
    let report = backup_now(
        &backup.executor,
        &store,
        BackupRequest::new("cfg-1", recipients)
            .with_kubernetes(KubernetesSource::new(cluster.clone())),
    )
    .await
    .expect("backup");
    let manifest = report.manifest.expect("committed");
    let info = manifest.kubernetes.as_ref().expect("kubernetes part");
    let count = |kind: &str| {
        info.kinds
            .iter()
            .filter(|k| k.kind == kind)
            .map(|k| k.objects)
            .sum::<u64>()
    };
    assert_eq!(count("Deployment"), 2);
    assert_eq!(count("Secret"), 1);
    assert_eq!(count("ConfigMap"), 1);
    assert_eq!(count("ReplicaSet"), 0, "controller-owned: left out");
    // Every seeded pod has an owner (the database's too, made by its StatefulSet).
    assert_eq!(
        count("Pod"),
        0,
        "controller-owned pods are left out: {info:?}"
    );
    assert_eq!(count("StatefulSet"), 1);
    assert!(
        info.skipped
            .iter()
            .any(|s| s.kind == "ReplicaSet" && s.reason == "controller-owned")
    );
    assert!(count("Role") == 1 && count("RoleBinding") == 1 && count("NetworkPolicy") == 1);
    assert_eq!(
        info.namespace_labels
            .get("app.kubernetes.io/part-of")
            .map(String::as_str),
        Some("fleet")
    );
    // Nothing secret in the store in plaintext, nor in what was recorded about the run.
    for needle in [SECRET_B64, SECRET_PLAIN] {
        assert!(
            !files_contain(dir.path(), needle.as_bytes()),
            "{needle} in the store"
        );
        let audit = serde_json::to_string(&backup.audit.records()).expect("json");
        assert!(!audit.contains(needle));
        assert!(!format!("{:?}", backup.progress.events()).contains(needle));
    }
    assert!(
        !files_contain(dir.path(), b"fleet-api:1.4.2"),
        "configuration is encrypted too"
    );

    // The namespace goes away.
    fc.store()
        .delete("namespaces", "", FLEET_NAMESPACE)
        .expect("namespace deleted");
    assert!(
        fc.store()
            .list("deployments", Some(FLEET_NAMESPACE))
            .is_empty()
    );

    // Dry run: the plan, nothing changes.
    let dry = run(Mode::DryRun, None);
    let plan = restore_config(
        &dry.executor,
        &store,
        "cfg-1",
        &ids,
        cluster.as_ref(),
        &ConfigRestoreOptions::default(),
    )
    .await
    .expect("dry run");
    assert!(!plan.applied && !plan.namespace_existed);
    let not_created: Vec<_> = plan
        .items
        .iter()
        .filter(|i| i.action != RestoreAction::Create)
        .collect();
    // Everything is created, except the Endpoints of Services with selectors, which the
    // endpoints controller writes again from the restored pods.
    assert!(
        not_created
            .iter()
            .all(|i| i.kind == "Endpoints" && matches!(i.action, RestoreAction::Skip { .. })),
        "{not_created:?}"
    );
    assert!(fc.store().get("namespaces", "", FLEET_NAMESPACE).is_none());
    let order: Vec<&str> = plan.items.iter().map(|i| i.resource.as_str()).collect();
    let pos = |r: &str| order.iter().position(|x| *x == r).expect(r);
    assert!(pos("serviceaccounts") < pos("secrets"));
    assert!(pos("secrets") < pos("configmaps"));
    assert!(pos("configmaps") < pos("services"));
    assert!(pos("services") < pos("deployments.apps"));
    assert!(dry.audit.records().is_empty(), "a dry run audits nothing");

    // A wrong word changes nothing.
    let wrong = run(Mode::Execute, Some("yes"));
    let refused = restore_config(
        &wrong.executor,
        &store,
        "cfg-1",
        &ids,
        cluster.as_ref(),
        &ConfigRestoreOptions::default(),
    )
    .await
    .expect_err("refused");
    assert!(refused.is_refused(), "{refused}");
    assert!(fc.store().get("namespaces", "", FLEET_NAMESPACE).is_none());

    // Confirmed with the namespace's name.
    let exec = run(Mode::Execute, Some(FLEET_NAMESPACE));
    let done = restore_config(
        &exec.executor,
        &store,
        "cfg-1",
        &ids,
        cluster.as_ref(),
        &ConfigRestoreOptions::default(),
    )
    .await
    .expect("restore");
    assert!(done.applied);
    assert_eq!(
        done.failures().count(),
        0,
        "{:?}",
        done.failures().collect::<Vec<_>>()
    );
    assert_eq!(done.rollouts.len(), 2, "{:?}", done.rollouts);
    assert!(
        done.rollouts
            .iter()
            .all(|(_, s)| s.contains("successfully rolled out")),
        "{:?}",
        done.rollouts
    );
    assert!(rolled_out(&fc, FLEET_NAMESPACE).await);
    assert_eq!(deployment_specs(&fc, FLEET_NAMESPACE), specs_before);
    let secret_after = fc
        .store()
        .get("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
        .expect("secret restored")["data"]
        .clone();
    assert_eq!(secret_after, secret_before);
    let ns = fc
        .store()
        .get("namespaces", "", FLEET_NAMESPACE)
        .expect("namespace");
    assert_eq!(
        ns["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "fleet"
    );
    let svc = fc
        .store()
        .get("services", FLEET_NAMESPACE, "fleet-api")
        .expect("service");
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| !ip.is_empty()),
        "new cluster IP"
    );
    // Intent and outcome of the apply are audited, without secret values.
    let records = exec.audit.records();
    assert!(
        records
            .iter()
            .any(|r| r.step == "apply-config" && r.phase == AuditPhase::Intent)
    );
    assert!(
        records
            .iter()
            .any(|r| r.step == "apply-config" && r.phase == AuditPhase::Outcome)
    );
    let audit = serde_json::to_string(&records).expect("json");
    assert!(!audit.contains(SECRET_B64) && !audit.contains(SECRET_PLAIN));
    let shown = format!("{done:?}");
    assert!(!shown.contains(SECRET_B64) && !shown.contains(SECRET_PLAIN));
    // Nor does any log line, at any level.
    let logged = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(logged.contains("step finished"), "logs were captured");
    assert!(
        !logged.contains(SECRET_B64) && !logged.contains(SECRET_PLAIN),
        "a secret was logged"
    );

    // The real kubectl sees the restored world.
    let out = fc
        .kubectl()
        .args([
            "-n",
            FLEET_NAMESPACE,
            "get",
            "deploy,secret,cm,ing,hpa,netpol,role,rolebinding",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    let names = String::from_utf8_lossy(&out.stdout);
    for want in [
        "deployment.apps/fleet-api",
        "deployment.apps/fleet-frontend",
        "secret/fleet-db-credentials",
        "configmap/fleet-config",
        "ingress.networking.k8s.io/fleet-ingress",
        "horizontalpodautoscaler.autoscaling/fleet-api",
        "networkpolicy.networking.k8s.io/fleet-postgres-ingress",
        "role.rbac.authorization.k8s.io/fleet-deployer",
        "rolebinding.rbac.authorization.k8s.io/fleet-deployer",
    ] {
        assert!(
            names.contains(want),
            "{want} missing from:\n{names}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_into_another_namespace_and_another_cluster() {
    let fc = fleet().await;
    let source = Arc::new(kube(&fc, FLEET_NAMESPACE));
    let (_dir, store) = local_store();
    let (ids, recipients) = keys();
    backup_now(
        &run(Mode::Execute, None).executor,
        &store,
        BackupRequest::new("cfg-dr", recipients).with_kubernetes(KubernetesSource::new(source)),
    )
    .await
    .expect("backup");

    // Another namespace of the same cluster.
    let other = kube(&fc, "fleet-dr");
    let r = run(Mode::Execute, Some("fleet-dr"));
    let report = restore_config(
        &r.executor,
        &store,
        "cfg-dr",
        &ids,
        &other,
        &ConfigRestoreOptions::default(),
    )
    .await
    .expect("restore into fleet-dr");
    assert!(report.applied && report.failures().count() == 0);
    let rb = fc
        .store()
        .get("rolebindings", "fleet-dr", "fleet-deployer")
        .expect("rolebinding");
    assert_eq!(
        rb["subjects"][0]["namespace"], "fleet-dr",
        "subjects follow the namespace"
    );
    assert!(rolled_out(&fc, "fleet-dr").await);
    assert_eq!(
        deployment_specs(&fc, "fleet-dr"),
        deployment_specs(&fc, FLEET_NAMESPACE)
    );

    // Another cluster (the DR path): empty, nothing of the fleet in it.
    let dr = FakeCluster::builder()
        .pod_ready_after(std::time::Duration::from_millis(100))
        .start()
        .await
        .expect("second cluster");
    let target = kube(&dr, FLEET_NAMESPACE);
    let r = run(Mode::Execute, Some(FLEET_NAMESPACE));
    let report = restore_config(
        &r.executor,
        &store,
        "cfg-dr",
        &ids,
        &target,
        &ConfigRestoreOptions::default(),
    )
    .await
    .expect("restore into the DR cluster");
    assert!(
        report.applied && report.failures().count() == 0,
        "{report:?}"
    );
    assert!(rolled_out(&dr, FLEET_NAMESPACE).await);
    assert_eq!(
        deployment_specs(&dr, FLEET_NAMESPACE),
        deployment_specs(&fc, FLEET_NAMESPACE)
    );
    assert!(
        dr.store()
            .get("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_skipped_with_a_diff_or_updated() {
    let fc = fleet().await;
    let cluster = Arc::new(kube(&fc, FLEET_NAMESPACE));
    let (_dir, store) = local_store();
    let (ids, recipients) = keys();
    backup_now(
        &run(Mode::Execute, None).executor,
        &store,
        BackupRequest::new("cfg-c", recipients)
            .with_kubernetes(KubernetesSource::new(cluster.clone())),
    )
    .await
    .expect("backup");
    // Someone changes the live config and the secret.
    fc.store()
        .modify("configmaps", FLEET_NAMESPACE, "fleet-config", |cm| {
            cm["data"]["log_level"] = "debug".into();
        })
        .expect("modified");
    fc.store()
        .modify("secrets", FLEET_NAMESPACE, "fleet-db-credentials", |s| {
            s["data"]["password"] = "Y2hhbmdlZA==".into();
        })
        .expect("modified");

    // Skip (the default): a dry run shows what differs, by path only.
    let dry = run(Mode::DryRun, None);
    let plan = restore_config(
        &dry.executor,
        &store,
        "cfg-c",
        &ids,
        cluster.as_ref(),
        &ConfigRestoreOptions::default(),
    )
    .await
    .expect("plan");
    let item = |name: &str, kind: &str| {
        plan.items
            .iter()
            .find(|i| i.name == name && i.kind == kind)
            .cloned()
            .expect("planned")
    };
    let cm = item("fleet-config", "ConfigMap");
    assert!(matches!(cm.action, RestoreAction::Skip { .. }), "{cm:?}");
    assert_eq!(cm.diff, vec!["data.log_level"]);
    let secret = item("fleet-db-credentials", "Secret");
    assert_eq!(secret.diff, vec!["data.password"]);
    assert!(!format!("{plan:?}").contains("Y2hhbmdlZA=="));
    assert_eq!(
        item("fleet-api", "Deployment").action,
        RestoreAction::Unchanged
    );

    // Update: the backed-up values come back; unchanged objects are left alone.
    let options = ConfigRestoreOptions::default().with_conflict(ConflictPolicy::Update);
    let exec = run(Mode::Execute, Some(FLEET_NAMESPACE));
    let report = restore_config(
        &exec.executor,
        &store,
        "cfg-c",
        &ids,
        cluster.as_ref(),
        &options,
    )
    .await
    .expect("update");
    assert_eq!(
        report.failures().count(),
        0,
        "{:?}",
        report.failures().collect::<Vec<_>>()
    );
    let updated: Vec<&str> = report
        .items
        .iter()
        .filter(|i| i.outcome == ApplyOutcome::Applied)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(
        updated,
        vec!["fleet-db-credentials", "fleet-config"],
        "{report:?}"
    );
    let cm = fc
        .store()
        .get("configmaps", FLEET_NAMESPACE, "fleet-config")
        .expect("cm");
    assert_eq!(cm["data"]["log_level"], "info");
    let s = fc
        .store()
        .get("secrets", FLEET_NAMESPACE, "fleet-db-credentials")
        .expect("secret");
    assert_eq!(s["data"]["password"], SECRET_B64);
}
