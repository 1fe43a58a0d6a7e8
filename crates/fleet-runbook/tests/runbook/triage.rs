//! Performance triage on FakeCluster: the 503 causes behind an ingress (a Service with no
//! ready endpoints, a backend naming a missing Service, a backend port the Service does not
//! expose, a LoadBalancer without an address, a crash loop), and the quick fixes as confirmed,
//! audited actions within the policy's bounds.

use std::sync::Arc;

use fleet_guard::{Executor, Guards, MemoryAuditSink, Mode, RunContext, TokenConfirm};
use fleet_k8s::Deployments;
use fleet_policy::Policy;
use fleet_runbook::{Kube, PerfTriage, QuickFix, RunStatus};
use fleet_testkit::k8s::FLEET_NAMESPACE;
use serde_json::json;

use crate::incident::bad_deploy;

fn executor(word: Option<&str>, audit: &MemoryAuditSink, mode: Mode) -> Executor {
    let mut g = Guards::new(Arc::new(audit.clone()));
    if let Some(word) = word {
        g = g.with_confirm(Arc::new(TokenConfirm::new(word)));
    }
    Executor::new(
        RunContext::new("perf-triage", "oncall@example.com", "INC-9", mode).expect("ctx"),
        g,
    )
}

#[tokio::test]
async fn triage_names_the_503_causes_and_scales_within_the_policy() {
    let (c, k) = bad_deploy().await;
    let store = c.store();
    store
        .insert(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "orphan", "namespace": FLEET_NAMESPACE},
            "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 80, "targetPort": 8080}]}}))
        .expect("service");
    store
        .insert(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "public-lb", "namespace": FLEET_NAMESPACE},
            "spec": {"type": "LoadBalancer", "selector": {"app": "fleet-frontend"}, "ports": [{"port": 443, "targetPort": 8443}]}}))
        .expect("load balancer");
    store
        .insert(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "broken", "namespace": FLEET_NAMESPACE},
            "spec": {"rules": [{"host": "x.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "ghost", "port": {"number": 80}}}},
                {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "orphan", "port": {"number": 9999}}}}
            ]}}]}}))
        .expect("ingress");
    let triage = PerfTriage::new(Kube::from_cluster(k.clone()), None, Policy::default());

    // Read-only first: the causes, no change.
    let audit = MemoryAuditSink::new();
    let (report, found) = triage
        .run(&executor(None, &audit, Mode::Execute), &[])
        .await;
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    let all = found.serving.join("\n");
    for cause in [
        "service orphan has no ready endpoints",
        "ingress broken routes to service ghost, which does not exist",
        "ingress broken routes to port 9999 of service orphan",
        "load balancer service public-lb has no external IP",
        "is crash looping",
    ] {
        assert!(all.contains(cause), "{cause:?} not in\n{all}");
    }
    assert!(
        !all.contains("service fleet-frontend has no ready endpoints"),
        "{all}"
    );
    assert!(audit.records().is_empty());

    // Scaling to 50 is clamped to the policy's 10; refused without the word, then done.
    let fix = [QuickFix::Scale {
        deployment: "fleet-api".into(),
        replicas: 50,
    }];
    let (refused, _) = triage
        .run(&executor(None, &audit, Mode::Execute), &fix)
        .await;
    assert_eq!(refused.status, RunStatus::Refused);
    let (dry, _) = triage
        .run(&executor(Some("SCALE"), &audit, Mode::DryRun), &fix)
        .await;
    assert_eq!(dry.status, RunStatus::Ok);
    let before = k
        .get_deployment("fleet-api")
        .await
        .expect("deployment")
        .replicas;
    assert_ne!(before, 10);
    let (done, _) = triage
        .run(&executor(Some("SCALE"), &audit, Mode::Execute), &fix)
        .await;
    assert_eq!(done.status, RunStatus::Ok, "{}", done.to_text());
    assert_eq!(
        k.get_deployment("fleet-api")
            .await
            .expect("deployment")
            .replicas,
        10
    );
    let scale: Vec<_> = audit
        .records()
        .into_iter()
        .filter(|r| r.step == "scale")
        .collect();
    assert_eq!(scale.len(), 3, "refusal, intent, outcome");
    assert_eq!(scale[1].after, Some(json!(10)));
}

