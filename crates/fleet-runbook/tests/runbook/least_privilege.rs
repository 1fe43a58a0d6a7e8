//! Least privilege, procedure by procedure, on FakeCluster with RBAC on: each procedure runs as
//! a service account bound to nothing but its generated Role (`docs/rbac.md`) and succeeds;
//! with any one verb taken out of that Role it stops at its first step, `forbidden`, naming
//! the verb and the resource, having written nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fleet_guard::{MemoryAuditSink, MemoryRecordStore, Mode, StepOutcome};
use fleet_k8s::LabelSelector;
use fleet_k8s::{ClusterOptions, KubeCluster};
use fleet_policy::incident::Severity;
use fleet_runbook::{
    Azure, CommonIssues, CommonIssuesOptions, Containment, Declaration, HostKey, IncidentBook,
    IncidentOptions, IncidentResponse, Kube, PerfTriage, Preflight, PreflightOptions, QuickFix,
    Report, Rollback, RollbackOptions, RunStatus, SecurityResponse, Signals, Validate,
    ValidateOptions, cluster_role, permissions, role,
};
use fleet_testkit::azure::{AzureReplay, OperationOutcome, OperationPlan};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Identity};
use serde_json::{Value, json};

use crate::release::{NEW, deploy, hotfix};
use crate::world::{World, executor, writes};

/// The generated Role of a procedure and, when it has cluster-scoped permissions, its
/// ClusterRole, as JSON.
#[derive(Clone)]
pub(crate) struct Roles {
    pub(crate) role: Value,
    pub(crate) cluster_role: Option<Value>,
}

/// Binds `procedure`'s generated Role (and ClusterRole, with a ClusterRoleBinding) to a new
/// service account `fleet-<procedure>` and returns a client acting as it, and the roles.
pub(crate) async fn as_procedure(cluster: &FakeCluster, procedure: &str) -> (Kube, Roles) {
    let (client, roles) = client_as_procedure(cluster, procedure).await;
    (Kube::from_cluster(client), roles)
}

