//! The runbook's "Performance Degradation Response" and "Site Down / 503" checks as one
//! triage: what decides most 503s behind an ingress, the bottleneck ranked against the
//! policy's metric bands, and the quick fixes as confirmed, audited actions.
//!
//! - 503 checks ([`serving_problems`], pure): Services whose selector matches no ready pod
//!   (no ready endpoints, [`services_without_ready_endpoints`], also used by disaster recovery), ingress backends naming a missing Service or a port the Service
//!   does not expose, LoadBalancer Services without an external IP, and crash-looping pods.
//! - Bottleneck ([`PerfTriage::run`]): `kubectl top` of pods and nodes against the CPU and
//!   memory bands (fleet-policy's `metrics.*` findings), long-running queries and blocking from
//!   the database, and, with [`PerfTriage::with_telemetry`], Application Insights' requests
//!   (p95, failure rate) and slowest dependencies against the response-time and error-rate
//!   bands ([`rank_telemetry`]); ranked, worst first. The 503 causes and database items are the report's
//!   notes (fleet-policy has no rule for them yet).
//! - Quick fixes ([`QuickFix`]): scale a deployment (within the policy's HPA bounds,
//!   confirmed with `SCALE`) or restart it (`kubectl rollout restart`, confirmed with
//!   `RESTART`), each audited.
//!
//! The run's first step is `verify-access` ([`crate::verify_access`]): without every
//! permission of the `perf-triage` Role it stops there, status `forbidden`, before any read or
//! fix. Kubernetes RBAC (`docs/rbac.md`): in the namespace `list` pods, services, ingresses and
//! `pods.metrics.k8s.io`; `get`/`patch` deployments (rollout restart) and `patch`
//! deployments/scale (the quick fixes); at the cluster scope, through a ClusterRole, `list`
//! `nodes.metrics.k8s.io` and `nodes` (`kubectl top nodes`). Database: `pg_read_all_stats`.

use std::sync::Arc;
use std::time::Duration;

use fleet_azure::{DependencyStats, RequestStats, Telemetry, TimeWindow};
use fleet_guard::{ConfirmWord, Executor, Plan, Step};
use fleet_k8s::{
    IngressInfo, NodeUsage, PodSummary, PodUsage, RolloutRestartOptions, ScaleOptions, ServiceInfo,
};
use fleet_policy::metrics::{Band, Metric, check, classify};
use fleet_policy::{Finding, Policy};
use serde::Serialize;

use super::access;
use super::deps::{Db, Kube};
use crate::report::Report;

/// The procedure's name in plans, audit records, reports and `PROCEDURE_PERMISSIONS`.
pub(crate) const PERF_TRIAGE_PROCEDURE: &str = "perf-triage";

/// One thing that slows or breaks the service, with how bad it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bottleneck {
    /// Where (`node aks-1`, `pod fleet-api-7d9`, `database`).
    pub subject: String,
    /// What.
    pub what: String,
    /// The metric band it is in (or Critical for a blocking chain).
    pub band: Band,
    /// The value measured (percent, or a count).
    pub value: f64,
    /// The policy's metric it was judged by, when one applies.
    #[serde(skip)]
    pub metric: Option<Metric>,
}

/// What the triage found.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct TriageFindings {
    /// Why requests fail (503 causes).
    pub serving: Vec<String>,
    /// Bottlenecks, worst first.
    pub bottlenecks: Vec<Bottleneck>,
}

fn ready(p: &PodSummary) -> bool {
    p.ready == p.total && p.total > 0 && p.phase == "Running"
}

fn port_numbers(ports: &str) -> Vec<String> {
    ports
        .split(',')
        .filter_map(|p| p.split(['/', ':']).next())
        .map(str::to_owned)
        .collect()
}

