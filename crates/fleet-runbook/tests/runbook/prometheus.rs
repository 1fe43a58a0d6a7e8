//! `PrometheusSource` against Debian's real `prometheus` (2.42) scraping an exporter served by
//! the test, whose counters and histogram grow by known amounts per scrape: first a baseline
//! phase, then a "bad release" phase with more errors and slower requests. Because every
//! series grows by a constant amount per scrape within a phase, Prometheus' ratios and
//! quantiles over a window inside a phase are exact, whatever its extrapolation does.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use fleet_policy::rollback::{self, Direction};
use fleet_policy::{Outcome, Policy};
use fleet_runbook::{
    LabelMatcher, LatencyUnit, MetricsSource, PromQueries, PrometheusOptions, PrometheusSource,
    Window,
};
use reqwest::Url;

/// Per scrape: requests with status 200 and 500, and latency observations per bucket
/// (cumulative, le = 0.1, 0.25, 0.5, 1, +Inf).
struct Phase {
    ok: u64,
    failed: u64,
    buckets: [u64; 5],
}

const BASELINE: Phase = Phase {
    ok: 100,
    failed: 1,
    buckets: [50, 90, 99, 100, 100],
};
const BAD: Phase = Phase {
    ok: 100,
    failed: 10,
    buckets: [10, 40, 80, 100, 100],
};
const LE: [&str; 5] = ["0.1", "0.25", "0.5", "1", "+Inf"];

#[derive(Default)]
struct Exporter {
    bad: AtomicBool,
    scrapes: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    buckets: [AtomicU64; 5],
}

async fn metrics(State(e): State<Arc<Exporter>>) -> String {
    let phase = if e.bad.load(Ordering::SeqCst) {
        &BAD
    } else {
        &BASELINE
    };
    let n = e.scrapes.fetch_add(1, Ordering::SeqCst) + 1;
    let ok = e.ok.fetch_add(phase.ok, Ordering::SeqCst) + phase.ok;
    let failed = e.failed.fetch_add(phase.failed, Ordering::SeqCst) + phase.failed;
    let mut out = String::from("# TYPE http_requests_total counter\n");
    out.push_str(&format!(
        "http_requests_total{{service=\"fleet-api\",status=\"200\"}} {ok}\n"
    ));
    out.push_str(&format!(
        "http_requests_total{{service=\"fleet-api\",status=\"500\"}} {failed}\n"
    ));
    // Another service, which the label matcher must keep out.
    out.push_str(&format!(
        "http_requests_total{{service=\"other\",status=\"503\"}} {}\n",
        n * 1000
    ));
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    for (i, le) in LE.iter().enumerate() {
        let v = e.buckets[i].fetch_add(phase.buckets[i], Ordering::SeqCst) + phase.buckets[i];
        out.push_str(&format!(
            "http_request_duration_seconds_bucket{{service=\"fleet-api\",le=\"{le}\"}} {v}\n"
        ));
    }
    let count = e.buckets[4].load(Ordering::SeqCst);
    out.push_str(&format!(
        "http_request_duration_seconds_sum{{service=\"fleet-api\"}} {}\n",
        count / 4
    ));
    out.push_str(&format!(
        "http_request_duration_seconds_count{{service=\"fleet-api\"}} {count}\n"
    ));
    out
}

