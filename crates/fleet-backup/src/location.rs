//! Opening a [`BackupStore`] from one location string and the environment, as command-line
//! tools and configuration files name a store.

use crate::store::{AzureCredential, AzureStoreOptions, BackupStore, S3StoreOptions};
use crate::{Error, Result};

/// The environment variables a location may read, as plain data (empty values count as unset).
struct Vars(Vec<(String, String)>);

impl Vars {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    }
}

impl BackupStore {
    /// Opens the store `location` names, taking credentials and endpoints from `vars` (pass
    /// `std::env::vars()`; tests pass their own pairs):
    ///
    /// - a directory (or `file://DIR`): a local store, created if missing;
    /// - `azure://ACCOUNT/CONTAINER[/PREFIX]`: Azure Blob Storage, with the account key in
    ///   `AZURE_STORAGE_KEY` or, without one, the managed identity (`AZURE_CLIENT_ID` picks a
    ///   user-assigned one); `AZURE_STORAGE_ENDPOINT` for a private endpoint or an emulator
    ///   (plain HTTP is allowed only when that endpoint is `http://`);
    /// - `s3://BUCKET[/PREFIX]`: S3 in `AWS_REGION` (default `us-east-1`), with
    ///   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` or, without keys,
    ///   the instance's role; `AWS_ENDPOINT_URL` for an S3-compatible service.
    ///
    /// Secret values read from `vars` go only into the store's credentials: never into an error,
    /// a log or `Debug` output.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an `azure://` location without a container; otherwise as
    /// [`BackupStore::local`], [`BackupStore::azure`] and [`BackupStore::s3`].
    ///
    /// # Example
    /// ```
    /// # fn main() -> fleet_backup::Result<()> {
    /// let dir = std::env::temp_dir().join("fleet-backup-doc-location");
    /// let store = fleet_backup::BackupStore::from_location(
    ///     &format!("file://{}", dir.display()),
    ///     std::iter::empty(),
    /// )?;
    /// assert!(store.location().contains("fleet-backup-doc-location"));
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_location(
        location: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let vars = Vars(vars.into_iter().collect());
        if let Some(rest) = location.strip_prefix("azure://") {
            let mut parts = rest.splitn(3, '/');
            let (Some(account), Some(container)) = (parts.next(), parts.next()) else {
                return Err(Error::invalid(
                    "store location",
                    format!("{location:?} is not azure://ACCOUNT/CONTAINER[/PREFIX]"),
                ));
            };
            let credential = match vars.get("AZURE_STORAGE_KEY") {
                Some(key) => AzureCredential::AccessKey(key),
                None => AzureCredential::ManagedIdentity {
                    client_id: vars.get("AZURE_CLIENT_ID"),
                },
            };
            let mut options = AzureStoreOptions::new(account, container, credential)
                .with_prefix(parts.next().unwrap_or(""));
            if let Some(endpoint) = vars.get("AZURE_STORAGE_ENDPOINT") {
                options = options
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint);
            }
            return Self::azure(options);
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let region = vars.get("AWS_REGION").unwrap_or_else(|| "us-east-1".into());
            let mut options = S3StoreOptions::new(bucket, region);
            options.prefix = prefix.into();
            options.access_key_id = vars.get("AWS_ACCESS_KEY_ID");
            options.secret_access_key = vars.get("AWS_SECRET_ACCESS_KEY");
            options.session_token = vars.get("AWS_SESSION_TOKEN");
            options.endpoint = vars.get("AWS_ENDPOINT_URL");
            return Self::s3(options);
        }
        Self::local(location.strip_prefix("file://").unwrap_or(location))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_azure_location_needs_a_container() {
        let e = BackupStore::from_location("azure://account", vars(&[])).expect_err("invalid");
        assert!(e.is_invalid_input(), "{e}");
        assert!(e.to_string().contains("azure://ACCOUNT/CONTAINER"), "{e}");
    }

    #[test]
    fn locations_choose_the_backend() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local =
            BackupStore::from_location(&format!("file://{}", dir.path().display()), vars(&[]))
                .expect("local");
        assert!(local.location().contains(&dir.path().display().to_string()));
        let azure = BackupStore::from_location(
            "azure://acct/backups/fleet",
            vars(&[
                ("AZURE_STORAGE_KEY", "a2V5"),
                ("AZURE_STORAGE_ENDPOINT", "http://127.0.0.1:10000/acct"),
            ]),
        )
        .expect("azure");
        assert!(azure.location().contains("backups"), "{}", azure.location());
        assert!(!format!("{azure:?}").contains("a2V5"));
        let s3 = BackupStore::from_location(
            "s3://bucket/prefix",
            vars(&[("AWS_REGION", "eu-west-1"), ("AWS_SECRET_ACCESS_KEY", "")]),
        )
        .expect("s3");
        assert!(s3.location().contains("bucket"), "{}", s3.location());
    }
}