/// Services whose selector matches no ready pod, so that they have no ready endpoints (pure):
/// one line each, naming the Service and how many pods its selector matches. Services without
/// a selector (endpoints managed by hand, `ExternalName`) are not judged.
pub fn services_without_ready_endpoints(
    pods: &[PodSummary],
    services: &[ServiceInfo],
) -> Vec<String> {
    let mut out = Vec::new();
    for s in services.iter().filter(|s| !s.selector.is_empty()) {
        let matching: Vec<&PodSummary> = pods
            .iter()
            .filter(|p| s.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
            .collect();
        if !matching.iter().any(|p| ready(p)) {
            out.push(format!(
                "service {} has no ready endpoints: {} pods match its selector, none ready",
                s.name,
                matching.len()
            ));
        }
    }
    out
}

/// The 503 causes behind an ingress, from pods, Services and ingresses (pure).
pub fn serving_problems(
    pods: &[PodSummary],
    services: &[ServiceInfo],
    ingresses: &[IngressInfo],
) -> Vec<String> {
    let mut out = services_without_ready_endpoints(pods, services);
    for i in ingresses {
        let backends = i
            .paths
            .iter()
            .map(|p| p.backend.clone())
            .chain(i.default_backend.clone());
        for b in backends {
            let Some((svc, port)) = b.split_once(':') else {
                continue;
            };
            match services.iter().find(|s| s.name == svc) {
                None => out.push(format!(
                    "ingress {} routes to service {svc}, which does not exist",
                    i.name
                )),
                Some(s)
                    if port.parse::<u16>().is_ok()
                        && !port_numbers(&s.ports).iter().any(|p| p == port) =>
                {
                    out.push(format!(
                        "ingress {} routes to port {port} of service {svc}, which exposes {}",
                        i.name, s.ports
                    ));
                }
                Some(_) => {}
            }
        }
    }
    for s in services.iter().filter(|s| {
        s.type_ == "LoadBalancer" && matches!(s.external_ip.as_str(), "<pending>" | "" | "<none>")
    }) {
        out.push(format!(
            "load balancer service {} has no external IP",
            s.name
        ));
    }
    for p in pods.iter().filter(|p| p.status == "CrashLoopBackOff") {
        out.push(format!(
            "pod {} is crash looping ({} restarts)",
            p.name, p.restarts
        ));
    }
    out
}

/// Ranks `top` figures against the policy's CPU and memory bands (pure). Pod CPU is in
/// millicores and is ranked against `cpu_limit_millicores` when given.
pub fn rank_usage(
    policy: &Policy,
    nodes: &[NodeUsage],
    pods: &[PodUsage],
    cpu_limit_millicores: Option<u64>,
) -> Vec<Bottleneck> {
    let mut out = Vec::new();
    let mut judge = |subject: String, metric: Metric, what: &str, value: f64| {
        if let Ok(band @ (Band::Warning | Band::Critical)) =
            classify(&policy.metrics, metric, value)
        {
            out.push(Bottleneck {
                subject,
                what: what.to_owned(),
                band,
                value,
                metric: Some(metric),
            });
        }
    };
    for n in nodes {
        if let Some(c) = n.cpu_percent {
            judge(format!("node {}", n.name), Metric::CpuUsage, "CPU", c);
        }
        if let Some(m) = n.memory_percent {
            judge(format!("node {}", n.name), Metric::MemoryUsage, "memory", m);
        }
    }
    if let Some(limit) = cpu_limit_millicores.filter(|l| *l > 0) {
        for p in pods {
            judge(
                format!("pod {}", p.name),
                Metric::CpuUsage,
                "CPU of its limit",
                p.cpu_millicores as f64 * 100.0 / limit as f64,
            );
        }
    }
    out
}

/// Application Insights' side of the bottleneck (App Insights > Performance, and >
/// Dependencies): the requests' p95 and failure rate, and each dependency's p95, judged by the
/// policy's response-time and error-rate bands; only Warning and Critical are kept.
pub fn rank_telemetry(
    policy: &Policy,
    requests: Option<&RequestStats>,
    dependencies: &[DependencyStats],
) -> Vec<Bottleneck> {
    let mut out = Vec::new();
    let mut judge = |subject: String, metric: Metric, what: String, value: f64| {
        if let Ok(band @ (Band::Warning | Band::Critical)) =
            classify(&policy.metrics, metric, value)
        {
            out.push(Bottleneck {
                subject,
                what,
                band,
                value,
                metric: Some(metric),
            });
        }
    };
    if let Some(r) = requests {
        if let Some(p95) = r.p95_ms {
            judge(
                "requests".into(),
                Metric::ResponseTime,
                format!("p95 response time (ms) over {} requests", r.total),
                p95,
            );
        }
        if let Some(rate) = r.failure_rate_pct {
            judge(
                "requests".into(),
                Metric::ErrorRate,
                format!("failure rate (%): {} of {} failed", r.failed, r.total),
                rate,
            );
        }
    }
    for d in dependencies {
        if let Some(p95) = d.p95_ms {
            judge(
                format!("dependency {} {}", d.dependency_type, d.target),
                Metric::ResponseTime,
                format!(
                    "{}: p95 (ms) over {} calls, {} failed",
                    d.name, d.calls, d.failed
                ),
                p95,
            );
        }
    }
    out
}

/// A quick fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuickFix {
    /// Scale to this many replicas (clamped to the policy's HPA bounds).
    Scale {
        /// Deployment.
        deployment: String,
        /// Replicas wanted.
        replicas: u32,
    },
    /// `kubectl rollout restart`.
    Restart {
        /// Deployment.
        deployment: String,
    },
}

