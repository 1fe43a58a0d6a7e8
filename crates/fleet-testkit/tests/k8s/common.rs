//! Helpers shared by the FakeCluster tests: raw HTTP/1.1 over TCP (so the wire is what is
//! checked, not a client's reading of it) and running the real `kubectl`.

use std::net::SocketAddr;
use std::time::Duration;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Anything with the address of a fake cluster.
pub trait Addr {
    fn socket(&self) -> SocketAddr;
}

impl Addr for FakeCluster {
    fn socket(&self) -> SocketAddr {
        self.addr()
    }
}

impl Addr for SocketAddr {
    fn socket(&self) -> SocketAddr {
        *self
    }
}

/// A response as it came over the wire (chunked bodies joined).
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// The body as newline-separated JSON frames (a watch).
    pub fn frames(&self) -> Vec<Value> {
        self.body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Joins the chunks of a chunked body; stops at the last complete chunk.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..pos]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 || rest.len() < pos + 2 + size {
            break;
        }
        out.extend_from_slice(&rest[pos + 2..pos + 2 + size]);
        rest = &rest[(pos + 4 + size).min(rest.len())..];
    }
    out
}

fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body_raw = &raw[split + 4..];
    let body = if chunked {
        dechunk(body_raw)
    } else {
        body_raw.to_vec()
    };
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// One request with extra headers (`Authorization`, `Impersonate-User`, ...), read to the end.
pub async fn http_with(
    c: &impl Addr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(c.socket()).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: fake\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
    {
        req.push_str("Accept: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

/// One request, read to the end.
pub async fn http(
    c: &impl Addr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Resp {
    match content_type {
        Some(ct) => http_with(c, method, path, &[("Content-Type", ct)], body).await,
        None => http_with(c, method, path, &[], body).await,
    }
}

/// Reads a watch until `stop` says the frames so far are enough, then hangs up.
pub async fn watch_until(c: &impl Addr, url: &str, stop: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut s = tokio::net::TcpStream::connect(c.socket()).await.unwrap();
    s.write_all(format!("GET {url} HTTP/1.1\r\nHost: fake\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("watch frames in time")
            .unwrap();
        assert!(n > 0, "watch ended early");
        raw.extend_from_slice(&buf[..n]);
        // Chunk boundaries and frame boundaries need not agree; parse what is complete.
        let text = String::from_utf8_lossy(&raw).to_string();
        let frames: Vec<Value> = text
            .split("\r\n")
            .flat_map(|chunk| chunk.lines())
            .filter(|l| l.starts_with("{\"type\""))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if stop(&frames) {
            return frames;
        }
    }
}

/// Asserts a `Status` failure body with this code and reason.
pub fn assert_status(r: &Resp, code: u16, reason: &str) {
    assert_eq!(r.status, code, "{}", r.body);
    let s = r.json();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["apiVersion"], "v1");
    assert_eq!(s["status"], "Failure");
    assert_eq!(s["code"], code);
    assert_eq!(s["reason"], reason, "{}", r.body);
    assert!(s["message"].is_string());
}

/// The seeded runbook world, controllers on.
pub async fn fleet() -> FakeCluster {
    FakeCluster::builder()
        .seed_fleet()
        .start()
        .await
        .expect("start")
}

/// What a kubectl run printed.
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` (a kubectl command) off the async runtime.
pub async fn run(mut cmd: std::process::Command) -> Out {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("kubectl runs (is it on PATH?)");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The real kubectl against the cluster's kubeconfig.
pub async fn kubectl(c: &FakeCluster, args: &[&str]) -> Out {
    let mut cmd = c.kubectl();
    cmd.args(args);
    run(cmd).await
}

/// kubectl that must succeed; returns its stdout.
pub async fn ok(c: &FakeCluster, args: &[&str]) -> String {
    let o = kubectl(c, args).await;
    assert!(o.ok, "kubectl {args:?} failed: {}\n{}", o.stderr, o.stdout);
    o.stdout
}

/// Waits up to 10 s for `f` to hold on the store.
pub async fn wait(c: &FakeCluster, what: &str, f: impl FnMut(&fleet_testkit::k8s::Store) -> bool) {
    assert!(
        c.wait_until(Duration::from_secs(10), f).await,
        "timed out waiting for {what}"
    );
}

/// The fleet namespace's pods of one app.
pub fn pods_of(c: &FakeCluster, app: &str) -> Vec<Value> {
    c.store()
        .list("pods", Some(FLEET_NAMESPACE))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .collect()
}
