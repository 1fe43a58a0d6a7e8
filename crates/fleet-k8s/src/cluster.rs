//! [`KubeCluster`]: every trait of the crate implemented over a `kube::Client` for one
//! namespace, and its [`ClusterOptions`].

use std::fmt::Debug;
use std::time::Duration;

use kube::api::{ListParams, ObjectList, PatchParams, PostParams};
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::validate;

/// Plain-data options of a [`KubeCluster`]. Every limit has a finite default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Namespace every operation works in; `None` takes the client's default (the kubeconfig
    /// context's namespace, else `default`), as kubectl does.
    pub namespace: Option<String>,
    /// Retries of transient failures, and the spacing and limit of re-established watches.
    pub retry: RetryPolicy,
    /// Page size of list requests (`limit`), as kubectl's 500.
    pub page_size: u32,
    /// Most pages one list may take before it fails with [`Error::LimitExceeded`].
    pub max_list_pages: u32,
    /// Most objects one list may return before it fails with [`Error::LimitExceeded`].
    pub max_list_items: u64,
    /// Largest replica count `scale` and the autoscaler accept.
    pub max_replicas: u32,
    /// Concurrent log requests across pods (kubectl's `--max-log-requests`, 5).
    pub max_log_requests: usize,
    /// Field manager recorded on writes.
    pub field_manager: String,
    /// Send every write with `dryRun=All`: the server validates and answers with the result,
    /// and nothing is stored. Exec is not run at all.
    pub dry_run: bool,
    /// How long a connection may stay silent while a response is awaited or read (kube's read
    /// timeout, set by [`KubeCluster::from_config`]): a server that stops answering mid-body,
    /// mid-watch or mid-stream fails the call instead of hanging it. Followed logs quiet for
    /// longer end with a timeout. `None` leaves kube's setting (no limit).
    pub idle_timeout: Option<Duration>,
    /// Accept a kubeconfig with `insecure-skip-tls-verify: true` (the server's certificate is
    /// then not checked). Refused by default.
    pub allow_insecure_tls: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            retry: RetryPolicy::default(),
            page_size: 500,
            max_list_pages: 1_000,
            max_list_items: 100_000,
            max_replicas: 1_000,
            max_log_requests: 5,
            field_manager: "fleet-k8s".into(),
            dry_run: false,
            idle_timeout: Some(Duration::from_secs(300)),
            allow_insecure_tls: false,
        }
    }
}

impl ClusterOptions {
    /// Sets the namespace.
    #[must_use]
    pub fn with_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }
    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }
    /// Sets the list page size (at least 1).
    #[must_use]
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }
    /// Sets the caps of one list: pages and objects.
    #[must_use]
    pub fn with_list_limits(mut self, max_pages: u32, max_items: u64) -> Self {
        self.max_list_pages = max_pages;
        self.max_list_items = max_items;
        self
    }
    /// Sets the maximum replica count.
    #[must_use]
    pub fn with_max_replicas(mut self, n: u32) -> Self {
        self.max_replicas = n;
        self
    }
    /// Makes every write a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
    /// Sets the log request concurrency (at least 1).
    #[must_use]
    pub fn with_max_log_requests(mut self, n: usize) -> Self {
        self.max_log_requests = n.max(1);
        self
    }
    /// Sets the idle timeout.
    #[must_use]
    pub fn with_idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Accepts (or refuses) a kubeconfig that skips TLS verification.
    #[must_use]
    pub fn with_allow_insecure_tls(mut self, on: bool) -> Self {
        self.allow_insecure_tls = on;
        self
    }
}

/// Kubernetes operations of the runbook over kube, for one namespace.
///
/// Cheap to clone (the client is reference-counted). Build it with
/// [`KubeCluster::from_config`] from a `kube::Config` made at the binary's edge (for example
/// `kube::Config::infer()`).
#[derive(Clone)]
pub struct KubeCluster {
    pub(crate) client: Client,
    pub(crate) opts: ClusterOptions,
    namespace: String,
}

