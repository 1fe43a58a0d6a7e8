//! [`BackupStore`]: where backups live, over `object_store` (a local directory, Azure Blob
//! Storage, or S3).
//!
//! Layout under the store's prefix:
//!
//! ```text
//! backups/<name>/started.json   written first, only if absent: reserves the name
//! backups/<name>/<artifact>     the encrypted artifacts, each a multipart upload
//! backups/<name>/manifest.json  written last: commits the backup
//! backups/<name>/pin.json       optional: keeps the backup from pruning
//! ```
//!
//! A reader sees a backup as usable only once its manifest exists, and the manifest is written
//! only after every artifact upload has completed, so a crash at any point leaves either a
//! committed backup or an incomplete one (listed as such, never restored, pruned later).
//! Deleting goes the other way: the manifest first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest};

/// The reservation object, written first.
pub(crate) const STARTED_FILE: &str = "started.json";
/// The pin object.
pub(crate) const PIN_FILE: &str = "pin.json";

/// Credentials for Azure Blob Storage. `Debug` hides secrets.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AzureCredential {
    /// A storage account key.
    AccessKey(String),
    /// A SAS token (`sv=...&sig=...`).
    SasToken(String),
    /// The VM's or pod's managed identity (IMDS), optionally a user-assigned one.
    ManagedIdentity {
        /// The user-assigned identity's client id.
        client_id: Option<String>,
    },
    /// AKS workload identity: a federated token file exchanged for a token.
    WorkloadIdentity {
        /// The application (client) id.
        client_id: String,
        /// The tenant id.
        tenant_id: String,
        /// The projected service-account token file.
        token_file: PathBuf,
    },
    /// The Azure CLI's logged-in account (`az login`).
    AzureCli,
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureCredential::AccessKey(_) => f.write_str("AccessKey(<redacted>)"),
            AzureCredential::SasToken(_) => f.write_str("SasToken(<redacted>)"),
            AzureCredential::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
            AzureCredential::WorkloadIdentity {
                client_id,
                tenant_id,
                token_file,
            } => f
                .debug_struct("WorkloadIdentity")
                .field("client_id", client_id)
                .field("tenant_id", tenant_id)
                .field("token_file", token_file)
                .finish(),
            AzureCredential::AzureCli => f.write_str("AzureCli"),
        }
    }
}

/// Where an Azure Blob Storage backup store is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AzureStoreOptions {
    /// The storage account.
    pub account: String,
    /// The container (it must exist; this crate never creates containers).
    pub container: String,
    /// How to authenticate.
    pub credential: AzureCredential,
    /// The blob endpoint, when not `https://<account>.blob.core.windows.net` (a sovereign
    /// cloud, a private endpoint, or Azurite's `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: Option<String>,
    /// Allow plain HTTP (emulators only).
    pub allow_http: bool,
    /// A path prefix inside the container (`fleet/prod`), empty for none.
    pub prefix: String,
}

impl AzureStoreOptions {
    /// Options for `container` in `account`.
    pub fn new(
        account: impl Into<String>,
        container: impl Into<String>,
        credential: AzureCredential,
    ) -> Self {
        Self {
            account: account.into(),
            container: container.into(),
            credential,
            endpoint: None,
            allow_http: false,
            prefix: String::new(),
        }
    }

    /// Sets the blob endpoint.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Allows plain HTTP.
    #[must_use]
    pub fn with_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Sets the prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// Where an S3 (or S3-compatible) backup store is. `Debug` hides the secret key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3StoreOptions {
    /// The bucket (it must exist).
    pub bucket: String,
    /// The region (`eu-west-1`).
    pub region: String,
    /// A custom endpoint (an S3-compatible service).
    pub endpoint: Option<String>,
    /// Static credentials; `None` uses the instance's or pod's role.
    pub access_key_id: Option<String>,
    /// The secret key that goes with `access_key_id`.
    pub secret_access_key: Option<String>,
    /// A session token for temporary credentials.
    pub session_token: Option<String>,
    /// Allow plain HTTP (local stand-ins only).
    pub allow_http: bool,
    /// A path prefix inside the bucket, empty for none.
    pub prefix: String,
}

impl fmt::Debug for S3StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3StoreOptions")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl S3StoreOptions {
    /// Options for `bucket` in `region`, credentials from the environment's role.
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            region: region.into(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            prefix: String::new(),
        }
    }
}

/// The objects of one backup, as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BackupObjects {
    /// File name to size.
    pub files: BTreeMap<String, u64>,
    /// The newest modification time among them.
    pub last_modified: Option<Timestamp>,
}

impl BackupObjects {
    pub(crate) fn has(&self, file: &str) -> bool {
        self.files.contains_key(file)
    }
}

/// The reservation record written before anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Started {
    pub id: String,
    pub started_at: Timestamp,
    pub actor: String,
    pub reason: String,
}

