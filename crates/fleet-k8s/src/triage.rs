//! The runbook's "Site Down / 503 Errors" checks as one report: pods with kubectl's columns,
//! a diagnosis of every unhealthy pod, the recent log lines of the service's pods, the
//! ingresses and the services (EXTERNAL-IP), and what is wrong.

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::deployments::ContainerResources;
use crate::error::Result;
use crate::logs::{LogLine, LogOptions, Logs};
use crate::networking::{IngressInfo, Networking, ServiceInfo};
use crate::pods::{Cause, PodDiagnosis, PodSummary, Pods};
use crate::selector::LabelSelector;

/// Options of [`site_down_triage`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TriageOptions {
    /// Pods whose logs are read (`kubectl logs -l`; the runbook reads `app=fleet-api`).
    /// Default: every pod.
    pub selector: LabelSelector,
    /// Last lines read per pod (`--tail`; the runbook reads 50). Default 10, kubectl's default
    /// with a selector.
    pub log_tail: u32,
    /// Only log lines containing this text (`| grep ERROR`). Default: every line.
    pub log_pattern: Option<String>,
    /// Most unhealthy pods diagnosed (each diagnosis costs a few requests). Default 20.
    pub max_diagnoses: usize,
    /// The vertical step to advise for OOMKilled containers (from the caller's policy).
    pub vertical_step: Option<ContainerResources>,
}

impl Default for TriageOptions {
    fn default() -> Self {
        Self {
            selector: LabelSelector::everything(),
            log_tail: 10,
            log_pattern: None,
            max_diagnoses: 20,
            vertical_step: None,
        }
    }
}

impl TriageOptions {
    /// Reads the logs of the pods matching `selector`.
    #[must_use]
    pub fn with_selector(mut self, selector: LabelSelector) -> Self {
        self.selector = selector;
        self
    }
    /// Sets the lines read per pod.
    #[must_use]
    pub fn with_log_tail(mut self, n: u32) -> Self {
        self.log_tail = n;
        self
    }
    /// Keeps only log lines containing `pattern`.
    #[must_use]
    pub fn with_log_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.log_pattern = Some(pattern.into());
        self
    }
    /// Advises this vertical step for OOMKilled containers.
    #[must_use]
    pub fn with_vertical_step(mut self, step: ContainerResources) -> Self {
        self.vertical_step = Some(step);
        self
    }
}

/// What the triage found. Serializes to JSON as it is; [`TriageReport::render_text`] prints it
/// for a person.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct TriageReport {
    /// Namespace checked.
    pub namespace: String,
    /// When (the AGE and RESTARTS columns are relative to it).
    pub at: Timestamp,
    /// Every pod (`kubectl get pods`).
    pub pods: Vec<PodSummary>,
    /// Diagnoses of the unhealthy pods (`kubectl describe pod`).
    pub diagnoses: Vec<PodDiagnosis>,
    /// The selector whose pods' logs were read.
    pub log_selector: String,
    /// Their last lines (`kubectl logs -l SELECTOR --tail=N`).
    pub logs: Vec<LogLine>,
    /// Ingresses (`kubectl describe ingress`).
    pub ingresses: Vec<IngressInfo>,
    /// Services (`kubectl get svc`).
    pub services: Vec<ServiceInfo>,
    /// What is wrong, one line each; empty when nothing is.
    pub problems: Vec<String>,
    /// The vertical step advised for OOMKilled containers, when the caller gave one.
    pub vertical_step: Option<ContainerResources>,
}

