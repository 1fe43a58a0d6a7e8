//! [`KubeCluster`]: every trait of the crate implemented over a `kube::Client` for one
//! namespace.

use std::fmt::Debug;

use kube::api::{ListParams, ObjectList};
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::validate;

/// The runbook's namespace.
pub const DEFAULT_NAMESPACE: &str = "fleet-management";

/// Plain-data options of a [`KubeCluster`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Namespace every operation works in (default `fleet-management`).
    pub namespace: String,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Page size of list requests (`limit`), as kubectl's 500.
    pub page_size: u32,
    /// Largest replica count `scale` and the autoscaler accept.
    pub max_replicas: i32,
    /// Concurrent log requests across pods (kubectl's `--max-log-requests`, 5).
    pub max_log_requests: usize,
    /// Field manager recorded on writes.
    pub field_manager: String,
    /// Send every write with `dryRun=All`: the server validates and answers with the result,
    /// and nothing is stored (the runbook's "dry run first").
    pub dry_run: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.into(),
            retry: RetryPolicy::default(),
            page_size: 500,
            max_replicas: 1000,
            max_log_requests: 5,
            field_manager: "fleet-k8s".into(),
            dry_run: false,
        }
    }
}

impl ClusterOptions {
    /// Sets the namespace.
    #[must_use]
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }
    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }
    /// Sets the list page size.
    #[must_use]
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }
    /// Sets the maximum replica count.
    #[must_use]
    pub fn max_replicas(mut self, n: i32) -> Self {
        self.max_replicas = n;
        self
    }
    /// Makes every write a server-side dry run.
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
    /// Sets the log request concurrency.
    #[must_use]
    pub fn max_log_requests(mut self, n: usize) -> Self {
        self.max_log_requests = n.max(1);
        self
    }
}

/// Kubernetes operations of the runbook over kube, for one namespace.
///
/// Cheap to clone (the client is reference-counted). Build it from a `kube::Client` made at
/// the binary's edge (`kube::Client::try_default()` uses kube's kubeconfig / in-cluster
/// inference).
#[derive(Clone)]
pub struct KubeCluster {
    pub(crate) client: Client,
    pub(crate) opts: ClusterOptions,
}

impl Debug for KubeCluster {
    // The client can hold credentials; show only the options.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("namespace", &self.opts.namespace)
            .field("client", &"<kube::Client>")
            .finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Works in `fleet-management` with default options.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            opts: ClusterOptions::default(),
        }
    }

    /// Builds the client from a `kube::Config` (made at the binary's edge, e.g. with
    /// `kube::Config::infer()`), with kube's own retry layer turned off so that transient
    /// failures are retried only under `opts.retry`, whose budget bounds the total time. (kube
    /// 5's default layer retries 429/503/504 up to 15 times with delays up to 1000 s.) Like
    /// `kube::Client::try_from`, it must run inside a Tokio runtime. If the program has not
    /// installed a rustls crypto provider and links more than one, ring is installed.
    pub fn from_config(mut config: kube::Config, opts: ClusterOptions) -> Result<Self> {
        config.default_retry = false;
        ensure_crypto_provider();
        let client = Client::try_from(config)
            .map_err(|e| Error::from_kube("build the Kubernetes client", e))?;
        Self::with_options(client, opts)
    }

    /// Works with the given options; the namespace must be a valid DNS-1123 label. A client
    /// built with kube's default retry layer retries 429/503/504 by itself before
    /// `opts.retry` sees them; prefer [`KubeCluster::from_config`].
    pub fn with_options(client: Client, opts: ClusterOptions) -> Result<Self> {
        validate::label_name("namespace", &opts.namespace)?;
        if opts.max_replicas < 1 {
            return Err(Error::invalid(
                "max_replicas",
                opts.max_replicas.to_string(),
                "must be at least 1",
            ));
        }
        Ok(Self { client, opts })
    }

    /// The same cluster with every write sent as a server-side dry run (`dryRun=All`).
    pub fn as_dry_run(&self) -> Self {
        let mut c = self.clone();
        c.opts.dry_run = true;
        c
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.opts.namespace
    }

    /// The options.
    pub fn options(&self) -> &ClusterOptions {
        &self.opts
    }

    /// The underlying client, for operations this crate does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.opts.namespace)
    }

    /// Runs one request with the retry policy.
    pub(crate) async fn call<T, F, Fut>(&self, op: &str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, kube::Error>>,
    {
        self.opts.retry.run(op, f).await
    }

    /// Lists every object matching `lp`, page by page (`limit`/`continue`). When a continue
    /// token expires mid-way (410), the list starts over once, as kubectl's pager does.
    pub(crate) async fn list_all<K>(
        &self,
        api: &Api<K>,
        lp: &ListParams,
        op: &str,
    ) -> Result<Vec<K>>
    where
        K: Clone + DeserializeOwned + Debug,
    {
        let mut restarted = false;
        'outer: loop {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut p = lp.clone().limit(self.opts.page_size);
                if let Some(t) = &token {
                    p = p.continue_token(t);
                }
                let page: Result<ObjectList<K>> = self.call(op, || api.list(&p)).await;
                let page = match page {
                    Ok(p) => p,
                    Err(e) if token.is_some() && !restarted && e.status_code() == Some(410) => {
                        tracing::debug!(op, "continue token expired, listing again");
                        restarted = true;
                        continue 'outer;
                    }
                    Err(e) => return Err(e),
                };
                out.extend(page.items);
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => token = Some(c),
                    None => return Ok(out),
                }
            }
        }
    }
}

/// kube builds its TLS configuration with rustls' process-wide default crypto provider. A
/// program that links more than one provider (kube's ring here, aws-lc-rs through the Azure
/// SDK, say) has no default until it installs one, and kube would then panic while building a
/// client. When the program has not chosen, ring is installed; a provider the program installs
/// first is kept.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: a default then exists.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
