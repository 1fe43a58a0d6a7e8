//! [`FakeCluster`]: an in-process Kubernetes API server that the real `kubectl` accepts.
//!
//! It serves HTTP on `127.0.0.1` with an OS-chosen port, starts and stops in milliseconds, and
//! any number can run side by side. It stores objects as JSON with the real server's
//! bookkeeping (`resourceVersion`, `uid`, `generation`, the status subresource split), answers
//! discovery, get/list (label and field selectors, `limit`/`continue`), watch (chunked JSON
//! frames, bookmarks, `timeoutSeconds`), create/replace/delete, the three patch kinds and
//! `dryRun=All`, with `Status` error bodies carrying the real reasons and codes. Updates are
//! conditional on `resourceVersion` (409 Conflict when stale); Leases
//! (`coordination.k8s.io/v1`) must name the version they replace (422 without one), and a
//! `PUT` to a missing Lease, Endpoints, Event or RBAC object creates it, as the real registries
//! do. `kubectl get` receives server-side `Table`s with the real server's columns for every
//! kind served (the default `NAME` / `CREATED AT` for kinds the real server has no printer
//! for, such as Roles).
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
//! Client-side `kubectl apply -f` works for every stored kind: kubectl reads the OpenAPI v3
//! index and group-version documents, finds the operations and their `fieldValidation`
//! parameter (so it leaves validation to the server and sends `fieldValidation=Strict`), finds
//! no schemas to build a patch from (the v2 document answers 404), and so computes its
//! strategic merge patch from its built-in types, which give the same patch for built-in kinds.
//!
//! Jobs run for real: the Job controller keeps its pods going and counts them against
//! `completions` and `backoffLimit`, and each Job pod's first container runs as a child process
//! of the test process (its `command` and `args` as the argument vector, no shell; its
//! environment from the pod; `KUBECONFIG` acting as the pod's service account), its output as
//! the pod's log and its exit code as the container's end. CronJobs create Jobs on schedule
//! (five-field cron, `timeZone`), with [`FakeCluster::trigger_cronjob`] to run one now and
//! [`FakeCluster::advance_cron_clock`] to reach a scheduled time without waiting for it.
//!
//! `kubectl exec` works over WebSocket (`v5.channel.k8s.io` / `v4.channel.k8s.io`): the test
//! decides what a command prints and how it exits with [`FakeCluster::on_exec`], or
//! [`FakeCluster::attach_fleet_database`] routes the PostgreSQL client programs run in
//! `fleet-postgres-0` to a real server (the runbook's `kubectl exec ... psql` line).
//!
//! A paged list is one consistent snapshot, as on the real server: continue pages are rebuilt
//! from the change history at the first page's `resourceVersion`, and once that history is gone
//! (the `history_limit`, or [`FakeCluster::expire_continue_tokens`]) the client gets 410
//! Expired.
//!
//! RBAC is evaluated as the real authorizer does when turned on ([`FakeCluster::set_rbac`]):
//! Roles, ClusterRoles and their bindings, refusals as 403 with the real `Status` message,
//! `SelfSubjectAccessReview` / `SelfSubjectRulesReview` / `SelfSubjectReview` (so
//! `kubectl auth can-i [--list]` and `kubectl auth whoami` work), and impersonation
//! (`kubectl --as`). kubectl sends no credentials over plain HTTP, so the listener behaves like
//! the API server's old insecure port: a request without credentials is the administrator, and
//! [`FakeCluster::kubeconfig_for`] names an identity by impersonation; bearer tokens from
//! [`FakeCluster::token_for`] authenticate clients that send them, and their own impersonation
//! is checked. The bootstrap ClusterRoles and bindings of a real server are seeded
//! (`cluster-admin`, `system:discovery`, `system:basic-user`, `system:public-info-viewer`).
//!
//! Not served: protobuf, except the bodies kubectl insists on sending that way (the
//! HorizontalPodAutoscaler of `kubectl autoscale`, the reviews of `kubectl auth`, and the
//! RBAC objects, ConfigMaps, Secrets, Namespaces and ServiceAccounts of `kubectl create`; other
//! protobuf bodies get 415; responses are always JSON); OpenAPI schemas (so no
//! `kubectl explain`); server-side apply and managed fields; attach and port-forward; SPDY;
//! aggregated discovery (clients fall back to the per-group documents); TLS and client
//! certificates; aggregated ClusterRoles (`aggregationRule`) and RBAC's escalation checks on
//! writes of roles and bindings; graceful pod termination (deleted pods go at once).
//!
//! Simpler than the real thing: field selectors accept any field path (the real server allows a
//! fixed set per type); `fieldValidation=Strict` is accepted but unknown fields are kept, not
//! rejected (so a misspelt field in a manifest passes here and fails on a real server);
//! server-side apply (`kubectl apply --server-side`, `kubectl diff`) is not served; Job pods are
//! processes on this machine, not containers (the image is not pulled, a container without
//! `command` cannot start, an `OnFailure` restart is immediate, indexed completions and pod
//! failure policies are not simulated); the HPA limits a step by its policies without their
//! periods and serves no custom or external metrics; StatefulSets ignore `minReadySeconds` and
//! `maxUnavailable`; EndpointSlices are IPv4 only and carry no topology hints or
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

mod attach;
mod auth;
mod builder;
mod cluster;
mod controller;
mod convert;
mod cron;
mod defaults;
mod exec;
mod knobs;
mod kubeconfig;
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

pub use attach::{POSTGRES_PROGRAMS, PostgresTarget};
pub use auth::{Identity, MASTERS};
pub use builder::FakeClusterBuilder;
pub use cluster::FakeCluster;
pub use exec::{ExecHandler, ExecOutput, ExecRequest};
pub use knobs::{MetricsApi, Op, RequestRecord, Scenario};
pub use patch::{PatchKind, json_patch, merge_patch, strategic_merge};
pub use resources::{RESOURCES, ResourceType};
pub use seed::{
    FLEET_API_IMAGE, FLEET_DB_NAME, FLEET_DB_USER, FLEET_FRONTEND_IMAGE, FLEET_NAMESPACE,
    FLEET_POSTGRES_IMAGE,
};
pub use selector::{FieldSelector, LabelSelector};
pub use status::ApiError;
pub use store::Store;
