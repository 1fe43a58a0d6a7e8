//! Property tests of the invariants the policy promises.

use fleet_policy::config::{Band as Bounds, MetricsPolicy};
use fleet_policy::metrics::{Band, Metric, check, classify};
use fleet_policy::rollback::{self, RequestWindow};
use fleet_policy::scaling::{Sample, ScalingInput, recommend};
use fleet_policy::{Outcome, Policy};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn metrics_with(low: f64, high: f64) -> MetricsPolicy {
    let b = Bounds::new(low, high).expect("valid band");
    MetricsPolicy {
        response_time_ms: b,
        ..MetricsPolicy::default()
    }
}

proptest! {
    #[test]
    fn every_value_maps_to_exactly_one_band(low in 0.0f64..1e6, width in 0.0f64..1e6, v in 0.0f64..3e6) {
        let p = metrics_with(low, low + width);
        let band = classify(&p, Metric::ResponseTime, v).expect("finite, non-negative");
        let normal = v < low;
        let warning = low <= v && v <= low + width;
        let critical = v > low + width;
        prop_assert_eq!([normal, warning, critical].iter().filter(|b| **b).count(), 1);
        let want = if normal { Band::Normal } else if warning { Band::Warning } else { Band::Critical };
        prop_assert_eq!(band, want);
    }

    #[test]
    fn bands_are_monotone(a in 0.0f64..5000.0, b in 0.0f64..5000.0, m in 0usize..6) {
        let p = MetricsPolicy::default();
        let metric = Metric::ALL[m];
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(classify(&p, metric, lo).expect("valid") <= classify(&p, metric, hi).expect("valid"));
    }

    #[test]
    fn invalid_values_never_get_a_band(v in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), -1e9f64..-1e-9]) {
        for m in Metric::ALL {
            prop_assert!(classify(&MetricsPolicy::default(), m, v).is_err());
            prop_assert_eq!(check(&MetricsPolicy::default(), "s", m, Some(v)).outcome, Outcome::Error);
        }
    }

    #[test]
    fn raising_the_rollback_threshold_never_turns_a_rollback_on(
        requests in 0u64..100_000, err_frac in 0.0f64..1.0, t1 in 0.0f64..100.0, dt in 0.0f64..100.0,
        ratio1 in 0.0f64..5.0, dr in 0.0f64..5.0, current in 0.0f64..10_000.0, baseline in 0.0f64..10_000.0,
    ) {
        let errors = (requests as f64 * err_frac) as u64;
        let mut low = Policy::default();
        low.rollback.error_rate_percent = t1;
        low.rollback.degradation_ratio = ratio1;
        let mut high = low.clone();
        high.rollback.error_rate_percent = t1 + dt;
        high.rollback.degradation_ratio = ratio1 + dr;
        let input = rollback::RollbackInput {
            window: Some(RequestWindow { requests, errors }),
            degradation: vec![rollback::Degradation {
                metric: "p95".into(), unit: fleet_policy::Unit::Milliseconds,
                direction: rollback::Direction::HigherIsWorse, current, baseline: Some(baseline),
            }],
            ..rollback::RollbackInput::default()
        };
        let fails = |p: &Policy| -> Vec<bool> {
            rollback::evaluate(p, &input).iter().map(|f| f.outcome == Outcome::Fail).collect()
        };
        for (lo, hi) in fails(&low).into_iter().zip(fails(&high)) {
            prop_assert!(lo || !hi, "a higher threshold failed where the lower one did not");
        }
    }

    #[test]
    fn missing_data_never_passes(requests in proptest::option::of(0u64..200), present in proptest::collection::vec(any::<bool>(), 6)) {
        let p = Policy::default();
        // Missing request counts, too few requests, or missing readings: never Pass.
        let window = requests.map(|r| RequestWindow { requests: r, errors: 0 });
        let [rb, alert] = rollback::error_rate(&p, "s", window);
        if requests.is_none_or(|r| r < p.rollback.min_requests) {
            prop_assert_eq!(rb.outcome, Outcome::Inconclusive);
            prop_assert_eq!(alert.outcome, Outcome::Inconclusive);
        }
        for (m, here) in Metric::ALL.iter().zip(&present) {
            let f = check(&p.metrics, "s", *m, here.then_some(10.0));
            prop_assert_eq!(f.outcome == Outcome::Inconclusive, !here);
        }
        let empty = rollback::evaluate(&p, &rollback::RollbackInput::default());
        prop_assert!(empty.iter().all(|f| f.outcome != Outcome::Pass));
    }

    #[test]
    fn target_replicas_stay_within_bounds(
        current in 0u32..1000,
        cpu in proptest::collection::vec(0.0f64..400.0, 0..8),
        mem in proptest::collection::vec(0.0f64..400.0, 0..8),
        queue in proptest::collection::vec(0.0f64..1e6, 0..8),
        lat in proptest::collection::vec(0.0f64..10_000.0, 0..8),
        min in 1u32..20, extra in 0u32..50,
    ) {
        let now: Timestamp = "2026-05-01T12:00:00Z".parse().expect("ts");
        let series = |v: &[f64]| -> Vec<Sample> {
            v.iter().enumerate().map(|(i, &x)| Sample { at: now - SignedDuration::from_secs(30 * i as i64), value: x }).collect()
        };
        let mut p = Policy::default();
        p.scaling.replicas = fleet_policy::config::Replicas::new(min, min + extra).expect("bounds");
        let input = ScalingInput {
            deployment: "d".into(), current_replicas: current,
            cpu_percent: series(&cpu), memory_percent: series(&mem),
            queue_depth: series(&queue), response_time_ms: series(&lat), oom_killed: false,
        };
        let r = recommend(&p, &input, now);
        prop_assert!(r.target >= min && r.target <= min + extra, "{} not in {}..={}", r.target, min, min + extra);
    }
}
