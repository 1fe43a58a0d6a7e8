//! The streaming pipelines. Writing: content -> zstd -> age -> SHA-256 -> multipart upload, each
//! stage on its own thread joined by small bounded channels, so memory stays bounded by the part
//! size times the uploads in flight whatever the artifact's size, and compression, encryption
//! and uploading overlap. Reading: download -> SHA-256 -> age -> zstd -> a consumer, with every
//! failure attributed to the layer it came from, so a flipped byte or a truncated object is
//! reported as corruption of the artifact rather than as a decryption or tool error.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use object_store::{ObjectStoreExt as _, PutPayload};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::keys::{Identities, Recipients};
use crate::manifest::Artifact;
use crate::store::BackupStore;

/// Knobs of the streaming pipelines: plain data with finite defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferOptions {
    /// Bytes per uploaded part (default 8 MiB; S3 needs at least 5 MiB).
    pub part_size: usize,
    /// Parts uploaded at once (default 2).
    pub concurrency: usize,
    /// zstd level (default 3, zstd's own default).
    pub compression_level: i32,
    /// zstd worker threads; 0 (the default) compresses on the pipeline's own thread.
    pub compression_workers: u32,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            part_size: 8 << 20,
            concurrency: 2,
            compression_level: 3,
            compression_workers: 0,
        }
    }
}

impl TransferOptions {
    /// Sets the part size.
    #[must_use]
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }

    /// Sets the uploads in flight.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Sets the zstd level.
    #[must_use]
    pub fn with_compression_level(mut self, level: i32) -> Self {
        self.compression_level = level;
        self
    }

    /// Sets zstd's worker threads.
    #[must_use]
    pub fn with_compression_workers(mut self, n: u32) -> Self {
        self.compression_workers = n;
        self
    }

    /// The peak memory the write pipeline holds in buffers, besides zstd's own window: the part
    /// being filled, one queued part, the parts in flight, and the small inter-stage queues.
    pub fn buffer_bound(&self) -> usize {
        self.part_size * (2 + self.concurrency) + 2 * QUEUE * CHUNK
    }

    fn checked(&self) -> Result<()> {
        if self.part_size < (1 << 20) || self.part_size > (256 << 20) {
            return Err(Error::invalid(
                "part_size",
                "must be between 1 MiB and 256 MiB",
            ));
        }
        if self.concurrency == 0 || self.concurrency > 16 {
            return Err(Error::invalid("concurrency", "must be between 1 and 16"));
        }
        if !(1..=19).contains(&self.compression_level) {
            return Err(Error::invalid(
                "compression_level",
                "must be between 1 and 19",
            ));
        }
        Ok(())
    }
}

/// Bytes per message between stages.
const CHUNK: usize = 256 << 10;
/// Messages queued between stages.
const QUEUE: usize = 4;

/// Where new artifacts go: a backup in a store, encrypted to recipients, with pipeline knobs.
#[derive(Clone, Copy)]
pub(crate) struct Destination<'a> {
    pub store: &'a BackupStore,
    pub backup: &'a str,
    pub recipients: &'a Recipients,
    pub transfer: &'a TransferOptions,
}

impl Destination<'_> {
    /// Starts writing `file`.
    pub(crate) async fn writer(&self, file: &str) -> Result<ArtifactWriter> {
        ArtifactWriter::start(
            self.store,
            self.backup,
            file,
            self.recipients,
            self.transfer,
        )
        .await
    }
}

/// What a finished artifact upload measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    /// Stored bytes.
    pub size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// Content bytes before compression.
    pub content_size: u64,
}

/// Sends fixed-size chunks to the next stage.
struct ChunkSender {
    tx: mpsc::Sender<Bytes>,
    buf: BytesMut,
    size: usize,
}

