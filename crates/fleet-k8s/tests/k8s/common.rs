//! Shared set-up: a seeded FakeCluster, a KubeCluster pointed at it, kubectl, and a proxy that
//! cuts connections for the fault tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleet_k8s::{ClusterOptions, KubeCluster, RetryPolicy};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Retries that are fast enough for tests.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_max_retry_after(Duration::from_millis(30))
        .with_budget(Duration::from_secs(5))
        .with_attempt_timeout(Some(Duration::from_secs(10)))
}

/// A kube config for a server URL, namespace `fleet-management`.
pub(crate) fn config_for(url: &str) -> kube::Config {
    let url = url.parse().expect("server URL parses");
    let mut cfg = kube::Config::new(url);
    cfg.default_namespace = FLEET_NAMESPACE.into();
    cfg
}

/// A kube config for the fake cluster.
pub(crate) fn config(cluster: &FakeCluster) -> kube::Config {
    config_for(&cluster.url())
}

/// Options for tests: fast retries.
pub(crate) fn options() -> ClusterOptions {
    ClusterOptions::default().with_retry(fast_retry())
}

/// A KubeCluster for the fake cluster, with fast retries (and kube's own retry layer off).
pub(crate) fn kube_cluster(cluster: &FakeCluster) -> KubeCluster {
    KubeCluster::from_config(config(cluster), options()).expect("valid options")
}

/// The fleet world, settled.
pub(crate) async fn fleet() -> FakeCluster {
    FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("fake cluster starts")
}

/// Runs kubectl against the cluster in the fleet namespace: (success, stdout, stderr). It runs
/// as a child process awaited asynchronously, so the in-process server keeps answering.
pub(crate) async fn kubectl(cluster: &FakeCluster, args: &[&str]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::from(cluster.kubectl());
    let out = cmd
        .args(["-n", FLEET_NAMESPACE])
        .args(args)
        .output()
        .await
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first pod whose name starts with `prefix`.
pub(crate) fn pod_named(cluster: &FakeCluster, prefix: &str) -> Option<String> {
    cluster
        .store()
        .list("pods", Some(FLEET_NAMESPACE))
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .find(|n| n.starts_with(prefix))
}

/// A parsed label selector.
pub(crate) fn selector(s: &str) -> fleet_k8s::LabelSelector {
    s.parse().expect("valid selector")
}

struct Rule {
    pattern: String,
    body_bytes: usize,
    remaining: u32,
}

#[derive(Default)]
struct Rules {
    rules: Vec<Rule>,
    cuts: usize,
}

/// A TCP proxy in front of a server that misbehaves on request: for the next `times` requests
/// whose request line contains a pattern, the response is forwarded up to the end of its head
/// plus `body_bytes` bytes of body, and then the connection is closed. Everything else passes
/// through byte for byte. It stands for a network or a server that drops or truncates.
pub(crate) struct FaultProxy {
    addr: SocketAddr,
    rules: Arc<Mutex<Rules>>,
}

impl FaultProxy {
    /// Listens on loopback and forwards to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let rules: Arc<Mutex<Rules>> = Arc::default();
        let shared = rules.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let rules = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, rules).await;
                    }
                });
            }
        });
        Self { addr, rules }
    }

    /// `http://ADDR` of the proxy.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the responses of the next `times` requests whose request line contains `pattern`
    /// after their head and `body_bytes` bytes.
    pub(crate) fn cut(&self, pattern: &str, body_bytes: usize, times: u32) {
        self.rules.lock().expect("rules").rules.push(Rule {
            pattern: pattern.into(),
            body_bytes,
            remaining: times,
        });
    }

    /// How many responses were cut so far.
    pub(crate) fn cuts(&self) -> usize {
        self.rules.lock().expect("rules").cuts
    }
}

/// The first line of a request head, when `chunk` starts one.
fn request_line(chunk: &[u8]) -> Option<String> {
    let methods: [&[u8]; 5] = [b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE "];
    if !methods.iter().any(|m| chunk.starts_with(m)) {
        return None;
    }
    let end = chunk.windows(2).position(|w| w == b"\r\n")?;
    Some(String::from_utf8_lossy(&chunk[..end]).into_owned())
}

async fn relay(client: TcpStream, server: TcpStream, rules: Arc<Mutex<Rules>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Body bytes to let through before cutting the response now on its way, if armed.
    let armed: Arc<Mutex<Option<usize>>> = Arc::default();
    let arm = armed.clone();
    let upstream = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(line) = request_line(&buf[..n]) {
                let mut r = rules.lock().expect("rules");
                let hit = r
                    .rules
                    .iter_mut()
                    .find(|rule| rule.remaining > 0 && line.contains(&rule.pattern))
                    .map(|rule| {
                        rule.remaining -= 1;
                        rule.body_bytes
                    });
                if let Some(bytes) = hit {
                    r.cuts += 1;
                    *arm.lock().expect("arm") = Some(bytes);
                }
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    // Passing through (`None`), in an armed response's head (the last bytes seen, to find its
    // end across reads, and the body bytes to allow), or in its body (bytes left).
    let mut head: Option<(Vec<u8>, usize)> = None;
    let mut body_left: Option<usize> = None;
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if let Some(limit) = armed.lock().expect("arm").take() {
            head = Some((Vec::new(), limit));
        }
        let mut send = n;
        let mut cut = false;
        if let Some((seen, limit)) = head.as_mut() {
            let carried = seen.len();
            seen.extend_from_slice(chunk);
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                // Index in `chunk` just past the head.
                let past_head = end + 4 - carried;
                body_left = Some(*limit);
                head = None;
                let body_here = n - past_head;
                let allowed = body_left.unwrap_or(0);
                if body_here >= allowed {
                    send = past_head + allowed;
                    cut = true;
                } else {
                    body_left = Some(allowed - body_here);
                }
            } else {
                // Keep the last three bytes: the end marker may straddle reads.
                let keep = seen.len().saturating_sub(3);
                seen.drain(..keep);
            }
        } else if let Some(left) = body_left {
            if n >= left {
                send = left;
                cut = true;
            } else {
                body_left = Some(left - n);
            }
        }
        if client_write.write_all(&chunk[..send]).await.is_err() || cut {
            break;
        }
    }
    // Closing both sides is the fault: the client sees the connection end mid-response.
    let _ = client_write.shutdown().await;
    upstream.abort();
}
