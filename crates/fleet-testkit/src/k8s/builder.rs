//! [`FakeClusterBuilder`]: seeds and knobs chosen before a [`FakeCluster`] starts, and the start
//! itself (bind, seed, settle the seeded world, serve, write the kubeconfig).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::auth::AuthState;
use super::cluster::FakeCluster;
use super::controller;
use super::knobs::{Knobs, Scenario, lock};
use super::kubeconfig::Kubeconfigs;
use super::seed::{self, FLEET_NAMESPACE};
use super::server;
use super::shared::Shared;
use super::store::Store;
use super::util;

/// Builder for a [`FakeCluster`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeClusterBuilder {
    fleet: bool,
    pod_ready_after: Duration,
    progress_deadline: Option<Duration>,
    controllers: bool,
    history_limit: usize,
    objects: Vec<Value>,
    scenarios: Vec<(String, Scenario)>,
    bookmark_interval: Duration,
    rbac: bool,
    autoscaling: bool,
}

impl Default for FakeClusterBuilder {
    fn default() -> Self {
        Self {
            fleet: false,
            pod_ready_after: Duration::ZERO,
            progress_deadline: None,
            controllers: true,
            history_limit: 10_000,
            objects: Vec::new(),
            scenarios: Vec::new(),
            bookmark_interval: Duration::from_secs(1),
            rbac: false,
            autoscaling: false,
        }
    }
}

impl FakeCluster {
    /// An empty cluster (namespaces `default`, `kube-system`, `kube-public`), controllers on.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for seeds and knobs.
    pub fn builder() -> FakeClusterBuilder {
        FakeClusterBuilder::default()
    }
}

impl FakeClusterBuilder {
    /// Seeds the runbook's world (see [`FLEET_NAMESPACE`]): deployments `fleet-api` (3
    /// replicas) and `fleet-frontend` (2), StatefulSet `fleet-postgres` with pod
    /// `fleet-postgres-0`, services, ingress, HPA, config, secret, RBAC and three nodes. The
    /// kubeconfig's context then defaults to that namespace.
    pub fn seed_fleet(mut self) -> Self {
        self.fleet = true;
        self
    }

    /// How long a healthy pod created after start takes to become Ready (half of it Pending,
    /// half Running but not ready). Zero (the default) makes pods ready at the next controller
    /// pass.
    pub fn pod_ready_after(mut self, d: Duration) -> Self {
        self.pod_ready_after = d;
        self
    }

    /// Overrides every deployment's `progressDeadlineSeconds` (so tests can see
    /// `ProgressDeadlineExceeded` in well under a second).
    pub fn progress_deadline(mut self, d: Duration) -> Self {
        self.progress_deadline = Some(d);
        self
    }

    /// Runs without the simulated controllers: objects stay exactly as written.
    pub fn without_controllers(mut self) -> Self {
        self.controllers = false;
        self
    }

    /// How many changes are kept for watches and continue tokens (default 10,000); older
    /// positions get 410 Expired, as after compaction on a real server.
    pub fn history_limit(mut self, n: usize) -> Self {
        self.history_limit = n.max(1);
        self
    }

    /// Adds an object to create at start (after the seed), e.g. a Deployment as JSON.
    pub fn object(mut self, obj: Value) -> Self {
        self.objects.push(obj);
        self
    }

    /// Sets a scenario for an image before anything starts.
    pub fn scenario(mut self, image: impl Into<String>, s: Scenario) -> Self {
        self.scenarios.push((image.into(), s));
        self
    }

    /// Interval between watch bookmarks for clients that allow them (default 1 s).
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d.max(Duration::from_millis(10));
        self
    }

    /// Authorizes every request with RBAC from the start (see [`FakeCluster::set_rbac`]).
    pub fn rbac(mut self) -> Self {
        self.rbac = true;
        self
    }

    /// Lets HorizontalPodAutoscalers scale their targets from the start (see
    /// [`FakeCluster::set_autoscaling`]).
    pub fn autoscaling(mut self) -> Self {
        self.autoscaling = true;
        self
    }

    /// Binds a port, seeds, starts the server and the controllers, and writes the kubeconfig.
    /// Seeded workloads have settled when this returns: their pods exist and are Ready (or in
    /// the state their scenario gives), whatever `pod_ready_after` says. Errors are I/O errors of binding or writing the kubeconfig,
    /// or an `InvalidData` error naming a seed object the server rejected.
    pub async fn start(self) -> std::io::Result<FakeCluster> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let knobs = Arc::new(Knobs::new(self.pod_ready_after));
        *lock(&knobs.bookmark_interval) = self.bookmark_interval;
        *lock(&knobs.autoscaling) = self.autoscaling;
        for (image, s) in self.scenarios {
            lock(&knobs.image_scenarios).insert(image, s);
        }
        let namespace = if self.fleet {
            FLEET_NAMESPACE
        } else {
            "default"
        };
        let kubeconfigs = Kubeconfigs::new(format!("http://{addr}"), namespace)?;
        let shared = Arc::new(Shared {
            store: Store::new(self.history_limit),
            knobs,
            address: addr.to_string(),
            kubeconfigs,
            auth: AuthState::default(),
        });
        shared.auth.set_rbac(self.rbac);
        let mut objects = seed::base();
        if self.fleet {
            objects.extend(seed::fleet(self.controllers));
        } else {
            objects.push(seed::node("fake-node-0", "172.18.0.2"));
        }
        objects.extend(self.objects);
        for obj in objects {
            shared.store.insert(obj.clone()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "seed object {}/{} rejected: {e}",
                        util::str_at(&obj, &["kind"]).unwrap_or("?"),
                        util::name_of(&obj)
                    ),
                )
            })?;
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if self.controllers
            && let Some(mut ctl) =
                controller::Controllers::new(shared.clone(), self.progress_deadline)
        {
            // Settle the seed before serving, so tests start from a steady world.
            ctl.settle(20);
            tasks.push(tokio::spawn(ctl.run(stop_rx.clone())));
        }
        let app = server::router(shared.clone());
        let mut server_stop = stop_rx;
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.changed().await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "fake cluster server stopped");
            }
        }));
        let (kubeconfig_path, yaml) = shared.kubeconfigs.write(None, None)?;
        tracing::debug!(%addr, "fake cluster started");
        Ok(FakeCluster {
            shared,
            addr,
            stop: stop_tx,
            tasks,
            kubeconfig_path,
            kubeconfig_yaml: yaml,
        })
    }
}
