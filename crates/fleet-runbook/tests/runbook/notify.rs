//! Notifiers against a local receiver: each vendor's method, path, headers and body; a
//! receiver that is down; 429 with `Retry-After` and 500 before success; secrets never in
//! errors; `notify_all` never failing the run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_guard::{Executor, Guards, MemoryAuditSink, Mode, Plan, RunContext};
use fleet_policy::Policy;
use fleet_runbook::{
    Action, Channel, IncidentStatus, Notification, Notifier, PagerDutyNotifier, PagerDutyOptions,
    Report, RetryOptions, RunStatus, Secret, SecretUrl, Severity, SlackNotifier, SlackOptions,
    StatuspageNotifier, StatuspageOptions, WebhookNotifier, WebhookOptions, notify_all,
};
use reqwest::Url;

use crate::common::{Answer, Receiver, dead_address, quick_retry, ts};

const ROUTING_KEY: &str = "R0UT1NGK3Y0123456789abcdef012345";
const SLACK_DEPLOYMENTS: &str = "/services/T000/B001/deploySECRETtoken";
const SLACK_INCIDENTS: &str = "/services/T000/B002/incidentSECRETtoken";
const STATUSPAGE_KEY: &str = "sp-api-k3y-SECRET";

fn note(channel: Channel, action: Action) -> Notification {
    Notification::new(
        channel,
        action,
        Severity::Critical,
        "fleet-api v1.5.0: error rate 7.2 % after deploy",
        "deployment/fleet-management/fleet-api",
        ts("2026-07-16T22:14:05.250Z"),
    )
    .with_body("Rolled back to revision 41 <automatically>.")
    .with_key("deploy-fleet-api-v1.5.0")
    .with_link("https://grafana.example/d/fleet", "dashboard")
    .with_detail("error_rate_percent", 7.2)
}

fn webhooks(pairs: &[(Channel, String)]) -> BTreeMap<Channel, SecretUrl> {
    pairs
        .iter()
        .map(|(c, u)| (c.clone(), SecretUrl::parse("slack", u).expect("url")))
        .collect()
}

fn slack(rx: &Receiver, retry: RetryOptions) -> SlackNotifier {
    SlackNotifier::new(
        webhooks(&[
            (Channel::deployments(), rx.url(SLACK_DEPLOYMENTS)),
            (Channel::incidents(), rx.url(SLACK_INCIDENTS)),
        ]),
        Some(SlackOptions {
            retry,
            ..SlackOptions::default()
        }),
    )
    .expect("slack")
}

fn pagerduty(rx: &Receiver, retry: RetryOptions) -> PagerDutyNotifier {
    PagerDutyNotifier::new(
        Secret::new(ROUTING_KEY),
        Some(PagerDutyOptions {
            retry,
            component: Some("fleet-api".into()),
            group: Some("production".into()),
            class: Some("deploy".into()),
            ..PagerDutyOptions::default()
                .with_endpoint(Url::parse(&rx.url("/v2/enqueue")).expect("url"))
        }),
    )
    .expect("pagerduty")
}

fn statuspage(rx: &Receiver) -> StatuspageNotifier {
    StatuspageNotifier::new(
        "kctbh9vrtdwd",
        Secret::new(STATUSPAGE_KEY),
        Some(
            StatuspageOptions::default()
                .with_base_url(Url::parse(&rx.url("/v1")).expect("url"))
                .with_components(vec!["8kbf7d35c070".into()]),
        ),
    )
    .expect("statuspage")
}

fn assert_no_secret(text: &str) {
    for secret in [
        ROUTING_KEY,
        "deploySECRETtoken",
        "incidentSECRETtoken",
        STATUSPAGE_KEY,
        "hookSECRET",
    ] {
        assert!(!text.contains(secret), "secret {secret} leaked in: {text}");
    }
}

#[tokio::test]
async fn slack_posts_block_kit_json_to_the_channel_webhook() {
    let rx = Receiver::start(Answer::new(200, "ok")).await;
    let s = slack(&rx, quick_retry());
    let d = s
        .notify(&note(Channel::incidents(), Action::Post))
        .await
        .expect("delivered");
    assert_eq!(d.attempts, 1);
    assert_eq!(d.target, "slack #incidents");
    let req = &rx.recorded()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, SLACK_INCIDENTS, "routed to the #incidents webhook");
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/json")
    );
    let body = req.json();
    let text = body["text"].as_str().expect("text fallback");
    assert!(text.contains("fleet-api v1.5.0: error rate 7.2 % after deploy"));
    assert!(
        text.contains("&lt;automatically&gt;"),
        "mrkdwn control characters escaped"
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
    assert_eq!(
        body["blocks"][1]["text"]["text"],
        "<https://grafana.example/d/fleet|dashboard>"
    );
    assert_eq!(body["blocks"][2]["type"], "context");

    s.notify(&note(Channel::deployments(), Action::Post))
        .await
        .expect("delivered");
    assert_eq!(rx.recorded()[1].uri, SLACK_DEPLOYMENTS);
    assert!(!s.accepts(&note(Channel::security(), Action::Post)));
    assert_no_secret(&format!("{s:?}"));
}

