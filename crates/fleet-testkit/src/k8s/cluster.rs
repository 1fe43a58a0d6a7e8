//! [`FakeCluster`]: a running fake API server and the knobs a test turns while it runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::auth::Identity;
use super::exec::{ExecOutput, ExecRequest};
use super::knobs::{Fault, MetricsApi, Op, RequestRecord, Scenario, lock};
use super::shared::Shared;
use super::status::ApiError;
use super::store::Store;

/// A running fake Kubernetes API server. Dropping it stops the server and removes its
/// kubeconfig.
pub struct FakeCluster {
    pub(super) shared: Arc<Shared>,
    pub(super) addr: SocketAddr,
    pub(super) stop: watch::Sender<bool>,
    pub(super) tasks: Vec<JoinHandle<()>>,
    pub(super) kubeconfig_path: PathBuf,
    pub(super) kubeconfig_yaml: String,
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
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Path of a kubeconfig whose current context points at this cluster. It carries no
    /// credentials: requests without any come from the administrator ([`Identity::admin`],
    /// group `system:masters`).
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
            .arg(self.shared.kubeconfigs.dir().join("cache"));
        c
    }

    /// A bearer token that authenticates as `id` (the same token for the same identity), for
    /// clients that send `Authorization: Bearer` themselves. Such a caller's impersonation
    /// headers are authorized for it, as on a real server. (kubectl sends no credentials over
    /// plain HTTP: use [`kubeconfig_for`](Self::kubeconfig_for) with it.)
    pub fn token_for(&self, id: &Identity) -> String {
        self.shared.auth.token(id)
    }

    /// Writes a kubeconfig that acts as `id` (a user with groups, a service account with
    /// [`Identity::service_account`], or [`Identity::anonymous`]) and returns its path, in the
    /// cluster's temporary directory. It names the identity with `as` / `as-groups`, which
    /// kubectl and kube-rs send as impersonation headers; the listener trusts credential-less
    /// callers as the old insecure port did, so `kubectl --as=...` with this kubeconfig replaces
    /// the identity rather than being checked against it (use [`token_for`](Self::token_for)
    /// to test who may impersonate whom).
    pub fn kubeconfig_for(&self, id: &Identity) -> std::io::Result<PathBuf> {
        Ok(self.shared.kubeconfigs.write(Some(id), None)?.0)
    }

    /// A `kubectl` command acting as `id` (see [`kubectl`](Self::kubectl)).
    pub fn kubectl_as(&self, id: &Identity) -> std::io::Result<std::process::Command> {
        let path = self.kubeconfig_for(id)?;
        let mut c = std::process::Command::new("kubectl");
        c.env("KUBECONFIG", path)
            .arg("--cache-dir")
            .arg(self.shared.kubeconfigs.dir().join("cache"));
        Ok(c)
    }

    /// Starts a run of a CronJob now: creates a Job from its template, named
    /// `<cronjob>-manual-<suffix>` and annotated `cronjob.kubernetes.io/instantiate: manual`, as
    /// `kubectl create job --from=cronjob/<name>` does (kubectl sends that Job as protobuf,
    /// which this fake does not read). Returns the Job's name.
    pub fn trigger_cronjob(&self, namespace: &str, name: &str) -> Result<String, ApiError> {
        super::controller::trigger_cronjob(self.shared.clone(), namespace, name)
    }

    /// Moves the CronJob controller's clock forward by `d` (it starts at real time), so a test
    /// can see a `0 2 * * *` schedule fire without waiting for 02:00. Everything else keeps
    /// real time.
    pub fn advance_cron_clock(&self, d: Duration) {
        *lock(&self.shared.knobs.cron_clock_offset) += d;
        self.shared.store.poke();
    }

    /// Turns RBAC on or off. Off (the default) every request is allowed; on, requests are
    /// authorized against the Roles, ClusterRoles and bindings in the store, as the real RBAC
    /// authorizer does, and refused with 403 and the real server's `Status`. The cluster's own
    /// kubeconfig acts as the administrator either way.
    pub fn set_rbac(&self, on: bool) {
        self.shared.auth.set_rbac(on);
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