impl ChunkSender {
    fn new(tx: mpsc::Sender<Bytes>, size: usize) -> Self {
        Self {
            tx,
            buf: BytesMut::with_capacity(size),
            size,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(self.size);
        self.tx.blocking_send(chunk).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the next pipeline stage stopped")
        })
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.size - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= self.size {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes and counts what it sends.
struct HashingSender {
    inner: ChunkSender,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// An artifact being written: content goes in with [`ArtifactWriter::write`], and it is
/// stored by [`ArtifactWriter::finish`] (or discarded by dropping the writer or
/// [`ArtifactWriter::abort`]).
pub(crate) struct ArtifactWriter {
    tx: Option<mpsc::Sender<Bytes>>,
    pending: BytesMut,
    compress: tokio::task::JoinHandle<io::Result<u64>>,
    encrypt: tokio::task::JoinHandle<io::Result<(u64, String)>>,
    upload: tokio::task::JoinHandle<Result<()>>,
    commit: Option<oneshot::Sender<bool>>,
    path: String,
}

impl ArtifactWriter {
    /// Starts the upload of `file` in `backup`, encrypted to `recipients`.
    pub(crate) async fn start(
        store: &BackupStore,
        backup: &str,
        file: &str,
        recipients: &Recipients,
        options: &TransferOptions,
    ) -> Result<Self> {
        options.checked()?;
        let encryptor = recipients.encryptor()?;
        let path = store.path(backup, file);
        let mut upload = store
            .object_store()
            .put_multipart(&path)
            .await
            .map_err(|e| Error::store("start upload", &path, e))?;

        let (plain_tx, mut plain_rx) = mpsc::channel::<Bytes>(QUEUE);
        let (packed_tx, mut packed_rx) = mpsc::channel::<Bytes>(QUEUE);
        let (part_tx, mut part_rx) = mpsc::channel::<Bytes>(1);
        let (commit_tx, commit_rx) = oneshot::channel::<bool>();

        let level = options.compression_level;
        let workers = options.compression_workers;
        let compress = tokio::task::spawn_blocking(move || -> io::Result<u64> {
            let mut z =
                zstd::stream::write::Encoder::new(ChunkSender::new(packed_tx, CHUNK), level)?;
            z.include_checksum(true)?;
            if workers > 0 {
                z.multithread(workers)?;
            }
            let mut n = 0u64;
            while let Some(chunk) = plain_rx.blocking_recv() {
                n += chunk.len() as u64;
                z.write_all(&chunk)?;
            }
            let mut out = z.finish()?;
            out.send()?;
            Ok(n)
        });

        let part_size = options.part_size;
        let encrypt = tokio::task::spawn_blocking(move || -> io::Result<(u64, String)> {
            let sink = HashingSender {
                inner: ChunkSender::new(part_tx, part_size),
                hasher: Sha256::new(),
                size: 0,
            };
            let mut w = encryptor.wrap_output(sink)?;
            while let Some(chunk) = packed_rx.blocking_recv() {
                w.write_all(&chunk)?;
            }
            let mut sink = w.finish()?;
            sink.inner.send()?;
            Ok((sink.size, hex(&sink.hasher.finalize())))
        });

        let concurrency = options.concurrency;
        let p = path.to_string();
        let upload_task = tokio::spawn(async move {
            let mut inflight = tokio::task::JoinSet::new();
            let result: Result<()> = async {
                while let Some(part) = part_rx.recv().await {
                    while inflight.len() >= concurrency {
                        join_part(&mut inflight, &p).await?;
                    }
                    inflight.spawn(upload.put_part(PutPayload::from(part)));
                }
                while !inflight.is_empty() {
                    join_part(&mut inflight, &p).await?;
                }
                Ok(())
            }
            .await;
            let commit = matches!(commit_rx.await, Ok(true));
            match result {
                Ok(()) if commit => upload
                    .complete()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::store("complete upload", &p, e)),
                Ok(()) => {
                    let _ = upload.abort().await;
                    Ok(())
                }
                Err(e) => {
                    inflight.abort_all();
                    let _ = upload.abort().await;
                    Err(e)
                }
            }
        });

        Ok(Self {
            tx: Some(plain_tx),
            pending: BytesMut::new(),
            compress,
            encrypt,
            upload: upload_task,
            commit: Some(commit_tx),
            path: path.to_string(),
        })
    }

    /// Adds content. Small writes are gathered into chunks.
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= CHUNK {
            let chunk = self.pending.split().freeze();
            self.send(chunk).await?;
        }
        Ok(())
    }

    /// Adds a chunk of content as it is.
    pub(crate) async fn write_bytes(&mut self, chunk: Bytes) -> Result<()> {
        if !self.pending.is_empty() {
            let pending = self.pending.split().freeze();
            self.send(pending).await?;
        }
        self.send(chunk).await
    }

    async fn send(&mut self, chunk: Bytes) -> Result<()> {
        let Some(tx) = &self.tx else {
            return Err(Error::io(
                &self.path,
                io::Error::other("writer already finished"),
            ));
        };
        if tx.send(chunk).await.is_err() {
            // A later stage stopped; its error is the one worth reporting.
            self.tx = None;
            return Err(self.fail().await);
        }
        Ok(())
    }

    /// Collects the first real error of the stages after a failure.
    async fn fail(&mut self) -> Error {
        if let Some(c) = self.commit.take() {
            let _ = c.send(false);
        }
        let compress = (&mut self.compress).await;
        let encrypt = (&mut self.encrypt).await;
        let upload = (&mut self.upload).await;
        if let Ok(Err(e)) = upload {
            return e;
        }
        for r in [
            encrypt.map(|r| r.map(|_| ())),
            compress.map(|r| r.map(|_| ())),
        ] {
            match r {
                Ok(Err(e)) if e.kind() != io::ErrorKind::BrokenPipe => {
                    return Error::io(format!("writing {}", self.path), e);
                }
                Err(join) => {
                    return Error::io(format!("writing {}", self.path), io::Error::other(join));
                }
                _ => {}
            }
        }
        Error::io(
            format!("writing {}", self.path),
            io::Error::other("the pipeline stopped"),
        )
    }

    /// Flushes everything, completes the upload and returns what was stored.
    pub(crate) async fn finish(mut self) -> Result<Written> {
        if !self.pending.is_empty() {
            let chunk = self.pending.split().freeze();
            self.send(chunk).await?;
        }
        self.tx = None;
        let content = match (&mut self.compress).await {
            Ok(Ok(n)) => n,
            _ => return Err(self.fail().await),
        };
        let (size, sha256) = match (&mut self.encrypt).await {
            Ok(Ok(x)) => x,
            _ => return Err(self.fail().await),
        };
        if let Some(c) = self.commit.take() {
            let _ = c.send(true);
        }
        match (&mut self.upload).await {
            Ok(Ok(())) => Ok(Written {
                size,
                sha256,
                content_size: content,
            }),
            Ok(Err(e)) => Err(e),
            Err(join) => Err(Error::io(
                format!("uploading {}", self.path),
                io::Error::other(join),
            )),
        }
    }

    /// Stops and discards the upload.
    pub(crate) async fn abort(mut self) {
        self.tx = None;
        if let Some(c) = self.commit.take() {
            let _ = c.send(false);
        }
        let _ = (&mut self.compress).await;
        let _ = (&mut self.encrypt).await;
        let _ = (&mut self.upload).await;
    }
}

async fn join_part(
    set: &mut tokio::task::JoinSet<object_store::Result<()>>,
    path: &str,
) -> Result<()> {
    match set.join_next().await {
        Some(Ok(Ok(()))) | None => Ok(()),
        Some(Ok(Err(e))) => Err(Error::store("upload part", path, e)),
        Some(Err(join)) => Err(Error::io(
            format!("uploading {path}"),
            io::Error::other(join),
        )),
    }
}

/// Which layer of a read failed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Stored,
    Decrypt,
    Decompress,
}