#[tokio::test]
async fn slack_error_bodies_are_reported_without_the_webhook() {
    let rx = Receiver::start(Answer::new(404, "channel_not_found")).await;
    let e = slack(&rx, quick_retry())
        .notify(&note(Channel::deployments(), Action::Post))
        .await
        .expect_err("404");
    assert!(e.is_not_found());
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("channel_not_found"), "{shown}");
    assert_no_secret(&shown);
    assert_eq!(rx.recorded().len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn pagerduty_trigger_acknowledge_resolve_with_a_dedup_key() {
    let rx = Receiver::start(Answer::new(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"deploy-fleet-api-v1.5.0"}"#,
    ))
    .await;
    let pd = pagerduty(&rx, quick_retry());
    let d = pd
        .notify(&note(Channel::incidents(), Action::Trigger))
        .await
        .expect("triggered");
    assert_eq!(d.reference.as_deref(), Some("deploy-fleet-api-v1.5.0"));
    let req = &rx.recorded()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, "/v2/enqueue");
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        req.header("authorization"),
        None,
        "the key travels in the body"
    );
    let e = req.json();
    assert_eq!(e["routing_key"], ROUTING_KEY);
    assert_eq!(e["event_action"], "trigger");
    assert_eq!(e["dedup_key"], "deploy-fleet-api-v1.5.0");
    assert_eq!(
        e["payload"]["summary"],
        "fleet-api v1.5.0: error rate 7.2 % after deploy"
    );
    assert_eq!(
        e["payload"]["source"],
        "deployment/fleet-management/fleet-api"
    );
    assert_eq!(e["payload"]["severity"], "critical");
    assert_eq!(e["payload"]["timestamp"], "2026-07-16T22:14:05.25Z");
    assert_eq!(e["payload"]["component"], "fleet-api");
    assert_eq!(e["payload"]["group"], "production");
    assert_eq!(e["payload"]["class"], "deploy");
    assert_eq!(e["payload"]["custom_details"]["error_rate_percent"], 7.2);
    assert_eq!(e["links"][0]["href"], "https://grafana.example/d/fleet");
    assert_eq!(e["client"], "fleet-runbook");

    for action in [Action::Acknowledge, Action::Resolve] {
        pd.notify(&note(Channel::incidents(), action))
            .await
            .expect("follow-up");
    }
    let all = rx.recorded();
    for (req, action) in all[1..].iter().zip(["acknowledge", "resolve"]) {
        let e = req.json();
        assert_eq!(e["event_action"], action);
        assert_eq!(e["dedup_key"], "deploy-fleet-api-v1.5.0");
        assert_eq!(e["routing_key"], ROUTING_KEY);
        assert!(e.get("payload").is_none(), "follow-ups carry no payload");
    }
    assert!(!pd.accepts(&note(Channel::deployments(), Action::Trigger)));
    assert!(!pd.accepts(&note(Channel::incidents(), Action::Post)));
}

#[tokio::test]
async fn pagerduty_400_is_not_retried_and_an_echoed_key_is_scrubbed() {
    let body = format!(
        r#"{{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' {ROUTING_KEY} is incorrect"]}}"#
    );
    let rx = Receiver::start(Answer::new(400, &body)).await;
    let e = pagerduty(&rx, quick_retry())
        .notify(&note(Channel::incidents(), Action::Trigger))
        .await
        .expect_err("400");
    assert_eq!(rx.recorded().len(), 1);
    assert!(!e.is_transient());
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("Event object is invalid"), "{shown}");
    assert_no_secret(&shown);
}

