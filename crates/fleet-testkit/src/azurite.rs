//! [`Azurite`]: Microsoft's Azure Storage emulator (npm package `azurite`), Blob service only,
//! started per test on a free port with its own data directory.
//!
//! The binary is found through `FLEET_AZURITE_BIN` (the path of `azurite-blob`), then `PATH`,
//! then the cache (`FLEET_AZURITE_CACHE`, default `<temp dir>/fleet-azurite`); when none has it,
//! `npm install azurite@3.37.0` fills the cache once (about 360 MB; `scripts/test` does it up
//! front and says so). Azurite 3.37 runs on Node 20 with an engine warning on stderr.
//!
//! Clients reach it as a storage account with the emulator's well-known name and key
//! ([`ACCOUNT`], [`ACCOUNT_KEY`]) at [`Azurite::blob_endpoint`]
//! (`http://127.0.0.1:PORT/devstoreaccount1`, path-style addressing). Containers are not
//! created on demand by Azure clients, so [`Azurite::create_container`] does it with a
//! Shared Key-signed `PUT ?restype=container`, the request the real service takes.
//!
//! Dropping the value kills the process and removes its data directory.
//!
//! ```no_run
//! use fleet_testkit::azurite::Azurite;
//!
//! let azurite = Azurite::start()?;
//! azurite.create_container("backups")?;
//! println!("blob endpoint {}", azurite.blob_endpoint());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};

/// Environment variable naming the `azurite-blob` executable to use.
pub const ENV_BIN: &str = "FLEET_AZURITE_BIN";
/// Environment variable naming the cache directory for the npm install.
pub const ENV_CACHE: &str = "FLEET_AZURITE_CACHE";
/// The npm package version installed into the cache.
pub const NPM_VERSION: &str = "3.37.0";
/// The emulator's well-known account name.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known account key (public, documented by Microsoft; not a secret).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long Azurite may take to listen (node start-up on a busy two-core machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The REST API version sent when creating containers.
const API_VERSION: &str = "2021-08-06";

/// A running Azurite Blob service. Dropping it stops the process and deletes its data.
pub struct Azurite {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Azurite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azurite")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Azurite {
    /// Starts `azurite-blob` on a free port of `127.0.0.1` with a fresh data directory and waits
    /// until it listens.
    ///
    /// # Errors
    /// `NotFound` when no binary can be found or installed, `TimedOut` when it does not listen
    /// in time, other I/O errors of starting it (with the output it printed).
    pub fn start() -> std::io::Result<Self> {
        let bin = find_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("fleet-azurite-")
            .tempdir()?;
        let mut child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--location"])
            .arg(dir.path())
            .args(["--skipApiVersionCheck", "--loose"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("starting {}: {e}", bin.display()))
            })?;
        let stdout = child.stdout.take();
        let (tx, rx) = std::sync::mpsc::channel::<Result<u16, String>>();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                let mut seen = String::new();
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = listening_port(&line) {
                        let _ = tx.send(Ok(port));
                        // Keep draining so the process never blocks on a full pipe.
                        continue;
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                let _ = tx.send(Err(seen));
            });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let port = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(port)) => break port,
                Ok(Err(output)) => {
                    let stderr = read_stderr(&mut child);
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(std::io::Error::other(format!(
                        "azurite-blob exited before listening:\n{output}{stderr}"
                    )));
                }
                Err(_) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("azurite-blob did not listen within {START_TIMEOUT:?}"),
                    ));
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let stderr = read_stderr(&mut child);
                        return Err(std::io::Error::other(format!(
                            "azurite-blob exited with {status}: {stderr}"
                        )));
                    }
                }
            }
        };
        // Stderr carries Node's engine warning; drain it so the process never blocks.
        if let Some(mut stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = stderr.read_to_end(&mut sink);
            });
        }
        tracing::debug!(port, "azurite started");
        Ok(Self { child, port, dir })
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account's blob endpoint, path-style: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn blob_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The account name, [`ACCOUNT`].
    pub fn account(&self) -> &'static str {
        ACCOUNT
    }

    /// The account key, [`ACCOUNT_KEY`].
    pub fn access_key(&self) -> &'static str {
        ACCOUNT_KEY
    }

    /// The directory Azurite stores blobs and its metadata in.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates a container (a Shared Key-signed `PUT /devstoreaccount1/NAME?restype=container`).
    /// A container that already exists is fine.
    ///
    /// # Errors
    /// `InvalidInput` for a name Azure would reject, or the I/O error or HTTP status of the
    /// request.
    pub fn create_container(&self, name: &str) -> std::io::Result<()> {
        let valid = (3..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--");
        if !valid {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("container name {name:?}: use 3 to 63 of a-z 0-9 and single inner dashes"),
            ));
        }
        let path = format!("/{ACCOUNT}/{name}");
        let date = jiff::Timestamp::now()
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n/{ACCOUNT}{path}\nrestype:container"
        );
        let signature = sign(ACCOUNT_KEY, &to_sign)?;
        let request = format!(
            "PUT {path}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-ms-date: {date}\r\nx-ms-version: {API_VERSION}\r\nAuthorization: SharedKey {ACCOUNT}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            port = self.port
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        BufReader::new(stream).read_line(&mut response)?;
        let status: u16 = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match status {
            201 | 409 => Ok(()),
            _ => Err(std::io::Error::other(format!(
                "creating container {name}: Azurite answered {}",
                response.trim()
            ))),
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Azurite Blob service successfully listens on http://127.0.0.1:PORT`.
fn listening_port(line: &str) -> Option<u16> {
    let at = line.find("listens on http://")?;
    let rest = &line[at + "listens on http://".len()..];
    rest.rsplit_once(':')?.1.trim().parse().ok()
}

fn read_stderr(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    text
}

/// HMAC-SHA256 of `text` under the base64 account key, base64-encoded (Shared Key).
fn sign(key_b64: &str, text: &str) -> std::io::Result<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let key = engine
        .decode(key_b64)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    mac.update(text.as_bytes());
    Ok(engine.encode(mac.finalize().into_bytes()))
}

/// The cache directory: `FLEET_AZURITE_CACHE`, or `<temp dir>/fleet-azurite`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os(ENV_CACHE)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("fleet-azurite"))
}

