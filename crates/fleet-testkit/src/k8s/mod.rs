//! [`FakeCluster`]: an in-process Kubernetes API server that the real `kubectl` accepts.
//!
//! It serves HTTP on `127.0.0.1` with an OS-chosen port, starts and stops in milliseconds, and
//! any number can run side by side. It stores objects as JSON with the real server's
//! bookkeeping (`resourceVersion`, `uid`, `generation`, the status subresource split), answers
//! discovery, get/list (label and field selectors, `limit`/`continue`), watch (chunked JSON
//! frames, bookmarks, `timeoutSeconds`), create/replace/delete, the three patch kinds and
//! `dryRun=All`, with `Status` error bodies carrying the real reasons and codes. Updates are
//! conditional on `resourceVersion` (409 Conflict when stale); Leases
//! (`coordination.k8s.io/v1`) must name the version they replace (422 without one), and a `PUT`
//! to a missing Lease, Endpoints, Event or RBAC object creates it, as the real registries do. `kubectl get`
//! receives server-side `Table`s with the real server's columns for every kind served (the
//! default `NAME` / `CREATED AT` for kinds the real server has no printer for, such as Roles).
//!
//! A simulated control plane runs behind it: a deployment controller (a ReplicaSet per template
//! revision, rollbacks reuse theirs, rolling and recreate strategies, status and conditions
//! including `ProgressDeadlineExceeded`), a ReplicaSet controller, a StatefulSet controller
//! (ordinal pod identity, so a deleted `fleet-postgres-0` comes back; ordered creation, claims,
//! revisions, rolling updates), EndpointSlice and Endpoints controllers (ready pods behind each
//! Service's selector, so `kubectl describe ingress` shows each backend's endpoints, or none),
//! an HPA controller (status from the metrics served; it scales its target only after
//! [`FakeCluster::set_autoscaling`]), garbage collection of objects whose owners are gone, and
//! a kubelet stand-in that moves pods from Pending to Running and Ready over a
//! configurable time, or into a failure [`Scenario`] (crash loop, OOMKilled, image pull
//! failure, unschedulable, stuck), with events, per-container logs (current and previous) and
//! metrics.k8s.io usage. A Secret or ConfigMap referenced from `env` that does not exist gives
//! `CreateContainerConfigError`, as on a real node.
//!
//! Faults are injected with [`FakeCluster::fail_next`] (429 with `Retry-After`, 500, 503...),
//! [`FakeCluster::set_latency`], [`FakeCluster::drop_watches`] and
//! [`FakeCluster::expire_continue_tokens`]; [`FakeCluster::requests`] logs every call.
//!
//! `kubectl exec` works over WebSocket (`v5.channel.k8s.io` / `v4.channel.k8s.io`): the test
//! decides what a command prints and how it exits with [`FakeCluster::on_exec`]. An OpenAPI v3
//! index lists the operations and their query parameters (no schemas), which is what kubectl
//! needs to leave field validation to the server, so `apply`, `edit` and `create -f` work.
//!
//! A paged list is one consistent snapshot, as on the real server: continue pages are rebuilt
//! from the change history at the first page's `resourceVersion`, and once that history is gone
//! (the `history_limit`, or [`FakeCluster::expire_continue_tokens`]) the client gets 410
//! Expired.
//!
//! Not served: protobuf, except the autoscaling/v1 HorizontalPodAutoscaler that
//! `kubectl autoscale` sends that way (other protobuf bodies, e.g. from
//! `kubectl create configmap`, get 415; responses are always JSON); OpenAPI schemas (so no
//! `kubectl explain`); server-side apply and managed fields; attach and port-forward; SPDY;
//! aggregated discovery (clients fall back to the per-group documents); authentication and
//! RBAC checks; graceful pod termination (deleted pods go at once).
//!
//! Simpler than the real thing: field selectors accept any field path (the real server allows a
//! fixed set per type); `fieldValidation=Strict` is accepted but unknown fields are kept, not
//! rejected; there is no Job controller (Jobs are stored as written); the HPA limits a step by
//! its policies without their periods and serves no custom or external metrics; StatefulSets
//! ignore `minReadySeconds` and `maxUnavailable`; EndpointSlices are IPv4 only and do not carry the topology hints or the
//! `last-change-trigger-time` annotation; a crash-looping container shows the restart count its
//! scenario gives rather than a growing one; events are not aggregated (`count` stays 1).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use fleet_testkit::k8s::{FakeCluster, Op, Scenario};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let cluster = FakeCluster::builder()
//!     .seed_fleet()
//!     .pod_ready_after(Duration::from_millis(200))
//!     .start()
//!     .await?;
//!
//! // Any client: the kubeconfig points at the fake.
//! let status = cluster
//!     .kubectl()
//!     .args(["-n", "fleet-management", "rollout", "status", "deploy/fleet-api"])
//!     .status()?;
//! assert!(status.success());
//!
//! // Turn knobs.
//! cluster.set_scenario("registry.example.com/fleet/fleet-api:1.5.0", Scenario::CrashLoop { exit_code: 1, restarts: 4 });
//! cluster.fail_next(Op::List, 503, 1);
//!
//! // Read the result as JSON.
//! let deploy = cluster.store().get("deployments", "fleet-management", "fleet-api");
//! assert!(deploy.is_some());
//! assert!(cluster.request_count(Op::Watch) >= 1);
//! # Ok(())
//! # }
//! ```

