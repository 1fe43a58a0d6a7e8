//! Incident response on FakeCluster with a manual clock: a P0 after a bad deploy, paged to a
//! local PagerDuty receiver and a webhook standing in for #incidents; acknowledged late,
//! escalated on time, rolled back, monitored, resolved, with its post-mortem; and an incident
//! interrupted and resumed from its record file by a second engineer.

use std::sync::Arc;
use std::time::Duration;

use fleet_guard::{
    Executor, FileRecordStore, Guards, ManualClock, MemoryAuditSink, Mode, RunContext, TokenConfirm,
};
use fleet_k8s::{Deployments, KubeCluster, LabelSelector, Pods};
use fleet_policy::Policy;
use fleet_policy::incident::{ItemState, Severity};
use fleet_runbook::{
    CircuitBreaker, Declaration, IncidentBook, IncidentOptions, IncidentResponse, IncidentStatus,
    Kube, Mitigation, Notifier, PagerDutyNotifier, PagerDutyOptions, RunStatus, Secret, SecretUrl,
    Signals, WebhookNotifier, WebhookOptions,
};
use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_NAMESPACE, FakeCluster, Scenario};
use jiff::Timestamp;
use reqwest::Url;

use crate::common::{Answer, Receiver, quick_retry};

pub(crate) const BAD_IMAGE: &str = "registry.example.com/fleet/fleet-api:1.5.0";

pub(crate) fn kube_cluster(cluster: &FakeCluster) -> KubeCluster {
    let mut cfg = kube::Config::new(cluster.url().parse().expect("url"));
    cfg.default_namespace = FLEET_NAMESPACE.into();
    KubeCluster::from_config(cfg, fleet_k8s::ClusterOptions::default()).expect("cluster")
}

/// The seeded fleet with fleet-api moved to an image that crash loops (revision 2).
pub(crate) async fn bad_deploy() -> (FakeCluster, KubeCluster) {
    let c = FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("fake cluster");
    let k = crash_loop_fleet_api(&c).await;
    (c, k)
}

/// Moves the seeded fleet-api of `c` to an image that crash loops (revision 2), with log
/// lines on its pods; returns the administrator's client that did it.
pub(crate) async fn crash_loop_fleet_api(c: &FakeCluster) -> KubeCluster {
    c.set_scenario(
        BAD_IMAGE,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 4,
        },
    );
    let k = kube_cluster(c);
    k.set_image("fleet-api", "fleet-api", BAD_IMAGE, None)
        .await
        .expect("set image");
    for _ in 0..100 {
        let pods = k.list_pods().await.expect("pods");
        if pods.iter().any(|p| p.status == "CrashLoopBackOff") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pod in c.store().list("pods", Some(FLEET_NAMESPACE)) {
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if name.starts_with("fleet-api-") {
            c.set_logs(
                FLEET_NAMESPACE,
                &name,
                "fleet-api",
                &[
                    "INFO starting",
                    "ERROR connect postgres://app:hunter2@db:5432/fleet refused",
                    "ERROR upstream payments timed out",
                ],
            );
        }
    }
    k
}

struct World {
    _cluster: FakeCluster,
    kube: KubeCluster,
    pagerduty: Receiver,
    chat: Receiver,
    clock: Arc<ManualClock>,
    audit: MemoryAuditSink,
    dir: tempfile::TempDir,
    t0: Timestamp,
}

impl World {
    async fn start() -> World {
        let (cluster, kube) = bad_deploy().await;
        let pagerduty = Receiver::start(Answer::new(
            202,
            r#"{"status":"success","message":"Event processed","dedup_key":"INC-7"}"#,
        ))
        .await;
        let chat = Receiver::start(Answer::new(200, "ok")).await;
        let t0 = Timestamp::now();
        World {
            _cluster: cluster,
            kube,
            pagerduty,
            chat,
            clock: Arc::new(ManualClock::new(t0)),
            audit: MemoryAuditSink::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            t0,
        }
    }

