//! Metrics: `kubectl top pods` and `top nodes` through metrics.k8s.io (v1 preferred, v1beta1
//! as fallback, as kubectl negotiates), quantities parsed to millicores and bytes.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::quantity;
use crate::selector::LabelSelector;

/// Usage of one container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ContainerUsage {
    /// Container name.
    pub name: String,
    /// CPU in millicores.
    pub cpu_millicores: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

/// Usage of one pod (`kubectl top pods`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PodUsage {
    /// Pod name.
    pub name: String,
    /// Sum over containers, millicores.
    pub cpu_millicores: u64,
    /// Sum over containers, bytes.
    pub memory_bytes: u64,
    /// Per container.
    pub containers: Vec<ContainerUsage>,
}

/// Usage of one node (`kubectl top nodes`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct NodeUsage {
    /// Node name.
    pub name: String,
    /// CPU in millicores.
    pub cpu_millicores: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// CPU as a percentage of allocatable, when the node's allocatable is known.
    pub cpu_percent: Option<f64>,
    /// Memory as a percentage of allocatable.
    pub memory_percent: Option<f64>,
}

fn usage_of(v: &Value, what: &str) -> Result<(u64, u64)> {
    let cpu = v["cpu"]
        .as_str()
        .ok_or_else(|| Error::unexpected(what, "usage has no cpu"))?;
    let mem = v["memory"]
        .as_str()
        .ok_or_else(|| Error::unexpected(what, "usage has no memory"))?;
    Ok((quantity::cpu_millicores(cpu)?, quantity::memory_bytes(mem)?))
}