/// A pin: keeps a backup from pruning, with who pinned it and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// When.
    pub pinned_at: Timestamp,
    /// Who.
    pub actor: String,
    /// Why (`legal hold`, `before the 2.0 migration`).
    pub reason: String,
}

/// Backups on object storage. Cheap to clone.
#[derive(Clone)]
pub struct BackupStore {
    inner: Arc<dyn ObjectStore>,
    root: ObjectPath,
    description: String,
}

impl fmt::Debug for BackupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupStore")
            .field("location", &self.description)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for BackupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

fn prefix_path(prefix: &str) -> Result<ObjectPath> {
    let trimmed = prefix.trim_matches('/');
    let base = if trimmed.is_empty() {
        ObjectPath::default()
    } else {
        ObjectPath::parse(trimmed).map_err(|e| Error::invalid("store prefix", e.to_string()))?
    };
    Ok(base.join("backups"))
}

impl BackupStore {
    /// A store in a local directory (created when missing): the default for a single machine,
    /// and what tests use. Uploads go to a temporary file renamed into place when complete.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be created, [`Error::Store`] when it cannot be
    /// used.
    pub fn local(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| Error::store("open", dir.display(), e))?
            .with_automatic_cleanup(true);
        Ok(Self {
            inner: Arc::new(fs),
            root: prefix_path("")?,
            description: format!("file://{}", dir.display()),
        })
    }

    /// A store in an Azure Blob Storage container.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the options are unusable.
    pub fn azure(options: AzureStoreOptions) -> Result<Self> {
        use object_store::azure::MicrosoftAzureBuilder;
        if options.account.is_empty() || options.container.is_empty() {
            return Err(Error::invalid(
                "Azure store",
                "account and container must be set",
            ));
        }
        let mut b = MicrosoftAzureBuilder::new()
            .with_account(&options.account)
            .with_container_name(&options.container)
            .with_allow_http(options.allow_http);
        if let Some(endpoint) = &options.endpoint {
            b = b.with_endpoint(endpoint.clone());
        }
        b = match &options.credential {
            AzureCredential::AccessKey(key) => b.with_access_key(key),
            AzureCredential::SasToken(sas) => {
                let pairs: Vec<(String, String)> = sas
                    .trim_start_matches('?')
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                b.with_sas_authorization(pairs)
            }
            AzureCredential::ManagedIdentity { client_id } => {
                let b = b.with_credential_type("managed_identity");
                match client_id {
                    Some(id) => b.with_client_id(id),
                    None => b,
                }
            }
            AzureCredential::WorkloadIdentity {
                client_id,
                tenant_id,
                token_file,
            } => b
                .with_credential_type("workload_identity")
                .with_client_id(client_id)
                .with_tenant_id(tenant_id)
                .with_federated_token_file(token_file.to_string_lossy()),
            AzureCredential::AzureCli => b.with_use_azure_cli(true),
        };
        let store = b
            .build()
            .map_err(|e| Error::invalid("Azure store", format!("{}: {e}", options.account)))?;
        let endpoint = options
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://{}.blob.core.windows.net", options.account));
        Ok(Self {
            inner: Arc::new(store),
            root: prefix_path(&options.prefix)?,
            description: format!(
                "{}/{}/{}",
                endpoint.trim_end_matches('/'),
                options.container,
                options.prefix.trim_matches('/')
            )
            .trim_end_matches('/')
            .to_owned(),
        })
    }

    /// A store in an S3 bucket (conditional writes on: a backup name is reserved with
    /// `If-None-Match`, which AWS S3 and most compatible services support).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the options are unusable.
    pub fn s3(options: S3StoreOptions) -> Result<Self> {
        use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&options.bucket)
            .with_region(&options.region)
            .with_allow_http(options.allow_http)
            .with_conditional_put(S3ConditionalPut::ETagMatch);
        if let Some(e) = &options.endpoint {
            b = b.with_endpoint(e);
        }
        if let (Some(id), Some(secret)) = (&options.access_key_id, &options.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(t) = &options.session_token {
            b = b.with_token(t);
        }
        let store = b
            .build()
            .map_err(|e| Error::invalid("S3 store", format!("{}: {e}", options.bucket)))?;
        Ok(Self {
            inner: Arc::new(store),
            root: prefix_path(&options.prefix)?,
            description: format!(
                "s3://{}/{}",
                options.bucket,
                options.prefix.trim_matches('/')
            )
            .trim_end_matches('/')
            .to_owned(),
        })
    }

    /// A store over any `object_store` implementation (GCS, an in-memory store in tests...).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad prefix.
    pub fn from_object_store(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        description: impl Into<String>,
    ) -> Result<Self> {
        Ok(Self {
            inner: store,
            root: prefix_path(prefix)?,
            description: description.into(),
        })
    }

    /// Where the store is (a URL without credentials).
    pub fn location(&self) -> &str {
        &self.description
    }

    pub(crate) fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    pub(crate) fn path(&self, backup: &str, file: &str) -> ObjectPath {
        self.root.clone().join(backup).join(file)
    }

    /// Every backup's objects, by backup name.
    pub(crate) async fn list_objects(&self) -> Result<BTreeMap<String, BackupObjects>> {
        let mut out: BTreeMap<String, BackupObjects> = BTreeMap::new();
        let mut listing = self.inner.list(Some(&self.root));
        let root_parts = self.root.parts().count();
        while let Some(meta) = listing
            .try_next()
            .await
            .map_err(|e| Error::store("list", &self.root, e))?
        {
            let parts: Vec<String> = meta
                .location
                .parts()
                .skip(root_parts)
                .map(|p| p.as_ref().to_owned())
                .collect();
            let [backup, file] = parts.as_slice() else {
                continue;
            };
            let entry = out.entry(backup.clone()).or_default();
            entry.files.insert(file.clone(), meta.size);
            let modified = Timestamp::from_millisecond(meta.last_modified.timestamp_millis()).ok();
            entry.last_modified = entry.last_modified.max(modified);
        }
        Ok(out)
    }

    /// Reads a small object whole.
    pub(crate) async fn get_small(&self, backup: &str, file: &str, limit: u64) -> Result<Bytes> {
        let path = self.path(backup, file);
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|e| Error::store("get", &path, e))?;
        if result.meta.size > limit {
            return Err(Error::corrupt(
                backup,
                file,
                format!(
                    "{} bytes, more than the {limit} such a file can have",
                    result.meta.size
                ),
            ));
        }
        result
            .bytes()
            .await
            .map_err(|e| Error::store("get", &path, e))
    }

    /// Streams an object, with its size.
    pub(crate) async fn get_stream(
        &self,
        backup: &str,
        file: &str,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        let path = self.path(backup, file);
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|e| Error::store("get", &path, e))?;
        let size = result.meta.size;
        let p = path.clone();
        let stream = result
            .into_stream()
            .map_err(move |e| Error::store("get", &p, e))
            .boxed();
        Ok((size, stream))
    }

    /// Writes a small object, failing if it exists when `create_only`.
    pub(crate) async fn put_small(
        &self,
        backup: &str,
        file: &str,
        bytes: Vec<u8>,
        create_only: bool,
    ) -> Result<()> {
        let path = self.path(backup, file);
        let mode = if create_only {
            PutMode::Create
        } else {
            PutMode::Overwrite
        };
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .inner
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) if create_only => Err(Error::Conflict {
                what: "backup",
                detail: format!("{backup} ({path} exists): choose another name"),
            }),
            Err(e) => Err(Error::store("put", &path, e)),
        }
    }

    /// Deletes one object; a missing one is fine.
    pub(crate) async fn delete_file(&self, backup: &str, file: &str) -> Result<()> {
        let path = self.path(backup, file);
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::store("delete", &path, e)),
        }
    }

    /// Deletes a whole backup: the manifest first (the backup stops being usable at once), then
    /// the artifacts, then the reservation.
    pub(crate) async fn delete_backup(&self, backup: &str, objects: &BackupObjects) -> Result<()> {
        self.delete_file(backup, MANIFEST_FILE).await?;
        for file in objects.files.keys() {
            if file != MANIFEST_FILE && file != STARTED_FILE {
                self.delete_file(backup, file).await?;
            }
        }
        self.delete_file(backup, STARTED_FILE).await
    }

    /// The manifest of a backup.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the backup does not exist, [`Error::Incomplete`] when it has no
    /// manifest, [`Error::Corrupt`] when the manifest is unreadable.
    #[tracing::instrument(skip_all, fields(store = %self.description, backup))]
    pub async fn manifest(&self, backup: &str) -> Result<Manifest> {
        crate::names::check_backup_name(backup)?;
        match self.get_small(backup, MANIFEST_FILE, 64 << 20).await {
            Ok(bytes) => Manifest::from_json(backup, &bytes),
            Err(e) if e.is_not_found() => {
                let started = self.path(backup, STARTED_FILE);
                match self.inner.head(&started).await {
                    Ok(_) => Err(Error::Incomplete {
                        backup: backup.to_owned(),
                    }),
                    Err(object_store::Error::NotFound { .. }) => {
                        // Artifacts without any reservation are still an incomplete backup.
                        let any = self.list_objects().await?.contains_key(backup);
                        if any {
                            Err(Error::Incomplete {
                                backup: backup.to_owned(),
                            })
                        } else {
                            Err(Error::NotFound {
                                what: "backup",
                                detail: format!("{backup} in {}", self.description),
                            })
                        }
                    }
                    Err(e) => Err(Error::store("head", &started, e)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The pin of a backup, if it has one.
    pub(crate) async fn pin_of(&self, backup: &str) -> Result<Option<Pin>> {
        match self.get_small(backup, PIN_FILE, 1 << 20).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::corrupt(backup, PIN_FILE, e.to_string())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
