//! Smoke tests against a local HTTP application with the runbook's four critical paths.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use fleet_policy::rollback::{self, RollbackInput};
use fleet_policy::{Outcome, Policy};
use fleet_runbook::{BodyMatch, Secret, SmokeCheck, SmokeFailure, SmokeOptions, run_smoke_tests};

use crate::common::dead_address;

const PASSWORD: &str = "sm0ke-PASSWORD";
const TOKEN: &str = "sm0ke-TOKEN";

async fn login(body: String) -> (StatusCode, String) {
    if body.contains(PASSWORD) {
        (
            StatusCode::OK,
            format!(r#"{{"token":"{TOKEN}","user":"smoke"}}"#),
        )
    } else {
        (StatusCode::UNAUTHORIZED, "bad credentials".into())
    }
}

async fn dashboard(headers: HeaderMap) -> (StatusCode, String) {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    if authorized {
        (
            StatusCode::OK,
            "<h1>Vehicle Dashboard</h1><p>42 vehicles</p>".into(),
        )
    } else {
        (StatusCode::FORBIDDEN, "no".into())
    }
}

/// The application, with `/api/work-orders` as given.
async fn app(work_orders: StatusCode) -> String {
    let router = Router::new()
        .route("/api/auth/login", post(login))
        .route("/dashboard/vehicles", get(dashboard))
        .route(
            "/api/gps/latest",
            get(|| async { r#"{"vehicle":"TRK-7","lat":40.7128,"lon":-74.006}"# }),
        )
        .route(
            "/api/work-orders",
            get(move || async move { (work_orders, "[{\"id\":1}]") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "late"
            }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "never"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn critical_paths(base: &str) -> Vec<SmokeCheck> {
    vec![
        SmokeCheck::post(
            "login flow",
            format!("{base}/api/auth/login"),
            Secret::new(format!(r#"{{"user":"smoke","password":"{PASSWORD}"}}"#)),
        )
        .with_header("Content-Type", Secret::new("application/json"))
        .with_status(&[200])
        .with_body_match(BodyMatch::Contains("\"token\"".into())),
        SmokeCheck::get(
            "vehicle dashboard",
            format!("{base}/dashboard/vehicles?session=x"),
        )
        .with_header("Authorization", Secret::new(format!("Bearer {TOKEN}")))
        .with_body_match(BodyMatch::Contains("Vehicle Dashboard".into())),
        SmokeCheck::get("gps tracking", format!("{base}/api/gps/latest"))
            .with_body_match(BodyMatch::Regex(r#""lat":\s*-?\d+\.\d+"#.into())),
        SmokeCheck::get("work orders", format!("{base}/api/work-orders")),
    ]
}

fn judge(tests: Vec<fleet_policy::rollback::SmokeTest>) -> fleet_policy::Finding {
    let input = RollbackInput {
        subject: "fleet-api v1.5.0".into(),
        smoke_tests: tests,
        ..RollbackInput::default()
    };
    rollback::evaluate(&Policy::default(), &input)
        .into_iter()
        .find(|f| f.rule == "rollback.smoke-tests")
        .expect("smoke finding")
}

#[tokio::test]
async fn the_critical_paths_pass_on_a_good_release() {
    let base = app(StatusCode::OK).await;
    let report = run_smoke_tests(&critical_paths(&base), None)
        .await
        .expect("ran");
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.results.len(), 4);
    assert_eq!(report.results[0].name, "login flow");
    assert_eq!(report.results[0].method, "POST");
    assert_eq!(
        report.results[1].url,
        format!("{base}/dashboard/vehicles"),
        "query not shown"
    );
    assert!(report.results.iter().all(|r| r.status.is_some()));
    assert_eq!(judge(report.smoke_tests()).outcome, Outcome::Pass);
    let shown = format!(
        "{report:?} {}",
        serde_json::to_string(&report).expect("json")
    );
    assert!(
        !shown.contains(PASSWORD) && !shown.contains(TOKEN),
        "{shown}"
    );
}

#[tokio::test]
async fn a_broken_critical_path_is_critical_functionality_broken() {
    let base = app(StatusCode::INTERNAL_SERVER_ERROR).await;
    let mut checks = critical_paths(&base);
    // A wrong password: the login flow answers 401.
    checks[0].body = Some(Secret::new(r#"{"user":"smoke","password":"wrong"}"#));
    let report = run_smoke_tests(&checks, None).await.expect("ran");
    assert!(!report.passed());
    assert_eq!(
        report.results[0].failure,
        Some(SmokeFailure::Status {
            expected: vec![200],
            got: 401
        })
    );
    assert_eq!(
        report.results[3].failure,
        Some(SmokeFailure::Status {
            expected: vec![],
            got: 500
        })
    );
    assert!(report.results[1].passed && report.results[2].passed);
    let f = judge(report.smoke_tests());
    assert_eq!(f.outcome, Outcome::Fail);
    assert!(
        f.message.contains("critical functionality broken"),
        "{}",
        f.message
    );
    assert!(f.message.contains("work orders (GET"), "{}", f.message);
    assert!(
        f.message.contains("HTTP 500, expected 2xx"),
        "{}",
        f.message
    );
}

#[tokio::test]
async fn body_latency_and_transport_failures() {
    let base = app(StatusCode::OK).await;
    let dead = dead_address().await;
    let checks = vec![
        SmokeCheck::get("gps tracking", format!("{base}/api/gps/latest"))
            .with_body_match(BodyMatch::Regex(r#""speed":"#.into())),
        SmokeCheck::get("vehicle dashboard", format!("{base}/slow"))
            .with_budget(Duration::from_millis(100)),
        SmokeCheck::get("work orders", format!("http://{dead}/api/work-orders")),
    ];
    let report = run_smoke_tests(&checks, None).await.expect("ran");
    assert!(
        matches!(&report.results[0].failure, Some(SmokeFailure::Body { expected }) if expected == r#""speed":"#)
    );
    match &report.results[1].failure {
        Some(SmokeFailure::Slow {
            budget_ms: 100,
            took_ms,
        }) => assert!(*took_ms >= 300),
        other => panic!("expected too slow, got {other:?}"),
    }
    assert!(matches!(
        &report.results[2].failure,
        Some(SmokeFailure::Transport { .. })
    ));
    assert_eq!(report.results[2].status, None);
    // Failed checks fail the rule, whatever the others say.
    assert_eq!(judge(report.smoke_tests()).outcome, Outcome::Fail);
}

#[tokio::test]
async fn checks_run_concurrently_under_one_deadline() {
    let base = app(StatusCode::OK).await;
    let mut checks: Vec<SmokeCheck> = (0..4)
        .map(|i| SmokeCheck::get(format!("slow {i}"), format!("{base}/slow")))
        .collect();
    checks.push(SmokeCheck::get("hangs", format!("{base}/hang")));
    let options = SmokeOptions {
        deadline: Duration::from_millis(1200),
        ..SmokeOptions::default()
    };
    let started = Instant::now();
    let report = run_smoke_tests(&checks, Some(options)).await.expect("ran");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "bounded by the deadline: {took:?}"
    );
    assert!(report.results[..4].iter().all(|r| r.passed), "{report:#?}");
    assert_eq!(report.results[4].failure, Some(SmokeFailure::Deadline));

    // Four 300 ms checks at once take about 300 ms, not 1.2 s.
    let started = Instant::now();
    let report = run_smoke_tests(&checks[..4], None).await.expect("ran");
    assert!(report.passed());
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}