/// Remembers the first (innermost) layer whose read failed.
struct Tagged<R> {
    inner: R,
    layer: Layer,
    failed: Rc<Cell<Option<Layer>>>,
}

impl<R: Read> Read for Tagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            if self.failed.get().is_none() {
                self.failed.set(Some(self.layer));
            }
        })
    }
}

/// Reads the downloaded object from a channel, hashing and counting it.
struct Downloaded {
    rx: mpsc::Receiver<Result<Bytes>>,
    buf: Bytes,
    hasher: Sha256,
    count: u64,
    error: Option<Error>,
    progress: Arc<AtomicU64>,
}

impl Read for Downloaded {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => {
                    let text = e.to_string();
                    self.error = Some(e);
                    return Err(io::Error::other(text));
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        let chunk = self.buf.split_to(n);
        out[..n].copy_from_slice(&chunk);
        self.hasher.update(&chunk);
        self.count += n as u64;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What a read measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadStats {
    /// Content bytes after decryption and decompression.
    pub content: u64,
}

/// Reads an artifact through every layer into `consume`, then reads whatever `consume` left
/// (so that the whole artifact is always decrypted, decompressed and hashed), and checks size
/// and SHA-256 against the manifest.
///
/// `consume` runs on a blocking thread; `progress` counts stored bytes read.
pub(crate) async fn read_artifact<T, F>(
    store: &BackupStore,
    backup: &str,
    artifact: &Artifact,
    identities: &Identities,
    progress: Arc<AtomicU64>,
    consume: F,
) -> Result<(T, ReadStats)>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Read) -> Result<T> + Send + 'static,
{
    let (size, mut stream) = store.get_stream(backup, &artifact.name).await?;
    if size != artifact.size {
        return Err(Error::corrupt(
            backup,
            &artifact.name,
            format!(
                "the stored object has {size} bytes, the manifest says {} ({})",
                artifact.size,
                if size < artifact.size {
                    "truncated"
                } else {
                    "extended"
                }
            ),
        ));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(QUEUE);
    let download = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    let ids = identities.clone();
    let expected_sha = artifact.sha256.clone();
    let name = artifact.name.clone();
    let b = backup.to_owned();
    let joined = tokio::task::spawn_blocking(move || {
        let failed = Rc::new(Cell::new(None));
        let mut raw = Downloaded {
            rx,
            buf: Bytes::new(),
            hasher: Sha256::new(),
            count: 0,
            error: None,
            progress,
        };
        let mut decrypt_error = None;
        let mut content = 0u64;
        let outcome: Option<Result<T>> = {
            let stored = Tagged {
                inner: &mut raw,
                layer: Layer::Stored,
                failed: failed.clone(),
            };
            match age::Decryptor::new(stored).and_then(|d| d.decrypt(ids.as_dyn())) {
                Err(e) => {
                    decrypt_error = Some(e);
                    None
                }
                Ok(plain) => {
                    let plain = Tagged {
                        inner: plain,
                        layer: Layer::Decrypt,
                        failed: failed.clone(),
                    };
                    match zstd::stream::read::Decoder::new(plain) {
                        Err(e) => Some(Err(Error::io("zstd", e))),
                        Ok(z) => {
                            let mut layers = Counting {
                                inner: Tagged {
                                    inner: z,
                                    layer: Layer::Decompress,
                                    failed: failed.clone(),
                                },
                                count: 0,
                            };
                            let r = consume(&mut layers);
                            // Whatever the consumer left is still checked.
                            let rest = io::copy(&mut layers, &mut io::sink());
                            content = layers.count;
                            Some(match (r, rest) {
                                (Ok(v), Ok(_)) => Ok(v),
                                (Ok(_), Err(e)) => Err(Error::io("reading the artifact", e)),
                                (Err(e), _) => Err(e),
                            })
                        }
                    }
                }
            }
        };
        // Finish hashing what was stored, whatever the layers above made of it.
        let _ = io::copy(&mut raw, &mut io::sink());
        let sha = hex(&raw.hasher.clone().finalize());
        (
            outcome,
            decrypt_error,
            failed.get(),
            raw.error.take(),
            raw.count,
            sha,
            content,
        )
    })
    .await;
    download.abort();
    let (outcome, decrypt_error, failed, download_error, count, sha, content) =
        joined.map_err(|e| Error::io(format!("reading {name}"), io::Error::other(e)))?;
    if let Some(e) = download_error {
        return Err(e);
    }
    if count != size || sha != expected_sha {
        return Err(Error::corrupt(
            &b,
            &name,
            if count != size {
                format!("read {count} bytes of {size}")
            } else {
                format!("SHA-256 of the stored object is {sha}, the manifest says {expected_sha}")
            },
        ));
    }
    if let Some(e) = decrypt_error {
        return Err(match e {
            age::DecryptError::NoMatchingKeys => Error::Decrypt {
                backup: b,
                artifact: name,
                reason: "none of the identities given matches the artifact's recipients".into(),
            },
            other => Error::corrupt(&b, &name, format!("age: {other}")),
        });
    }
    match (outcome, failed) {
        (Some(Ok(v)), _) => Ok((v, ReadStats { content })),
        (Some(Err(e)), Some(Layer::Decrypt)) => Err(Error::corrupt(
            &b,
            &name,
            format!("age payload: {}", inner_text(&e)),
        )),
        (Some(Err(e)), Some(Layer::Decompress)) => Err(Error::corrupt(
            &b,
            &name,
            format!("zstd: {}", inner_text(&e)),
        )),
        (Some(Err(e)), _) => Err(e),
        (None, _) => Err(Error::corrupt(&b, &name, "unreadable")),
    }
}

fn inner_text(e: &Error) -> String {
    match e {
        Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
    }

    #[test]
    fn options_are_checked() {
        assert!(TransferOptions::default().checked().is_ok());
        let o = TransferOptions {
            concurrency: 0,
            ..Default::default()
        };
        assert!(o.checked().is_err());
        assert!(TransferOptions::default().buffer_bound() < 48 << 20);
    }
}
