//! Logs: tail, previous instance, across the pods of a label selector with bounded
//! concurrency, followed as a stream, filtered by a fixed-string pattern (the runbook's
//! `| grep ERROR`). Every read is capped in bytes and every line in length.

use futures::stream::BoxStream;
use futures::{AsyncBufRead, AsyncBufReadExt};

use crate::error::Result;
use crate::selector::LabelSelector;

/// Options of the [`Logs`] operations: which lines, and the caps of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogOptions {
    /// Container; `None` picks the pod's default container (the
    /// `kubectl.kubernetes.io/default-container` annotation, else the first), as kubectl does.
    pub container: Option<String>,
    /// Last N lines (`--tail`). `None` means all for one pod and 10 across a selector,
    /// kubectl's defaults.
    pub tail: Option<u32>,
    /// The previous, terminated instance (`--previous`).
    pub previous: bool,
    /// Only lines of the last this many seconds (`--since`).
    pub since_seconds: Option<u32>,
    /// Only lines containing this text (a fixed string, as `grep -F`).
    pub pattern: Option<String>,
    /// Prefix each line with the server's RFC 3339 timestamp (`--timestamps`).
    pub timestamps: bool,
    /// Most bytes read from one container's log (`--limit-bytes`, sent to the server and
    /// enforced on what arrives); the read stops there. Default 10 MiB. Not applied to
    /// followed logs, which are bounded per line.
    pub limit_bytes: u64,
    /// Longest line kept, in bytes; the rest of a longer line is dropped (at a character
    /// boundary). Default 64 KiB.
    pub max_line_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            container: None,
            tail: None,
            previous: false,
            since_seconds: None,
            pattern: None,
            timestamps: false,
            limit_bytes: 10 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
        }
    }
}

impl LogOptions {
    /// The last `n` lines.
    #[must_use]
    pub fn with_tail(mut self, n: u32) -> Self {
        self.tail = Some(n);
        self
    }
    /// Reads the previous instance.
    #[must_use]
    pub fn with_previous(mut self, on: bool) -> Self {
        self.previous = on;
        self
    }
    /// Keeps only lines containing `pattern`.
    #[must_use]
    pub fn with_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }
    /// Picks a container.
    #[must_use]
    pub fn with_container(mut self, c: impl Into<String>) -> Self {
        self.container = Some(c.into());
        self
    }
    /// Sets the byte cap of a read.
    #[must_use]
    pub fn with_limit_bytes(mut self, n: u64) -> Self {
        self.limit_bytes = n;
        self
    }
    /// Sets the longest line kept.
    #[must_use]
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
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
    async fn pod_logs(&self, pod: &str, options: Option<LogOptions>) -> Result<Vec<String>>;
    /// Lines of every pod matching a selector (`kubectl logs -l SELECTOR`), pod by pod in
    /// name order, fetched with at most `max_log_requests` requests in flight.
    async fn logs_by_selector(
        &self,
        selector: &LabelSelector,
        options: Option<LogOptions>,
    ) -> Result<Vec<LogLine>>;
    /// Lines of one pod of a deployment (`kubectl logs deployment/NAME`: the first pod by
    /// name among its running pods).
    async fn deployment_logs(
        &self,
        deployment: &str,
        options: Option<LogOptions>,
    ) -> Result<Vec<LogLine>>;
    /// Follows one pod's log (`kubectl logs -f`): the stream ends when the container stops;
    /// a dropped connection ends it with an error (it is not resumed, so no line is repeated).
    async fn follow_logs(
        &self,
        pod: &str,
        options: Option<LogOptions>,
    ) -> Result<BoxStream<'static, Result<String>>>;
}