/// Runs the checks against anything that reads pods, logs and networking (a
/// [`KubeCluster`](crate::KubeCluster), or mocks). `namespace` names the report; `now` dates
/// it.
///
/// # Errors
/// The first failed read.
#[tracing::instrument(skip_all, fields(namespace, selector = %options.selector))]
pub async fn site_down_triage<C>(
    cluster: &C,
    namespace: &str,
    options: &TriageOptions,
    now: Timestamp,
) -> Result<TriageReport>
where
    C: Pods + Logs + Networking + ?Sized,
{
    let pods = cluster.list_pods().await?;
    let unhealthy: Vec<&PodSummary> = pods
        .iter()
        .filter(|p| !p.is_healthy() && p.status != "Completed")
        .collect();
    let mut diagnoses = Vec::new();
    for p in unhealthy.iter().take(options.max_diagnoses) {
        diagnoses.push(cluster.diagnose_pod(&p.name).await?);
    }
    let mut log_options = LogOptions::default().with_tail(options.log_tail);
    log_options.pattern = options.log_pattern.clone();
    let logs = cluster
        .logs_by_selector(&options.selector, Some(log_options))
        .await?;
    let ingresses = cluster.list_ingresses().await?;
    let services = cluster.list_services().await?;

    let mut problems = Vec::new();
    if pods.is_empty() {
        problems.push(format!("no pods in namespace {namespace}"));
    }
    for p in &unhealthy {
        let causes = diagnoses
            .iter()
            .find(|d| d.pod.name == p.name)
            .map(|d| d.causes.as_slice());
        match causes {
            Some([]) | None => problems.push(format!(
                "pod {} is {} ({} ready)",
                p.name,
                p.status,
                p.ready_column()
            )),
            Some(causes) => {
                for c in causes {
                    problems.push(format!("pod {}: {}", p.name, c.summary()));
                }
            }
        }
    }
    if unhealthy.len() > options.max_diagnoses {
        problems.push(format!(
            "{} more unhealthy pods were not diagnosed",
            unhealthy.len() - options.max_diagnoses
        ));
    }
    for i in ingresses.iter().filter(|i| i.addresses.is_empty()) {
        problems.push(format!("ingress {} has no address", i.name));
    }
    for s in services.iter().filter(|s| s.external_ip == "<pending>") {
        problems.push(format!(
            "service {} has no external IP yet (<pending>)",
            s.name
        ));
    }
    Ok(TriageReport {
        namespace: namespace.to_string(),
        at: now,
        pods,
        diagnoses,
        log_selector: options.selector.to_string(),
        logs,
        ingresses,
        services,
        problems,
        vertical_step: options.vertical_step.clone(),
    })
}

/// Left-aligned columns, two spaces apart, the last one not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let pad = w.saturating_sub(cell.chars().count()) + 2;
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