#[tokio::test]
async fn the_restart_quick_fix_is_confirmed_and_audited() {
    let (c, k) = bad_deploy().await;
    let triage = PerfTriage::new(Kube::from_cluster(k), None, Policy::default());
    let fix = [QuickFix::Restart {
        deployment: "fleet-api".into(),
    }];
    let restarted_at = || {
        c.store()
            .get("deployments", FLEET_NAMESPACE, "fleet-api")
            .and_then(|d| {
                d["spec"]["template"]["metadata"]["annotations"]
                    ["kubectl.kubernetes.io/restartedAt"]
                    .as_str()
                    .map(str::to_owned)
            })
    };
    let audit = MemoryAuditSink::new();
    let (refused, _) = triage
        .run(&executor(Some("SCALE"), &audit, Mode::Execute), &fix)
        .await;
    assert_eq!(refused.status, RunStatus::Refused, "{}", refused.to_text());
    assert_eq!(restarted_at(), None, "nothing restarted without RESTART");
    let (done, _) = triage
        .run(&executor(Some("RESTART"), &audit, Mode::Execute), &fix)
        .await;
    assert_eq!(done.status, RunStatus::Ok, "{}", done.to_text());
    assert!(restarted_at().is_some(), "the pod template was stamped");
    let phases: Vec<String> = audit
        .records()
        .into_iter()
        .filter(|r| r.step == "restart")
        .map(|r| format!("{:?}", r.phase))
        .collect();
    assert_eq!(phases.len(), 3, "refusal, intent, outcome: {phases:?}");
}

/// App Insights > Performance and > Dependencies join the ranking, judged by the policy's
/// response-time and error-rate bands, worst first (fleet-azure's `Telemetry` mocked: the
/// layer below).
#[tokio::test]
async fn app_insights_requests_and_dependencies_join_the_ranking() {
    use fleet_azure::{DependencyStats, MockTelemetry, RequestStats};
    use fleet_policy::metrics::Band;

    let (_c, k) = bad_deploy().await;
    let mut telemetry = MockTelemetry::new();
    telemetry.expect_request_stats().times(1).returning(|w, _| {
        assert_eq!(w.end.duration_since(w.start).as_secs(), 15 * 60);
        Ok(serde_json::from_value::<RequestStats>(json!({
            "total": 40_000, "failed": 1_200, "failure_rate_pct": 3.0,
            "p50_ms": 300.0, "p95_ms": 2_400.0, "p99_ms": 5_000.0,
        }))
        .expect("stats"))
    });
    telemetry
        .expect_slowest_dependencies()
        .times(1)
        .returning(|_, top, _| {
            assert_eq!(top, 5);
            Ok(serde_json::from_value::<Vec<DependencyStats>>(json!([
                {"target": "fleetdb", "dependency_type": "SQL", "name": "SELECT vehicles",
                 "calls": 9_000, "failed": 12, "p95_ms": 1_900.0, "avg_ms": 700.0},
                {"target": "maps.example.com", "dependency_type": "HTTP", "name": "GET /tiles",
                 "calls": 3_000, "failed": 0, "p95_ms": 120.0, "avg_ms": 60.0}
            ]))
            .expect("dependencies"))
        });
    let triage = PerfTriage::new(Kube::from_cluster(k), None, Policy::default())
        .with_telemetry(Arc::new(telemetry));
    let audit = MemoryAuditSink::new();
    let (report, found) = triage
        .run(&executor(None, &audit, Mode::Execute), &[])
        .await;
    let ranked: Vec<(&str, Band, f64)> = found
        .bottlenecks
        .iter()
        .map(|b| (b.subject.as_str(), b.band, b.value))
        .collect();
    assert_eq!(
        ranked,
        [
            ("requests", Band::Critical, 2_400.0),
            ("dependency SQL fleetdb", Band::Critical, 1_900.0),
            ("requests", Band::Critical, 3.0),
        ],
        "worst first; the 120 ms dependency is not a bottleneck: {}",
        report.to_text()
    );
    for id in ["app-performance", "app-dependencies"] {
        assert!(
            report
                .steps
                .iter()
                .any(|s| s.step.id == id && s.outcome == fleet_guard::StepOutcome::Succeeded),
            "{id}: {}",
            report.to_text()
        );
    }
    assert!(
        report
            .findings
            .findings
            .iter()
            .any(|f| f.rule == "metrics.response-time" && f.outcome == fleet_policy::Outcome::Fail),
        "{}",
        report.to_text()
    );
}
