//! Evidence adapters with plain values: Kubernetes objects as the API returns them (read by
//! fleet-k8s), a fleet-db snapshot document, fleet-azure backups; each judged by fleet-policy.

use fleet_azure::{RestorePoints, ServerBackup};
use fleet_k8s::{DeploymentInfo, PodSummary};
use fleet_policy::alerts::AlertKind;
use fleet_policy::backup::{self, BackupKind, BackupStatus};
use fleet_policy::{Outcome, Policy};
use fleet_runbook::{
    backup_inventory, crash_loop_alerts, crash_looping, db_connections, deployed_at, scaling_input,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use crate::common::ts;

fn pod(name: &str, waiting: Option<&str>, last_reason: Option<&str>, ready: bool) -> PodSummary {
    let state = match waiting {
        Some(reason) => {
            json!({"waiting": {"reason": reason, "message": "back-off 5m0s restarting failed container"}})
        }
        None => json!({"running": {"startedAt": "2026-07-16T22:00:00Z"}}),
    };
    let last = last_reason.map_or(json!({}), |r| {
        json!({"terminated": {"reason": r, "exitCode": 137, "finishedAt": "2026-07-16T22:01:00Z"}})
    });
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "fleet-management", "creationTimestamp": "2026-07-16T21:00:00Z",
                     "labels": {"app": "fleet-api"}},
        "spec": {"containers": [{"name": "api", "image": "registry.example/fleet-api:1.5.0",
                                  "resources": {"limits": {"memory": "512Mi"}}}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                   "containerStatuses": [{"name": "api", "image": "registry.example/fleet-api:1.5.0", "imageID": "",
                                          "ready": ready, "restartCount": if waiting.is_some() { 6 } else { 0 },
                                          "state": state, "lastState": last}]}
    }))
    .expect("pod");
    PodSummary::from_pod(&pod)
}

const TEMPLATE: &str = r#"{"metadata": {"labels": {"app": "fleet-api"}},
    "spec": {"containers": [{"name": "api", "image": "registry.example/fleet-api:1.5.0"}]}}"#;

fn deployment() -> Deployment {
    let template: serde_json::Value = serde_json::from_str(TEMPLATE).expect("template");
    serde_json::from_value(json!({
        "metadata": {"name": "fleet-api", "namespace": "fleet-management", "uid": "d-1", "generation": 3,
                     "annotations": {"deployment.kubernetes.io/revision": "42"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "fleet-api"}}, "template": template},
        "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 3}
    }))
    .expect("deployment")
}

fn replica_set(revision: &str, image: &str, created: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": format!("fleet-api-{revision}"), "namespace": "fleet-management",
                     "creationTimestamp": created,
                     "annotations": {"deployment.kubernetes.io/revision": revision},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "fleet-api",
                                          "uid": "d-1", "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "fleet-api"}},
                 "template": {"metadata": {"labels": {"app": "fleet-api", "pod-template-hash": revision}},
                              "spec": {"containers": [{"name": "api", "image": image}]}}}
    }))
    .expect("replica set")
}

#[test]
fn crash_looping_pods_become_the_runbook_alert() {
    let pods = [
        pod(
            "fleet-api-1",
            Some("CrashLoopBackOff"),
            Some("Error"),
            false,
        ),
        pod("fleet-api-2", None, None, true),
        pod("fleet-api-3", Some("ImagePullBackOff"), None, false),
    ];
    assert_eq!(crash_looping(&pods).len(), 1);
    let deployed = ts("2026-07-16T21:55:00Z");
    let alerts = crash_loop_alerts(&pods, Some(deployed));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::PodsCrashLooping);
    assert_eq!(alerts[0].subject, "pod/fleet-management/fleet-api-1");
    let finding =
        fleet_policy::alerts::evaluate(&Policy::default(), &alerts[0], ts("2026-07-16T22:05:00Z"));
    assert_eq!(finding.rule, "alert.pods-crash-looping");
    assert_eq!(finding.outcome, Outcome::Warn);
    assert!(
        finding
            .actions
            .iter()
            .any(|a| a.contains("previous container's logs"))
    );
    assert!(crash_loop_alerts(&pods[1..], None).is_empty());
}

#[test]
fn deployment_and_pods_become_the_scaling_input() {
    let info = DeploymentInfo::from_deployment(&deployment());
    let healthy = [pod("fleet-api-2", None, None, true)];
    let input = scaling_input(&info, &healthy);
    assert_eq!(input.deployment, "fleet-api");
    assert_eq!(input.current_replicas, 3);
    assert!(!input.oom_killed);
    let oom = [pod(
        "fleet-api-1",
        Some("CrashLoopBackOff"),
        Some("OOMKilled"),
        false,
    )];
    let input = scaling_input(&info, &oom);
    assert!(input.oom_killed);
    let findings =
        fleet_policy::scaling::evaluate(&Policy::default(), &input, ts("2026-07-16T22:05:00Z"));
    assert!(
        findings.iter().any(|f| f.rule == "scaling.vertical"),
        "the policy recommends the vertical step: {findings:#?}"
    );
}