#[tokio::test]
async fn statuspage_opens_updates_and_resolves_an_incident() {
    let incident =
        r#"{"id":"p31zjtct2jer","page_id":"kctbh9vrtdwd","name":"x","status":"investigating"}"#;
    let rx = Receiver::start(Answer::new(200, incident)).await;
    rx.script([Answer::new(201, incident)]);
    let sp = statuspage(&rx);
    let opened = sp
        .notify(&note(Channel::incidents(), Action::Trigger))
        .await
        .expect("created");
    assert_eq!(opened.reference.as_deref(), Some("p31zjtct2jer"));
    let create = &rx.recorded()[0];
    assert_eq!(create.method, "POST");
    assert_eq!(create.uri, "/v1/pages/kctbh9vrtdwd/incidents");
    assert_eq!(
        create.header("authorization").as_deref(),
        Some(format!("OAuth {STATUSPAGE_KEY}").as_str())
    );
    assert_eq!(
        create.header("content-type").as_deref(),
        Some("application/json")
    );
    let b = create.json();
    assert_eq!(
        b["incident"]["name"],
        "fleet-api v1.5.0: error rate 7.2 % after deploy"
    );
    assert_eq!(b["incident"]["status"], "investigating");
    assert_eq!(b["incident"]["impact_override"], "critical");
    assert_eq!(
        b["incident"]["body"],
        "Rolled back to revision 41 <automatically>."
    );
    assert_eq!(b["incident"]["component_ids"][0], "8kbf7d35c070");
    assert_eq!(b["incident"]["components"]["8kbf7d35c070"], "major_outage");
    assert_eq!(b["incident"]["deliver_notifications"], true);

    let update = note(Channel::incidents(), Action::Update)
        .with_status(IncidentStatus::Monitoring)
        .with_body("A fix is deployed; we are monitoring.");
    sp.notify(&update).await.expect("updated");
    sp.notify(&note(Channel::incidents(), Action::Resolve).with_body("Resolved."))
        .await
        .expect("resolved");
    let all = rx.recorded();
    assert_eq!(all[1].method, "PATCH");
    assert_eq!(all[1].uri, "/v1/pages/kctbh9vrtdwd/incidents/p31zjtct2jer");
    assert_eq!(all[1].json()["incident"]["status"], "monitoring");
    assert_eq!(
        all[1].json()["incident"]["body"],
        "A fix is deployed; we are monitoring."
    );
    assert!(all[1].json()["incident"].get("name").is_none());
    assert_eq!(all[2].json()["incident"]["status"], "resolved");
    assert_eq!(
        all[2].json()["incident"]["components"]["8kbf7d35c070"],
        "operational"
    );

    // A second process (a resumed procedure) finds the incident through its reference.
    let resumed = statuspage(&rx);
    let without = note(Channel::incidents(), Action::Update);
    assert!(
        resumed
            .notify(&without)
            .await
            .expect_err("unknown key")
            .is_not_found()
    );
    resumed
        .notify(&without.with_reference("statuspage", "p31zjtct2jer"))
        .await
        .expect("by reference");
    assert_eq!(
        rx.recorded().last().expect("req").uri,
        "/v1/pages/kctbh9vrtdwd/incidents/p31zjtct2jer"
    );
}