mod controller;
mod convert;
mod defaults;
mod exec;
mod knobs;
mod metrics;
mod patch;
mod protobuf;
mod resources;
mod seed;
mod selector;
mod server;
mod shared;
mod status;
mod store;
mod table;
mod util;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use exec::{ExecHandler, ExecOutput, ExecRequest};
pub use knobs::{MetricsApi, Op, RequestRecord, Scenario};
pub use patch::{PatchKind, json_patch, merge_patch, strategic_merge};
pub use resources::{RESOURCES, ResourceType};
pub use seed::{FLEET_API_IMAGE, FLEET_FRONTEND_IMAGE, FLEET_NAMESPACE, FLEET_POSTGRES_IMAGE};
pub use selector::{FieldSelector, LabelSelector};
pub use status::ApiError;
pub use store::Store;

use knobs::{Fault, Knobs, lock};
use shared::Shared;

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
        }
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

    /// Binds a port, seeds, starts the server and the controllers, and writes the kubeconfig.
    /// Seeded workloads have settled when this returns: their pods exist and are Ready (or in
    /// the state their scenario gives), whatever `pod_ready_after` says. Errors are I/O errors of binding or writing the kubeconfig,
    /// or an `InvalidData` error naming a seed object the server rejected.
    pub async fn start(self) -> std::io::Result<FakeCluster> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let knobs = Arc::new(Knobs::new(self.pod_ready_after));
        *lock(&knobs.bookmark_interval) = self.bookmark_interval;
        for (image, s) in self.scenarios {
            lock(&knobs.image_scenarios).insert(image, s);
        }
        let shared = Arc::new(Shared {
            store: Store::new(self.history_limit),
            knobs,
            address: addr.to_string(),
        });
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
        let dir = tempfile::Builder::new()
            .prefix("fleet-fake-cluster-")
            .tempdir()?;
        let namespace = if self.fleet {
            FLEET_NAMESPACE
        } else {
            "default"
        };
        let yaml = kubeconfig(&format!("http://{addr}"), namespace);
        let kubeconfig_path = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig_path, &yaml)?;
        tracing::debug!(%addr, "fake cluster started");
        Ok(FakeCluster {
            shared,
            addr,
            stop: stop_tx,
            tasks,
            kubeconfig_path,
            kubeconfig_yaml: yaml,
            dir,
        })
    }
}

