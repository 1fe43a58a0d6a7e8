//! Disaster recovery on stand-ins (feature `drill`): a drill within the policy, a dry run that
//! writes nothing, a backup older than the RPO failing the RPO rule, Azure's point-in-time
//! restore as the database source (AzureReplay), a restored Service without ready endpoints
//! failing validation, and step 5's notifications on local receivers.

use std::sync::Arc;

use std::collections::BTreeMap;
use std::time::Duration;

use fleet_guard::{AuditPhase, MemoryAuditSink, Mode, StepOutcome};
use fleet_policy::Outcome;
use fleet_runbook::{
    Channel, DRILL_BACKUP, DRILL_RECORD, DRILL_RECOVERY_NAME, DRILL_RESTORED_DATABASE,
    DRILL_RESTORED_SERVER, DrOutcome, DrillOptions, DrillWorld, Notifier, RunStatus, Secret,
    SecretUrl, Signals, SlackNotifier, SlackOptions, StatuspageNotifier, StatuspageOptions,
    run_drill,
};
use reqwest::Url;

use crate::common::{Answer, Receiver, dead_address, quick_retry};
use fleet_testkit::azure::{DNS_RESOURCE_GROUP, DNS_SUBSCRIPTION_ID, DNS_ZONE};
use fleet_testkit::k8s::FLEET_NAMESPACE;
use jiff::SignedDuration;

fn finding(outcome: &DrOutcome, rule: &str) -> Outcome {
    outcome
        .report
        .findings
        .findings
        .iter()
        .find(|f| f.rule == rule)
        .map(|f| f.outcome)
        .unwrap_or_else(|| panic!("no {rule} finding"))
}

fn record(world: &DrillWorld) -> serde_json::Value {
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
}

