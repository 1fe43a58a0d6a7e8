//! The runbook's "Mitigate" decision tree as explained recommendations: each names the action,
//! why (the findings of the evidence bundle it rests on) and what it would change. Pure: the
//! bundle and the policy in, recommendations out.

use fleet_policy::Policy;
use fleet_policy::metrics::{Band, Metric, classify};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::evidence::EvidenceBundle;

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
#[non_exhaustive]
pub enum Mitigation {
    /// A recent deployment broke it: roll back (`kubectl rollout undo`).
    Rollback {
        /// The deployment.
        deployment: String,
        /// The live revision.
        from_revision: i64,
        /// The revision to go back to.
        to_revision: i64,
    },
    /// The database: connections, leaks, blocking; fail over if the server is gone. Guidance
    /// only: fleet-db's remediations do the work, each confirmed on its own.
    Database {
        /// What to look at, in order.
        steps: Vec<String>,
    },
    /// Not enough capacity: scale up to policy's HPA target.
    ScaleUp {
        /// The deployment.
        deployment: String,
        /// Replicas now.
        from: u32,
        /// Replicas wanted.
        to: u32,
    },
    /// An external dependency is failing: open the circuit breaker.
    CircuitBreaker {
        /// The ConfigMap holding the flag.
        config_map: String,
        /// The key.
        key: String,
        /// The value that opens the breaker.
        value: String,
    },
}

impl Mitigation {
    /// A short name (`rollback`, `database`, `scale-up`, `circuit-breaker`).
    pub fn name(&self) -> &'static str {
        match self {
            Mitigation::Rollback { .. } => "rollback",
            Mitigation::Database { .. } => "database",
            Mitigation::ScaleUp { .. } => "scale-up",
            Mitigation::CircuitBreaker { .. } => "circuit-breaker",
        }
    }
}

/// A recommendation with its reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// What to do.
    pub mitigation: Mitigation,
    /// The runbook's branch, in words.
    pub explanation: String,
    /// The findings of the evidence it rests on.
    pub cites: Vec<String>,
}

/// Where the circuit breaker flag lives (a ConfigMap key the application reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    /// The ConfigMap.
    pub config_map: String,
    /// The key.
    pub key: String,
    /// The value that opens the breaker (`"open"`).
    pub value: String,
}

/// Options of the decision tree.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecisionOptions {
    /// A deployment rolled out this recently counts as "recent" (default 2 h).
    pub recent_deploy: SignedDuration,
    /// The circuit breaker, when the application has one.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Log text that marks a failing external dependency.
    pub dependency_markers: Vec<String>,
}