#[tokio::test]
async fn statuspage_420_is_retried_after_its_retry_after() {
    let incident = r#"{"id":"p31zjtct2jer"}"#;
    let rx = Receiver::start(Answer::new(201, incident)).await;
    rx.script([Answer::new(420, "").with_header("retry-after", "1")]);
    let started = Instant::now();
    let d = statuspage(&rx)
        .notify(&note(Channel::incidents(), Action::Trigger))
        .await
        .expect("created after the 420");
    assert_eq!(d.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn webhook_posts_the_versioned_notification_with_its_headers() {
    let rx = Receiver::start(Answer::new(204, "")).await;
    let hook = WebhookNotifier::new(
        SecretUrl::parse("webhook", &rx.url("/hooks/hookSECRET?x=1")).expect("url"),
        Some(
            WebhookOptions::default()
                .with_header("Authorization", Secret::new("Bearer hookSECRET-bearer")),
        ),
    )
    .expect("webhook");
    hook.notify(&note(Channel::security(), Action::Trigger))
        .await
        .expect("delivered");
    let req = &rx.recorded()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, "/hooks/hookSECRET?x=1");
    assert_eq!(
        req.header("authorization").as_deref(),
        Some("Bearer hookSECRET-bearer")
    );
    let b = req.json();
    assert_eq!(b["schema"], "fleet-runbook/notification");
    assert_eq!(b["schema_version"], 1);
    assert_eq!(b["channel"], "security");
    assert_eq!(b["action"], "trigger");
    assert_eq!(b["severity"], "critical");
    assert_eq!(b["key"], "deploy-fleet-api-v1.5.0");
    assert_eq!(b["at"], "2026-07-16T22:14:05.25Z");
    assert_eq!(b["details"]["error_rate_percent"], 7.2);
    assert_no_secret(&format!(
        "{hook:?} {}",
        hook.target(&note(Channel::security(), Action::Post))
    ));
}

#[tokio::test]
async fn a_receiver_that_is_down_is_retried_then_reported() {
    let addr = dead_address().await;
    let url = format!("http://{addr}{SLACK_DEPLOYMENTS}");
    let s = SlackNotifier::new(
        webhooks(&[(Channel::deployments(), url)]),
        Some(SlackOptions {
            retry: quick_retry(),
            ..SlackOptions::default()
        }),
    )
    .expect("slack");
    let e = s
        .notify(&note(Channel::deployments(), Action::Post))
        .await
        .expect_err("down");
    assert!(e.is_transient(), "{e:?}");
    match &e {
        fleet_runbook::Error::Transport { attempts, .. } => assert_eq!(*attempts, 3),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert_no_secret(&format!("{e} {e:?}"));
}

#[tokio::test]
async fn rate_limited_then_accepted_honours_retry_after() {
    let rx = Receiver::start(Answer::new(200, "ok")).await;
    rx.script([Answer::new(429, r#"{"retry_after":1}"#).with_header("retry-after", "1")]);
    let started = Instant::now();
    let d = slack(&rx, quick_retry())
        .notify(&note(Channel::deployments(), Action::Post))
        .await
        .expect("delivered after the 429");
    assert_eq!(d.attempts, 2);
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(rx.recorded().len(), 2);
}

#[tokio::test]
async fn server_errors_then_accepted() {
    let rx = Receiver::start(Answer::new(202, r#"{"status":"success","dedup_key":"k"}"#)).await;
    rx.script([Answer::new(500, "rollup_error"), Answer::new(503, "")]);
    let d = pagerduty(&rx, quick_retry())
        .notify(&note(Channel::incidents(), Action::Trigger))
        .await
        .expect("delivered after two 5xx");
    assert_eq!(d.attempts, 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_not_waited_for() {
    let rx = Receiver::start(Answer::new(429, "").with_header("retry-after", "3600")).await;
    let retry = RetryOptions {
        max_retry_after: Duration::from_secs(120),
        budget: Duration::from_secs(5),
        ..quick_retry()
    };
    let started = Instant::now();
    let e = slack(&rx, retry)
        .notify(&note(Channel::deployments(), Action::Post))
        .await
        .expect_err("rate limited");
    assert!(started.elapsed() < Duration::from_secs(2), "did not sleep");
    assert!(e.is_rate_limited());
    match e {
        fleet_runbook::Error::Http {
            retry_after,
            attempts,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)));
            assert_eq!(attempts, 1);
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_long_retry_after_is_capped() {
    let rx = Receiver::start(Answer::new(200, "ok")).await;
    rx.script([Answer::new(429, "").with_header("retry-after", "3600")]);
    let retry = RetryOptions {
        max_retry_after: Duration::from_millis(300),
        ..quick_retry()
    };
    let started = Instant::now();
    slack(&rx, retry)
        .notify(&note(Channel::deployments(), Action::Post))
        .await
        .expect("delivered after the capped wait");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

fn run(mode: Mode) -> Executor {
    let context = RunContext::new("deploy", "ci@example.com", "CHG-1", mode).expect("context");
    Executor::new(context, Guards::new(Arc::new(MemoryAuditSink::new())))
}

#[tokio::test]
async fn a_failed_notification_never_fails_the_procedure() {
    let dead = dead_address().await;
    let down = SlackNotifier::new(
        webhooks(&[(
            Channel::incidents(),
            format!("http://{dead}{SLACK_INCIDENTS}"),
        )]),
        Some(SlackOptions {
            retry: RetryOptions {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(10),
                ..RetryOptions::default()
            },
            ..SlackOptions::default()
        }),
    )
    .expect("slack");
    let rx = Receiver::start(Answer::new(
        202,
        r#"{"status":"success","dedup_key":"abc"}"#,
    ))
    .await;
    let notifiers: Vec<Arc<dyn Notifier>> =
        vec![Arc::new(down), Arc::new(pagerduty(&rx, quick_retry()))];
    let r = run(Mode::Execute);
    let results = notify_all(
        &r,
        "tell",
        &notifiers,
        &note(Channel::incidents(), Action::Trigger),
    )
    .await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].notifier, "slack");
    assert!(results[0].delivery.is_none());
    assert_eq!(
        results[1]
            .delivery
            .as_ref()
            .and_then(|d| d.reference.as_deref()),
        Some("abc")
    );
    let report = Report::from_run(
        &r,
        Plan::new("deploy"),
        &Policy::default(),
        Vec::new(),
        r.now(),
    );
    assert_eq!(report.status, RunStatus::Ok, "{}", report.to_text());
    assert_eq!(report.exit_code, 0);
    assert_eq!(report.undelivered().count(), 1);
    assert_eq!(report.steps[0].step.id, "tell.slack");
    assert_no_secret(&report.to_text());
    assert_no_secret(&report.to_json());
}

#[tokio::test]
async fn a_dry_run_sends_nothing() {
    let rx = Receiver::start(Answer::new(200, "ok")).await;
    let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(slack(&rx, quick_retry()))];
    let r = run(Mode::DryRun);
    let results = notify_all(
        &r,
        "tell",
        &notifiers,
        &note(Channel::deployments(), Action::Post),
    )
    .await;
    assert!(results[0].delivery.is_none());
    assert!(rx.recorded().is_empty());
    assert_eq!(r.steps()[0].outcome, fleet_guard::StepOutcome::Planned);
}

/// Every notifier, built against `base` (a receiver or a dead address), with quick retries.
fn all_notifiers(base: &str) -> Vec<Arc<dyn Notifier>> {
    let url = |path: &str| format!("{base}{path}");
    vec![
        Arc::new(
            SlackNotifier::new(
                webhooks(&[(Channel::incidents(), url(SLACK_INCIDENTS))]),
                Some(SlackOptions {
                    retry: quick_retry(),
                    ..SlackOptions::default()
                }),
            )
            .expect("slack"),
        ),
        Arc::new(
            PagerDutyNotifier::new(
                Secret::new(ROUTING_KEY),
                Some(PagerDutyOptions {
                    retry: quick_retry(),
                    ..PagerDutyOptions::default()
                        .with_endpoint(Url::parse(&url("/v2/enqueue")).expect("url"))
                }),
            )
            .expect("pagerduty"),
        ),
        Arc::new(
            StatuspageNotifier::new(
                "kctbh9vrtdwd",
                Secret::new(STATUSPAGE_KEY),
                Some(StatuspageOptions {
                    retry: quick_retry(),
                    ..StatuspageOptions::default()
                        .with_base_url(Url::parse(&url("/v1")).expect("url"))
                }),
            )
            .expect("statuspage"),
        ),
        Arc::new(
            WebhookNotifier::new(
                SecretUrl::parse("webhook", &url("/hooks/hookSECRET")).expect("url"),
                Some(WebhookOptions {
                    retry: quick_retry(),
                    ..WebhookOptions::default()
                }),
            )
            .expect("webhook"),
        ),
    ]
}

#[tokio::test]
async fn every_vendor_retries_a_flaky_receiver_and_reports_a_dead_one() {
    let n = note(Channel::incidents(), Action::Trigger);
    // A body every vendor accepts as success: Slack reads the status only, PagerDuty and
    // Statuspage read their JSON fields.
    let ok = r#"{"status":"success","dedup_key":"deploy-fleet-api-v1.5.0","id":"p31zjtct2jer"}"#;
    for (i, notifier) in all_notifiers(&format!("http://{}", dead_address().await))
        .iter()
        .enumerate()
    {
        assert!(notifier.accepts(&n), "notifier {i}");
        let e = notifier.notify(&n).await.expect_err("nothing listens");
        assert!(e.is_transient(), "{}: {e:?}", notifier.name());
        assert_no_secret(&format!("{e} {e:?}"));
    }
    let rx = Receiver::start(Answer::new(200, ok)).await;
    for notifier in all_notifiers(&format!("http://{}", rx.addr)) {
        rx.script([
            Answer::new(429, "").with_header("retry-after", "0"),
            Answer::new(500, "internal"),
        ]);
        let before = rx.recorded().len();
        let d = notifier
            .notify(&n)
            .await
            .expect("delivered on the third attempt");
        assert_eq!(d.attempts, 3, "{}", notifier.name());
        assert_eq!(rx.recorded().len() - before, 3);
        let last = rx.recorded().pop().expect("request");
        assert_eq!(last.method, "POST", "{}", notifier.name());
        assert_eq!(
            last.header("content-type").as_deref(),
            Some("application/json")
        );
    }
}