async fn count(world: &DrillWorld, database: &str, table: &str) -> Option<i64> {
    let pg = &world.postgres;
    let (client, conn) = tokio_postgres::connect(
        &pg.url_for(pg.user(), pg.password(), database),
        tokio_postgres::NoTls,
    )
    .await
    .ok()?;
    tokio::spawn(conn);
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .ok()?;
    Some(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dr_drill_recovers_within_the_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = MemoryAuditSink::new();
    let (outcome, world) = run_drill(
        DrillOptions::new(dir.path()),
        Arc::new(audit.clone()),
        Signals::default(),
    )
    .await
    .expect("drill runs");
    let report = &outcome.report;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(finding(&outcome, "recovery.rto"), Outcome::Pass);
    assert_eq!(finding(&outcome, "backup.rpo"), Outcome::Pass);

    // Measured: RTO is the drill's real duration, RPO the backup's age at the disaster.
    let m = &outcome.measurements;
    let rto = m.rto.expect("validated");
    assert!(
        rto > SignedDuration::ZERO && rto < SignedDuration::from_mins(10),
        "{rto}"
    );
    let rpo = m.rpo.expect("backup found");
    assert!(
        rpo >= SignedDuration::from_hours(6)
            && rpo < SignedDuration::from_hours(6) + SignedDuration::from_mins(10),
        "{rpo}"
    );
    assert_eq!(m.database_backup.as_deref(), Some(DRILL_BACKUP));

    // Every step ran and was timed.
    for id in [
        "find-backups",
        "read-dns",
        "restore-database",
        "restore-config",
        "point-at-database",
        "restart-deployments",
        "wait-rollouts",
        "switch-dns",
        "validate-services",
    ] {
        let s = report
            .steps
            .iter()
            .find(|s| s.step.id == id)
            .unwrap_or_else(|| panic!("step {id} missing"));
        assert_eq!(s.outcome, StepOutcome::Succeeded, "{id}: {:?}", s.detail);
    }
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.step.id == "restore-database" && s.confirmed_by.is_some())
    );

    // The database was restored and validated by row counts.
    assert_eq!(m.rows_validated, Some((2, 620)));
    assert_eq!(
        count(&world, DRILL_RESTORED_DATABASE, "vehicles").await,
        Some(500)
    );
    assert_eq!(
        count(&world, DRILL_RESTORED_DATABASE, "work_orders").await,
        Some(120)
    );

    // The application runs in the recovery cluster, pointed at the restored database.
    assert!(
        m.deployments.contains(&"fleet-api".to_owned()),
        "{:?}",
        m.deployments
    );
    for d in &m.deployments {
        let dep = world
            .recovery
            .store()
            .get("deployments", FLEET_NAMESPACE, d)
            .expect("restored deployment");
        assert_eq!(
            dep["status"]["availableReplicas"], dep["spec"]["replicas"],
            "{d} available"
        );
    }
    let cm = world
        .recovery
        .store()
        .get("configmaps", FLEET_NAMESPACE, "fleet-config")
        .expect("configmap");
    assert!(
        cm["data"]["database_host"]
            .as_str()
            .is_some_and(|h| h.ends_with(DRILL_RESTORED_DATABASE)),
        "{cm}"
    );

    // DNS points at the backup region, written with the etag read while planning.
    let set = record(&world);
    assert_eq!(
        set["properties"]["ARecords"][0]["ipv4Address"], "10.20.0.10",
        "{set}"
    );
    let put = world
        .azure
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("DNS PUT");
    assert_eq!(
        put.header("if-match"),
        Some("00000000-0000-0000-0000-000000000000")
    );

    // Audited: intent then outcome of each change, the DR's and fleet-backup's own.
    let records = audit.records();
    for id in [
        "restore-database",
        "restore-config",
        "point-at-database",
        "switch-dns",
    ] {
        assert!(
            records
                .iter()
                .any(|r| r.step == id && r.phase == AuditPhase::Intent),
            "{id}"
        );
        assert!(
            records
                .iter()
                .any(|r| r.step == id && r.phase == AuditPhase::Outcome),
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dr_dry_run_writes_nothing_and_a_stale_backup_fails_the_rpo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let world = DrillWorld::start(
        DrillOptions::new(dir.path()).with_backup_age(SignedDuration::from_hours(25)),
    )
    .await
    .expect("stand-ins");
    let dns_before = record(&world);
    world.recovery.clear_requests();
    world.azure.clear_requests();
    let audit = MemoryAuditSink::new();
    let outcome = world
        .recover(
            Mode::DryRun,
            None,
            Arc::new(audit.clone()),
            Signals::default(),
        )
        .await
        .expect("dry run");

    // Nothing written: no mutating request to the recovery cluster or Azure, no database.
    // The access reviews of the first step are questions to the authorizer, not writes.
    let k8s_writes: Vec<_> = world
        .recovery
        .requests()
        .into_iter()
        .filter(|r| {
            !matches!(
                r.op,
                fleet_testkit::k8s::Op::Get
                    | fleet_testkit::k8s::Op::List
                    | fleet_testkit::k8s::Op::Watch
            )
        })
        .filter(|r| {
            !matches!(
                r.resource.as_deref(),
                Some("selfsubjectaccessreviews" | "selfsubjectrulesreviews")
            )
        })
        .collect();
    assert!(k8s_writes.is_empty(), "{k8s_writes:?}");
    let azure = world.azure.requests();
    assert!(!azure.is_empty(), "the DNS record set was read");
    assert!(azure.iter().all(|r| r.method == "GET"), "{azure:?}");
    assert_eq!(record(&world), dns_before);
    assert_eq!(
        count(&world, DRILL_RESTORED_DATABASE, "vehicles").await,
        None
    );
    assert!(audit.records().is_empty(), "a dry run audits no change");
    assert!(
        world
            .recovery
            .store()
            .get("configmaps", FLEET_NAMESPACE, "fleet-config")
            .is_none()
    );
    let planned = outcome
        .report
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Planned)
        .count();
    assert!(planned >= 3, "{}", outcome.report.to_text());
    assert!(
        outcome
            .report
            .plan
            .step("switch-dns")
            .is_some_and(|s| s.is_destructive())
    );
    assert_eq!(
        outcome
            .report
            .plan
            .step("restore-database")
            .and_then(|s| s.confirm.as_ref())
            .map(|w| w.as_str()),
        Some(DRILL_RECOVERY_NAME)
    );

    // The backup is 25 h old at the disaster: the RPO rule fails and blocks.
    assert_eq!(finding(&outcome, "backup.rpo"), Outcome::Fail);
    assert_eq!(outcome.report.status, RunStatus::Blocked);
    assert!(
        outcome
            .measurements
            .rpo
            .is_some_and(|r| r > SignedDuration::from_hours(24))
    );
}

