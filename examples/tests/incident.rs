//! Runs the `incident` and `perf_triage` examples as processes against FakeCluster: an
//! incident opened, assessed, rolled back with the confirmation word and its audit log,
//! written up; an assessment with Application Insights failures (AzureReplay over HTTPS, the
//! real credential chain); a triage naming the crash loop and scaling within the policy's
//! bounds; and the common-issues diagnoses naming a slow page's size, missing compression and
//! cache headers.
//! Built with `--features incident`.
#![cfg(feature = "incident")]

mod support;

use std::process::Output;
use std::time::Duration;

use fleet_testkit::azure::AzureReplay;
use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_NAMESPACE, FakeCluster, Scenario};

const BAD: &str = "registry.example.com/fleet/fleet-api:1.5.0";

async fn run(c: &FakeCluster, name: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(support::exe(name))
        .args(args)
        .env("KUBECONFIG", c.kubeconfig_path())
        .env("USER", "oncall")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("example runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn bad_deploy() -> FakeCluster {
    let c = FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("cluster");
    c.set_scenario(
        BAD,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    let mut k = tokio::process::Command::from(c.kubectl());
    let ok = k
        .args([
            "-n",
            FLEET_NAMESPACE,
            "set",
            "image",
            "deployment/fleet-api",
            &format!("fleet-api={BAD}"),
        ])
        .output()
        .await
        .expect("kubectl");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    for _ in 0..100 {
        let crashing = c
            .store()
            .list("pods", Some(FLEET_NAMESPACE))
            .iter()
            .any(|p| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "CrashLoopBackOff"
            });
        if crashing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c
}

fn image(c: &FakeCluster) -> String {
    let d = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("deployment");
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image")
        .to_owned()
}

#[tokio::test]
async fn an_incident_from_open_to_post_mortem_through_the_binary() {
    let c = bad_deploy().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let records = dir.path().join("records");
    let audit = dir.path().join("audit.jsonl");
    let r: &'static str = Box::leak(records.to_str().expect("utf8").to_owned().into_boxed_str());
    let a: &'static str = Box::leak(audit.to_str().expect("utf8").to_owned().into_boxed_str());
    let base = ["--records", r, "--id", "INC-1"];
    let step = |extra: &[&'static str]| -> Vec<&'static str> { [&base[..], extra].concat() };

    let open = run(
        &c,
        "incident",
        &[
            &step(&["open", "--title", "fleet-api down", "--severity", "p0"])[..],
            &["--audit-log", a],
        ]
        .concat(),
    )
    .await;
    assert!(open.status.code().is_some(), "{}", text(&open.stderr));
    assert!(records.join("incident-INC-1.json").exists());

    let assess = run(&c, "incident", &step(&["assess", "--output", "json"])).await;
    assert!(
        text(&assess.stdout).contains("\"procedure\": \"incident\"")
            || text(&assess.stdout).contains("\"procedure\":\"incident\""),
        "{}",
        text(&assess.stdout)
    );
    let md = std::fs::read_to_string(records.join("INC-1-evidence.md")).expect("evidence markdown");
    assert!(md.contains("CrashLoopBackOff"), "{md}");
    assert!(records.join("INC-1-evidence.json").exists());

    let shown = run(&c, "incident", &step(&["mitigate"])).await;
    assert!(
        text(&shown.stdout).contains("recent deployment: roll fleet-api back to revision 1"),
        "{}",
        text(&shown.stdout)
    );

    let refused = run(
        &c,
        "incident",
        &[
            &step(&["mitigate", "--apply", "rollback", "--confirm", "NOPE"])[..],
            &["--audit-log", a],
        ]
        .concat(),
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert_eq!(image(&c), BAD);
    let done = run(
        &c,
        "incident",
        &[
            &step(&["mitigate", "--apply", "rollback", "--confirm", "ROLLBACK"])[..],
            &["--audit-log", a],
        ]
        .concat(),
    )
    .await;
    assert!(
        text(&done.stdout).contains("rollout-undo"),
        "{}",
        text(&done.stdout)
    );
    assert_eq!(image(&c), FLEET_API_IMAGE);

    let pm = dir.path().join("pm.md");
    let pm_path: &'static str = Box::leak(pm.to_str().expect("utf8").to_owned().into_boxed_str());
    let out = run(
        &c,
        "incident",
        &[
            &step(&["postmortem", "--out", pm_path])[..],
            &["--audit-log", a],
        ]
        .concat(),
    )
    .await;
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    let doc = std::fs::read_to_string(&pm).expect("post-mortem");
    for part in [
        "# Post-mortem: INC-1 fleet-api down",
        "rollout-undo succeeded",
        "audit intent",
        "## Root cause",
    ] {
        assert!(doc.contains(part), "{part:?} not in\n{doc}");
    }
    let missing = run(
        &c,
        "incident",
        &["--records", r, "--id", "INC-404", "assess"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("INC-404"));
}

#[tokio::test]
async fn perf_triage_names_the_crash_loop_and_scales_within_bounds() {
    let c = bad_deploy().await;
    let read = run(&c, "perf_triage", &[]).await;
    assert!(
        text(&read.stderr).contains("is crash looping"),
        "{}",
        text(&read.stderr)
    );
    let scaled = run(&c, "perf_triage", &["--scale", "50", "--confirm", "SCALE"]).await;
    assert_eq!(
        scaled.status.code(),
        Some(0),
        "{}{}",
        text(&scaled.stdout),
        text(&scaled.stderr)
    );
    let d = c
        .store()
        .get("deployments", FLEET_NAMESPACE, "fleet-api")
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 10);
}

/// A frontend that takes 600 ms to send a 2 MiB script, uncompressed and without cache
/// headers; its URL.
async fn heavy_bundle() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (kind, extra, body): (&str, &str, Vec<u8>) = match path.as_str() {
                    // A heavy script, neither compressed nor cacheable.
                    "/static/app.js" => ("application/javascript", "", vec![b'x'; 2 * 1024 * 1024]),
                    // A small style sheet with a cache header.
                    "/static/app.css" => (
                        "text/css",
                        "cache-control: max-age=86400\r\n",
                        vec![b'y'; 4096],
                    ),
                    // The page: slow to answer, then its assets.
                    _ => {
                        tokio::time::sleep(Duration::from_millis(600)).await;
                        let html = "<!doctype html><html><head><link rel=\"stylesheet\" href=\"/static/app.css\"><script src=\"/static/app.js\" defer></script></head><body>fleet</body></html>";
                        ("text/html", "", html.as_bytes().to_vec())
                    }
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn perf_triage_issues_names_a_slow_pages_size_compression_and_cache_headers() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("cluster");
    let page = heavy_bundle().await;
    let out = run(
        &c,
        "perf_triage",
        &["issues", "--page", &page, "--output", "json"],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("SlowPage at {page}:")), "{stderr}");
    let script = format!("{page}static/app.js");
    for seen in [
        "seen: page load: the page and 2 scripts and style sheets, 2052 KiB in ".to_owned(),
        "seen: the page is heavy (2052 KiB with its assets)".to_owned(),
        "seen: not compressed".to_owned(),
        format!("seen: 2 assets not compressed, the largest {script} (2048 KiB)"),
        "seen: no Cache-Control and no CDN cache header".to_owned(),
        "seen: 1 assets without Cache-Control or a CDN cache header".to_owned(),
        "do:   enable code splitting and optimize images".to_owned(),
        "do:   enable gzip or brotli compression".to_owned(),
        "do:   add CDN caching and cache headers for static assets".to_owned(),
    ] {
        assert!(stderr.contains(&seen), "{seen}: {stderr}");
    }
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json report");
    assert_eq!(report["procedure"], "common-issues");
    let timing = report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "metrics.response-time")
        .expect("the page was judged")
        .clone();
    assert_eq!(timing["outcome"], "warn", "{timing}");
}

/// A query answer of the Application Insights API: one table of `columns` and `rows`.
fn table(columns: &[(&str, &str)], rows: serde_json::Value) -> serde_json::Value {
    let columns: Vec<serde_json::Value> = columns
        .iter()
        .map(|(name, kind)| serde_json::json!({"name": name, "type": kind}))
        .collect();
    serde_json::json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assessment_includes_app_insights_failures_when_an_application_is_given() {
    let c = bad_deploy().await;
    let replay = AzureReplay::start().await.expect("replay");
    replay.set_query_result(
        "requests\n| where",
        table(
            &[
                ("total", "long"),
                ("failed", "long"),
                ("p50", "real"),
                ("p95", "real"),
                ("p99", "real"),
            ],
            serde_json::json!([[12000, 720, 41.5, 950.25, 1480.0]]),
        ),
    );
    replay.set_query_result(
        "exceptions\n| where",
        table(
            &[
                ("problemId", "string"),
                ("exceptionType", "string"),
                ("message", "string"),
                ("n", "long"),
            ],
            serde_json::json!([[
                "TimeoutException at Payments.Charge",
                "System.TimeoutException",
                "payments timed out; token=abc123secret",
                57
            ]]),
        ),
    );
    replay.set_query_result(
        "dependencies\n| where",
        table(
            &[
                ("target", "string"),
                ("dependencyType", "string"),
                ("name", "string"),
                ("calls", "long"),
                ("failed", "long"),
                ("p95", "real"),
                ("avg", "real"),
            ],
            serde_json::json!([[
                "payments.example.com",
                "HTTP",
                "POST /charge",
                900,
                45,
                5000.0,
                2100.0
            ]]),
        ),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, replay.ca_certificate_pem()).expect("ca");
    let records = dir.path().join("records");
    let app = "7a1c9e2d-4b3f-4e8a-9c61-2f5d8b0a4e17";
    let incident = |args: &[&str]| {
        let mut command = tokio::process::Command::new(support::exe("incident"));
        for (name, _) in std::env::vars() {
            if name.starts_with("AZURE")
                || name.starts_with("FLEET_")
                || name.starts_with("IDENTITY_")
            {
                command.env_remove(name);
            }
        }
        command
            .arg("--records")
            .arg(&records)
            .args(["--id", "INC-7"])
            .args(args)
            .env("KUBECONFIG", c.kubeconfig_path())
            .env("USER", "oncall")
            .env("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
            .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
            .env("AZURE_CLIENT_SECRET", "s3cret-value")
            .env("AZURE_AUTHORITY_HOST", replay.base_url())
            .env("FLEET_AZURE_APP_INSIGHTS_ENDPOINT", replay.base_url())
            .env("FLEET_AZURE_CA_CERT", &ca)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
    };
    let open = incident(&["open", "--title", "fleet-api errors", "--severity", "p1"])
        .await
        .expect("open");
    assert!(
        records.join("incident-INC-7.json").exists(),
        "{}",
        text(&open.stderr)
    );
    let assess = incident(&["assess", "--app-insights-app-id", app])
        .await
        .expect("assess");
    let stdout = text(&assess.stdout);
    assert!(
        stdout.contains("succeeded app-insights-failures"),
        "{stdout}{}",
        text(&assess.stderr)
    );
    let md = std::fs::read_to_string(records.join("INC-7-evidence.md")).expect("markdown");
    assert!(md.contains("## Application Insights failures"), "{md}");
    assert!(
        md.contains("App Insights: 720 of 12000 requests failed (6.0 %)"),
        "{md}"
    );
    assert!(
        md.contains("dependency HTTP POST /charge on payments.example.com: 45 of 900 calls failed"),
        "{md}"
    );
    let json = std::fs::read_to_string(records.join("INC-7-evidence.json")).expect("json");
    let bundle: serde_json::Value = serde_json::from_str(&json).expect("bundle");
    assert_eq!(bundle["failures"]["requests"]["failed"], 720, "{json}");
    for out in [&md, &json, &stdout] {
        assert!(
            !out.contains("abc123secret"),
            "exception messages are redacted"
        );
        assert!(!out.contains("s3cret-value"));
    }
    let queries: Vec<_> = replay
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == format!("/v1/apps/{app}/query"))
        .collect();
    assert_eq!(queries.len(), 3, "one query per table");
}
