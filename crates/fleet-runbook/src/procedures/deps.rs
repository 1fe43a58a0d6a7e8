//! The clients a procedure works through, as the client crates' traits, grouped by area so
//! that every procedure takes the same few structs: built from the concrete clients in
//! production, from mocks or the test kit's stand-ins in tests.

use std::fmt;
use std::sync::Arc;

use fleet_azure::DnsRecords;
use fleet_backup::{BackupStore, Identities};
use fleet_db::{Diagnostics, PgClient, Remediation, Security};
use fleet_k8s::{
    Autoscaling, Deployments, Events, Exec, Export, KubeCluster, Logs, Metrics, Networking, Pods,
};

use crate::{MetricsSource, Notifier};

/// One namespace of one cluster, through fleet-k8s's traits.
#[derive(Clone)]
#[non_exhaustive]
pub struct Kube {
    /// The namespace every call addresses (for reports and audit targets).
    pub namespace: String,
    /// Pods, their status columns and diagnosis.
    pub pods: Arc<dyn Pods>,
    /// Deployments, rollouts, history, undo, scale, resources.
    pub deployments: Arc<dyn Deployments>,
    /// Container logs.
    pub logs: Arc<dyn Logs>,
    /// Events.
    pub events: Arc<dyn Events>,
    /// Horizontal pod autoscalers.
    pub autoscaling: Arc<dyn Autoscaling>,
    /// Ingresses, Services, the ingress denylist.
    pub networking: Arc<dyn Networking>,
    /// `kubectl top`.
    pub metrics: Arc<dyn Metrics>,
    /// `kubectl exec`.
    pub exec: Arc<dyn Exec>,
    /// The namespace's objects for configuration backups.
    pub export: Arc<dyn Export>,
}

impl Kube {
    /// Every trait from one [`KubeCluster`] (one connection pool, one namespace).
    pub fn from_cluster(cluster: KubeCluster) -> Self {
        let namespace = cluster.namespace().to_owned();
        let cluster = Arc::new(cluster);
        Self {
            namespace,
            pods: cluster.clone(),
            deployments: cluster.clone(),
            logs: cluster.clone(),
            events: cluster.clone(),
            autoscaling: cluster.clone(),
            networking: cluster.clone(),
            metrics: cluster.clone(),
            exec: cluster.clone(),
            export: cluster,
        }
    }
}

impl fmt::Debug for Kube {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kube")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The application database, through fleet-db's traits.
#[derive(Clone)]
#[non_exhaustive]
pub struct Db {
    /// What the database is (server and database name, never the password), for reports.
    pub name: String,
    /// Read-only diagnostics: connections, queries, blocking, health.
    pub diagnostics: Arc<dyn Diagnostics>,
    /// Read-only security views: roles, connections by source, large reads.
    pub security: Arc<dyn Security>,
    /// Guarded changes: terminate sessions, disable roles, change passwords.
    pub remediation: Arc<dyn Remediation>,
}

impl Db {
    /// Every trait from one [`PgClient`]; `name` says which database it is.
    pub fn from_client(client: PgClient, name: impl Into<String>) -> Self {
        let client = Arc::new(client);
        Self {
            name: name.into(),
            diagnostics: client.clone(),
            security: client.clone(),
            remediation: client,
        }
    }
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Who is told and where the numbers come from.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Signals {
    /// Every notifier a procedure posts through (Slack, PagerDuty, Statuspage, webhooks).
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// Request, error and latency figures (Prometheus or Application Insights), when any.
    pub metrics: Option<Arc<dyn MetricsSource>>,
}

impl Signals {
    /// Notifiers and, optionally, a metrics source.
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>, metrics: Option<Arc<dyn MetricsSource>>) -> Self {
        Self { notifiers, metrics }
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.notifiers.iter().map(|n| n.name()).collect();
        f.debug_struct("Signals")
            .field("notifiers", &names)
            .field("metrics", &self.metrics.as_ref().map(|m| m.describe()))
            .finish()
    }
}

/// Where backups are and the keys that read them back (fleet-backup).
#[derive(Clone)]
#[non_exhaustive]
pub struct Backups {
    /// The backup store (a local directory, Azure Blob Storage, S3).
    pub store: BackupStore,
    /// The age identities that decrypt the backups; never shown.
    pub identities: Identities,
}

impl Backups {
    /// A store and the identities that decrypt its backups.
    pub fn new(store: BackupStore, identities: Identities) -> Self {
        Self { store, identities }
    }
}

impl fmt::Debug for Backups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backups")
            .field("store", &self.store.to_string())
            .field("identities", &"<redacted>")
            .finish()
    }
}

/// Azure resources a procedure changes, through fleet-azure's traits.
#[derive(Clone)]
#[non_exhaustive]
pub struct Azure {
    /// The public DNS zone the application's names live in, and its name (for reports).
    pub dns: Arc<dyn DnsRecords>,
    /// The zone's name (`fleet.example.com`).
    pub dns_zone: String,
}

impl Azure {
    /// The DNS zone `dns_zone` through `dns` (a [`fleet_azure::DnsZoneClient`] or a mock).
    pub fn new(dns: Arc<dyn DnsRecords>, dns_zone: impl Into<String>) -> Self {
        Self {
            dns,
            dns_zone: dns_zone.into(),
        }
    }
}

impl fmt::Debug for Azure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Azure")
            .field("dns_zone", &self.dns_zone)
            .finish_non_exhaustive()
    }
}
