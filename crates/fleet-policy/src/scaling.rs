//! "Scaling Guidelines": when to scale, and to how many replicas.
//!
//! - "Sustained" means every sample in the last `window` (5 min) is above the threshold, with
//!   at least `min_samples` (3) samples; fewer samples is Inconclusive.
//! - Scale out when CPU `> 70 %` sustained, memory `> 80 %` sustained, the request queue is
//!   growing (a positive least-squares slope over the window and a net increase), or p95
//!   response time `> 2 s` sustained.
//! - The target follows the HPA rule `ceil(current * observed / target)` for CPU (target 70 %)
//!   and memory (target 80 %), the larger winning; at least `current + 1` when the queue or
//!   latency triggered; always clamped to `[min, max]` = `[3, 10]`.
//! - Scale in only when every supplied signal was below its threshold for the whole window,
//!   using the highest sample of the window (as the HPA's scale-down stabilisation does), never
//!   below `min`; without a CPU or memory series there is nothing to size by, so hold.
//! - Only supplied series decide. A series left empty is [`Signal::NotProvided`]: it gets no
//!   finding of its own and the `scaling.replicas` finding lists it as not judged. A series
//!   that was supplied but has too few samples in the window (or an invalid one) makes the
//!   recommendation Inconclusive, naming the series and its count. With no series at all there
//!   is nothing to judge: Inconclusive.
//!
//! ```
//! use fleet_policy::scaling::{recommend, Sample, ScalingInput, Direction};
//! use fleet_policy::Policy;
//! use jiff::Timestamp;
//!
//! let now: Timestamp = "2026-05-01T12:00:00Z".parse()?;
//! let cpu = [90.0, 92.0, 95.0]
//!     .iter()
//!     .enumerate()
//!     .map(|(i, &v)| Sample { at: now - jiff::SignedDuration::from_mins(2 * i as i64), value: v })
//!     .collect();
//! let input = ScalingInput { deployment: "fleet-api".into(), current_replicas: 3, cpu_percent: cpu, ..ScalingInput::default() };
//! let rec = recommend(&Policy::default(), &input, now);
//! assert_eq!(rec.direction, Direction::Out);
//! assert_eq!(rec.target, 4); // ceil(3 * 90 / 70)
//! # Ok::<(), jiff::Error>(())
//! ```

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Policy;
use crate::config::{ResourceStep, fmt_duration};
use crate::finding::{Finding, Operator, Outcome, Quantity, Section, Unit};

/// One reading at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// When.
    pub at: Timestamp,
    /// The reading.
    pub value: f64,
}

/// A deployment's recent readings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingInput {
    /// The deployment (`fleet-api`).
    pub deployment: String,
    /// Replicas now.
    pub current_replicas: u32,
    /// Average CPU utilization across pods, percent of requests.
    #[serde(default)]
    pub cpu_percent: Vec<Sample>,
    /// Average memory utilization across pods, percent.
    #[serde(default)]
    pub memory_percent: Vec<Sample>,
    /// Request queue depth, items.
    #[serde(default)]
    pub queue_depth: Vec<Sample>,
    /// p95 response time, ms.
    #[serde(default)]
    pub response_time_ms: Vec<Sample>,
    /// Whether a container was recently OOMKilled (vertical scaling is then recommended).
    #[serde(default)]
    pub oom_killed: bool,
}

/// What a signal's samples over the window say.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Signal {
    /// Every sample is above the threshold (or, for the queue, it is growing).
    Triggered {
        /// The newest sample.
        last: f64,
    },
    /// Every sample is at or below the threshold (or, for the queue, it is not growing).
    Below {
        /// The highest sample.
        max: f64,
    },
    /// Some above, some not.
    Mixed {
        /// The newest sample.
        last: f64,
    },
    /// The series was supplied, but with too few samples in the window.
    Insufficient {
        /// How many there were.
        count: usize,
    },
    /// A sample was NaN, infinite or negative.
    Invalid,
    /// The series was not supplied at all (an empty list): the signal is not judged and does
    /// not decide the recommendation.
    NotProvided,
}

impl Signal {
    /// Whether the series was supplied.
    pub fn is_provided(&self) -> bool {
        !matches!(self, Signal::NotProvided)
    }
}