impl Default for DecisionOptions {
    fn default() -> Self {
        Self {
            recent_deploy: SignedDuration::from_hours(2),
            circuit_breaker: None,
            dependency_markers: ["upstream", "dependency", "timed out", "ECONNREFUSED"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The decision tree over one bundle, most specific first: recent deployment, database,
/// capacity, external dependency.
pub fn recommend_mitigations(
    policy: &Policy,
    bundle: &EvidenceBundle,
    options: &DecisionOptions,
    now: Timestamp,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let unhealthy = bundle.unhealthy_pods();
    let error_lines: Vec<&str> = bundle
        .logs
        .iter()
        .filter(|l| l.line.contains("ERROR") || l.line.contains("FATAL"))
        .map(|l| l.line.as_str())
        .collect();
    let mut symptoms: Vec<String> = unhealthy
        .iter()
        .map(|p| format!("pod {} is {}", p.name, p.status))
        .collect();
    if !error_lines.is_empty() {
        symptoms.push(format!(
            "{} error lines in the last logs",
            error_lines.len()
        ));
    }
    if let Some(rate) = bundle
        .requests
        .as_ref()
        .and_then(|r| r.error_rate_percent())
        && rate >= policy.metrics.error_rate_percent.low()
    {
        symptoms.push(format!("error rate {rate:.1} %"));
    }

    // 1. A recent deployment.
    for d in &bundle.deployments {
        let Some(live) = d.history.iter().find(|r| r.current) else {
            continue;
        };
        let Some(at) = live.created else { continue };
        let age = now.duration_since(at);
        let previous = d
            .history
            .iter()
            .filter(|r| r.revision < live.revision)
            .max_by_key(|r| r.revision);
        if age <= options.recent_deploy
            && !symptoms.is_empty()
            && let Some(prev) = previous
        {
            let mut cites = vec![format!(
                "deployment {} revision {} ({}) rolled out at {at}, {} min before the assessment",
                d.name,
                live.revision,
                live.images.join(", "),
                age.as_mins()
            )];
            cites.extend(symptoms.iter().cloned());
            out.push(Recommendation {
                mitigation: Mitigation::Rollback {
                    deployment: d.name.clone(),
                    from_revision: live.revision,
                    to_revision: prev.revision,
                },
                explanation: format!(
                    "recent deployment: roll {} back to revision {} ({})",
                    d.name,
                    prev.revision,
                    prev.images.join(", ")
                ),
                cites,
            });
        }
    }

    // 2. The database.
    if let Some(db) = &bundle.database {
        let mut cites = Vec::new();
        if let Some(c) = &db.connections {
            let band = classify(&policy.metrics, Metric::DbConnections, f64::from(c.total));
            if matches!(band, Ok(Band::Warning | Band::Critical)) {
                cites.push(format!(
                    "{} connections open ({:?} band), {} slots left",
                    c.total,
                    band.unwrap_or(Band::Normal),
                    c.slots_left
                ));
            }
            if c.by_state.idle_in_transaction > 0 {
                cites.push(format!(
                    "{} sessions idle in a transaction (leaks)",
                    c.by_state.idle_in_transaction
                ));
            }
        }
        if db.blocked_sessions > 0 {
            cites.push(format!(
                "{} sessions blocked by others",
                db.blocked_sessions
            ));
        }
        if error_lines.iter().any(|l| {
            l.contains("database")
                || l.contains("connection pool")
                || l.contains("too many connections")
        }) {
            cites.push("the application logs database errors".into());
        }
        if !cites.is_empty() {
            out.push(Recommendation {
                mitigation: Mitigation::Database {
                    steps: vec![
                        "check connections by state and application (fleet-db connection_summary)".into(),
                        "end leaked idle-in-transaction sessions of the leaking application (fleet-db terminate_idle_in_transaction, confirmed)".into(),
                        "find the blocking session and cancel or end it (fleet-db blocking, cancel_backend)".into(),
                        "if the server itself is down, fail over to the standby (Azure portal or az postgres flexible-server restart/failover)".into(),
                    ],
                },
                explanation: "database issue: relieve the connections, leaks or blocking first".into(),
                cites,
            });
        }
    }

    // 3. Capacity: pods healthy but not enough of them, or pending for resources.
    let hpa = policy.default_hpa();
    for d in &bundle.deployments {
        let pending: Vec<_> = bundle
            .pods
            .iter()
            .filter(|p| p.name.starts_with(&format!("{}-", d.name)) && p.phase == "Pending")
            .collect();
        let saturated = bundle
            .requests
            .as_ref()
            .and_then(|r| r.latency.p95_ms)
            .is_some_and(|p95| p95 > policy.scaling.response_time_ms);
        let current = u32::try_from(d.replicas).unwrap_or(0);
        if (saturated || d.ready < d.replicas && pending.is_empty() && unhealthy.is_empty())
            && current < hpa.max_replicas
        {
            let to = (current + 1).max(hpa.min_replicas).min(hpa.max_replicas);
            let mut cites = vec![format!(
                "deployment {}: {}/{} ready",
                d.name, d.ready, d.replicas
            )];
            if saturated {
                cites.push(format!(
                    "p95 latency above {} ms",
                    policy.scaling.response_time_ms
                ));
            }
            out.push(Recommendation {
                mitigation: Mitigation::ScaleUp {
                    deployment: d.name.clone(),
                    from: current,
                    to,
                },
                explanation: format!(
                    "infrastructure: scale {} from {current} to {to} (policy bounds {}..{})",
                    d.name, hpa.min_replicas, hpa.max_replicas
                ),
                cites,
            });
        }
    }

    // 4. An external dependency.
    let dependency: Vec<&str> = error_lines
        .iter()
        .copied()
        .filter(|l| {
            options
                .dependency_markers
                .iter()
                .any(|m| l.contains(m.as_str()))
        })
        .collect();
    if let (false, Some(cb)) = (dependency.is_empty(), &options.circuit_breaker) {
        let mut cites = vec![format!(
            "{} error lines name a failing dependency, e.g. {:?}",
            dependency.len(),
            dependency[0]
        )];
        cites.extend(symptoms.iter().cloned());
        out.push(Recommendation {
            mitigation: Mitigation::CircuitBreaker {
                config_map: cb.config_map.clone(),
                key: cb.key.clone(),
                value: cb.value.clone(),
            },
            explanation: format!(
                "external dependency: open the circuit breaker ({}={} in ConfigMap {})",
                cb.key, cb.value, cb.config_map
            ),
            cites,
        });
    }
    out
}