fn step<'a>(outcome: &'a DrOutcome, id: &str) -> &'a fleet_guard::StepReport {
    outcome
        .report
        .steps
        .iter()
        .find(|s| s.step.id == id)
        .unwrap_or_else(|| panic!("step {id} missing: {}", outcome.report.to_text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_in_time_recovery_restores_a_new_server_and_points_the_app_at_its_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let world = DrillWorld::start(DrillOptions::new(dir.path()))
        .await
        .expect("stand-ins");
    let options = world.pitr_options();
    let restore_puts = || {
        world
            .azure
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path.contains("flexibleServers"))
            .count()
    };

    // The plan names the new server and asks for its name; the recovery name is refused.
    let refused = world
        .recover_with(
            Mode::Execute,
            Some(DRILL_RECOVERY_NAME),
            Arc::new(MemoryAuditSink::new()),
            Signals::default(),
            &options,
        )
        .await
        .expect("refused run");
    assert_eq!(
        refused.report.status,
        RunStatus::Refused,
        "{}",
        refused.report.to_text()
    );
    assert_eq!(
        refused
            .report
            .plan
            .step("restore-database")
            .and_then(|s| s.confirm.as_ref())
            .map(|w| w.as_str()),
        Some(DRILL_RESTORED_SERVER)
    );
    assert_eq!(
        restore_puts(),
        0,
        "nothing restored without the server's name"
    );

    let audit = MemoryAuditSink::new();
    let outcome = world
        .recover_with(
            Mode::Execute,
            Some(DRILL_RESTORED_SERVER),
            Arc::new(audit.clone()),
            Signals::default(),
            &options,
        )
        .await
        .expect("recovery");
    let report = &outcome.report;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(
        step(&outcome, "restore-database").outcome,
        StepOutcome::Succeeded
    );
    assert_eq!(restore_puts(), 1, "one restore request");
    let put = world
        .azure
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path.contains("flexibleServers"))
        .expect("restore request");
    assert!(
        put.path
            .ends_with(&format!("/flexibleServers/{DRILL_RESTORED_SERVER}")),
        "{}",
        put.path
    );
    let body: serde_json::Value = serde_json::from_slice(&put.body).expect("json body");
    assert_eq!(body["properties"]["createMode"], "PointInTimeRestore");
    assert!(
        body["properties"]["sourceServerResourceId"]
            .as_str()
            .is_some_and(|id| id.ends_with("/exampleserver")),
        "{body}"
    );

    // The application now reads the new server's host name.
    let fqdn = format!("{DRILL_RESTORED_SERVER}.postgres.database.azure.com");
    let m = &outcome.measurements;
    assert_eq!(m.restored_host.as_deref(), Some(fqdn.as_str()));
    let cm = world
        .recovery
        .store()
        .get("configmaps", FLEET_NAMESPACE, "fleet-config")
        .expect("configmap");
    assert_eq!(cm["data"]["database_host"], fqdn.as_str(), "{cm}");
    assert_eq!(m.rows_validated, None, "no logical restore");

    // The restore point plays the backup, the drill's disaster 6 h later: both clocks pass.
    let rpo = m.rpo.expect("restore point");
    assert!(
        rpo > SignedDuration::from_hours(6) - SignedDuration::from_mins(10)
            && rpo <= SignedDuration::from_hours(6),
        "{rpo}"
    );
    assert_eq!(finding(&outcome, "backup.rpo"), Outcome::Pass);
    assert_eq!(finding(&outcome, "recovery.rto"), Outcome::Pass);

    // fleet-backup's own steps ran under the recovery's confirmation, audited.
    let records = audit.records();
    for id in ["restore-database", "begin-restore"] {
        assert!(
            records
                .iter()
                .any(|r| r.step == id && r.phase == AuditPhase::Outcome),
            "{id} audited"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_service_without_ready_endpoints_fails_validation_and_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ghost = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": "fleet-ghost", "namespace": FLEET_NAMESPACE },
        "spec": {
            "selector": { "app": "fleet-ghost" },
            "ports": [{ "port": 80, "targetPort": 8080 }]
        }
    });
    let world = DrillWorld::start(DrillOptions::new(dir.path()).with_object(ghost))
        .await
        .expect("stand-ins");
    let options = world
        .dr_options()
        .with_endpoint_wait(Duration::from_secs(1));
    let outcome = world
        .recover_with(
            Mode::Execute,
            Some(DRILL_RECOVERY_NAME),
            Arc::new(MemoryAuditSink::new()),
            Signals::default(),
            &options,
        )
        .await
        .expect("recovery");
    let validate = step(&outcome, "validate-services");
    assert_eq!(
        validate.outcome,
        StepOutcome::Failed,
        "{}",
        outcome.report.to_text()
    );
    let detail = validate.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("service fleet-ghost has no ready endpoints"),
        "{detail}"
    );
    // Only the Service without endpoints is named; the application's own ones have them.
    let m = &outcome.measurements;
    assert!(
        m.services.contains(&"fleet-ghost".to_owned()),
        "{:?}",
        m.services
    );
    for other in m.services.iter().filter(|s| *s != "fleet-ghost") {
        assert!(
            !detail.contains(&format!("service {other} ")),
            "{other}: {detail}"
        );
    }
    assert!(
        m.services.len() > 1,
        "the fleet's Services were restored too: {:?}",
        m.services
    );
    assert_eq!(m.validated_at, None);
    assert_eq!(m.rto, None, "not recovered: no RTO achieved");
    assert_eq!(outcome.report.status, RunStatus::Failed);
}