/// The names of the four signals, in the order of [`Recommendation::signals`].
pub const SIGNAL_NAMES: [&str; 4] = ["cpu", "memory", "queue", "latency"];

fn in_window(samples: &[Sample], window: SignedDuration, now: Timestamp) -> Vec<Sample> {
    let from = now.saturating_sub(window).unwrap_or(Timestamp::MIN);
    let mut v: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at > from && s.at <= now)
        .collect();
    v.sort_by_key(|s| s.at);
    v
}

/// Whether a signal is sustained above `threshold` over the window ending at `now`.
///
/// An empty series is [`Signal::NotProvided`]; a series whose samples are all outside the
/// window, or fewer than `min_samples`, is [`Signal::Insufficient`].
pub fn sustained(
    samples: &[Sample],
    threshold: f64,
    window: SignedDuration,
    min_samples: usize,
    now: Timestamp,
) -> Signal {
    if samples.is_empty() {
        return Signal::NotProvided;
    }
    let w = in_window(samples, window, now);
    if w.iter().any(|s| !s.value.is_finite() || s.value < 0.0) {
        return Signal::Invalid;
    }
    if w.len() < min_samples.max(1) {
        return Signal::Insufficient { count: w.len() };
    }
    let last = w[w.len() - 1].value;
    let max = w.iter().map(|s| s.value).fold(f64::MIN, f64::max);
    if w.iter().all(|s| s.value > threshold) {
        Signal::Triggered { last }
    } else if w.iter().all(|s| s.value <= threshold) {
        Signal::Below { max }
    } else {
        Signal::Mixed { last }
    }
}

/// Least-squares slope of a series, in units per minute; `None` with fewer than two distinct
/// instants.
pub fn slope_per_minute(samples: &[Sample]) -> Option<f64> {
    let first = samples.first()?.at;
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.at.duration_since(first).as_secs_f64() / 60.0, s.value))
        .collect();
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// Whether the queue is growing over the window: positive slope and a net increase. An empty
/// series is [`Signal::NotProvided`]; at least two samples are needed in the window.
pub fn queue_growing(
    samples: &[Sample],
    window: SignedDuration,
    min_samples: usize,
    now: Timestamp,
) -> (Signal, Option<f64>) {
    if samples.is_empty() {
        return (Signal::NotProvided, None);
    }
    let w = in_window(samples, window, now);
    if w.iter().any(|s| !s.value.is_finite() || s.value < 0.0) {
        return (Signal::Invalid, None);
    }
    if w.len() < min_samples.max(2) {
        return (Signal::Insufficient { count: w.len() }, None);
    }
    let slope = slope_per_minute(&w);
    let (first, last) = (w[0].value, w[w.len() - 1].value);
    let max = w.iter().map(|s| s.value).fold(f64::MIN, f64::max);
    match slope {
        Some(m) if m > 0.0 && last > first => (Signal::Triggered { last }, slope),
        _ => (Signal::Below { max }, slope),
    }
}

/// Scale out, in, or hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Add replicas.
    Out,
    /// Remove replicas.
    In,
    /// Keep the count.
    Hold,
    /// Not enough data to say.
    Unknown,
}

/// A replica recommendation with its reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Replicas now.
    pub current: u32,
    /// Recommended replicas, always within `[min, max]`.
    pub target: u32,
    /// Which way.
    pub direction: Direction,
    /// The bound that clamped the target, if one did.
    pub clamped_to: Option<u32>,
    /// Why, one line per signal.
    pub reasons: Vec<String>,
    /// Per-signal state: cpu, memory, queue, latency ([`SIGNAL_NAMES`]).
    pub signals: [Signal; 4],
}

impl Recommendation {
    /// The signals whose series was not supplied, by name (`"queue"`, `"latency"`).
    pub fn not_provided(&self) -> Vec<&'static str> {
        SIGNAL_NAMES
            .into_iter()
            .zip(self.signals)
            .filter(|(_, s)| !s.is_provided())
            .map(|(n, _)| n)
            .collect()
    }
}

