//! What the examples' end-to-end tests share (each test file is its own binary and includes
//! this with `mod support;`; a binary uses what it needs, hence the `dead_code` allowance).
#![allow(dead_code)]

use std::path::PathBuf;

/// The directory cargo builds the examples into, next to the test binary.
pub(crate) fn examples_dir() -> PathBuf {
    let mut dir = std::env::current_exe().expect("test exe path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples")
}

/// The example binary `name`, which cargo built for this test (its `required-features`).
pub(crate) fn exe(name: &str) -> PathBuf {
    let p = examples_dir().join(name);
    assert!(p.exists(), "{} not built", p.display());
    p
}

/// A local application answering `200 ok` to every request (the critical paths of the smoke
/// tests); its base URL.
pub(crate) async fn ok_app() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// A local receiver answering `200 ok` that keeps every request it got (request line, headers
/// and body, as text): a Slack incoming webhook for the examples that notify. Its base URL and
/// what it received.
pub(crate) async fn recording_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>)
{
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = received.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                // Read until the body announced by content-length has arrived.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                keep.lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&buf).to_string());
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (format!("http://{addr}"), received)
}