/// The triage procedure.
#[derive(Clone)]
#[non_exhaustive]
pub struct PerfTriage {
    /// The cluster.
    pub kube: Kube,
    /// The database, when there is one.
    pub db: Option<Db>,
    /// The rules.
    pub policy: Policy,
    /// Pod CPU limit to rank pods against (millicores), when known.
    pub cpu_limit_millicores: Option<u64>,
    /// Application Insights, for the requests' and the dependencies' performance.
    pub telemetry: Option<Arc<dyn Telemetry>>,
    /// How far back Application Insights is read (default 15 minutes).
    pub telemetry_window: Duration,
}

impl std::fmt::Debug for PerfTriage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfTriage")
            .field("kube", &self.kube)
            .field("db", &self.db.is_some())
            .field("telemetry", &self.telemetry.is_some())
            .field("telemetry_window", &self.telemetry_window)
            .finish_non_exhaustive()
    }
}

impl PerfTriage {
    /// The procedure.
    pub fn new(kube: Kube, db: Option<Db>, policy: Policy) -> Self {
        Self {
            kube,
            db,
            policy,
            cpu_limit_millicores: None,
            telemetry: None,
            telemetry_window: Duration::from_secs(15 * 60),
        }
    }

    /// Reads the last [`PerfTriage::telemetry_window`] of Application Insights too.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Runs the checks, then `fixes` (each confirmed and audited). Findings: one
    /// `triage.serving` per 503 cause (Fail) and one `triage.bottleneck` per ranked item.
    pub async fn run(&self, run: &Executor, fixes: &[QuickFix]) -> (Report, TriageFindings) {
        let started = run.now();
        let ns = &self.kube.namespace;
        let mut plan = Plan::new(PERF_TRIAGE_PROCEDURE);
        plan.push(access::access_step(&self.kube, PERF_TRIAGE_PROCEDURE));
        if let Err(denied) = access::verify(run, &self.kube, PERF_TRIAGE_PROCEDURE).await {
            return (
                denied.report(run, plan, &self.policy, started),
                TriageFindings::default(),
            );
        }
        let target = format!("namespace/{ns}");
        let mut read = |id: &str, what: &str| {
            let s = Step::read(id, &target, what.to_owned());
            plan.push(s.clone());
            s
        };
        let (s1, s2, s3, s4, s5) = (
            read("pods", "kubectl get pods"),
            read("services", "kubectl get svc"),
            read("ingresses", "kubectl describe ingress"),
            read("top-nodes", "kubectl top nodes"),
            read("top-pods", "kubectl top pods"),
        );
        let pods = run
            .read(s1, self.kube.pods.list_pods())
            .await
            .unwrap_or_default();
        let services = run
            .read(s2, self.kube.networking.list_services())
            .await
            .unwrap_or_default();
        let ingresses = run
            .read(s3, self.kube.networking.list_ingresses())
            .await
            .unwrap_or_default();
        let nodes = run
            .read(s4, self.kube.metrics.top_nodes())
            .await
            .unwrap_or_default();
        let top = run
            .read(s5, self.kube.metrics.top_pods())
            .await
            .unwrap_or_default();
        let mut found = TriageFindings {
            serving: serving_problems(&pods, &services, &ingresses),
            bottlenecks: rank_usage(&self.policy, &nodes, &top, self.cpu_limit_millicores),
        };
        if let Some(db) = &self.db {
            let s = Step::read("blocking", &db.name, "blocking chains");
            plan.push(s.clone());
            if let Ok(b) = run.read(s, db.diagnostics.blocking()).await
                && b.waiting_sessions > 0
            {
                found.bottlenecks.push(Bottleneck {
                    subject: "database".into(),
                    what: format!("{} sessions waiting on locks", b.waiting_sessions),
                    band: Band::Critical,
                    value: f64::from(b.waiting_sessions),
                    metric: None,
                });
            }
            let s = Step::read("long-running", &db.name, "long-running queries");
            plan.push(s.clone());
            if let Ok(l) = run.read(s, db.diagnostics.long_running()).await
                && !l.queries.is_empty()
            {
                found.bottlenecks.push(Bottleneck {
                    subject: "database".into(),
                    what: format!(
                        "{} queries running longer than the threshold",
                        l.queries.len()
                    ),
                    band: Band::Warning,
                    value: l.queries.len() as f64,
                    metric: None,
                });
            }
        }
        if let Some(telemetry) = &self.telemetry {
            found.bottlenecks.extend(
                self.app_performance(run, &mut plan, telemetry.as_ref())
                    .await,
            );
        }
        found
            .bottlenecks
            .sort_by(|a, b| b.band.cmp(&a.band).then(b.value.total_cmp(&a.value)));

        let hpa = self.policy.default_hpa();
        for fix in fixes {
            let dry = run.is_dry_run();
            let ok = match fix {
                QuickFix::Scale {
                    deployment,
                    replicas,
                } => {
                    let to = (*replicas).clamp(hpa.min_replicas, hpa.max_replicas);
                    let mut step = Step::change(
                        "scale",
                        &format!("deployment/{ns}/{deployment}"),
                        format!(
                            "scale to {to} replicas (policy bounds {}..{})",
                            hpa.min_replicas, hpa.max_replicas
                        ),
                    )
                    .with_after(to);
                    if let Ok(w) = ConfirmWord::new("SCALE") {
                        step = step.with_confirm(w);
                    }
                    plan.push(step.clone());
                    let opts = ScaleOptions::default().with_dry_run(dry);
                    run.change(step, || {
                        self.kube.deployments.scale(deployment, to, Some(opts))
                    })
                    .await
                    .is_ok()
                }
                QuickFix::Restart { deployment } => {
                    let mut step = Step::change(
                        "restart",
                        &format!("deployment/{ns}/{deployment}"),
                        "rollout restart",
                    );
                    if let Ok(w) = ConfirmWord::new("RESTART") {
                        step = step.with_confirm(w);
                    }
                    plan.push(step.clone());
                    let opts = RolloutRestartOptions::default().with_dry_run(dry);
                    run.change(step, || {
                        self.kube
                            .deployments
                            .rollout_restart(deployment, Some(opts))
                    })
                    .await
                    .is_ok()
                }
            };
            if !ok {
                break;
            }
        }

        for p in &found.serving {
            plan.note(format!("503 cause: {p}"));
        }
        for b in &found.bottlenecks {
            plan.note(format!(
                "bottleneck: {}: {} at {:.0} ({:?})",
                b.subject, b.what, b.value, b.band
            ));
        }
        let findings: Vec<Finding> = found
            .bottlenecks
            .iter()
            .filter_map(|b| {
                b.metric
                    .map(|m| check(&self.policy.metrics, &b.subject, m, Some(b.value)))
            })
            .collect();
        (
            Report::from_run(run, plan, &self.policy, findings, started),
            found,
        )
    }