fn kubeconfig(server: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fleet-fake\n  cluster:\n    server: {server}\ncontexts:\n- name: fleet-fake\n  context:\n    cluster: fleet-fake\n    user: fleet-fake\n    namespace: {namespace}\ncurrent-context: fleet-fake\nusers:\n- name: fleet-fake\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// A running fake Kubernetes API server. Dropping it stops the server and removes its
/// kubeconfig.
pub struct FakeCluster {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    kubeconfig_path: PathBuf,
    kubeconfig_yaml: String,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCluster")
            .field("addr", &self.addr)
            .field("kubeconfig", &self.kubeconfig_path)
            .finish_non_exhaustive()
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

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Path of a kubeconfig whose current context points at this cluster (no credentials).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The kubeconfig's text.
    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// A `kubectl` command (found through `PATH`) aimed at this cluster only: `KUBECONFIG` is
    /// this cluster's kubeconfig and the discovery cache lives in the cluster's temporary
    /// directory, so no real cluster configuration is read or touched.
    pub fn kubectl(&self) -> std::process::Command {
        let mut c = std::process::Command::new("kubectl");
        c.env("KUBECONFIG", &self.kubeconfig_path)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"));
        c
    }

    /// The object store, for inserting and reading objects as JSON.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Every request served so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.knobs.requests).clone()
    }

    /// How many requests of `op` were served (`Op::Any` counts all).
    pub fn request_count(&self, op: Op) -> usize {
        lock(&self.shared.knobs.requests)
            .iter()
            .filter(|r| op == Op::Any || r.op == op)
            .count()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.knobs.requests).clear();
    }

    /// Answers the next `n` requests of `op` with `status` (429 carries `Retry-After: 1`) and
    /// a `Status` body with the matching reason.
    pub fn fail_next(&self, op: Op, status: u16, n: u32) {
        self.fail_next_on(op, None, status, n);
    }

    /// Like [`fail_next`](Self::fail_next), limited to one resource (plural, e.g. `pods`).
    pub fn fail_next_on(&self, op: Op, resource: Option<&str>, status: u16, n: u32) {
        if n > 0 {
            lock(&self.shared.knobs.faults).push(Fault {
                op,
                resource: resource.map(String::from),
                status,
                remaining: n,
            });
        }
    }

    /// Adds latency before every response.
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.shared.knobs.latency) = d;
    }

    /// Ends every open watch stream now (clients see the connection end and re-watch).
    pub fn drop_watches(&self) {
        self.shared.knobs.drop_watches.send_modify(|n| *n += 1);
    }

    /// Expires every continue token and watch position issued so far (410 Expired), as a
    /// compaction on a real server does.
    pub fn expire_continue_tokens(&self) {
        *lock(&self.shared.knobs.expire_continue) = true;
        self.shared.store.compact();
    }

    /// Applies `scenario` to pods running `image` (existing pods change at the next pass).
    pub fn set_scenario(&self, image: &str, scenario: Scenario) {
        lock(&self.shared.knobs.image_scenarios).insert(image.to_string(), scenario);
        self.shared.store.poke();
    }

    /// Applies `scenario` to one pod; wins over an image scenario.
    pub fn set_pod_scenario(&self, namespace: &str, pod: &str, scenario: Scenario) {
        lock(&self.shared.knobs.pod_scenarios).insert((namespace.into(), pod.into()), scenario);
        self.shared.store.poke();
    }

    /// Removes the scenario for `image` (pods become healthy).
    pub fn clear_scenario(&self, image: &str) {
        lock(&self.shared.knobs.image_scenarios).remove(image);
        self.shared.store.poke();
    }

    /// Replaces the current log of a container.
    pub fn set_logs(&self, namespace: &str, pod: &str, container: &str, lines: &[&str]) {
        let mut logs = lock(&self.shared.knobs.logs);
        let e = logs
            .entry((namespace.into(), pod.into(), container.into()))
            .or_default();
        e.current = lines.iter().map(|l| (*l).to_string()).collect();
    }

    /// Appends to the current log of a container (followers receive it).
    pub fn append_log(&self, namespace: &str, pod: &str, container: &str, line: &str) {
        let mut logs = lock(&self.shared.knobs.logs);
        logs.entry((namespace.into(), pod.into(), container.into()))
            .or_default()
            .current
            .push(line.to_string());
    }

    /// Sets the log of the container's previous (terminated) instance, for `--previous`.
    pub fn set_previous_logs(&self, namespace: &str, pod: &str, container: &str, lines: &[&str]) {
        let mut logs = lock(&self.shared.knobs.logs);
        let e = logs
            .entry((namespace.into(), pod.into(), container.into()))
            .or_default();
        e.previous = Some(lines.iter().map(|l| (*l).to_string()).collect());
    }

    /// Chooses which versions of metrics.k8s.io are served: discovery, the group documents and
    /// the metrics endpoints all follow (an unserved version answers 404, as without
    /// metrics-server).
    pub fn set_metrics_api(&self, api: MetricsApi) {
        *lock(&self.shared.knobs.metrics_api) = api;
    }

    /// Sets the usage metrics.k8s.io reports for a container, in millicores and MiB.
    pub fn set_usage(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        cpu_millicores: u64,
        memory_mib: u64,
    ) {
        lock(&self.shared.knobs.usage).insert(
            (namespace.into(), pod.into(), container.into()),
            (cpu_millicores, memory_mib),
        );
        // Autoscalers read the same numbers.
        self.shared.store.poke();
    }

    /// Lets HorizontalPodAutoscalers change their targets' replicas (off by default: HPA
    /// status is computed and reported either way, but a test that scales a deployment by hand
    /// is not undone by its autoscaler unless it asks for that).
    pub fn set_autoscaling(&self, on: bool) {
        *lock(&self.shared.knobs.autoscaling) = on;
        self.shared.store.poke();
    }

    /// Sets what `pods/exec` runs (`kubectl exec`): `f` gets the request (pod, container,
    /// argument vector) and the whole stdin, and returns stdout, stderr and the exit code.
    /// Without a handler every exec fails with exit code 126 and says why on stderr.
    pub fn on_exec(&self, f: impl Fn(&ExecRequest, &[u8]) -> ExecOutput + Send + Sync + 'static) {
        *lock(&self.shared.knobs.exec) = Some(Arc::new(f));
    }

    /// Changes how long healthy pods created from now on take to become ready.
    pub fn set_pod_ready_after(&self, d: Duration) {
        *lock(&self.shared.knobs.pod_ready_after) = d;
    }

    /// Polls the store until `f` holds or `timeout` passes; returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, mut f: impl FnMut(&Store) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if f(self.store()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server and controllers and waits for them to finish: open watches end at
    /// once, and connections still open after a second are cut.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.drop_watches();
        for mut t in self.tasks.drain(..) {
            if tokio::time::timeout(Duration::from_secs(1), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }

    /// How many requests each operation has had so far.
    pub fn request_counts(&self) -> std::collections::HashMap<Op, usize> {
        let mut out = std::collections::HashMap::new();
        for r in lock(&self.shared.knobs.requests).iter() {
            *out.entry(r.op).or_insert(0) += 1;
        }
        out
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