/// Reads a `PodMetricsList` (either version).
pub(crate) fn parse_pod_metrics(list: &Value) -> Result<Vec<PodUsage>> {
    let items = list["items"]
        .as_array()
        .ok_or_else(|| Error::unexpected("PodMetricsList", "no items"))?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let name = it["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut containers = Vec::new();
        for c in it["containers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let (cpu, mem) = usage_of(&c["usage"], &format!("metrics of pod {name}"))?;
            containers.push(ContainerUsage {
                name: c["name"].as_str().unwrap_or_default().to_string(),
                cpu_millicores: cpu,
                memory_bytes: mem,
            });
        }
        out.push(PodUsage {
            cpu_millicores: containers
                .iter()
                .fold(0u64, |a, c| a.saturating_add(c.cpu_millicores)),
            memory_bytes: containers
                .iter()
                .fold(0u64, |a, c| a.saturating_add(c.memory_bytes)),
            name,
            containers,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Reads a `NodeMetricsList` (either version).
pub(crate) fn parse_node_metrics(list: &Value) -> Result<Vec<NodeUsage>> {
    let items = list["items"]
        .as_array()
        .ok_or_else(|| Error::unexpected("NodeMetricsList", "no items"))?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let name = it["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (cpu, mem) = usage_of(&it["usage"], &format!("metrics of node {name}"))?;
        out.push(NodeUsage {
            name,
            cpu_millicores: cpu,
            memory_bytes: mem,
            cpu_percent: None,
            memory_percent: None,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Picks the metrics version kubectl would: the first of the server's versions of
/// `metrics.k8s.io` that is `v1` or `v1beta1`, `v1` winning when both are served.
pub(crate) fn pick_metrics_version<'a>(
    served: impl IntoIterator<Item = &'a str>,
) -> Option<&'static str> {
    let served: Vec<&str> = served.into_iter().collect();
    ["v1", "v1beta1"].into_iter().find(|v| served.contains(v))
}

/// Resource usage.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Metrics: Send + Sync {
    /// Usage of every pod of the namespace.
    async fn top_pods(&self) -> Result<Vec<PodUsage>>;
    /// Usage of the pods matching a label selector.
    async fn top_pods_by_selector(&self, selector: &LabelSelector) -> Result<Vec<PodUsage>>;
    /// Usage of every node, with percentages of allocatable.
    async fn top_nodes(&self) -> Result<Vec<NodeUsage>>;
}

mod kube_impl {
    use k8s_openapi::api::core::v1::Node;
    use kube::Api;
    use kube::api::ListParams;
    use serde_json::Value;

    use super::{
        Metrics, NodeUsage, PodUsage, parse_node_metrics, parse_pod_metrics, pick_metrics_version,
    };
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};
    use crate::quantity;
    use crate::selector::LabelSelector;

    fn encode(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    impl KubeCluster {
        async fn metrics_version(&self) -> Result<&'static str> {
            let groups = self
                .call("discover API groups", || self.client.list_api_groups())
                .await?;
            let group = groups.groups.iter().find(|g| g.name == "metrics.k8s.io");
            let version = group
                .and_then(|g| pick_metrics_version(g.versions.iter().map(|v| v.version.as_str())));
            version.ok_or(Error::MetricsUnavailable)
        }

        async fn get_json(&self, op: &str, path: &str) -> Result<Value> {
            self.call(op, || {
                let req = http::Request::get(path).body(Vec::new());
                async move {
                    let req = req.map_err(kube::Error::HttpError)?;
                    self.client.request::<Value>(req).await
                }
            })
            .await
        }

        async fn pod_metrics(&self, selector: Option<&LabelSelector>) -> Result<Vec<PodUsage>> {
            let v = self.metrics_version().await?;
            let mut path = format!(
                "/apis/metrics.k8s.io/{v}/namespaces/{}/pods",
                self.namespace()
            );
            if let Some(s) = selector.filter(|s| !s.is_everything()) {
                path.push_str(&format!("?labelSelector={}", encode(&s.to_string())));
            }
            let list = self.get_json("list pod metrics", &path).await?;
            parse_pod_metrics(&list)
        }
    }

    #[async_trait::async_trait]
    impl Metrics for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn top_pods(&self) -> Result<Vec<PodUsage>> {
            self.pod_metrics(None).await
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), selector = %selector))]
        async fn top_pods_by_selector(&self, selector: &LabelSelector) -> Result<Vec<PodUsage>> {
            self.pod_metrics(Some(selector)).await
        }

        #[tracing::instrument(skip_all)]
        async fn top_nodes(&self) -> Result<Vec<NodeUsage>> {
            let v = self.metrics_version().await?;
            let list = self
                .get_json(
                    "list node metrics",
                    &format!("/apis/metrics.k8s.io/{v}/nodes"),
                )
                .await?;
            let mut usage = parse_node_metrics(&list)?;
            let nodes: Api<Node> = Api::all(self.client.clone());
            let nodes = self
                .list_all(&nodes, &ListParams::default(), "list nodes")
                .await?;
            for u in &mut usage {
                let alloc = nodes
                    .iter()
                    .find(|n| n.metadata.name.as_deref() == Some(u.name.as_str()))
                    .and_then(|n| n.status.as_ref())
                    .and_then(|s| s.allocatable.as_ref());
                if let Some(a) = alloc {
                    let cpu = a
                        .get("cpu")
                        .and_then(|q| quantity::cpu_millicores(&q.0).ok())
                        .filter(|c| *c > 0);
                    let mem = a
                        .get("memory")
                        .and_then(|q| quantity::memory_bytes(&q.0).ok())
                        .filter(|m| *m > 0);
                    u.cpu_percent = cpu.map(|c| u.cpu_millicores as f64 * 100.0 / c as f64);
                    u.memory_percent = mem.map(|m| u.memory_bytes as f64 * 100.0 / m as f64);
                }
            }
            Ok(usage)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::fixture;

    #[test]
    fn metrics_from_the_kubernetes_docs() {
        let nodes =
            parse_node_metrics(&json!({"items": [fixture("k8s-docs-node-metrics-minikube.json")]}))
                .expect("nodes");
        assert_eq!(
            (
                nodes[0].name.as_str(),
                nodes[0].cpu_millicores,
                nodes[0].memory_bytes
            ),
            ("minikube", 488, 732_212 * 1024)
        );
        let pods = parse_pod_metrics(
            &json!({"items": [fixture("k8s-docs-pod-metrics-kube-scheduler.json")]}),
        )
        .expect("pods");
        assert_eq!(pods[0].name, "kube-scheduler-minikube");
        assert_eq!(pods[0].containers.len(), 1);
        assert!(pods[0].cpu_millicores > 0 && pods[0].memory_bytes > 0);
        assert_eq!(pick_metrics_version(["v1beta1", "v1"]), Some("v1"));
        assert_eq!(pick_metrics_version(["v1beta1"]), Some("v1beta1"));
        assert_eq!(pick_metrics_version(["v2alpha1"]), None);
        assert!(
            parse_node_metrics(
                &json!({"items": [{"metadata": {"name": "n"}, "usage": {"cpu": "x", "memory": "1"}}]})
            )
            .is_err()
        );
    }
}