    fn procedure(&self) -> IncidentResponse {
        let pd = PagerDutyNotifier::new(
            Secret::new("R0UTINGKEYSECRET"),
            Some(PagerDutyOptions {
                retry: quick_retry(),
                ..PagerDutyOptions::default()
                    .with_endpoint(Url::parse(&self.pagerduty.url("/v2/enqueue")).expect("url"))
            }),
        )
        .expect("pagerduty");
        let chat = WebhookNotifier::new(
            SecretUrl::parse("webhook", &self.chat.url("/incidents")).expect("url"),
            Some(WebhookOptions {
                name: "chat".into(),
                retry: quick_retry(),
                ..WebhookOptions::default()
            }),
        )
        .expect("webhook");
        let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(pd), Arc::new(chat)];
        let store = FileRecordStore::open(self.dir.path()).expect("store");
        IncidentResponse::new(
            Kube::from_cluster(self.kube.clone()),
            Signals::new(notifiers, None),
            Policy::default(),
            IncidentBook::new(Arc::new(store)),
        )
        .with_options(
            IncidentOptions::default()
                .with_deployments(["fleet-api"])
                .with_log_selector(LabelSelector::equals("app", "fleet-api").expect("selector"))
                .with_circuit_breaker(CircuitBreaker {
                    config_map: "fleet-api-flags".into(),
                    key: "payments.circuit".into(),
                    value: "open".into(),
                }),
        )
    }

    fn at(&self, minutes: i64) {
        self.clock
            .set(self.t0 + jiff::SignedDuration::from_mins(minutes));
    }

    fn run(&self, procedure: &str, confirm: Option<&str>) -> Executor {
        let mut guards = Guards::new(Arc::new(self.audit.clone())).with_clock(self.clock.clone());
        if let Some(word) = confirm {
            guards = guards.with_confirm(Arc::new(TokenConfirm::new(word)));
        }
        let ctx = RunContext::new(procedure, "oncall@example.com", "INC-7", Mode::Execute)
            .expect("context");
        Executor::new(ctx, guards)
    }
}