/// [`as_procedure`], returning the concrete client.
pub(crate) async fn client_as_procedure(
    cluster: &FakeCluster,
    procedure: &str,
) -> (KubeCluster, Roles) {
    let name = format!("fleet-{procedure}");
    let perms = permissions(procedure).expect("a Role for the procedure");
    let generated =
        serde_json::to_value(role(procedure, FLEET_NAMESPACE, perms).expect("role")).expect("json");
    let scoped = cluster_role(procedure, perms)
        .expect("cluster role")
        .map(|r| serde_json::to_value(r).expect("json"));
    let store = cluster.store();
    store
        .insert(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": FLEET_NAMESPACE}}))
        .expect("service account");
    let subjects = json!([{"kind": "ServiceAccount", "name": name, "namespace": FLEET_NAMESPACE}]);
    store.insert(generated.clone()).expect("role");
    store
        .insert(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": FLEET_NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subjects}),
        )
        .expect("binding");
    if let Some(scoped) = &scoped {
        store.insert(scoped.clone()).expect("cluster role");
        store
            .insert(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": subjects}),
            )
            .expect("cluster binding");
    }
    let path = cluster
        .kubeconfig_for(&Identity::service_account(FLEET_NAMESPACE, &name))
        .expect("kubeconfig");
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    let client = KubeCluster::from_config(
        config,
        ClusterOptions::default().with_namespace(FLEET_NAMESPACE),
    )
    .expect("client");
    (
        client,
        Roles {
            role: generated,
            cluster_role: scoped,
        },
    )
}

/// Replaces the rules of the Role (and ClusterRole) `fleet-<procedure>`.
pub(crate) fn put_rules(cluster: &FakeCluster, procedure: &str, roles: &Roles) {
    let name = format!("fleet-{procedure}");
    let rules = roles.role["rules"].clone();
    cluster
        .store()
        .modify("roles", FLEET_NAMESPACE, &name, move |r| {
            r["rules"] = rules.clone();
        })
        .expect("role updated");
    if let Some(scoped) = &roles.cluster_role {
        let rules = scoped["rules"].clone();
        cluster
            .store()
            .modify("clusterroles", "", &name, move |r| {
                r["rules"] = rules.clone();
            })
            .expect("cluster role updated");
    }
}

/// `roles` with `verb` taken out of its rule on `group`/`resource` (the rule dropped when no
/// verb is left), in the ClusterRole when `cluster_scoped`.
pub(crate) fn without(
    roles: &Roles,
    group: &str,
    resource: &str,
    verb: &str,
    cluster_scoped: bool,
) -> Roles {
    let mut roles = roles.clone();
    let role = if cluster_scoped {
        roles.cluster_role.as_mut().expect("a cluster role")
    } else {
        &mut roles.role
    };
    let rules = role["rules"].as_array_mut().expect("rules");
    for rule in rules.iter_mut() {
        if rule["apiGroups"] == json!([group]) && rule["resources"] == json!([resource]) {
            rule["verbs"]
                .as_array_mut()
                .expect("verbs")
                .retain(|v| v != verb);
        }
    }
    rules.retain(|r| r["verbs"].as_array().is_some_and(|v| !v.is_empty()));
    roles
}

/// Takes every verb of the Role out in turn and runs the procedure: each run must stop at its
/// access check, `forbidden` (exit 2), naming the verb and resource, with no write sent and no
/// step after the check. Puts the whole Role back at the end. Returns how many were tried.
pub(crate) async fn refused_without_each_verb<F, Fut>(
    cluster: &FakeCluster,
    procedure: &str,
    roles: &Roles,
    run: F,
) -> usize
where
    F: Fn() -> Fut,
    Fut: Future<Output = Report>,
{
    let mut tried = 0;
    for p in permissions(procedure).expect("permissions") {
        let resource = p.rule_resource();
        for verb in p.verbs {
            put_rules(
                cluster,
                procedure,
                &without(roles, p.group, &resource, verb, p.cluster_scoped),
            );
            cluster.clear_requests();
            let report = run().await;
            let context = format!(
                "{procedure} without {verb} {resource}: {}",
                report.to_text()
            );
            assert_eq!(report.status, RunStatus::Forbidden, "{context}");
            assert_eq!(report.exit_code, 2, "{context}");
            let stopped = report.stopped.clone().unwrap_or_default();
            let want = format!("cannot {verb} resource \"{resource}\"");
            assert!(stopped.contains(&want), "{want}: {context}");
            let ran: Vec<(&str, StepOutcome)> = report
                .steps
                .iter()
                .map(|s| (s.step.id.as_str(), s.outcome))
                .collect();
            assert_eq!(ran, [("verify-access", StepOutcome::Failed)], "{context}");
            let written = writes(cluster);
            assert!(written.is_empty(), "{context}: {written:?}");
            tried += 1;
        }
    }
    put_rules(cluster, procedure, roles);
    tried
}

/// Runs the procedure with the whole Role and returns its report, after checking that the
/// API server refused none of its requests: a read the procedure treats as optional (a log,
/// a metric) must be in the Role too, or the Role is not the procedure's.
pub(crate) async fn allowed<F, Fut>(cluster: &FakeCluster, run: F) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = Report>,
{
    cluster.clear_requests();
    let report = run().await;
    let refused: Vec<String> = cluster
        .requests()
        .into_iter()
        .filter(|r| r.status == 403)
        .map(|r| {
            format!(
                "{} {}{}",
                r.method,
                r.path,
                if r.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", r.query)
                }
            )
        })
        .collect();
    assert!(
        refused.is_empty(),
        "refused under the whole Role: {refused:?}\n{}",
        report.to_text()
    );
    report
}

