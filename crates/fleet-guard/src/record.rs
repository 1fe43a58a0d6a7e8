//! Records of long procedures (an incident, a restore, a DR run) that survive a crash or a
//! hand-over: a small key-value store with versions, so that two writers never overwrite each
//! other silently.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A record as stored: its value and the version that a save must name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// Incremented by every save; 1 for a new record.
    pub version: u64,
    /// The record.
    pub value: Value,
}

/// Where procedure records live.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait RecordStore: Send + Sync + fmt::Debug {
    /// The record under `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<Stored>>;

    /// Saves `value` under `key` if the stored version is `expected` (`None`: the key must
    /// not exist yet) and returns the new version.
    ///
    /// # Errors
    /// [`Error::Conflict`] when someone else saved in between.
    async fn save(&self, key: &str, value: &Value, expected: Option<u64>) -> Result<u64>;

    /// Every key, sorted.
    async fn keys(&self) -> Result<Vec<String>>;
}

/// Loads a typed record.
///
/// # Errors
/// The store's errors; [`Error::Corrupt`] when the value is not a `T`.
pub async fn load_as<T: DeserializeOwned>(
    store: &dyn RecordStore,
    key: &str,
) -> Result<Option<(u64, T)>> {
    let Some(stored) = store.load(key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_value(stored.value).map_err(|source| Error::Corrupt {
        path: PathBuf::from(format!("{store:?}")),
        key: key.to_owned(),
        source,
    })?;
    Ok(Some((stored.version, value)))
}

/// Saves a typed record (see [`RecordStore::save`]).
///
/// # Errors
/// The store's errors.
pub async fn save_as<T: Serialize + Sync>(
    store: &dyn RecordStore,
    key: &str,
    value: &T,
    expected: Option<u64>,
) -> Result<u64> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::invalid("record", format!("cannot be stored as JSON: {e}")))?;
    store.save(key, &value, expected).await
}

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "record key",
            format!("{key:?}: use 1 to 200 of A-Z a-z 0-9 . _ - and do not start with a dot"),
        ))
    }
}

/// Records as JSON files in one directory (`<key>.json`), each replaced atomically (written
/// to a temporary file, flushed, renamed over the old one, directory flushed), with the
/// version check done under a lock held by this process.
#[derive(Clone)]
pub struct FileRecordStore {
    dir: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl fmt::Debug for FileRecordStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileRecordStore({})", self.dir.display())
    }
}

impl FileRecordStore {
    /// A store in `dir`, created if missing.
    ///
    /// # Errors
    /// [`Error::Store`] when the directory cannot be created.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| Error::Store {
            path: dir.clone(),
            operation: "create directory",
            source,
        })?;
        Ok(Self {
            dir,
            lock: Arc::new(Mutex::new(())),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn lock_file(&self) -> Result<std::fs::File> {
        let path = self.dir.join(".lock");
        let io = |operation, source| Error::Store {
            path: path.clone(),
            operation,
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io("open lock", e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io("lock", e.into()))?;
        // Released when the file is closed (dropped).
        Ok(file)
    }

    fn read(path: &Path, key: &str) -> Result<Option<Stored>> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| Error::Corrupt {
                        path: path.to_path_buf(),
                        key: key.to_owned(),
                        source,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Store {
                path: path.to_path_buf(),
                operation: "read",
                source,
            }),
        }
    }

    fn write(&self, key: &str, stored: &Stored) -> Result<()> {
        let path = self.path(key);
        let tmp = self
            .dir
            .join(format!(".{key}.json.tmp-{}", std::process::id()));
        let io = |operation, source| Error::Store {
            path: path.clone(),
            operation,
            source,
        };
        let bytes = serde_json::to_vec_pretty(stored)
            .map_err(|e| io("encode", std::io::Error::other(e)))?;
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(|e| io("create", e))?;
        file.write_all(&bytes).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("flush", e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("rename", e))?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            dir.sync_all().map_err(|e| io("flush directory", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl RecordStore for FileRecordStore {
    async fn load(&self, key: &str) -> Result<Option<Stored>> {
        check_key(key)?;
        let path = self.path(key);
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || Self::read(&path, &key))
            .await
            .map_err(|e| Error::Store {
                path: PathBuf::new(),
                operation: "read",
                source: std::io::Error::other(e),
            })?
    }

    async fn save(&self, key: &str, value: &Value, expected: Option<u64>) -> Result<u64> {
        check_key(key)?;
        let this = self.clone();
        let key = key.to_owned();
        let value = value.clone();
        tokio::task::spawn_blocking(move || {
            let _held = this.lock.lock().map_err(|_| Error::Store {
                path: this.dir.clone(),
                operation: "lock",
                source: std::io::Error::other("lock poisoned"),
            })?;
            // Other processes (a second engineer's run on a shared volume) take the same lock.
            let _flock = this.lock_file()?;
            let current = Self::read(&this.path(&key), &key)?;
            let found = current.as_ref().map_or(0, |s| s.version);
            if found != expected.unwrap_or(0) {
                return Err(Error::Conflict {
                    key,
                    expected: expected.unwrap_or(0),
                    found,
                });
            }
            let version = found + 1;
            this.write(&key, &Stored { version, value })?;
            Ok(version)
        })
        .await
        .map_err(|e| Error::Store {
            path: PathBuf::new(),
            operation: "write",
            source: std::io::Error::other(e),
        })?
    }

    async fn keys(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| Error::Store {
            path: self.dir.clone(),
            operation: "list",
            source,
        })?;
        let mut keys: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let key = name.strip_suffix(".json")?;
                check_key(key).ok()?;
                Some(key.to_owned())
            })
            .collect();
        keys.sort();
        Ok(keys)
    }
}

/// Records in memory (tests).
#[derive(Debug, Default, Clone)]
pub struct MemoryRecordStore(Arc<Mutex<BTreeMap<String, Stored>>>);

impl MemoryRecordStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RecordStore for MemoryRecordStore {
    async fn load(&self, key: &str) -> Result<Option<Stored>> {
        check_key(key)?;
        Ok(self.0.lock().ok().and_then(|m| m.get(key).cloned()))
    }

    async fn save(&self, key: &str, value: &Value, expected: Option<u64>) -> Result<u64> {
        check_key(key)?;
        let mut map = self
            .0
            .lock()
            .map_err(|_| Error::invalid("record store", "lock poisoned"))?;
        let found = map.get(key).map_or(0, |s| s.version);
        if found != expected.unwrap_or(0) {
            return Err(Error::Conflict {
                key: key.to_owned(),
                expected: expected.unwrap_or(0),
                found,
            });
        }
        let version = found + 1;
        map.insert(
            key.to_owned(),
            Stored {
                version,
                value: value.clone(),
            },
        );
        Ok(version)
    }

    async fn keys(&self) -> Result<Vec<String>> {
        Ok(self
            .0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }
}