impl Debug for KubeCluster {
    // The client can hold credentials; show only the options.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("namespace", &self.namespace)
            .field("dry_run", &self.opts.dry_run)
            .field("client", &"<kube::Client>")
            .finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Builds the client from a `kube::Config`, with kube's own retry layer turned off so that
    /// transient failures are retried only under `options.retry`, whose budget bounds the total
    /// time (kube 5's layer retries 429/503/504 up to 15 times with delays up to 1000 s), and
    /// kube's read timeout set to `options.idle_timeout`. A configuration that skips TLS
    /// verification (`insecure-skip-tls-verify`) is refused unless
    /// `options.allow_insecure_tls`. Like `kube::Client::try_from`, it must run inside a Tokio
    /// runtime. If the program has not installed a rustls crypto provider, ring is installed.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an insecure configuration or invalid options; the client
    /// error when kube cannot build a client from the configuration.
    pub fn from_config(mut config: kube::Config, options: ClusterOptions) -> Result<Self> {
        if config.accept_invalid_certs && !options.allow_insecure_tls {
            return Err(Error::invalid(
                "kubeconfig",
                config.cluster_url.to_string(),
                "insecure-skip-tls-verify is set, so the server's certificate would not be checked; \
                 fix the kubeconfig or set ClusterOptions::allow_insecure_tls",
            ));
        }
        config.default_retry = false;
        if let Some(idle) = options.idle_timeout {
            config.read_timeout = Some(idle);
            // Count from when a request is sent, not from when a pooled connection went idle.
            config.reset_reader_on_write = true;
        }
        ensure_crypto_provider();
        let client = Client::try_from(config)
            .map_err(|e| Error::from_kube("build the Kubernetes client", e))?;
        Self::new(client, options)
    }

    /// Works over an existing client. A client built with kube's default retry layer retries
    /// 429/503/504 by itself before `options.retry` sees them, and has no read timeout; prefer
    /// [`KubeCluster::from_config`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the namespace is not a DNS-1123 label.
    pub fn new(client: Client, options: ClusterOptions) -> Result<Self> {
        let namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        validate::label_name("namespace", &namespace)?;
        Ok(Self {
            client,
            opts: options,
            namespace,
        })
    }

    /// The same cluster with every write sent as a server-side dry run (`dryRun=All`) and
    /// exec refused.
    pub fn as_dry_run(&self) -> Self {
        let mut c = self.clone();
        c.opts.dry_run = true;
        c
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The options.
    pub fn options(&self) -> &ClusterOptions {
        &self.opts
    }

    /// The underlying client, for operations this crate does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether a write with the call's own `dry_run` is a dry run on this handle.
    pub(crate) fn dry_run(&self, per_call: bool) -> bool {
        per_call || self.opts.dry_run
    }

    pub(crate) fn patch_params(&self, dry_run: bool) -> PatchParams {
        PatchParams {
            field_manager: Some(self.opts.field_manager.clone()),
            dry_run,
            ..PatchParams::default()
        }
    }

    pub(crate) fn post_params(&self, dry_run: bool) -> PostParams {
        PostParams {
            field_manager: Some(self.opts.field_manager.clone()),
            dry_run,
        }
    }

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Runs one request with the retry policy.
    pub(crate) async fn call<T, F, Fut>(&self, op: &str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, kube::Error>>,
    {
        self.opts.retry.run(op, f).await
    }

    /// Lists every object matching `lp`, page by page (`limit`/`continue`).
    pub(crate) async fn list_all<K>(
        &self,
        api: &Api<K>,
        lp: &ListParams,
        op: &str,
    ) -> Result<Vec<K>>
    where
        K: Clone + DeserializeOwned + Debug,
    {
        Ok(self.list_all_versioned(api, lp, op).await?.0)
    }

    /// Lists every object matching `lp` and returns them with the list's resourceVersion (the
    /// position a watch starts from). When a continue token expires mid-way (410), the list
    /// starts over once, as kubectl's pager does. More than `max_list_pages` pages or
    /// `max_list_items` objects fail with [`Error::LimitExceeded`].
    pub(crate) async fn list_all_versioned<K>(
        &self,
        api: &Api<K>,
        lp: &ListParams,
        op: &str,
    ) -> Result<(Vec<K>, String)>
    where
        K: Clone + DeserializeOwned + Debug,
    {
        let mut restarted = false;
        'outer: loop {
            let mut out = Vec::new();
            let mut token: Option<String> = None;
            let mut pages = 0u32;
            loop {
                pages = pages.saturating_add(1);
                if pages > self.opts.max_list_pages {
                    return Err(Error::LimitExceeded {
                        op: op.to_string(),
                        limit: u64::from(self.opts.max_list_pages),
                        unit: "pages",
                    });
                }
                let mut p = lp.clone().limit(self.opts.page_size.max(1));
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
                let total =
                    u64::try_from(out.len().saturating_add(page.items.len())).unwrap_or(u64::MAX);
                if total > self.opts.max_list_items {
                    return Err(Error::LimitExceeded {
                        op: op.to_string(),
                        limit: self.opts.max_list_items,
                        unit: "objects",
                    });
                }
                out.extend(page.items);
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => token = Some(c),
                    None => return Ok((out, page.metadata.resource_version.unwrap_or_default())),
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