fn hpa(current: u32, observed: f64, target: f64) -> u32 {
    let t = (f64::from(current) * observed / target).ceil();
    if t.is_finite() && t > 0.0 {
        t.min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

/// Recommends a replica count from the signals at `now`.
pub fn recommend(policy: &Policy, input: &ScalingInput, now: Timestamp) -> Recommendation {
    let p = &policy.scaling;
    let current = input.current_replicas;
    let cpu = sustained(
        &input.cpu_percent,
        p.cpu_percent,
        p.window,
        p.min_samples,
        now,
    );
    let mem = sustained(
        &input.memory_percent,
        p.memory_percent,
        p.window,
        p.min_samples,
        now,
    );
    let (queue, slope) = queue_growing(&input.queue_depth, p.window, p.min_samples, now);
    let lat = sustained(
        &input.response_time_ms,
        p.response_time_ms,
        p.window,
        p.min_samples,
        now,
    );
    let signals = [cpu, mem, queue, lat];
    let cpu_target = f64::from(p.hpa_cpu_target_percent.max(1));
    let mem_target = p.memory_percent.max(1.0);

    let mut reasons = Vec::new();
    let mut want_out: Option<u32> = None;
    let mut bump = |n: u32, why: String, reasons: &mut Vec<String>| {
        want_out = Some(want_out.map_or(n, |w| w.max(n)));
        reasons.push(why);
    };
    if let Signal::Triggered { last } = cpu {
        let n = hpa(current, last, cpu_target);
        bump(
            n,
            format!(
                "CPU {last:.0} % sustained above {:.0} %: ceil({current} x {last:.0} / {cpu_target:.0}) = {n}",
                p.cpu_percent
            ),
            &mut reasons,
        );
    }
    if let Signal::Triggered { last } = mem {
        let n = hpa(current, last, mem_target);
        bump(
            n,
            format!(
                "memory {last:.0} % sustained above {:.0} %: ceil({current} x {last:.0} / {mem_target:.0}) = {n}",
                p.memory_percent
            ),
            &mut reasons,
        );
    }
    if let Signal::Triggered { last } = queue {
        bump(
            current.saturating_add(1),
            format!(
                "request queue growing ({:.1} items/min, now {last:.0})",
                slope.unwrap_or(0.0)
            ),
            &mut reasons,
        );
    }
    if let Signal::Triggered { last } = lat {
        bump(
            current.saturating_add(1),
            format!(
                "p95 {last:.0} ms sustained above {:.0} ms",
                p.response_time_ms
            ),
            &mut reasons,
        );
    }

    let bounds = p.replicas;
    let provided = || signals.iter().filter(|s| s.is_provided());
    let unjudgeable: Vec<String> = SIGNAL_NAMES
        .into_iter()
        .zip(signals)
        .filter_map(|(name, s)| match s {
            Signal::Insufficient { count } => Some(format!(
                "{name}: {count} sample{} in the last {} (need {})",
                if count == 1 { "" } else { "s" },
                fmt_duration(p.window),
                if name == "queue" {
                    p.min_samples.max(2)
                } else {
                    p.min_samples.max(1)
                }
            )),
            Signal::Invalid => Some(format!("{name}: a negative or non-finite sample")),
            _ => None,
        })
        .collect();
    let (raw, direction) = if let Some(n) = want_out {
        (n.max(current.saturating_add(1)), Direction::Out)
    } else if provided().next().is_none() {
        reasons.push("no signal series supplied: nothing to judge".into());
        (current, Direction::Unknown)
    } else if !unjudgeable.is_empty() {
        reasons.push(format!(
            "not enough valid samples to judge {}",
            unjudgeable.join(", ")
        ));
        (current, Direction::Unknown)
    } else if provided().all(|s| matches!(s, Signal::Below { .. })) {
        // Only CPU and memory say how many replicas the load needs (the HPA rule); without
        // either, low queue and latency alone are no reason to shrink.
        let max_of = |s: Signal| match s {
            Signal::Below { max } => Some(max),
            _ => None,
        };
        let by_cpu = max_of(cpu).map(|m| hpa(current, m, cpu_target));
        let by_mem = max_of(mem).map(|m| hpa(current, m, mem_target));
        match by_cpu.into_iter().chain(by_mem).max() {
            Some(n) => {
                reasons.push(format!(
                    "every supplied signal below its threshold for the whole {}: HPA rule gives {n}",
                    fmt_duration(p.window)
                ));
                (
                    n.min(current),
                    if n < current {
                        Direction::In
                    } else {
                        Direction::Hold
                    },
                )
            }
            None => {
                reasons.push(
                    "every supplied signal below its threshold, but no CPU or memory series to size the deployment by: hold"
                        .into(),
                );
                (current, Direction::Hold)
            }
        }
    } else {
        reasons.push("signals are mixed: hold".into());
        (current, Direction::Hold)
    };
    let missing = SIGNAL_NAMES
        .into_iter()
        .zip(signals)
        .filter(|(_, s)| !s.is_provided())
        .map(|(n, _)| n)
        .collect::<Vec<_>>();
    if !missing.is_empty() && provided().next().is_some() {
        reasons.push(format!("not judged (not provided): {}", missing.join(", ")));
    }
    let target = bounds.clamp(raw);
    let clamped_to = (target != raw).then_some(target);
    if let Some(b) = clamped_to {
        reasons.push(format!(
            "clamped to {b} (replicas {}..={})",
            bounds.min(),
            bounds.max()
        ));
    }
    // A count outside the bounds is corrected even when no signal asks for it.
    let direction = if target > current {
        Direction::Out
    } else if target < current {
        Direction::In
    } else if direction == Direction::Unknown {
        Direction::Unknown
    } else {
        Direction::Hold
    };
    Recommendation {
        current,
        target,
        direction,
        clamped_to,
        reasons,
        signals,
    }
}

/// The default autoscaler of the runbook (`kubectl autoscale --cpu-percent=70 --min=3 --max=10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HpaSpec {
    /// CPU utilization target, percent.
    pub cpu_target_percent: u32,
    /// Minimum replicas.
    pub min_replicas: u32,
    /// Maximum replicas.
    pub max_replicas: u32,
}

/// The default HPA from the policy (same as [`Policy::default_hpa`]).
pub fn default_hpa(policy: &Policy) -> HpaSpec {
    policy.default_hpa()
}

/// The vertical step (same as [`Policy::vertical_step`]).
pub fn vertical_step(policy: &Policy) -> &ResourceStep {
    policy.vertical_step()
}

/// The runbook's scaling numbers as plain values, for callers to hand to a Kubernetes client
/// (which keeps no copy of them).
impl Policy {
    /// The autoscaler to create (`kubectl autoscale --cpu-percent=70 --min=3 --max=10` by
    /// default): the HPA CPU target and the replica bounds of `[scaling]`.
    ///
    /// ```
    /// let hpa = fleet_policy::Policy::default().default_hpa();
    /// assert_eq!((hpa.cpu_target_percent, hpa.min_replicas, hpa.max_replicas), (70, 3, 10));
    /// ```
    pub fn default_hpa(&self) -> HpaSpec {
        HpaSpec {
            cpu_target_percent: self.scaling.hpa_cpu_target_percent,
            min_replicas: self.scaling.replicas.min(),
            max_replicas: self.scaling.replicas.max(),
        }
    }

    /// The container resources to set after an OOMKilled restart, as Kubernetes quantities:
    /// requests 512Mi / 500m, limits 1Gi / 1000m by default.
    ///
    /// ```
    /// let p = fleet_policy::Policy::default();
    /// let v = p.vertical_step();
    /// assert_eq!((v.requests_memory.as_str(), v.requests_cpu.as_str()), ("512Mi", "500m"));
    /// assert_eq!((v.limits_memory.as_str(), v.limits_cpu.as_str()), ("1Gi", "1000m"));
    /// ```
    pub fn vertical_step(&self) -> &ResourceStep {
        &self.scaling.vertical
    }
}

fn signal_finding(
    rule: &str,
    subject: &str,
    what: &str,
    s: Signal,
    threshold: Quantity,
    window: SignedDuration,
) -> Finding {
    let sec = Section::ScalingGuidelines;
    let w = fmt_duration(window);
    let f = match s {
        Signal::Triggered { last } => Finding::new(
            rule,
            subject,
            Outcome::Warn,
            sec,
            format!("{what} above {threshold} for all of the last {w}: scale out"),
        )
        .observed(Quantity::new(last, threshold.unit))
        .actions([
            "scale out (kubectl scale / HPA)",
            "monitor impact with kubectl top pods",
        ]),
        Signal::Below { max } => Finding::new(
            rule,
            subject,
            Outcome::Pass,
            sec,
            format!(
                "{what} not sustained above {threshold} (max {} in {w})",
                Quantity::new(max, threshold.unit)
            ),
        )
        .observed(Quantity::new(max, threshold.unit)),
        Signal::Mixed { last } => Finding::new(
            rule,
            subject,
            Outcome::Pass,
            sec,
            format!("{what} crossed {threshold} but not for all of the last {w}"),
        )
        .observed(Quantity::new(last, threshold.unit)),
        Signal::Insufficient { count } => Finding::new(
            rule,
            subject,
            Outcome::Inconclusive,
            sec,
            format!("only {count} {what} samples in the last {w}"),
        ),
        Signal::Invalid => Finding::new(
            rule,
            subject,
            Outcome::Error,
            sec,
            format!("{what} samples include a negative or non-finite value"),
        ),
        // `evaluate` reports only supplied series; this arm is for completeness.
        Signal::NotProvided => Finding::new(
            rule,
            subject,
            Outcome::Inconclusive,
            sec,
            format!("no {what} series supplied"),
        ),
    };
    f.compared(Operator::Gt, threshold)
}

/// Findings for a deployment's scaling signals and the recommendation.
pub fn evaluate(policy: &Policy, input: &ScalingInput, now: Timestamp) -> Vec<Finding> {
    let p = &policy.scaling;
    let subject = input.deployment.as_str();
    let rec = recommend(policy, input, now);
    let [cpu, mem, queue, lat] = rec.signals;
    let mut out = Vec::new();
    // Only supplied series get a finding; the replicas finding names the others.
    if cpu.is_provided() {
        out.push(signal_finding(
            "scaling.cpu",
            subject,
            "CPU",
            cpu,
            Quantity::new(p.cpu_percent, Unit::Percent),
            p.window,
        ));
    }
    if mem.is_provided() {
        out.push(signal_finding(
            "scaling.memory",
            subject,
            "memory",
            mem,
            Quantity::new(p.memory_percent, Unit::Percent),
            p.window,
        ));
    }
    if !input.queue_depth.is_empty() {
        let mut f = signal_finding(
            "scaling.queue",
            subject,
            "queue growth",
            queue,
            Quantity::new(0.0, Unit::ItemsPerMinute),
            p.window,
        );
        if let (Some(m), Signal::Triggered { .. } | Signal::Below { .. }) = (
            queue_growing(&input.queue_depth, p.window, p.min_samples, now).1,
            queue,
        ) {
            f.observed = Some(Quantity::new(m, Unit::ItemsPerMinute));
            f.message = if matches!(queue, Signal::Triggered { .. }) {
                format!("request queue growing at {m:.2} items/min: scale out")
            } else {
                format!("request queue not growing ({m:.2} items/min)")
            };
        }
        out.push(f);
    }
    if !input.response_time_ms.is_empty() {
        out.push(signal_finding(
            "scaling.latency",
            subject,
            "p95 response time",
            lat,
            Quantity::new(p.response_time_ms, Unit::Milliseconds),
            p.window,
        ));
    }
    let outcome = match rec.direction {
        Direction::Out => Outcome::Warn,
        Direction::Unknown => Outcome::Inconclusive,
        Direction::In | Direction::Hold => Outcome::Pass,
    };
    let verb = match rec.direction {
        Direction::Out => "scale out",
        Direction::In => "may scale in",
        Direction::Hold => "hold",
        Direction::Unknown => "cannot recommend",
    };
    let mut f = Finding::new(
        "scaling.replicas",
        subject,
        outcome,
        Section::ScalingGuidelines,
        format!(
            "{verb}: {} -> {} replicas ({})",
            rec.current,
            rec.target,
            rec.reasons.join("; ")
        ),
    )
    .observed(Quantity::new(f64::from(rec.target), Unit::Replicas));
    if rec.direction == Direction::Out {
        f = f.actions([format!(
            "kubectl scale deployment {subject} --replicas={}",
            rec.target
        )]);
    }
    out.push(f);
    if input.oom_killed {
        let v = vertical_step(policy);
        out.push(
            Finding::new(
                "scaling.vertical",
                subject,
                Outcome::Warn,
                Section::ScalingGuidelines,
                format!(
                    "a container was OOMKilled: raise resources to requests {}/{} and limits {}/{}",
                    v.requests_memory, v.requests_cpu, v.limits_memory, v.limits_cpu
                ),
            )
            .actions([
                "update the deployment's container resources",
                "kubectl rollout restart the deployment",
            ]),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-05-01T12:00:00Z".parse().expect("ts")
    }

    /// Samples one minute apart, the last at `now`.
    fn series(values: &[f64]) -> Vec<Sample> {
        let n = values.len() as i64;
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample {
                at: now() - SignedDuration::from_mins(n - 1 - i as i64),
                value: v,
            })
            .collect()
    }

    fn input(current: u32) -> ScalingInput {
        ScalingInput {
            deployment: "fleet-api".into(),
            current_replicas: current,
            ..ScalingInput::default()
        }
    }

    #[test]
    fn sustained_means_every_sample_with_enough_samples() {
        let w = SignedDuration::from_mins(5);
        assert!(matches!(
            sustained(&series(&[71.0, 72.0, 80.0]), 70.0, w, 3, now()),
            Signal::Triggered { .. }
        ));
        assert!(
            matches!(
                sustained(&series(&[71.0, 70.0, 80.0]), 70.0, w, 3, now()),
                Signal::Mixed { .. }
            ),
            "70 is not above 70"
        );
        assert!(matches!(
            sustained(&series(&[90.0, 90.0]), 70.0, w, 3, now()),
            Signal::Insufficient { count: 2 }
        ));
        // Samples older than the window do not count.
        let old = series(&[90.0, 90.0, 90.0, 90.0, 90.0, 90.0, 10.0, 10.0, 10.0]);
        assert!(matches!(
            sustained(&old, 70.0, w, 3, now()),
            Signal::Mixed { .. }
        ));
        assert_eq!(
            sustained(&series(&[f64::NAN, 1.0, 1.0]), 70.0, w, 3, now()),
            Signal::Invalid
        );
    }

    #[test]
    fn hpa_rule_larger_wins_and_clamps() {
        let p = Policy::default();
        let mut i = input(4);
        i.cpu_percent = series(&[95.0, 96.0, 97.0]);
        i.memory_percent = series(&[85.0, 88.0, 99.0]);
        let r = recommend(&p, &i, now());
        // cpu: ceil(4*97/70) = 6; memory: ceil(4*99/80) = 5
        assert_eq!((r.target, r.direction), (6, Direction::Out));
        let mut i = input(9);
        i.cpu_percent = series(&[95.0, 96.0, 97.0]);
        let r = recommend(&p, &i, now());
        assert_eq!((r.target, r.clamped_to), (10, Some(10)));
    }

    #[test]
    fn queue_and_latency_add_at_least_one() {
        let p = Policy::default();
        let mut i = input(5);
        i.queue_depth = series(&[10.0, 20.0, 15.0, 40.0]);
        assert_eq!(recommend(&p, &i, now()).target, 6);
        let mut i = input(5);
        i.response_time_ms = series(&[2100.0, 2500.0, 2001.0]);
        assert_eq!(recommend(&p, &i, now()).target, 6);
        let mut i = input(5);
        i.queue_depth = series(&[40.0, 10.0, 30.0, 20.0]);
        i.cpu_percent = series(&[10.0, 10.0, 10.0]);
        i.memory_percent = series(&[10.0, 10.0, 10.0]);
        assert_eq!(
            recommend(&p, &i, now()).direction,
            Direction::In,
            "net decrease is not growth"
        );
    }

    #[test]
    fn scale_in_needs_every_signal_below_and_respects_min() {
        let p = Policy::default();
        let mut i = input(6);
        i.cpu_percent = series(&[20.0, 30.0, 25.0]);
        i.memory_percent = series(&[30.0, 30.0, 30.0]);
        let r = recommend(&p, &i, now());
        assert_eq!(
            (r.direction, r.target),
            (Direction::In, 3),
            "ceil(6*30/70)=3, ceil(6*30/80)=3"
        );
        i.memory_percent = series(&[30.0, 30.0]);
        assert_eq!(
            recommend(&p, &i, now()).direction,
            Direction::Unknown,
            "memory is inconclusive"
        );
        let mut i = input(3);
        i.cpu_percent = series(&[1.0, 1.0, 1.0]);
        i.memory_percent = series(&[1.0, 1.0, 1.0]);
        assert_eq!(recommend(&p, &i, now()).target, 3, "never below min");
    }

    fn replicas_finding(f: &[Finding]) -> &Finding {
        f.iter()
            .find(|f| f.rule == "scaling.replicas")
            .expect("a scaling.replicas finding")
    }

    #[test]
    fn a_series_not_supplied_is_not_provided_and_does_not_decide() {
        let p = Policy::default();
        // CPU crossed the threshold but not for the whole window, memory is low, and no queue
        // or latency series was supplied: the supplied signals say "hold".
        let mut i = input(4);
        i.cpu_percent = series(&[75.0, 60.0, 72.0]);
        i.memory_percent = series(&[40.0, 41.0, 42.0]);
        let r = recommend(&p, &i, now());
        assert_eq!(
            (r.direction, r.target),
            (Direction::Hold, 4),
            "{:?}",
            r.reasons
        );
        assert_eq!(r.signals[2], Signal::NotProvided);
        assert_eq!(r.signals[3], Signal::NotProvided);
        assert_eq!(r.not_provided(), ["queue", "latency"]);
        let f = evaluate(&p, &i, now());
        let rep = replicas_finding(&f);
        assert_eq!(rep.outcome, Outcome::Pass, "{}", rep.message);
        assert!(
            rep.message
                .contains("not judged (not provided): queue, latency"),
            "{}",
            rep.message
        );
        // Only supplied series get a finding of their own.
        let rules: Vec<&str> = f.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["scaling.cpu", "scaling.memory", "scaling.replicas"]);

        // Every supplied signal low, the rest not supplied: scale in as before.
        let mut i = input(6);
        i.cpu_percent = series(&[20.0, 30.0, 25.0]);
        i.memory_percent = series(&[30.0, 30.0, 30.0]);
        assert_eq!(recommend(&p, &i, now()).direction, Direction::In);
    }

    #[test]
    fn a_supplied_series_with_too_few_samples_is_inconclusive_and_named() {
        let p = Policy::default();
        let mut i = input(4);
        i.cpu_percent = series(&[20.0, 30.0, 25.0]);
        i.memory_percent = series(&[30.0, 30.0, 30.0]);
        i.queue_depth = series(&[5.0]);
        let r = recommend(&p, &i, now());
        assert_eq!(r.direction, Direction::Unknown);
        assert_eq!(r.signals[2], Signal::Insufficient { count: 1 });
        let f = evaluate(&p, &i, now());
        let rep = replicas_finding(&f);
        assert_eq!(rep.outcome, Outcome::Inconclusive);
        assert!(
            rep.message.contains("queue: 1 sample") && rep.message.contains("need 3"),
            "{}",
            rep.message
        );
        assert!(rep.message.contains("not judged (not provided): latency"));
        // Samples all outside the window: supplied, but none count.
        let mut i = input(4);
        i.cpu_percent = series(&[90.0, 90.0, 90.0])
            .into_iter()
            .map(|s| Sample {
                at: s.at - SignedDuration::from_hours(1),
                ..s
            })
            .collect();
        let r = recommend(&p, &i, now());
        assert_eq!(r.signals[0], Signal::Insufficient { count: 0 });
        assert_eq!(r.direction, Direction::Unknown);
    }

    #[test]
    fn nothing_supplied_or_no_utilisation_series_never_scales_in() {
        let p = Policy::default();
        let r = recommend(&p, &input(5), now());
        assert_eq!((r.direction, r.target), (Direction::Unknown, 5));
        let f = evaluate(&p, &input(5), now());
        assert_eq!(replicas_finding(&f).outcome, Outcome::Inconclusive);
        // Only latency supplied, and it is low: nothing says how many replicas the load
        // needs, so hold rather than fall to the minimum.
        let mut i = input(8);
        i.response_time_ms = series(&[300.0, 310.0, 320.0]);
        let r = recommend(&p, &i, now());
        assert_eq!(
            (r.direction, r.target),
            (Direction::Hold, 8),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn oom_recommends_the_vertical_step() {
        let mut i = input(3);
        i.oom_killed = true;
        let f = evaluate(&Policy::default(), &i, now());
        let v = f
            .iter()
            .find(|f| f.rule == "scaling.vertical")
            .expect("vertical finding");
        assert!(
            v.message.contains("512Mi/500m") && v.message.contains("1Gi/1000m"),
            "{}",
            v.message
        );
    }
}
