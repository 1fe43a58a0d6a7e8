//! Logs: tail, previous instance, across the pods of a label selector with bounded
//! concurrency, followed as a stream, filtered by a fixed-string pattern (the runbook's
//! `| grep ERROR`).

use futures::stream::BoxStream;

use crate::error::Result;

/// Which log lines to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogQuery {
    /// Container; `None` picks the pod's default container (the
    /// `kubectl.kubernetes.io/default-container` annotation, else the first), as kubectl does.
    pub container: Option<String>,
    /// Last N lines (`--tail`). `None` means all for one pod and 10 across a selector,
    /// kubectl's defaults.
    pub tail: Option<i64>,
    /// The previous, terminated instance (`--previous`).
    pub previous: bool,
    /// Only lines of the last this many seconds (`--since`).
    pub since_seconds: Option<i64>,
    /// Only lines containing this text (a fixed string, as `grep -F`).
    pub pattern: Option<String>,
    /// Prefix each line with the server's RFC 3339 timestamp (`--timestamps`).
    pub timestamps: bool,
}

impl LogQuery {
    /// Every line of the default container.
    pub fn all() -> Self {
        Self::default()
    }
    /// The last `n` lines.
    pub fn tail(n: i64) -> Self {
        Self {
            tail: Some(n),
            ..Self::default()
        }
    }
    /// Reads the previous instance.
    #[must_use]
    pub fn previous(mut self) -> Self {
        self.previous = true;
        self
    }
    /// Keeps only lines containing `pattern`.
    #[must_use]
    pub fn grep(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }
    /// Picks a container.
    #[must_use]
    pub fn container(mut self, c: impl Into<String>) -> Self {
        self.container = Some(c.into());
        self
    }

    pub(crate) fn keeps(&self, line: &str) -> bool {
        self.pattern.as_deref().is_none_or(|p| line.contains(p))
    }
}

/// A log line with where it came from (kubectl's `--prefix`: `[pod/NAME/CONTAINER]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LogLine {
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// The line, without its newline.
    pub line: String,
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[pod/{}/{}] {}", self.pod, self.container, self.line)
    }
}

/// Reading container logs.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Logs: Send + Sync {
    /// Lines of one pod (`kubectl logs POD`).
    async fn pod_logs(&self, pod: &str, query: &LogQuery) -> Result<Vec<String>>;
    /// Lines of every pod matching a selector (`kubectl logs -l SELECTOR`), pod by pod in
    /// name order, fetched with at most `max_log_requests` requests in flight.
    async fn logs_by_selector(&self, selector: &str, query: &LogQuery) -> Result<Vec<LogLine>>;
    /// Lines of one pod of a deployment (`kubectl logs deployment/NAME`: the first pod by
    /// name among its running pods).
    async fn deployment_logs(&self, deployment: &str, query: &LogQuery) -> Result<Vec<LogLine>>;
    /// Follows one pod's log (`kubectl logs -f`): the stream ends when the container stops.
    async fn follow_logs(
        &self,
        pod: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, Result<String>>>;
}

mod kube_impl {
    use futures::stream::BoxStream;
    use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{ListParams, LogParams};

    use super::{LogLine, LogQuery, Logs};
    use crate::cluster::KubeCluster;
    use crate::compat;
    use crate::error::{Error, Result};
    use crate::validate;

    const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

    fn default_container(pod: &Pod) -> Option<String> {
        if let Some(c) = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        {
            return Some(c.clone());
        }
        pod.spec
            .as_ref()?
            .containers
            .first()
            .map(|c| c.name.clone())
    }

    fn params(q: &LogQuery, container: &str, tail: Option<i64>, follow: bool) -> LogParams {
        LogParams {
            container: Some(container.to_string()),
            follow,
            previous: q.previous,
            since_seconds: q.since_seconds,
            tail_lines: tail,
            timestamps: q.timestamps,
            ..LogParams::default()
        }
    }

    fn check(q: &LogQuery) -> Result<()> {
        if let Some(c) = &q.container {
            validate::label_name("container name", c)?;
        }
        if q.tail.is_some_and(|t| t < 0) {
            return Err(Error::invalid(
                "tail",
                q.tail.unwrap_or_default().to_string(),
                "must not be negative",
            ));
        }
        Ok(())
    }