/// One line of at most `max` bytes (the rest of a longer line is read and dropped), without
/// its `\n` or `\r\n`; `None` at the end of the input. Invalid UTF-8 is replaced.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<(String, usize)>> {
    let mut line = Vec::new();
    let mut consumed = 0usize;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            if consumed == 0 {
                return Ok(None);
            }
            break;
        }
        let (chunk, used, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        consumed = consumed.saturating_add(used);
        r.consume_unpin(used);
        if done {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = match String::from_utf8(line) {
        Ok(t) => t,
        Err(e) => {
            // A cut in the middle of a character: drop the partial character, not the line.
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            if bytes.len() >= max && bytes.len() - valid < 4 {
                bytes.truncate(valid);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    Ok(Some((text, consumed)))
}

mod kube_impl {
    use futures::stream::BoxStream;
    use futures::{AsyncBufRead, StreamExt, TryStreamExt};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{ListParams, LogParams};

    use super::{LogLine, LogOptions, Logs, read_line};
    use crate::cluster::KubeCluster;
    use crate::compat;
    use crate::error::{Error, Result};
    use crate::selector::LabelSelector;
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

    fn params(q: &LogOptions, container: &str, tail: Option<u32>, follow: bool) -> LogParams {
        LogParams {
            container: Some(container.to_string()),
            follow,
            previous: q.previous,
            since_seconds: q.since_seconds.map(i64::from),
            tail_lines: tail.map(i64::from),
            timestamps: q.timestamps,
            limit_bytes: (!follow).then(|| i64::try_from(q.limit_bytes).unwrap_or(i64::MAX)),
            ..LogParams::default()
        }
    }

    fn check(q: &LogOptions) -> Result<()> {
        if let Some(c) = &q.container {
            validate::label_name("container name", c)?;
        }
        if q.limit_bytes == 0 {
            return Err(Error::invalid("limit_bytes", "0", "must be at least 1"));
        }
        if q.max_line_bytes == 0 {
            return Err(Error::invalid("max_line_bytes", "0", "must be at least 1"));
        }
        Ok(())
    }

    /// Reads lines until the end or until `limit` bytes have been read.
    async fn read_capped<R: AsyncBufRead + Unpin>(
        mut r: R,
        q: &LogOptions,
        op: &str,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut read = 0u64;
        while read < q.limit_bytes {
            let next = read_line(&mut r, q.max_line_bytes)
                .await
                .map_err(|e| io_error(op, e))?;
            let Some((line, n)) = next else { break };
            read = read.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
            if q.keeps(&line) {
                out.push(line);
            }
        }
        Ok(out)
    }

    fn io_error(op: &str, e: std::io::Error) -> Error {
        Error::Transport {
            op: op.to_string(),
            source: Box::new(kube::Error::ReadEvents(e)),
        }
    }

    impl KubeCluster {
        async fn logs_of(
            &self,
            pod: &Pod,
            q: &LogOptions,
            tail: Option<u32>,
        ) -> Result<Vec<LogLine>> {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let container = match q.container.clone().or_else(|| default_container(pod)) {
                Some(c) => c,
                None => return Ok(Vec::new()),
            };
            let api = self.api::<Pod>();
            let lp = params(q, &container, tail, false);
            let op = format!("logs of pod {name}");
            let reader = self.call(&op, || api.log_stream(&name, &lp)).await?;
            let lines = read_capped(Box::pin(reader), q, &op).await?;
            Ok(lines
                .into_iter()
                .map(|line| LogLine {
                    pod: name.clone(),
                    container: container.clone(),
                    line,
                })
                .collect())
        }

        async fn many_logs(
            &self,
            mut pods: Vec<Pod>,
            q: &LogOptions,
            tail: Option<u32>,
        ) -> Result<Vec<LogLine>> {
            pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            let chunks: Vec<Vec<LogLine>> = futures::stream::iter(pods)
                .map(|p| async move { self.logs_of(&p, q, tail).await })
                .buffered(self.opts.max_log_requests.max(1))
                .try_collect()
                .await?;
            Ok(chunks.into_iter().flatten().collect())
        }
    }

    #[async_trait::async_trait]
    impl Logs for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), pod))]
        async fn pod_logs(&self, pod: &str, options: Option<LogOptions>) -> Result<Vec<String>> {
            let query = options.unwrap_or_default();
            validate::object_name("pod name", pod)?;
            check(&query)?;
            let lines = if query.container.is_some() {
                // No need to read the pod: the container is known.
                let mut stub = Pod::default();
                stub.metadata.name = Some(pod.to_string());
                self.logs_of(&stub, &query, query.tail).await?
            } else {
                let p = self.read_pod(pod).await?;
                self.logs_of(&p, &query, query.tail).await?
            };
            Ok(lines.into_iter().map(|l| l.line).collect())
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), selector = %selector))]
        async fn logs_by_selector(
            &self,
            selector: &LabelSelector,
            options: Option<LogOptions>,
        ) -> Result<Vec<LogLine>> {
            let query = options.unwrap_or_default();
            check(&query)?;
            let api = self.api::<Pod>();
            let lp = ListParams::default().labels(&selector.to_string());
            let pods = self
                .list_all(&api, &lp, &format!("list pods -l {selector}"))
                .await?;
            // kubectl's default tail with a selector is 10 lines per container.
            self.many_logs(pods, &query, Some(query.tail.unwrap_or(10)))
                .await
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment))]
        async fn deployment_logs(
            &self,
            deployment: &str,
            options: Option<LogOptions>,
        ) -> Result<Vec<LogLine>> {
            let query = options.unwrap_or_default();
            validate::object_name("deployment name", deployment)?;
            check(&query)?;
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
            self.logs_of(&pod, &query, query.tail).await
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), pod))]
        async fn follow_logs(
            &self,
            pod: &str,
            options: Option<LogOptions>,
        ) -> Result<BoxStream<'static, Result<String>>> {
            let query = options.unwrap_or_default();
            validate::object_name("pod name", pod)?;
            check(&query)?;
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
            let lp = params(&query, &container, query.tail, true);
            let op = format!("follow logs of pod {pod}");
            let reader = self.call(&op, || api.log_stream(pod, &lp)).await?;
            let stream = futures::stream::try_unfold(
                (Box::pin(reader), query, op),
                |(mut reader, q, op)| async move {
                    loop {
                        let next = read_line(&mut reader, q.max_line_bytes)
                            .await
                            .map_err(|e| io_error(&op, e))?;
                        match next {
                            None => return Ok(None),
                            Some((line, _)) if q.keeps(&line) => {
                                return Ok(Some((line, (reader, q, op))));
                            }
                            Some(_) => {}
                        }
                    }
                },
            );
            Ok(stream.boxed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut r = futures::io::Cursor::new(input.to_vec());
        let mut out = Vec::new();
        while let Ok(Some((l, _))) = read_line(&mut r, max).await {
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_and_capped() {
        assert_eq!(lines(b"a\nbb\r\n\nccc", 10).await, ["a", "bb", "", "ccc"]);
        assert_eq!(lines(b"abcdefgh\nij\n", 3).await, ["abc", "ij"]);
        assert!(lines(b"", 3).await.is_empty());
        // A cut inside a multi-byte character drops the partial character, nothing panics.
        assert_eq!(lines("aé€\n".as_bytes(), 4).await, ["aé"]);
        assert_eq!(lines(&[0xff, b'a', b'\n'], 10).await, ["\u{fffd}a"]);
        // A long line arriving in small pieces is still cut at the cap.
        let long = vec![b'x'; 100_000];
        let got = lines(&long, 64).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), 64);
    }
}