/// Finds `azurite-blob` (environment, `PATH`, cache), installing it into the cache when missing.
///
/// # Errors
/// `NotFound` naming what was tried when npm is missing or the install fails.
pub fn find_binary() -> std::io::Result<PathBuf> {
    if let Some(bin) = std::env::var_os(ENV_BIN) {
        return Ok(PathBuf::from(bin));
    }
    if let Some(path) = std::env::var_os("PATH").and_then(|p: OsString| {
        std::env::split_paths(&p)
            .map(|d| d.join("azurite-blob"))
            .find(|f| f.is_file())
    }) {
        return Ok(path);
    }
    install(&cache_dir())
}

static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// `npm install azurite@NPM_VERSION` into `<cache>/<version>`, through a staging directory
/// renamed into place (a concurrent installer's copy wins).
fn install(cache: &Path) -> std::io::Result<PathBuf> {
    let target = cache.join(NPM_VERSION);
    let bin = |root: &Path| root.join("node_modules").join(".bin").join("azurite-blob");
    if bin(&target).is_file() {
        return Ok(bin(&target));
    }
    let _guard = INSTALL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if bin(&target).is_file() {
        return Ok(bin(&target));
    }
    std::fs::create_dir_all(cache)?;
    let staging = cache.join(format!(".staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let spec = format!("azurite@{NPM_VERSION}");
    let out = Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&staging)
        .arg(&spec)
        .output()
        .map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("azurite-blob not found and npm cannot run to install {spec}: {e}"),
            )
        })?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "azurite-blob not found; npm install {spec} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    if std::fs::rename(&staging, &target).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    if bin(&target).is_file() {
        Ok(bin(&target))
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} missing after npm install", bin(&target).display()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_from_the_start_line() {
        assert_eq!(
            listening_port("Azurite Blob service successfully listens on http://127.0.0.1:35249"),
            Some(35249)
        );
        assert_eq!(
            listening_port("Azurite Blob service is starting on 127.0.0.1:0"),
            None
        );
    }

    #[test]
    fn signs_like_the_shared_key_scheme() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), a published
        // test vector, base64-encoded.
        let key = base64::engine::general_purpose::STANDARD.encode(b"key");
        assert_eq!(
            sign(&key, "The quick brown fox jumps over the lazy dog").expect("signs"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }
}