#[test]
fn rollout_history_gives_the_deploy_time() {
    let history = fleet_k8s::rollout_revisions(
        &deployment(),
        &[
            replica_set(
                "41",
                "registry.example/fleet-api:1.4.0",
                "2026-07-09T22:10:00Z",
            ),
            replica_set(
                "42",
                "registry.example/fleet-api:1.5.0",
                "2026-07-16T22:10:00Z",
            ),
        ],
    );
    assert_eq!(history.len(), 2);
    assert_eq!(deployed_at(&history), Some(ts("2026-07-16T22:10:00Z")));
    assert_eq!(deployed_at(&[]), None);
}

#[test]
fn a_db_snapshot_gives_the_connections_reading() {
    let snapshot: fleet_db::Snapshot = serde_json::from_value(json!({
        "taken_at": "2026-07-16T22:05:00Z",
        "identity": {"version_num": 150008, "major": 15, "current_user": "fleet_monitor", "database": "fleetdb",
                     "superuser": false, "can_read_all_stats": true, "can_use_reserved_slots": false, "own_pid": 4242},
        "connections": {"total": 85, "by_state": {"active": 20, "idle": 60, "idle_in_transaction": 5,
                        "idle_in_transaction_aborted": 0, "other": 0, "hidden": 0},
                        "by_user": {"fleet_app": 85}, "by_application": {"fleet-api": 85}, "by_client_addr": {"10.0.0.7": 85},
                        "max_connections": 100, "superuser_reserved": 3, "reserved": 0, "usable": 97,
                        "utilization": 0.876, "slots_left": 12, "complete": true, "warnings": []},
        "sessions": [], "active_queries": [],
        "long_running": {"queries": [], "transactions": []},
        "leak_suspects": [],
        "blocking": {"roots": [], "waiting_sessions": 0, "cycles": []},
        "statements": {"status": "unavailable", "reason": "not_preloaded"},
        "health": {"version": "PostgreSQL 15.8", "started_at": "2026-07-01T00:00:00Z", "uptime_secs": 1360500.0,
                   "in_recovery": false, "databases": [], "cache_hit_ratio": 0.99, "deadlocks": 0, "temp_files": 0,
                   "temp_bytes": 0, "min_xids_left": 2000000000, "sequences_near_exhaustion": [],
                   "invalid_indexes": [], "duplicate_indexes": [], "replay_lag_secs": null,
                   "replication_slots": [], "replicas": []},
        "pool": {"max_size": 4, "size": 1, "available": 1, "waiting": 0, "too_many_connections": 0, "timeouts": 0},
        "cost": {"round_trips": 2, "connections_used": 1, "elapsed_secs": 0.012}
    }))
    .expect("snapshot");
    let reading = db_connections(&snapshot, "fleet-postgres-server");
    assert_eq!(reading.db_connections, Some(85.0));
    assert_eq!(reading.response_time_ms, None);
    let finding = fleet_policy::metrics::check(
        &Policy::default().metrics,
        &reading.subject,
        fleet_policy::metrics::Metric::DbConnections,
        reading.db_connections,
    );
    assert_eq!(finding.rule, "metrics.db-connections");
    assert_eq!(
        finding.outcome,
        Outcome::Fail,
        "85 is above the critical 80"
    );
}

#[test]
fn azure_backups_become_the_inventory() {
    // fleet-azure's models are non-exhaustive: built here from their own serialised shape.
    let backups: Vec<ServerBackup> = serde_json::from_value(serde_json::json!([
        {"name": "backup_638600000000000000", "id": "/subscriptions/x/backups/b1",
         "kind": "automatic", "source": "automatic", "completed_at": "2026-07-16T02:03:00Z"},
        {"name": "manual-backup-20260716", "id": "/subscriptions/x/backups/b2",
         "kind": "on_demand", "source": "customer_initiated", "completed_at": "2026-07-16T12:00:00Z"},
        {"name": "odd", "id": "/subscriptions/x/backups/b3",
         "kind": {"other": "Snapshot"}, "source": "customer_initiated", "completed_at": null},
    ]))
    .expect("backups");
    let points: RestorePoints = serde_json::from_value(serde_json::json!({
        "earliest": "2026-07-09T02:00:00Z",
        "latest": "2026-07-16T22:00:00Z",
        "retention_days": 7,
        "newest_backup": "2026-07-16T12:00:00Z",
    }))
    .expect("points");
    let inv = backup_inventory("fleet-postgres-server", &backups, Some(&points));
    assert_eq!(inv.server, "fleet-postgres-server");
    assert_eq!(inv.backups[0].kind, BackupKind::Automatic);
    assert_eq!(inv.backups[1].kind, BackupKind::OnDemand);
    assert_eq!(inv.backups[2].kind, BackupKind::OnDemand);
    assert_eq!(inv.backups[2].status, BackupStatus::InProgress);
    assert_eq!(inv.earliest_restore_point, points.earliest);
    let findings = backup::evaluate(&Policy::default(), &inv, ts("2026-07-16T22:05:00Z"));
    let rpo = findings
        .iter()
        .find(|f| f.rule == "backup.rpo")
        .expect("rpo");
    assert_eq!(rpo.outcome, Outcome::Pass, "{rpo:?}");
    // A day later without a new backup, the RPO is missed.
    let late = backup::evaluate(&Policy::default(), &inv, ts("2026-07-17T13:00:00Z"));
    assert_eq!(
        late.iter()
            .find(|f| f.rule == "backup.rpo")
            .expect("rpo")
            .outcome,
        Outcome::Fail
    );
}
