//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`), as `kubectl exec`
//! speaks it: what runs is the test's [`ExecHandler`](super::FakeCluster::on_exec), given the
//! command and the stdin the client sent; its stdout, stderr and exit code go back on their
//! channels, the exit code as the `Status` on the error channel.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use serde_json::json;

/// An exec request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecRequest {
    /// Namespace of the pod.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container the command runs in.
    pub container: String,
    /// The argument vector (`["psql", "-c", "select 1"]`).
    pub command: Vec<String>,
    /// Whether the client streams stdin.
    pub stdin: bool,
    /// Whether the client asked for a TTY.
    pub tty: bool,
}

/// What an exec produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Bytes written to stdout.
    pub stdout: Vec<u8>,
    /// Bytes written to stderr.
    pub stderr: Vec<u8>,
    /// Exit code; non-zero is reported as `NonZeroExitCode`.
    pub exit_code: i32,
}

impl ExecOutput {
    /// Successful output with this stdout.
    pub fn ok(stdout: impl Into<Vec<u8>>) -> Self {
        Self {
            stdout: stdout.into(),
            ..Self::default()
        }
    }

    /// A failure with this stderr and exit code.
    pub fn fail(stderr: impl Into<Vec<u8>>, exit_code: i32) -> Self {
        Self {
            stderr: stderr.into(),
            exit_code,
            ..Self::default()
        }
    }
}

/// Runs exec requests for a fake cluster: gets the request and the complete stdin.
pub type ExecHandler = Arc<dyn Fn(&ExecRequest, &[u8]) -> ExecOutput + Send + Sync>;

/// The channel protocols served, preferred first.
pub(crate) const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

fn status(req: &ExecRequest, code: i32) -> Vec<u8> {
    let s = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", req.command.join(" ")),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    };
    s.to_string().into_bytes()
}

/// One exec session: collect stdin (until the client closes it), run the handler, send the
/// output and the status, close.
pub(crate) async fn session(mut socket: WebSocket, req: ExecRequest, handler: Option<ExecHandler>) {
    let mut input = Vec::new();
    if req.stdin {
        while let Some(Ok(msg)) = socket.recv().await {
            match msg {
                Message::Binary(b) => match b.first() {
                    Some(0) => input.extend_from_slice(&b[1..]),
                    // v5: a close signal for a channel; stdin (0) closed means end of input.
                    Some(255) if b.get(1) == Some(&0) => break,
                    _ => {}
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    }
    let out = match handler {
        Some(h) => {
            let req2 = req.clone();
            tokio::task::spawn_blocking(move || h(&req2, &input))
                .await
                .unwrap_or_else(|_| ExecOutput::fail("exec handler panicked\n", 1))
        }
        None => ExecOutput::fail(
            format!(
                "fleet fake cluster: no exec handler set (FakeCluster::on_exec); cannot run {:?}\n",
                req.command
            ),
            126,
        ),
    };
    let mut frames = Vec::new();
    if !out.stdout.is_empty() {
        frames.push(frame(1, &out.stdout));
    }
    if !out.stderr.is_empty() {
        frames.push(frame(2, &out.stderr));
    }
    frames.push(frame(3, &status(&req, out.exit_code)));
    for f in frames {
        if socket.send(f).await.is_err() {
            return;
        }
    }
    // A normal closure (1000): clients treat a close without a code as an error.
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: Utf8Bytes::from_static(""),
        })))
        .await;
}