#[tokio::test]
async fn a_p0_acknowledged_late_is_escalated_on_time_rolled_back_resolved_and_written_up() {
    let w = World::start().await;
    let p = w.procedure();
    let declaration = Declaration::new("INC-7", "fleet-api down after 1.5.0", "fleet-api")
        .with_severity(Severity::P0)
        .declared_at(w.t0);

    // Nobody acknowledges for 6 minutes: the clock escalates to level 2.
    w.at(2);
    let opened = p
        .open(&w.run("incident", None), declaration.clone())
        .await
        .expect("open");
    assert_eq!(opened.record.declared_at, w.t0);
    assert!(opened.record.acknowledged_at.is_none());
    let trigger = w.pagerduty.recorded()[0].json();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "INC-7");
    w.at(6);
    let checked = p
        .check(&w.run("incident", None), "INC-7")
        .await
        .expect("check");
    assert_eq!(checked.record.escalations.len(), 1);
    assert_eq!(checked.record.escalations[0].level, 2);
    assert_eq!(checked.record.escalations[0].role, "technical lead");
    assert_eq!(
        checked.report.status,
        RunStatus::Blocked,
        "acknowledgement overdue"
    );
    // Checking again does not page again.
    let again = p
        .check(&w.run("incident", None), "INC-7")
        .await
        .expect("check");
    assert_eq!(again.record.escalations.len(), 1);

    // Acknowledged at 7 minutes: late.
    w.at(7);
    let acked = p
        .acknowledge(&w.run("incident", None), declaration)
        .await
        .expect("acknowledge");
    let ack = acked
        .due
        .items
        .iter()
        .find(|i| i.item.rule_id() == "incident.acknowledge")
        .expect("item");
    assert_eq!(ack.state, ItemState::MetLate);
    let events: Vec<serde_json::Value> = w.pagerduty.recorded().iter().map(|r| r.json()).collect();
    assert!(
        events
            .iter()
            .any(|e| e["event_action"] == "acknowledge" && e["dedup_key"] == "INC-7")
    );

    // Assessed at 9 minutes: the evidence points at the recent deployment.
    w.at(9);
    let assessed = p
        .assess(&w.run("incident", None), "INC-7")
        .await
        .expect("assess");
    let bundle = assessed.evidence.expect("bundle");
    assert!(
        bundle
            .unhealthy_pods()
            .iter()
            .any(|p| p.status == "CrashLoopBackOff")
    );
    let json = serde_json::to_string(&bundle.to_json()).expect("json");
    let md = bundle.to_markdown();
    for text in [&json, &md] {
        assert!(!text.contains("hunter2"), "the log's password is redacted");
        assert!(text.contains("<redacted>"));
    }
    let rollback = assessed
        .record
        .recommendations
        .iter()
        .find(|r| matches!(r.mitigation, Mitigation::Rollback { .. }))
        .expect("rollback recommended");
    assert_eq!(
        rollback.mitigation,
        Mitigation::Rollback {
            deployment: "fleet-api".into(),
            from_revision: 2,
            to_revision: 1
        }
    );
    assert!(
        rollback
            .cites
            .iter()
            .any(|c| c.contains("revision 2") && c.contains(BAD_IMAGE))
    );
    assert!(
        rollback
            .cites
            .iter()
            .any(|c| c.contains("CrashLoopBackOff"))
    );
    assert!(
        assessed
            .record
            .recommendations
            .iter()
            .any(|r| r.mitigation.name() == "circuit-breaker"),
        "the upstream timeout points at the dependency too"
    );

    // Rollback without the word is refused and changes nothing; with it, it happens.
    w.at(11);
    let refused = p
        .mitigate(&w.run("incident", None), "INC-7", Some("rollback"))
        .await
        .expect("mitigate runs");
    assert_eq!(refused.report.status, RunStatus::Refused);
    assert!(refused.record.mitigated_at.is_none());
    w.at(12);
    let mitigated = p
        .mitigate(
            &w.run("incident", Some("ROLLBACK")),
            "INC-7",
            Some("rollback"),
        )
        .await
        .expect("mitigate");
    assert_eq!(
        mitigated.report.status,
        RunStatus::Ok,
        "{}",
        mitigated.report.to_text()
    );
    assert_eq!(
        mitigated.record.mitigated_at,
        Some(w.t0 + jiff::SignedDuration::from_mins(12))
    );
    let live = w
        .kube
        .get_deployment("fleet-api")
        .await
        .expect("deployment");
    assert_eq!(
        live.images[0].image, FLEET_API_IMAGE,
        "rolled back to 1.4.2"
    );

    // Status updates at 20, 45 and 75 minutes; the fix is marked at 25.
    for (m, status, text) in [
        (20, IncidentStatus::Identified, "rolled back to 1.4.2"),
        (45, IncidentStatus::Monitoring, "error rate back to normal"),
    ] {
        w.at(m);
        let u = p
            .update(&w.run("incident", None), "INC-7", status, text)
            .await
            .expect("update");
        assert_eq!(
            u.record.status_updates.last().map(|s| s.message.as_str()),
            Some(text)
        );
    }
    w.at(25);
    p.mark_fixed(&w.run("incident", None), "INC-7")
        .await
        .expect("fixed");

    // Resolving during the hour of monitoring is refused.
    w.at(50);
    let early = p
        .resolve(&w.run("incident", None), "INC-7", "done", false)
        .await;
    assert!(early.is_err_and(|e| e.is_invalid_input()));

    // Not resolved at 60 minutes: escalated to level 4, on time.
    w.at(61);
    let late = p
        .check(&w.run("incident", None), "INC-7")
        .await
        .expect("check");
    assert_eq!(late.record.escalations.last().map(|e| e.level), Some(4));
    w.at(70);
    p.update(
        &w.run("incident", None),
        "INC-7",
        IncidentStatus::Monitoring,
        "still fine",
    )
    .await
    .expect("update");

    w.at(86);
    let resolved = p
        .resolve(
            &w.run("incident", None),
            "INC-7",
            "fleet-api healthy on 1.4.2",
            false,
        )
        .await
        .expect("resolve");
    let monitor = resolved
        .due
        .items
        .iter()
        .find(|i| i.item.rule_id() == "incident.monitor")
        .expect("monitor");
    assert_eq!(monitor.state, ItemState::Met);
    let events: Vec<serde_json::Value> = w.pagerduty.recorded().iter().map(|r| r.json()).collect();
    assert!(events.iter().any(|e| e["event_action"] == "resolve"));
    let posts = w.chat.recorded();
    assert!(
        posts.len() >= 6,
        "ack, escalations, updates, resolve went to chat"
    );
    for r in posts.iter().chain(w.pagerduty.recorded().iter()) {
        assert!(!String::from_utf8_lossy(&r.body).contains("hunter2"));
    }

    // The post-mortem, due 48 h after resolution.
    w.at(90);
    let (pm, md) = p
        .post_mortem(&w.run("incident", None), "INC-7", &w.audit.records())
        .await
        .expect("post-mortem");
    assert!(pm.record.post_mortem_at.is_some());
    let due = (w.t0 + jiff::SignedDuration::from_mins(86 + 48 * 60)).to_string();
    assert!(md.contains(&format!("Post-mortem due: {due}")), "{md}");
    for part in [
        "## Timeline",
        "| T+7 min | acknowledged |",
        "escalated to level 2 (technical lead)",
        "escalated to level 4",
        "rollout-undo succeeded on deployment/fleet-management/fleet-api",
        "audit intent",
        "audit outcome",
        "## Root cause",
        "## Action items",
    ] {
        assert!(md.contains(part), "{part:?} missing from\n{md}");
    }
    assert!(!md.contains("hunter2"));
}