const STATUSPAGE_INCIDENT: &str =
    r#"{"id":"p31zjtct2jer","page_id":"kctbh9vrtdwd","name":"x","status":"monitoring"}"#;

fn slack_to(url: &str) -> Arc<dyn Notifier> {
    let hooks = BTreeMap::from([(
        Channel::incidents(),
        SecretUrl::parse("slack", url).expect("url"),
    )]);
    Arc::new(
        SlackNotifier::new(
            hooks,
            Some(SlackOptions {
                retry: quick_retry(),
                ..SlackOptions::default()
            }),
        )
        .expect("slack"),
    )
}

fn statuspage_at(rx: &Receiver) -> Arc<dyn Notifier> {
    Arc::new(
        StatuspageNotifier::new(
            "kctbh9vrtdwd",
            Secret::new("sp-api-k3y-SECRET"),
            Some(
                StatuspageOptions::default()
                    .with_base_url(Url::parse(&rx.url("/v1")).expect("url"))
                    .with_components(vec!["8kbf7d35c070".into()]),
            ),
        )
        .expect("statuspage"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_five_tells_incidents_and_the_status_page_and_a_dead_notifier_does_not_fail_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let slack = Receiver::start(Answer::new(200, "ok")).await;
    let page = Receiver::start(Answer::new(201, STATUSPAGE_INCIDENT)).await;
    let down = format!("http://{}/hooks/incidents", dead_address().await);
    let signals = Signals::new(
        vec![
            slack_to(&slack.url("/hooks/incidents")),
            statuspage_at(&page),
            slack_to(&down),
        ],
        None,
    );
    let (outcome, _world) = run_drill(
        DrillOptions::new(dir.path()),
        Arc::new(MemoryAuditSink::new()),
        signals,
    )
    .await
    .expect("drill");
    let report = &outcome.report;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(
        report.undelivered().count(),
        1,
        "the dead notifier is reported"
    );

    // #incidents: the recovery's outcome with its measured RTO and RPO.
    let posted = slack.recorded();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].uri, "/hooks/incidents");
    let text = posted[0].json()["text"].as_str().expect("text").to_owned();
    assert!(
        text.contains(&format!(
            "Disaster recovery: services restored in {DRILL_RECOVERY_NAME}"
        )) && text.contains("RPO 6.0 h")
            && text.contains("fleet-api"),
        "{text}"
    );

    // The status page: a new incident (nothing was open), in monitoring.
    let sent = page.recorded();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "POST");
    assert_eq!(sent[0].uri, "/v1/pages/kctbh9vrtdwd/incidents");
    let incident = &sent[0].json()["incident"];
    assert_eq!(incident["status"], "monitoring", "{incident}");
    assert!(
        incident["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Disaster recovery: services restored")),
        "{incident}"
    );
    assert!(
        incident["body"]
            .as_str()
            .is_some_and(|b| b.contains(DRILL_BACKUP)),
        "{incident}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_five_updates_the_status_page_incident_already_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = Receiver::start(Answer::new(200, STATUSPAGE_INCIDENT)).await;
    let world = DrillWorld::start(DrillOptions::new(dir.path()))
        .await
        .expect("stand-ins");
    let options = world
        .dr_options()
        .with_incident_reference("statuspage", "p31zjtct2jer");
    let outcome = world
        .recover_with(
            Mode::Execute,
            Some(DRILL_RECOVERY_NAME),
            Arc::new(MemoryAuditSink::new()),
            Signals::new(vec![statuspage_at(&page)], None),
            &options,
        )
        .await
        .expect("recovery");
    assert_eq!(
        outcome.report.status,
        RunStatus::Ok,
        "{}",
        outcome.report.to_text()
    );
    assert_eq!(outcome.report.undelivered().count(), 0);
    let sent = page.recorded();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "PATCH");
    assert_eq!(sent[0].uri, "/v1/pages/kctbh9vrtdwd/incidents/p31zjtct2jer");
    assert_eq!(sent[0].json()["incident"]["status"], "monitoring");
}