fn prometheus_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FLEET_PROMETHEUS") {
        return PathBuf::from(p);
    }
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let candidate = dir.join("prometheus");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "Debian's `prometheus` is needed (apt-get install prometheus; scripts/test installs it), or set FLEET_PROMETHEUS"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[tokio::test]
async fn prometheus_source_against_debian_prometheus() {
    let bin = prometheus_binary();
    // The exporter.
    let exporter = Arc::new(Exporter::default());
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(exporter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = listener.local_addr().expect("addr");
    let serving = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    // The server.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: fleet-api\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config");
    let port = free_port();
    let mut server = tokio::process::Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "prometheus did not become ready");
    while exporter.scrapes.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Baseline phase, then the bad release.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let switch = jiff::Timestamp::now();
    exporter.bad.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let end = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ms = |n: i64| jiff::SignedDuration::from_millis(n);
    let baseline = Window::new(switch - ms(4200), switch - ms(100)).expect("baseline");
    let current = Window::new(switch + ms(100), end).expect("current");

    let url = Url::parse(&base).expect("url");
    let source = PrometheusSource::new(
        url.clone(),
        Some(
            PrometheusOptions::default()
                .with_matcher(LabelMatcher::eq("service", "fleet-api").expect("matcher")),
        ),
    )
    .expect("source");
    let c = source.compare(current, baseline).await.expect("compare");
    let b = c.baseline.as_ref().expect("baseline");

    // Error share and quantiles are exact; counts are Prometheus' extrapolated increase.
    let base_rate = b.error_rate_percent().expect("baseline rate");
    assert!(
        (base_rate - 100.0 / 101.0).abs() < 0.3,
        "rounded counts: {b:?}"
    );
    assert!(
        (300..=500).contains(&b.requests),
        "about 4 s of 101 a second: {b:?}"
    );
    assert!(
        (400..=650).contains(&c.current.requests),
        "about 5 s of 110 a second: {:?}",
        c.current
    );
    let rate = c.current.error_rate_percent().expect("rate");
    assert!(
        (rate - 100.0 * 10.0 / 110.0).abs() < 0.6,
        "rounded counts: {rate}"
    );
    let l = c.current.latency;
    assert!(close(l.p50_ms.expect("p50"), 312.5), "{l:?}");
    assert!(close(l.p95_ms.expect("p95"), 875.0), "{l:?}");
    assert!(close(l.p99_ms.expect("p99"), 975.0), "{l:?}");
    let bl = b.latency;
    assert!(close(bl.p50_ms.expect("p50"), 100.0), "{bl:?}");
    assert!(
        close(bl.p95_ms.expect("p95"), 250.0 + 250.0 * 5.0 / 9.0),
        "{bl:?}"
    );
    assert!(close(bl.p99_ms.expect("p99"), 500.0), "{bl:?}");
    assert!(c.current.warnings.is_empty(), "{:?}", c.current.warnings);

    // fleet-policy judges: 9.1 % errors and p95 +125 % both call for a rollback.
    let findings = rollback::evaluate(&Policy::default(), &c.rollback_input("fleet-api v1.5.0"));
    assert!(rollback::rollback_required(&findings));
    let deg = findings
        .iter()
        .find(|f| f.rule == "rollback.degradation")
        .expect("deg");
    assert_eq!(deg.outcome, Outcome::Fail);
    assert_eq!(c.degradation()[0].direction, Direction::HigherIsWorse);

    // A range query: p95 over the bad phase, every second, each point over 2 s.
    let late = Window::new(switch + ms(2600), end).expect("late");
    let samples = source
        .latency_samples(late, Duration::from_secs(1), Duration::from_secs(2), 0.95)
        .await
        .expect("range");
    assert!(samples.len() >= 2, "{samples:?}");
    assert!(samples.iter().all(|s| close(s.value, 875.0)), "{samples:?}");

    // No matcher: the other service's 503s are counted too (and the empty `$matchers`
    // leaves a trailing comma in `{status=~"5..",}`, which PromQL accepts).
    let all = PrometheusSource::new(url.clone(), None).expect("source");
    let everything = all.request_metrics(current).await.expect("unfiltered");
    assert!(everything.errors > 10 * c.current.errors, "{everything:?}");

    // A metric nobody exports: no requests, said so, never a pass by default.
    let missing = PrometheusSource::new(
        url.clone(),
        Some(PrometheusOptions::default().with_queries(
            PromQueries::new(
                "sum(increase(nope_total{$matchers}[$window]))",
                "sum(increase(nope_total{code=~\"5..\",$matchers}[$window]))",
                "histogram_quantile($quantile, sum by (le) (rate(nope_bucket{$matchers}[$window])))",
                LatencyUnit::Seconds,
            )
            .expect("queries"),
        )),
    )
    .expect("source");
    let m = missing.request_metrics(current).await.expect("empty");
    assert_eq!((m.requests, m.errors, m.latency.p95_ms), (0, 0, None));
    assert!(
        m.warnings
            .iter()
            .any(|w| w.contains("requests query matched no series")),
        "{m:?}"
    );

    // Prometheus refuses a malformed query: its bad_data is an invalid-input error.
    let broken = PrometheusSource::new(
        url.clone(),
        Some(
            PrometheusOptions::default().with_queries(
                PromQueries::new(
                    "sum(increase(http_requests_total{$matchers}[$window])",
                    "sum(increase(http_requests_total{$matchers}[$window]))",
                    "histogram_quantile($quantile, x[$window])",
                    LatencyUnit::Seconds,
                )
                .expect("queries"),
            ),
        ),
    )
    .expect("source");
    let e = broken.request_metrics(current).await.expect_err("bad_data");
    assert!(e.is_invalid_input(), "{e:?}");
    assert!(
        matches!(&e, fleet_runbook::Error::Query { error_type, .. } if error_type == "bad_data")
    );

    // A query that is not aggregated to one series is refused, not summed silently.
    let per_status = PrometheusSource::new(
        url.clone(),
        Some(
            PrometheusOptions::default().with_queries(
                PromQueries::new(
                    "increase(http_requests_total{$matchers}[$window])",
                    "sum(increase(http_requests_total{status=~\"5..\",$matchers}[$window]))",
                    PromQueries::default().latency.as_str(),
                    LatencyUnit::Seconds,
                )
                .expect("queries"),
            ),
        ),
    )
    .expect("source");
    let e = per_status
        .request_metrics(current)
        .await
        .expect_err("two series");
    assert!(e.to_string().contains("aggregate"), "{e}");

    // Too many points for Prometheus is refused before sending.
    let day = Window::ending_at(end, Duration::from_secs(86_400)).expect("day");
    let e = source
        .range("up", day, Duration::from_secs(1))
        .await
        .expect_err("too many points");
    assert!(e.is_invalid_input());

    server.start_kill().expect("stop prometheus");
    let _ = server.wait().await;
    serving.abort();
}