#[tokio::test]
async fn an_interrupted_incident_resumes_from_its_record() {
    let w = World::start().await;
    let first = w.procedure();
    w.at(1);
    first
        .acknowledge(
            &w.run("incident", None),
            Declaration::new("INC-8", "fleet-api errors", "fleet-api")
                .with_severity(Severity::P1)
                .declared_at(w.t0),
        )
        .await
        .expect("acknowledge");
    w.at(4);
    first
        .assess(&w.run("incident", None), "INC-8")
        .await
        .expect("assess");
    drop(first); // the first engineer's process is gone

    // A second engineer opens the same record directory.
    let second = w.procedure();
    let loaded = second.book.get("INC-8").await.expect("on record");
    assert_eq!(
        loaded.record.acknowledged_at,
        Some(w.t0 + jiff::SignedDuration::from_mins(1))
    );
    assert_eq!(
        loaded.record.assessed_at,
        Some(w.t0 + jiff::SignedDuration::from_mins(4))
    );
    assert!(!loaded.record.recommendations.is_empty());
    assert_eq!(
        second.book.ids().await.expect("ids"),
        vec!["INC-8".to_owned()]
    );

    // Acknowledging again keeps the first time and pages nobody.
    let before = w.pagerduty.recorded().len();
    w.at(6);
    let again = second
        .acknowledge(
            &w.run("incident", None),
            Declaration::new("INC-8", "x", "fleet-api"),
        )
        .await
        .expect("acknowledge again");
    assert_eq!(again.record.acknowledged_at, loaded.record.acknowledged_at);
    assert_eq!(w.pagerduty.recorded().len(), before);

    // It carries on with the recorded recommendation: the circuit breaker, confirmed.
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "fleet-api-flags", "namespace": FLEET_NAMESPACE}, "data": {"payments.circuit": "closed"}});
    w._cluster.store().insert(cm).expect("configmap");
    w.at(8);
    let m = second
        .mitigate(
            &w.run("incident", Some("BREAK")),
            "INC-8",
            Some("circuit-breaker"),
        )
        .await
        .expect("mitigate");
    assert_eq!(m.report.status, RunStatus::Ok, "{}", m.report.to_text());
    let flag = w
        ._cluster
        .store()
        .get("configmaps", FLEET_NAMESPACE, "fleet-api-flags")
        .expect("cm");
    assert_eq!(flag["data"]["payments.circuit"], "open");
    assert_eq!(m.record.actions.len(), 1);
    assert_eq!(m.record.actions[0].step, "circuit-breaker");

    // A stale copy cannot overwrite the newer record.
    let mut stale = loaded;
    stale.record.title = "overwritten".into();
    let err = second.book.save(&mut stale).await.expect_err("conflict");
    assert!(err.to_string().contains("incident record store"));
    assert_eq!(
        second.book.get("INC-8").await.expect("record").record.title,
        "fleet-api errors"
    );

    // A choice that was not recommended is refused before anything runs.
    let bad = second
        .mitigate(&w.run("incident", None), "INC-8", Some("scale-up"))
        .await;
    assert!(bad.is_err_and(|e| e.is_invalid_input()));
}

