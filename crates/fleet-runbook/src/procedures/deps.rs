//! The clients a procedure works through, as the client crates' traits, grouped by area so
//! that every procedure takes the same few structs: built from the concrete clients in
//! production, from mocks or the test kit's stand-ins in tests.

use std::fmt;
use std::sync::Arc;

use fleet_azure::{
    ActivityLog, DnsRecords, FirewallRules, FlexibleServerClient, Secrets, ServerBackups,
    ServerRestore, Telemetry,
};
use fleet_backup::{BackupStore, Identities, ManagedServer, RestoredServerCheck};
use fleet_db::{Diagnostics, PgClient, Remediation, Security};
use fleet_guard::RecordStore;
use fleet_k8s::{
    Access, Autoscaling, ConfigData, Deployments, Events, Exec, Export, KubeCluster, Logs, Metrics,
    Networking, Pods,
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
    /// ConfigMap keys (feature flags such as a circuit breaker), Secret keys (credentials) and
    /// service-account token Secrets.
    pub config: Arc<dyn ConfigData>,
    /// `kubectl auth can-i`: what this client may do.
    pub access: Arc<dyn Access>,
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
            export: cluster.clone(),
            config: cluster.clone(),
            access: cluster,
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
    /// Application Insights or Log Analytics queries (failed requests, top exceptions,
    /// failing dependencies), when configured.
    pub telemetry: Option<Arc<dyn Telemetry>>,
}

impl Signals {
    /// Notifiers and, optionally, a metrics source.
    pub fn new(notifiers: Vec<Arc<dyn Notifier>>, metrics: Option<Arc<dyn MetricsSource>>) -> Self {
        Self {
            notifiers,
            metrics,
            telemetry: None,
        }
    }

    /// With Application Insights or Log Analytics queries (a [`fleet_azure::TelemetryClient`]).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.notifiers.iter().map(|n| n.name()).collect();
        f.debug_struct("Signals")
            .field("notifiers", &names)
            .field("metrics", &self.metrics.as_ref().map(|m| m.describe()))
            .field("telemetry", &self.telemetry.is_some())
            .finish()
    }
}

/// Azure, through fleet-azure's traits: each service optional, since a procedure needs only
/// some of them (the credential rotation needs Key Vault, containment the firewall, the
/// security assessment the activity log).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Azure {
    /// The resource group the activity log is read for (`fleet-production-rg`).
    pub resource_group: String,
    /// Key Vault secrets.
    pub secrets: Option<Arc<dyn Secrets>>,
    /// The PostgreSQL flexible server's firewall rules.
    pub firewall: Option<Arc<dyn FirewallRules>>,
    /// The subscription's activity log.
    pub activity: Option<Arc<dyn ActivityLog>>,
}

impl Azure {
    /// No service yet, for `resource_group`.
    pub fn new(resource_group: impl Into<String>) -> Self {
        Self {
            resource_group: resource_group.into(),
            ..Self::default()
        }
    }

    /// With Key Vault secrets.
    #[must_use]
    pub fn with_secrets(mut self, secrets: Arc<dyn Secrets>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// With the server's firewall rules.
    #[must_use]
    pub fn with_firewall(mut self, firewall: Arc<dyn FirewallRules>) -> Self {
        self.firewall = Some(firewall);
        self
    }

    /// With the activity log.
    #[must_use]
    pub fn with_activity(mut self, activity: Arc<dyn ActivityLog>) -> Self {
        self.activity = Some(activity);
        self
    }
}

impl fmt::Debug for Azure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Azure")
            .field("resource_group", &self.resource_group)
            .field("secrets", &self.secrets.is_some())
            .field("firewall", &self.firewall.is_some())
            .field("activity", &self.activity.is_some())
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
pub struct AzureDns {
    /// The public DNS zone the application's names live in, and its name (for reports).
    pub dns: Arc<dyn DnsRecords>,
    /// The zone's name (`fleet.example.com`).
    pub dns_zone: String,
}

impl AzureDns {
    /// The DNS zone `dns_zone` through `dns` (a [`fleet_azure::DnsZoneClient`] or a mock).
    pub fn new(dns: Arc<dyn DnsRecords>, dns_zone: impl Into<String>) -> Self {
        Self {
            dns,
            dns_zone: dns_zone.into(),
        }
    }
}

impl fmt::Debug for AzureDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureDns")
            .field("dns_zone", &self.dns_zone)
            .finish_non_exhaustive()
    }
}

/// The application's Azure Database for PostgreSQL flexible server, through fleet-azure's
/// traits: its backups and restore points, and point-in-time restores to a new server.
#[derive(Clone)]
#[non_exhaustive]
pub struct AzureDatabase {
    /// The server's name (`fleet-postgres-server`): the subject of the backup findings and
    /// the word that confirms a restore from it.
    pub server: String,
    /// Backups and restore points of the server.
    pub backups: Arc<dyn ServerBackups>,
    /// Point-in-time restores to a new server, and server reads.
    pub restore: Arc<dyn ServerRestore>,
}

impl AzureDatabase {
    /// Both traits from one [`FlexibleServerClient`].
    pub fn from_client(client: FlexibleServerClient) -> Self {
        let server = client.server_name().to_owned();
        let client = Arc::new(client);
        Self {
            server,
            backups: client.clone(),
            restore: client,
        }
    }

    /// From separate implementations (mocks, stand-ins, a client per trait).
    pub fn new(
        server: impl Into<String>,
        backups: Arc<dyn ServerBackups>,
        restore: Arc<dyn ServerRestore>,
    ) -> Self {
        Self {
            server: server.into(),
            backups,
            restore,
        }
    }
}

impl fmt::Debug for AzureDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureDatabase")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// A managed server's point-in-time restore into a new server, through fleet-backup's
/// [`ManagedServer`] seam: the source server, where the restore's resume record is kept (so
/// that an interrupted restore is resumed, never started twice), and how the restored server
/// is checked before anything is pointed at it.
#[derive(Clone)]
#[non_exhaustive]
pub struct ManagedRestore {
    /// The source server ([`fleet_backup::AzureFlexibleServer`] or a stand-in).
    pub server: Arc<dyn ManagedServer>,
    /// The restore's resume record (key `pitr-<new server>`).
    pub records: Arc<dyn RecordStore>,
    /// Connects to the restored server (e.g. [`fleet_backup::PostgresCheck`]).
    pub check: Arc<dyn RestoredServerCheck>,
}

impl ManagedRestore {
    /// The source server, the record store and the connection check.
    pub fn new(
        server: Arc<dyn ManagedServer>,
        records: Arc<dyn RecordStore>,
        check: Arc<dyn RestoredServerCheck>,
    ) -> Self {
        Self {
            server,
            records,
            check,
        }
    }

    /// The source server through fleet-azure's [`FlexibleServerClient`].
    pub fn from_client(
        client: FlexibleServerClient,
        records: Arc<dyn RecordStore>,
        check: Arc<dyn RestoredServerCheck>,
    ) -> Self {
        Self::new(
            Arc::new(fleet_backup::AzureFlexibleServer::new(client)),
            records,
            check,
        )
    }
}

impl fmt::Debug for ManagedRestore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedRestore")
            .field("server", &self.server.server_name())
            .finish_non_exhaustive()
    }
}