impl TriageReport {
    /// Whether nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report for a person, section by section as the runbook step reads.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== pods ({}) at {}", self.namespace, self.at);
        let rows: Vec<Vec<String>> = self
            .pods
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.ready_column(),
                    p.status.clone(),
                    p.restarts_column(self.at),
                    p.age_column(self.at),
                ]
            })
            .collect();
        out.push_str(&table(
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            &rows,
        ));

        if !self.diagnoses.is_empty() {
            out.push_str("\n== unhealthy pods (describe)\n");
            for d in &self.diagnoses {
                if d.causes.is_empty() {
                    let _ = writeln!(
                        out,
                        "{}: {} with no cause found yet",
                        d.pod.name, d.pod.status
                    );
                }
                for c in &d.causes {
                    let _ = writeln!(out, "!! {}: {}", d.pod.name, c.summary());
                    let _ = writeln!(out, "   next: {}", c.action());
                    if let (Cause::OomKilled { .. }, Some(step)) = (c, &self.vertical_step) {
                        let _ = writeln!(out, "   vertical step: {step}");
                    }
                }
            }
        }

        let selector = if self.log_selector.is_empty() {
            "every pod"
        } else {
            &self.log_selector
        };
        let _ = writeln!(out, "\n== logs ({selector})");
        for l in &self.logs {
            let _ = writeln!(out, "{l}");
        }

        out.push_str("\n== ingresses\n");
        for i in &self.ingresses {
            let addresses = if i.addresses.is_empty() {
                "<none>".to_string()
            } else {
                i.addresses.join(",")
            };
            let _ = writeln!(
                out,
                "{}  class={}  address={}",
                i.name,
                i.class.as_deref().unwrap_or("<none>"),
                addresses
            );
            for p in &i.paths {
                let _ = writeln!(
                    out,
                    "  {}{} ({}) -> {}",
                    p.host, p.path, p.path_type, p.backend
                );
            }
            let denied = i.denylist();
            if !denied.is_empty() {
                let _ = writeln!(out, "  denied sources: {}", denied.join(","));
            }
        }

        out.push_str("\n== services\n");
        let rows: Vec<Vec<String>> = self
            .services
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.type_.clone(),
                    s.cluster_ip.clone(),
                    s.external_ip.clone(),
                    s.ports.clone(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"],
            &rows,
        ));

        out.push_str("\n== verdict\n");
        if self.problems.is_empty() {
            out.push_str("OK: every pod runs and is ready; ingresses have addresses\n");
        } else {
            for p in &self.problems {
                let _ = writeln!(out, "- {p}");
            }
            out.push_str(
                "next: restart the deployment (rollout restart), or roll back (rollout undo) if a recent deploy started it\n",
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MockLogs, MockNetworking, MockPods};

    fn table_row(name: &str) -> Vec<String> {
        vec![name.into(), "1/1".into()]
    }

    #[test]
    fn tables_align_on_characters() {
        let t = table(&["NAME", "READY"], &[table_row("é-pod"), table_row("a")]);
        assert_eq!(t, "NAME   READY\né-pod  1/1\na      1/1\n");
    }

    /// The report is built from the three traits, so a test can drive it with mocks.
    #[tokio::test]
    async fn the_report_reads_through_the_three_traits() {
        struct All(MockPods, MockLogs, MockNetworking);
        #[async_trait::async_trait]
        impl Pods for All {
            async fn list_pods(&self) -> Result<Vec<PodSummary>> {
                self.0.list_pods().await
            }
            async fn list_pods_by_selector(&self, s: &LabelSelector) -> Result<Vec<PodSummary>> {
                self.0.list_pods_by_selector(s).await
            }
            async fn get_pod(&self, n: &str) -> Result<PodSummary> {
                self.0.get_pod(n).await
            }
            async fn pod_events(&self, n: &str) -> Result<Vec<crate::EventRecord>> {
                self.0.pod_events(n).await
            }
            async fn diagnose_pod(&self, n: &str) -> Result<PodDiagnosis> {
                self.0.diagnose_pod(n).await
            }
        }
        #[async_trait::async_trait]
        impl Logs for All {
            async fn pod_logs(&self, p: &str, o: Option<LogOptions>) -> Result<Vec<String>> {
                self.1.pod_logs(p, o).await
            }
            async fn logs_by_selector(
                &self,
                s: &LabelSelector,
                o: Option<LogOptions>,
            ) -> Result<Vec<LogLine>> {
                self.1.logs_by_selector(s, o).await
            }
            async fn deployment_logs(
                &self,
                d: &str,
                o: Option<LogOptions>,
            ) -> Result<Vec<LogLine>> {
                self.1.deployment_logs(d, o).await
            }
            async fn follow_logs(
                &self,
                p: &str,
                o: Option<LogOptions>,
            ) -> Result<futures::stream::BoxStream<'static, Result<String>>> {
                self.1.follow_logs(p, o).await
            }
        }
        #[async_trait::async_trait]
        impl Networking for All {
            async fn describe_ingress(&self, n: &str) -> Result<IngressInfo> {
                self.2.describe_ingress(n).await
            }
            async fn list_ingresses(&self) -> Result<Vec<IngressInfo>> {
                self.2.list_ingresses().await
            }
            async fn list_services(&self) -> Result<Vec<ServiceInfo>> {
                self.2.list_services().await
            }
            async fn block_cidrs(
                &self,
                i: &str,
                c: &[String],
                o: Option<crate::DenylistOptions>,
            ) -> Result<crate::DenylistChange> {
                self.2.block_cidrs(i, c, o).await
            }
            async fn unblock_cidrs(
                &self,
                i: &str,
                c: &[String],
                o: Option<crate::DenylistOptions>,
            ) -> Result<crate::DenylistChange> {
                self.2.unblock_cidrs(i, c, o).await
            }
        }
        let mut pods = MockPods::new();
        pods.expect_list_pods().returning(|| Ok(Vec::new()));
        let mut logs = MockLogs::new();
        logs.expect_logs_by_selector()
            .withf(|s, o| {
                s.to_string() == "app=fleet-api" && o.as_ref().is_some_and(|o| o.tail == Some(50))
            })
            .returning(|_, _| Ok(Vec::new()));
        let mut net = MockNetworking::new();
        net.expect_list_ingresses().returning(|| Ok(Vec::new()));
        net.expect_list_services().returning(|| Ok(Vec::new()));
        let all = All(pods, logs, net);
        let options = TriageOptions::default()
            .with_selector(LabelSelector::parse("app=fleet-api").unwrap_or_default())
            .with_log_tail(50);
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap_or_default();
        let r = site_down_triage(&all, "fleet-management", &options, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // No pods at all is a problem in itself.
        assert_eq!(r.problems, ["no pods in namespace fleet-management"]);
        assert!(r.render_text().contains("== verdict\n- no pods"));
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["log_selector"], "app=fleet-api");
    }
}
