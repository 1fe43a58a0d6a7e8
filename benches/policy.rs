//! Benchmarks of fleet-policy: a full gate evaluation (parse, evaluate, render) and the
//! `ci_gate` process from start to exit beside a trivial process (`true`) as the floor.
//!
//! ```text
//! cargo build --release -p fleet-examples --example ci_gate
//! cargo bench -p fleet-benches --bench policy
//! ```
//! The process benchmarks need the release build of `ci_gate` and fail with a message if it is
//! missing.

use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};
use fleet_benches::{RELEASE_INPUT, SAMPLE_INPUTS, target_dir};
use fleet_policy::render::{Format, RenderOptions, render};
use fleet_policy::{Policy, gate};

fn evaluation(c: &mut Criterion) {
    let policy = Policy::default();
    let input = gate::parse_input(RELEASE_INPUT).expect("sample parses");
    let now = input.now.expect("sample pins now");
    let mut g = c.benchmark_group("gate");
    g.bench_function("parse_input(release)", |b| {
        b.iter(|| gate::parse_input(std::hint::black_box(RELEASE_INPUT)));
    });
    g.bench_function("evaluate(release)", |b| {
        b.iter(|| gate::evaluate(&policy, std::hint::black_box(&input), now));
    });
    let report = gate::evaluate(&policy, &input, now);
    for f in [Format::Text, Format::Json, Format::Sarif, Format::Junit] {
        g.bench_function(format!("render(release, {})", f.name()), |b| {
            b.iter(|| render(std::hint::black_box(&report), f, &RenderOptions::default()));
        });
    }
    g.bench_function("parse+evaluate+render sarif (all samples)", |b| {
        b.iter(|| {
            for (_, bytes) in SAMPLE_INPUTS {
                let input = gate::parse_input(bytes).expect("sample parses");
                let r = gate::evaluate(&policy, &input, input.now.unwrap_or(now));
                std::hint::black_box(render(&r, Format::Sarif, &RenderOptions::default()));
            }
        });
    });
    g.bench_function("Policy::from_toml_str(example policy)", |b| {
        b.iter(|| Policy::from_toml_str(include_str!("../examples/data/policy.toml")));
    });
    g.finish();
}

fn process(c: &mut Criterion) {
    let exe = target_dir().join("release/examples/ci_gate");
    assert!(
        exe.exists(),
        "{} is missing: run `cargo build --release -p fleet-examples --example ci_gate` first",
        exe.display()
    );
    let mut g = c.benchmark_group("process");
    g.sample_size(50);
    g.bench_function("true (floor)", |b| {
        b.iter(|| Command::new("true").status().expect("true runs"));
    });
    g.bench_function("ci_gate (embedded release input, text)", |b| {
        b.iter(|| {
            let st = Command::new(&exe)
                .stdout(Stdio::null())
                .status()
                .expect("ci_gate runs");
            assert_eq!(st.code(), Some(0));
        });
    });
    g.bench_function("ci_gate (release input, sarif)", |b| {
        b.iter(|| {
            let st = Command::new(&exe)
                .args(["--format", "sarif", "examples/data/release.json"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .stdout(Stdio::null())
                .status()
                .expect("ci_gate runs");
            assert_eq!(st.code(), Some(0));
        });
    });
    g.finish();
}

criterion_group!(benches, evaluation, process);
criterion_main!(benches);
