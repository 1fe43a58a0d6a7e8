//! fleet-azure: the overhead of following a long-running operation through azure_core's
//! `Poller` (this crate's ARM callback) against plain requests over the same pipeline, and
//! parsing a 10,000-row Log Analytics result.
//!
//! Run: `cargo bench -p fleet-benches --bench azure`

use criterion::{Criterion, criterion_group, criterion_main};
use fleet_azure::{
    ArmClient, ArmClientOptions, BeginOptions, PollSettings, QueryResult, RestoreRequest,
    RetrySettings, ServerRestore, parse_dependencies,
};
use fleet_testkit::azure::{AzureReplay, OperationPlan, RESOURCE_GROUP, SERVER, SUBSCRIPTION_ID};
use futures::TryStreamExt;
use serde_json::json;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const POLLS: u32 = 10;

fn lro(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        return;
    };
    let Ok(replay) = rt.block_on(AzureReplay::start()) else {
        return;
    };
    replay.set_operation_plan(OperationPlan {
        in_progress_polls: POLLS,
        ..OperationPlan::default()
    });
    let mut options = ArmClientOptions {
        polling: PollSettings {
            default_interval: Duration::ZERO,
            min_interval: Duration::ZERO,
            max_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(60),
        },
        ..ArmClientOptions::default()
    };
    options.client_options.transport = Some(replay.transport());
    options.client_options.retry = RetrySettings::fast_for_tests(0).into();
    let Ok(client) = ArmClient::new(replay.base_url(), replay.credential(), Some(options))
        .and_then(|arm| arm.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER))
    else {
        return;
    };
    let Ok(now) = "2025-06-01T18:35:22.123456Z".parse::<jiff::Timestamp>() else {
        return;
    };
    let counter = AtomicU64::new(0);

    let mut group = c.benchmark_group("azure_lro");
    group.sample_size(30);
    // Only the polling is timed: POLLS in-progress polls plus the final one, read from the
    // Poller's stream up to its terminal status (the final read of the server is not timed).
    group.bench_function("poller_wait_11_polls", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let request = RestoreRequest::new(&format!("bench-{n}"), now);
                    let options = Some(BeginOptions::default());
                    let Ok(mut poller) =
                        client.begin_point_in_time_restore(&request, options).await
                    else {
                        continue;
                    };
                    let start = Instant::now();
                    let mut polls = 0;
                    while let Ok(Some(status)) = poller.try_next().await {
                        let Ok(status) = status.into_model() else {
                            break;
                        };
                        polls = status.polls;
                        if status.status.is_terminal() {
                            break;
                        }
                    }
                    total += start.elapsed();
                    black_box(polls);
                }
                total
            })
        });
    });
    // The same number of GETs through the same pipeline, parsed into a ServerInfo.
    group.bench_function("plain_get_x11", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..=POLLS {
                        black_box(client.get_server(SERVER, None).await.is_ok());
                    }
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

fn ten_thousand_rows() -> Vec<u8> {
    // Numbers as strings, as the Log Analytics API sends them, and some nulls.
    let rows: Vec<_> = (0..10_000)
        .map(|i| {
            json!([
                format!("db-{}.postgres.database.azure.com", i % 17),
                if i % 3 == 0 { "SQL" } else { "HTTP" },
                format!("operation {i}"),
                (1000 + i).to_string(),
                (i % 7).to_string(),
                if i % 101 == 0 {
                    serde_json::Value::Null
                } else {
                    json!(format!("{}.25", i % 900))
                },
                json!(format!("{}.5", i % 300)),
            ])
        })
        .collect();
    let columns = [
        ("target", "string"),
        ("dependencyType", "string"),
        ("name", "string"),
        ("calls", "long"),
        ("failed", "long"),
        ("p95", "real"),
        ("avg", "real"),
    ]
    .map(|(n, t)| json!({"name": n, "type": t}));
    json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
        .to_string()
        .into_bytes()
}

fn parse(c: &mut Criterion) {
    let body = ten_thousand_rows();
    let mut group = c.benchmark_group("azure_query_parse");
    group.throughput(criterion::Throughput::Bytes(body.len() as u64));
    group.bench_function("from_slice_10k_rows", |b| {
        b.iter(|| black_box(QueryResult::from_slice(black_box(&body)).is_ok()));
    });
    group.bench_function("from_slice_and_typed_rows_10k", |b| {
        b.iter(|| {
            let parsed =
                QueryResult::from_slice(black_box(&body)).and_then(|r| parse_dependencies(&r));
            black_box(parsed.map(|d| d.len()).unwrap_or(0))
        });
    });
    group.finish();
}

criterion_group!(benches, lro, parse);
criterion_main!(benches);