    /// App Insights > Performance and > Dependencies over the window ending now.
    async fn app_performance(
        &self,
        run: &Executor,
        plan: &mut Plan,
        telemetry: &dyn Telemetry,
    ) -> Vec<Bottleneck> {
        let end = run.now();
        let span = jiff::SignedDuration::try_from(self.telemetry_window)
            .unwrap_or(jiff::SignedDuration::from_mins(15));
        let Ok(window) = end
            .checked_sub(span)
            .map_err(|e| e.to_string())
            .and_then(|start| TimeWindow::new(start, end).map_err(|e| e.to_string()))
        else {
            plan.note("Application Insights not read: the window is not usable");
            return Vec::new();
        };
        let minutes = self.telemetry_window.as_secs() / 60;
        let s = Step::read(
            "app-performance",
            "application-insights",
            format!("requests over the last {minutes} min: p95 and failure rate"),
        );
        plan.push(s.clone());
        let requests = run
            .read(s, telemetry.request_stats(window, None))
            .await
            .ok();
        let s = Step::read(
            "app-dependencies",
            "application-insights",
            format!("the five slowest dependencies by p95 over the last {minutes} min"),
        );
        plan.push(s.clone());
        let dependencies = run
            .read(s, telemetry.slowest_dependencies(window, 5, None))
            .await
            .unwrap_or_default();
        rank_telemetry(&self.policy, requests.as_ref(), &dependencies)
    }
}