fn query_table(columns: &[(&str, &str)], rows: serde_json::Value) -> serde_json::Value {
    let columns: Vec<_> = columns
        .iter()
        .map(|(n, t)| serde_json::json!({"name": n, "type": t}))
        .collect();
    serde_json::json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assessment_includes_app_insights_failures_over_its_window() {
    use fleet_azure::{
        AzureCloud, RetrySettings, TelemetryClient, TelemetryClientOptions, TelemetrySource,
    };
    use fleet_testkit::azure::AzureReplay;

    let w = World::start().await;
    let replay = AzureReplay::start().await.expect("replay");
    replay.set_query_result(
        "AppRequests",
        query_table(
            &[
                ("total", "long"),
                ("failed", "long"),
                ("p50", "real"),
                ("p95", "real"),
                ("p99", "real"),
            ],
            serde_json::json!([["12000", "720", "41.5", "950.25", "1480"]]),
        ),
    );
    replay.set_query_result(
        "AppExceptions",
        query_table(
            &[
                ("problemId", "string"),
                ("exceptionType", "string"),
                ("message", "string"),
                ("n", "long"),
            ],
            serde_json::json!([
                [
                    "TimeoutException at Payments.Charge",
                    "System.TimeoutException",
                    "payments timed out; token=abc123secret",
                    "57"
                ],
                [
                    "PostgresException at Orders.Save",
                    "Npgsql.PostgresException",
                    null,
                    9
                ]
            ]),
        ),
    );
    replay.set_query_result(
        "AppDependencies",
        query_table(
            &[
                ("target", "string"),
                ("dependencyType", "string"),
                ("name", "string"),
                ("calls", "long"),
                ("failed", "long"),
                ("p95", "real"),
                ("avg", "real"),
            ],
            serde_json::json!([
                [
                    "payments.example.com",
                    "HTTP",
                    "POST /charge",
                    "900",
                    "45",
                    "5000.0",
                    "2100.0"
                ],
                [
                    "fleet-db.postgres.database.azure.com",
                    "SQL",
                    "SELECT vehicles",
                    "5000",
                    "0",
                    "250.5",
                    "40.1"
                ]
            ]),
        ),
    );
    let endpoint = TelemetrySource::Workspace {
        workspace_id: "63613592-b6f7-4c3d-a390-22ba13102111".into(),
    }
    .endpoint(&AzureCloud::custom_at(replay.base_url()));
    let mut options = TelemetryClientOptions {
        role_name: Some("fleet-api".into()),
        ..TelemetryClientOptions::default()
    };
    options.client_options.transport = Some(replay.transport());
    options.client_options.retry = RetrySettings::fast_for_tests(2).into();
    let telemetry =
        TelemetryClient::new(&endpoint, replay.credential(), Some(options)).expect("client");
    let mut p = w.procedure();
    p.signals = p.signals.clone().with_telemetry(Arc::new(telemetry));

    let declaration = Declaration::new("INC-8", "fleet-api errors", "fleet-api")
        .with_severity(Severity::P1)
        .declared_at(w.t0);
    p.open(&w.run("incident", None), declaration)
        .await
        .expect("open");
    w.at(5);
    let assessed = p
        .assess(&w.run("incident", None), "INC-8")
        .await
        .expect("assess");
    let bundle = assessed.evidence.expect("bundle");
    let failures = bundle.failures.clone().expect("app insights failures");
    assert_eq!(
        (failures.requests.total, failures.requests.failed),
        (12000, 720)
    );
    assert_eq!(failures.top_exceptions.len(), 2);
    assert_eq!(failures.top_exceptions[0].count, 57);
    assert_eq!(failures.failing_dependencies.len(), 1, "only failing ones");
    assert_eq!(
        failures.failing_dependencies[0].target,
        "payments.example.com"
    );
    // The window is the assessment's: the metrics window ending when it ran.
    let at = w.t0 + jiff::SignedDuration::from_mins(5);
    assert_eq!(failures.window.end, at);
    assert_eq!(
        failures.window.start,
        at - jiff::SignedDuration::from_mins(15)
    );

    let md = bundle.to_markdown();
    let json = serde_json::to_string(&bundle.to_json()).expect("json");
    assert!(md.contains("## Application Insights failures"), "{md}");
    assert!(
        md.contains("App Insights: 720 of 12000 requests failed (6.0 %)"),
        "{md}"
    );
    assert!(
        md.contains("dependency HTTP POST /charge on payments.example.com: 45 of 900 calls failed"),
        "{md}"
    );
    for text in [&md, &json] {
        assert!(
            !text.contains("abc123secret"),
            "exception messages are redacted"
        );
    }

    // One query per kind went to the workspace, for the assessment's window.
    let queries: Vec<String> = replay
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/query"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(queries.len(), 3, "{queries:?}");
    let start = (at - jiff::SignedDuration::from_mins(15)).to_string();
    assert!(
        queries.iter().all(|q| q.contains(&start[..19])),
        "{start}: {queries:?}"
    );
}