    impl KubeCluster {
        async fn logs_of(
            &self,
            pod: &Pod,
            q: &LogQuery,
            tail: Option<i64>,
        ) -> Result<Vec<LogLine>> {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let container = match q.container.clone().or_else(|| default_container(pod)) {
                Some(c) => c,
                None => return Ok(Vec::new()),
            };
            let api = self.api::<Pod>();
            let lp = params(q, &container, tail, false);
            let text = self
                .call(&format!("logs of pod {name}"), || api.logs(&name, &lp))
                .await?;
            Ok(text
                .lines()
                .filter(|l| q.keeps(l))
                .map(|l| LogLine {
                    pod: name.clone(),
                    container: container.clone(),
                    line: l.to_string(),
                })
                .collect())
        }

        async fn many_logs(
            &self,
            mut pods: Vec<Pod>,
            q: &LogQuery,
            tail: Option<i64>,
        ) -> Result<Vec<LogLine>> {
            pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            let chunks: Vec<Vec<LogLine>> = futures::stream::iter(pods)
                .map(|p| async move { self.logs_of(&p, q, tail).await })
                .buffered(self.opts.max_log_requests)
                .try_collect()
                .await?;
            Ok(chunks.into_iter().flatten().collect())
        }
    }

    #[async_trait::async_trait]
    impl Logs for KubeCluster {
        async fn pod_logs(&self, pod: &str, query: &LogQuery) -> Result<Vec<String>> {
            validate::object_name("pod name", pod)?;
            check(query)?;
            let lines = if query.container.is_some() {
                // No need to read the pod: the container is known.
                let mut stub = Pod::default();
                stub.metadata.name = Some(pod.to_string());
                self.logs_of(&stub, query, query.tail).await?
            } else {
                let p = self.read_pod(pod).await?;
                self.logs_of(&p, query, query.tail).await?
            };
            Ok(lines.into_iter().map(|l| l.line).collect())
        }

        async fn logs_by_selector(&self, selector: &str, query: &LogQuery) -> Result<Vec<LogLine>> {
            check(query)?;
            let api = self.api::<Pod>();
            let lp = ListParams::default().labels(selector);
            let pods = self
                .list_all(&api, &lp, &format!("list pods -l {selector}"))
                .await?;
            // kubectl's default tail with a selector is 10 lines per container.
            self.many_logs(pods, query, Some(query.tail.unwrap_or(10)))
                .await
        }

        async fn deployment_logs(
            &self,
            deployment: &str,
            query: &LogQuery,
        ) -> Result<Vec<LogLine>> {
            validate::object_name("deployment name", deployment)?;
            check(query)?;
            let dapi = self.api::<Deployment>();
            let d = self
                .call(&format!("get deployment {deployment}"), || {
                    dapi.get(deployment)
                })
                .await?;
            let selector = compat::deployment_spec(&d)
                .map(|s| s.selector.clone())
                .ok_or_else(|| {
                    Error::unexpected(format!("deployment {deployment}"), "has no spec")
                })?;
            let selector = kube::core::Selector::try_from(selector).map_err(|e| {
                Error::unexpected(format!("deployment {deployment}"), e.to_string())
            })?;
            let api = self.api::<Pod>();
            let lp = ListParams::default().labels(&selector.to_string());
            let mut pods = self
                .list_all(&api, &lp, &format!("list pods of {deployment}"))
                .await?;
            pods.sort_by(|a, b| {
                let running =
                    |p: &Pod| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                running(b)
                    .cmp(&running(a))
                    .then_with(|| a.metadata.name.cmp(&b.metadata.name))
            });
            let Some(pod) = pods.into_iter().next() else {
                return Err(Error::NotFound {
                    what: "pod",
                    detail: format!("deployment {deployment:?} has no pods"),
                });
            };
            self.logs_of(&pod, query, query.tail).await
        }

        async fn follow_logs(
            &self,
            pod: &str,
            query: &LogQuery,
        ) -> Result<BoxStream<'static, Result<String>>> {
            validate::object_name("pod name", pod)?;
            check(query)?;
            let container = match &query.container {
                Some(c) => c.clone(),
                None => {
                    let p = self.read_pod(pod).await?;
                    default_container(&p).ok_or_else(|| Error::NotFound {
                        what: "container",
                        detail: format!("pod {pod:?} has no containers"),
                    })?
                }
            };
            let api = self.api::<Pod>();
            let lp = params(query, &container, query.tail, true);
            let op = format!("follow logs of pod {pod}");
            let reader = self.call(&op, || api.log_stream(pod, &lp)).await?;
            let q = query.clone();
            let stream = reader
                .lines()
                .map_err(move |e| Error::Transport {
                    op: op.clone(),
                    source: Box::new(kube::Error::ReadEvents(e)),
                })
                .try_filter(move |l| futures::future::ready(q.keeps(l)));
            Ok(stream.boxed())
        }
    }
}