pub(crate) fn no_failed_step(report: &Report) {
    let failed: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Failed)
        .map(|s| s.step.id.as_str())
        .collect();
    assert!(failed.is_empty(), "{failed:?}: {}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_and_validate_run_under_their_roles_and_stop_early_without_any_verb() {
    let w = World::start_with_rbac().await;

    let (kube, generated) = as_procedure(&w.cluster, "preflight").await;
    let preflight = Preflight::new(
        kube,
        Some(w.db.clone()),
        Some(w.azure.clone()),
        w.policy.clone(),
        PreflightOptions::new("fleet-api", "v1.3.0").hotfix(crate::world::approvals(), "main"),
    );
    let run = || async {
        let (run, _, _) = executor("preflight", Mode::Execute, None);
        preflight.run(&run).await
    };
    assert!(refused_without_each_verb(&w.cluster, "preflight", &generated, run).await >= 7);
    let report = allowed(&w.cluster, run).await;
    // Every read of the pre-flight is allowed by its Role; what it judges is the deploy's
    // permissions, which this identity does not hold (a separate Role): that finding, alone,
    // fails.
    no_failed_step(&report);
    let failing: Vec<&str> = report
        .findings
        .findings
        .iter()
        .filter(|f| f.outcome == fleet_policy::Outcome::Fail)
        .map(|f| f.rule.as_str())
        .collect();
    assert_eq!(failing, ["preflight.rbac"], "{}", report.to_text());

    let (kube, generated) = as_procedure(&w.cluster, "validate").await;
    let validate = Validate::new(
        kube,
        w.signals(),
        w.policy.clone(),
        ValidateOptions::new("fleet-api", w.smoke()),
    );
    let run = || async {
        let (run, _, _) = executor("validate", Mode::Execute, None);
        validate.run(&run).await
    };
    assert!(refused_without_each_verb(&w.cluster, "validate", &generated, run).await >= 6);
    let report = allowed(&w.cluster, run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_and_the_rollback_run_under_their_roles_and_stop_early_without_any_verb() {
    let mut w = World::start_with_rbac().await;
    let admin = w.kube.clone();

    let (kube, generated) = as_procedure(&w.cluster, "deploy").await;
    w.kube = kube;
    let procedure = deploy(&w, w.signals(), hotfix());
    let run = || async {
        let (run, _, _) = executor("deploy", Mode::Execute, None);
        procedure.run(&run).await
    };
    assert!(refused_without_each_verb(&w.cluster, "deploy", &generated, run).await >= 8);
    let report = allowed(&w.cluster, run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert!(w.image().ends_with(NEW), "{}", w.image());

    let (kube, generated) = as_procedure(&w.cluster, "rollback").await;
    let rollback = Rollback::new(
        kube.clone(),
        w.signals(),
        w.policy.clone(),
        RollbackOptions::new(ValidateOptions::new("fleet-api", w.smoke()))
            .with_poll_interval(Duration::from_millis(100)),
    );
    let run = || async {
        let (run, _, _) = executor("rollback", Mode::Execute, Some("ROLLBACK"));
        rollback.run(&run).await
    };
    assert!(refused_without_each_verb(&w.cluster, "rollback", &generated, run).await >= 8);

    // Past the check, the server's own refusal of a write is typed too, with its 403 wording.
    put_rules(
        &w.cluster,
        "rollback",
        &without(&generated, "apps", "deployments", "patch", false),
    );
    let refused = kube
        .deployments
        .rollout_undo("fleet-api", None)
        .await
        .expect_err("patch is not granted");
    assert!(refused.is_forbidden(), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("cannot patch resource \"deployments\""),
        "{refused}"
    );
    put_rules(&w.cluster, "rollback", &generated);

    let report = allowed(&w.cluster, run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert!(!w.image().ends_with(NEW), "rolled back: {}", w.image());
    drop(admin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_rollback_runs_under_its_role_and_stops_early_without_any_verb() {
    let mut w = World::start_with_rbac().await;
    let replay = AzureReplay::start().await.expect("replay");
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: 1,
        outcome: OperationOutcome::Succeeded,
        retry_after_secs: None,
        ..OperationPlan::default()
    });
    let (kube, generated) = as_procedure(&w.cluster, "db-rollback").await;
    w.kube = kube;
    let procedure = crate::db_rollback::procedure(
        &w,
        &replay,
        Arc::new(MemoryRecordStore::new()),
        HostKey::config_map("fleet-config", "database_host"),
    );
    let target = crate::db_rollback::TARGET;
    let run = || async {
        let (run, _, _) = crate::db_rollback::executor(Mode::Execute, Some(target));
        procedure.run(&run).await
    };
    let azure_writes = || {
        replay
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .count()
    };
    assert!(refused_without_each_verb(&w.cluster, "db-rollback", &generated, run).await >= 7);
    assert_eq!(azure_writes(), 0, "nothing restored while refused");
    let report = allowed(&w.cluster, run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(azure_writes(), 1, "one restore");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_perf_triage_and_the_common_issues_run_under_their_roles_and_stop_early_without_any_verb()
 {
    let w = World::start_with_rbac().await;
    crate::incident::crash_loop_fleet_api(&w.cluster).await;

    // The triage's Role has a ClusterRole part: `kubectl top nodes` reads cluster-scoped
    // node metrics and nodes.
    let (kube, generated) = as_procedure(&w.cluster, "perf-triage").await;
    assert!(generated.cluster_role.is_some());
    let triage = PerfTriage::new(kube, None, w.policy.clone());
    let scale = [QuickFix::Scale {
        deployment: "fleet-frontend".into(),
        replicas: 3,
    }];
    let run = || async {
        let (run, _, _) = executor("perf-triage", Mode::Execute, Some("SCALE"));
        triage.run(&run, &scale).await.0
    };
    assert!(refused_without_each_verb(&w.cluster, "perf-triage", &generated, run).await >= 9);
    let report = allowed(&w.cluster, run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    no_failed_step(&report);
    assert!(
        report.steps.iter().any(|s| s.step.id == "scale"),
        "{}",
        report.to_text()
    );
    let restart = [QuickFix::Restart {
        deployment: "fleet-frontend".into(),
    }];
    let report = allowed(&w.cluster, || async {
        let (run, _, _) = executor("perf-triage", Mode::Execute, Some("RESTART"));
        triage.run(&run, &restart).await.0
    })
    .await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    no_failed_step(&report);

    let (kube, generated) = as_procedure(&w.cluster, "common-issues").await;
    let common = CommonIssues::new(kube, None, w.policy.clone());
    let run = || async {
        let (run, _, _) = executor("common-issues", Mode::Execute, None);
        common
            .run(&run, &CommonIssuesOptions::default())
            .await
            .report
    };
    assert!(refused_without_each_verb(&w.cluster, "common-issues", &generated, run).await >= 8);
    let report = allowed(&w.cluster, run).await;
    no_failed_step(&report);
    // The crash loop's log and rollout history were read under the Role.
    for read in ["pod-log.", "rollout-history.fleet-api"] {
        assert!(
            report.steps.iter().any(|s| s.step.id.starts_with(read)),
            "{read}: {}",
            report.to_text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_assessment_and_mitigation_run_under_their_role_and_stop_early_without_any_verb()
 {
    let w = World::start_with_rbac().await;
    crate::incident::crash_loop_fleet_api(&w.cluster).await;
    let (kube, generated) = as_procedure(&w.cluster, "incident").await;
    let incident = IncidentResponse::new(
        kube,
        Signals::default(),
        w.policy.clone(),
        IncidentBook::new(Arc::new(MemoryRecordStore::new())),
    )
    .with_options(
        IncidentOptions::default()
            .with_deployments(["fleet-api"])
            .with_log_selector(LabelSelector::equals("app", "fleet-api").expect("selector")),
    );
    let (open, _, _) = executor("incident", Mode::Execute, None);
    incident
        .open(
            &open,
            Declaration::new("INC-9", "fleet-api down", "fleet-api").with_severity(Severity::P1),
        )
        .await
        .expect("open");

    let assess = || async {
        let (run, _, _) = executor("incident", Mode::Execute, None);
        incident.assess(&run, "INC-9").await.expect("assess").report
    };
    assert!(refused_without_each_verb(&w.cluster, "incident", &generated, assess).await >= 11);
    let before = incident.book.get("INC-9").await.expect("record");
    assert!(
        before.record.evidence.is_empty(),
        "a refused assessment records nothing"
    );
    let report = allowed(&w.cluster, assess).await;
    no_failed_step(&report);
    let record = incident.book.get("INC-9").await.expect("record");
    assert_eq!(record.record.evidence.len(), 1);
    let recommended: Vec<&str> = record
        .record
        .recommendations
        .iter()
        .map(|r| r.mitigation.name())
        .collect();
    assert!(recommended.contains(&"rollback"), "{recommended:?}");

    let mitigate = || async {
        let (run, _, _) = executor("incident", Mode::Execute, Some("ROLLBACK"));
        incident
            .mitigate(&run, "INC-9", Some("rollback"))
            .await
            .expect("mitigate")
            .report
    };
    assert!(refused_without_each_verb(&w.cluster, "incident", &generated, mitigate).await >= 11);
    let image = w.image();
    let report = allowed(&w.cluster, mitigate).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    no_failed_step(&report);
    assert_ne!(w.image(), image, "rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_response_runs_under_its_role_and_stops_early_without_any_verb() {
    let w = World::start_with_rbac().await;
    w.cluster
        .store()
        .insert(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "ci-bot-token", "namespace": FLEET_NAMESPACE,
                "annotations": {"kubernetes.io/service-account.name": "ci-bot"}},
            "data": {"token": "dG9rZW4="}}))
        .expect("token secret");
    let (kube, generated) = as_procedure(&w.cluster, "security").await;
    let security = SecurityResponse::new(
        kube,
        None,
        Azure::new("fleet-rg"),
        Signals::default(),
        w.policy.clone(),
    );
    let cidrs = ["203.0.113.7/32".to_owned()];
    let isolate = || async {
        let (run, _, _) = executor("security", Mode::Execute, Some("ISOLATE"));
        security.isolate(&run, "fleet-ingress", &cidrs).await
    };
    assert!(refused_without_each_verb(&w.cluster, "security", &generated, isolate).await >= 5);
    let assess = || async {
        let (run, _, _) = executor("security", Mode::Execute, None);
        security.assess(&run, Duration::from_secs(3600)).await.0
    };
    assert!(refused_without_each_verb(&w.cluster, "security", &generated, assess).await >= 5);
    let contain = Containment::default().with_service_accounts(["ci-bot"]);
    let contain = || async {
        let (run, _, _) = executor("security", Mode::Execute, Some("REVOKE"));
        security.contain(&run, &contain).await
    };
    assert!(refused_without_each_verb(&w.cluster, "security", &generated, contain).await >= 5);

    for (what, report) in [
        ("isolate", allowed(&w.cluster, isolate).await),
        ("assess", allowed(&w.cluster, assess).await),
        ("contain", allowed(&w.cluster, contain).await),
    ] {
        assert_eq!(report.status, RunStatus::Ok, "{what}: {}", report.to_text());
        no_failed_step(&report);
    }
    let store = w.cluster.store();
    let ingress = store
        .get("ingresses", FLEET_NAMESPACE, "fleet-ingress")
        .expect("ingress");
    assert!(ingress.to_string().contains("203.0.113.7/32"), "{ingress}");
    assert!(
        store
            .get("secrets", FLEET_NAMESPACE, "ci-bot-token")
            .is_none(),
        "token revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_rotation_runs_under_its_role_and_stops_early_without_any_verb() {
    let w = crate::rotation::World::start_with_rbac().await;
    let target = w.credential(1, "old-password-1").await;
    let (kube, generated) = as_procedure(&w.cluster, "rotation").await;
    let rotation = w.procedure_as(kube, target, None);
    let run = || async {
        rotation
            .run(&crate::rotation::executor(MemoryAuditSink::new()))
            .await
    };
    let vault_writes = || {
        w.replay
            .requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH" | "POST"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    };
    w.replay.clear_requests();
    assert!(refused_without_each_verb(&w.cluster, "rotation", &generated, run).await >= 6);
    assert!(vault_writes().is_empty(), "{:?}", vault_writes());
    assert!(
        w.logs_in("app1", "old-password-1").await,
        "the database still takes the old password"
    );
    assert_eq!(w.in_k8s(1), "old-password-1");

    let report = allowed(&w.cluster, run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    no_failed_step(&report);
    let new = w.in_k8s(1);
    assert_ne!(new, "old-password-1");
    assert!(w.logs_in("app1", &new).await, "the new credential works");
    assert!(
        !w.logs_in("app1", "old-password-1").await,
        "the old one is refused"
    );
    assert!(!vault_writes().is_empty(), "a new version was stored");
}

#[cfg(feature = "drill")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disaster_recovery_runs_under_its_role_and_stops_early_without_any_verb() {
    use fleet_runbook::{
        DRILL_RECORD, DRILL_RECOVERY_NAME, DRILL_RESTORED_DATABASE, DrillOptions, DrillWorld,
    };
    use fleet_testkit::azure::{DNS_RESOURCE_GROUP, DNS_SUBSCRIPTION_ID, DNS_ZONE};

    let dir = tempfile::tempdir().expect("temp dir");
    let world = DrillWorld::start(DrillOptions::new(dir.path()).with_rbac())
        .await
        .expect("stand-ins");
    // The Role is bound in the recovery namespace, so the namespace exists before the recovery.
    world
        .recovery
        .store()
        .insert(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": FLEET_NAMESPACE}}))
        .expect("namespace");
    let (client, generated) = client_as_procedure(&world.recovery, "dr").await;
    assert!(generated.cluster_role.is_some(), "get namespaces");
    let options = world.dr_options();
    let run = || async {
        world
            .recover_as(
                client.clone(),
                Mode::Execute,
                Some(DRILL_RECOVERY_NAME),
                Arc::new(MemoryAuditSink::new()),
                Signals::default(),
                &options,
            )
            .await
            .expect("recovery")
            .report
    };
    let restored_database = || async {
        let pg = &world.postgres;
        tokio_postgres::connect(
            &pg.url_for(pg.user(), pg.password(), DRILL_RESTORED_DATABASE),
            tokio_postgres::NoTls,
        )
        .await
        .is_ok()
    };
    let dns = || {
        world
            .azure
            .dns_record_set(
                DNS_SUBSCRIPTION_ID,
                DNS_RESOURCE_GROUP,
                DNS_ZONE,
                "A",
                DRILL_RECORD,
            )
            .expect("record set")
    };
    let before = dns();
    world.azure.clear_requests();
    assert!(refused_without_each_verb(&world.recovery, "dr", &generated, run).await >= 28);
    // Stopped before the first write of the whole recovery: no Azure request at all (not even
    // the DNS read), no database restored, DNS as it was.
    assert!(
        world.azure.requests().is_empty(),
        "{:?}",
        world.azure.requests()
    );
    assert!(
        !restored_database().await,
        "no database restored while refused"
    );
    assert_eq!(dns(), before);

    let report = allowed(&world.recovery, run).await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    no_failed_step(&report);
    assert!(restored_database().await, "restored");
    assert_eq!(
        dns()["properties"]["ARecords"][0]["ipv4Address"],
        "10.20.0.10"
    );
    let cm = world
        .recovery
        .store()
        .get("configmaps", FLEET_NAMESPACE, "fleet-config")
        .expect("configmap restored");
    assert!(
        cm["data"]["database_host"]
            .as_str()
            .is_some_and(|h| h.ends_with(DRILL_RESTORED_DATABASE)),
        "{cm}"
    );
}
