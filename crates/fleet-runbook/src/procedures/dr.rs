//! Disaster recovery (runbook: "Disaster Recovery", RTO 4 h, RPO 24 h): the runbook's five
//! steps as one plan, with the RTO clock running from the declaration and every step timed.
//!
//! 1. **Restore the database**, from one of two sources ([`DatabaseSource`]):
//!    - the newest complete fleet-backup logical backup (or a named one) into a new database
//!      on the recovery server; fleet-backup validates the restored row counts against the
//!      backup's manifest;
//!    - Azure's point-in-time restore of the managed server into a new server named by the
//!      plan (fleet-backup's `point_in_time_restore`: the target checked, the request
//!      recorded so that an interrupted recovery resumes it instead of starting another, the
//!      new server checked by connecting to it); the host written in step 2 is then the new
//!      server's FQDN.
//! 2. **Deploy to the backup region**: restore the newest configuration backup into the
//!    recovery cluster's namespace (fleet-backup, Velero's order), point the application at the
//!    restored database by writing the host into the ConfigMap or Secret that holds it, restart
//!    the restored Deployments so that they read it, and wait for their rollouts.
//! 3. **Update DNS** to the backup region: the zone's `A` or `CNAME` record set, written with
//!    `If-Match` on the etag read while planning (`If-None-Match` when it did not exist), so a
//!    concurrent change makes the step fail instead of being overwritten.
//! 4. **Validate all services**: the rollout status of every restored Deployment, every
//!    restored Service with ready endpoints (a pod matching its selector is ready: triage's
//!    [`crate::services_without_ready_endpoints`], given the recovery cluster's [`Kube`]
//!    through [`DisasterRecovery::with_serving_check`]), then the smoke tests given (judged by
//!    fleet-policy's smoke-test rule). The step's detail names the Services without one.
//! 5. **Communicate**: `#incidents` and the status page through the [`crate::Notifier`]s: a
//!    new incident (`trigger`) with the recovery's key, or an update of the incident named by
//!    [`DrOptions::with_incident_reference`]; a notifier that fails never fails the recovery.
//!
//! The report carries fleet-policy's `recovery.rto` (declared → validated) and `backup.rpo`
//! (the restored backup's completion → the disaster) findings, and the [`DrMeasurements`].
//!
//! Guard rails: the three changing steps (database restore, configuration restore with the
//! host update, DNS) are confirmed with one word: the recovery target's name
//! ([`DrOptions::recovery_name`]), or for a point-in-time recovery the new server's name; every change is audited (the outer step and fleet-backup's
//! own steps, in the same audit sink); a dry run reads the backups and the DNS record set and
//! writes nothing.
//!
//! The first step is `verify-access`, before the backups are read and before any write of the
//! recovery (database, cluster, DNS): the authorizer of the recovery cluster
//! ([`DisasterRecovery::with_serving_check`] or [`DisasterRecovery::with_access_check`]) is
//! asked whether the identity holds every permission of the `dr` Role (`docs/rbac.md`), and
//! without one the run stops there, status `forbidden`, naming the verb and resource. Without
//! an authorizer client the step is skipped and says so.
//!
//! Needs: Kubernetes, in the recovery namespace, the `dr` Role: `get`/`create`/`update` on every
//! kind of the configuration backup ([`crate::CONFIG_KINDS`], the same list the backup's Role
//! lists), `get` namespaces (cluster scope: whether the namespace exists), `get`/`list`/`watch`
//! and `patch` deployments (rollout waits, restart), `list` pods and services (the endpoint
//! check); PostgreSQL `CREATEDB` on the recovery
//! server (logical source); Azure `DNS Zone Contributor` on the zone, and for a point-in-time
//! source read access to the server and `Microsoft.DBforPostgreSQL/flexibleServers/write` in
//! the resource group (the new server); the backup store's read access.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use fleet_azure::{Outcome, Precondition, RecordSetData, Records, SetRecordSetOptions};
use fleet_backup::{
    BackupEntry, BackupStatus, ConfigCluster, ConfigRestoreOptions, DatabaseRestoreOptions,
    PgTarget, PgTools, PitrOptions, PitrRequest, list_backups, point_in_time_restore,
    restore_config, restore_database,
};
use fleet_guard::{
    Applied, Confirm, ConfirmRequest, ConfirmWord, Confirmation, Executor, Guards, Plan,
    RunContext, Step,
};
use fleet_k8s::{
    DynamicRef, RolloutRestartOptions, RolloutState, RolloutStatusOptions, WriteOptions,
};
use fleet_policy::Policy;
use fleet_policy::backup::{
    BackupInventory, BackupKind, BackupRecord, Recovery, check_rpo, check_rto,
};
use fleet_policy::rollback::{self, RollbackInput};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::access;
use super::deps::{AzureDns, Backups, Kube, ManagedRestore, Signals};
use super::triage::services_without_ready_endpoints;
use crate::{
    Action, Channel, Error, IncidentStatus, Notification, Report, Result, Severity, SmokeCheck,
    SmokeOptions, notify_all, run_smoke_tests,
};

/// The procedure's name in plans, audit records and reports.
pub const DR_PROCEDURE: &str = "disaster-recovery";

/// The recovery's Role in `PROCEDURE_PERMISSIONS`.
const DR_ROLE: &str = "dr";

/// Where the application reads its database host from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSource {
    /// A ConfigMap's `data` key.
    ConfigMap,
    /// A Secret's `data` key (written base64-encoded; the value is never shown).
    Secret,
}

/// The key that holds the application's database host, and the restored database's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBinding {
    /// ConfigMap or Secret.
    pub source: HostSource,
    /// The object's name (`fleet-config`).
    pub name: String,
    /// The key (`DATABASE_URL`, `db_host`).
    pub key: String,
    /// The value pointing at the restored database. For a point-in-time recovery, `{fqdn}` in
    /// it is replaced by the new server's host name, and an empty value is that host name.
    pub value: String,
}

/// Where the recovered database comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseSource {
    /// A fleet-backup logical backup restored into [`DrOptions::database`] on
    /// [`DrOptions::recovery_server`].
    Logical,
    /// Azure's point-in-time restore of the managed server ([`ManagedRestore`]) into a new
    /// server.
    PointInTime {
        /// The new server's name (also the recovery's confirmation word).
        target_server: String,
        /// The instant restored to (the RPO is measured from it).
        point_in_time: Timestamp,
        /// How the restore is followed.
        poll: PitrOptions,
    },
}

/// A point-in-time recovery's host value: `{fqdn}` replaced, or the FQDN alone.
fn resolve_host(value: &str, fqdn: &str) -> String {
    if value.is_empty() {
        fqdn.to_owned()
    } else {
        value.replace("{fqdn}", fqdn)
    }
}

/// The DNS change to the backup region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSwitch {
    /// The record set's name relative to the zone (`api`, `@`).
    pub record_name: String,
    /// The new records (the backup region's address or name).
    pub records: Records,
    /// Time to live in seconds.
    pub ttl: u32,
}

/// What to recover, where, and how to judge it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DrOptions {
    /// The recovery target's name: the one word that confirms the changing steps.
    pub recovery_name: String,
    /// When the disaster was declared: the RTO clock starts here.
    pub declared_at: Timestamp,
    /// When the primary was lost: the RPO is measured from the backup to here.
    pub disaster_at: Timestamp,
    /// A named backup for the database; default: the newest complete one with a database.
    pub database_backup: Option<String>,
    /// The recovery server (its URL names the maintenance database, e.g. `postgres`).
    pub recovery_server: PgTarget,
    /// The new database's name on the recovery server.
    pub database: String,
    /// `pg_restore` and friends.
    pub tools: PgTools,
    /// A named backup for the configuration; default: the newest complete one with a
    /// namespace.
    pub config_backup: Option<String>,
    /// Where the application reads its database host.
    pub host: HostBinding,
    /// The DNS change.
    pub dns: DnsSwitch,
    /// Smoke tests of the recovered application (none: rollouts only).
    pub smoke: Vec<SmokeCheck>,
    /// How the smoke tests run.
    pub smoke_options: SmokeOptions,
    /// Longest wait for each rollout.
    pub rollout_timeout: Duration,
    /// Where the database comes from (default: a logical backup).
    pub database_source: DatabaseSource,
    /// Longest wait for every restored Service to have a ready endpoint (default 60 s).
    pub endpoint_wait: Duration,
    /// Incidents already open, by notifier (`statuspage` → incident id): step 5 updates them
    /// instead of opening new ones.
    pub incident_references: BTreeMap<String, String>,
}

impl DrOptions {
    /// Options with no smoke tests and a 10-minute rollout timeout.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        recovery_name: impl Into<String>,
        declared_at: Timestamp,
        disaster_at: Timestamp,
        recovery_server: PgTarget,
        database: impl Into<String>,
        tools: PgTools,
        host: HostBinding,
        dns: DnsSwitch,
    ) -> Self {
        Self {
            recovery_name: recovery_name.into(),
            declared_at,
            disaster_at,
            database_backup: None,
            recovery_server,
            database: database.into(),
            tools,
            config_backup: None,
            host,
            dns,
            smoke: Vec::new(),
            smoke_options: SmokeOptions::default(),
            rollout_timeout: Duration::from_secs(600),
            database_source: DatabaseSource::Logical,
            endpoint_wait: Duration::from_secs(60),
            incident_references: BTreeMap::new(),
        }
    }

    /// Restores the database with Azure's point-in-time restore into the new server
    /// `target_server` as of `point_in_time`, instead of from a logical backup.
    #[must_use]
    pub fn with_point_in_time(
        mut self,
        target_server: impl Into<String>,
        point_in_time: Timestamp,
        poll: PitrOptions,
    ) -> Self {
        self.database_source = DatabaseSource::PointInTime {
            target_server: target_server.into(),
            point_in_time,
            poll,
        };
        self
    }

    /// Waits at most this long for the restored Services' ready endpoints.
    #[must_use]
    pub fn with_endpoint_wait(mut self, wait: Duration) -> Self {
        self.endpoint_wait = wait;
        self
    }

    /// Step 5 updates this notifier's open incident (`statuspage`, `pagerduty`...) instead of
    /// opening one.
    #[must_use]
    pub fn with_incident_reference(
        mut self,
        notifier: impl Into<String>,
        id: impl Into<String>,
    ) -> Self {
        self.incident_references.insert(notifier.into(), id.into());
        self
    }

    /// Adds smoke tests.
    #[must_use]
    pub fn with_smoke(mut self, checks: Vec<SmokeCheck>, options: SmokeOptions) -> Self {
        self.smoke = checks;
        self.smoke_options = options;
        self
    }

    /// Uses these backups instead of the newest ones.
    #[must_use]
    pub fn with_backups(mut self, database: Option<String>, config: Option<String>) -> Self {
        self.database_backup = database;
        self.config_backup = config;
        self
    }

    /// Waits at most this long for each rollout.
    #[must_use]
    pub fn with_rollout_timeout(mut self, timeout: Duration) -> Self {
        self.rollout_timeout = timeout;
        self
    }
}

/// The clients of a recovery.
#[derive(Clone)]
#[non_exhaustive]
pub struct DisasterRecovery {
    /// The recovery cluster, bound to the namespace restored into.
    pub cluster: Arc<dyn ConfigCluster>,
    /// The backups and their keys.
    pub backups: Backups,
    /// The DNS zone.
    pub azure: AzureDns,
    /// Who is told.
    pub signals: Signals,
    /// The rules (RTO, RPO, smoke tests).
    pub policy: Policy,
    /// The managed server, for a point-in-time source.
    pub managed: Option<ManagedRestore>,
    /// The recovery cluster's pods and Services, for the ready-endpoint check.
    pub serving: Option<Kube>,
    /// The recovery cluster's authorizer, for the `verify-access` step.
    pub access: Option<Arc<dyn fleet_k8s::Access>>,
}

impl std::fmt::Debug for DisasterRecovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisasterRecovery")
            .field("namespace", &self.cluster.namespace())
            .field("backups", &self.backups)
            .field("azure", &self.azure)
            .field("signals", &self.signals)
            .field("managed", &self.managed)
            .field("serving", &self.serving.as_ref().map(|k| &k.namespace))
            .finish_non_exhaustive()
    }
}

/// The recovery's clock: what the RTO and RPO findings were judged on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrMeasurements {
    /// When the disaster was declared.
    pub declared_at: Timestamp,
    /// When all services were validated (none when the run did not get there).
    pub validated_at: Option<Timestamp>,
    /// Declared → validated.
    pub rto: Option<SignedDuration>,
    /// When the restored database backup completed.
    pub backup_at: Option<Timestamp>,
    /// When the primary was lost.
    pub disaster_at: Timestamp,
    /// Backup → disaster: the data lost.
    pub rpo: Option<SignedDuration>,
    /// The database backup restored (for a point-in-time source: the server and instant).
    pub database_backup: Option<String>,
    /// The new server's host name, for a point-in-time source.
    pub restored_host: Option<String>,
    /// The configuration backup restored.
    pub config_backup: Option<String>,
    /// Tables and rows validated in the restored database.
    pub rows_validated: Option<(usize, u64)>,
    /// The Deployments validated in the recovery namespace.
    pub deployments: Vec<String>,
    /// The Services restored into it (each checked for ready endpoints).
    pub services: Vec<String>,
}

/// A recovery's report and its measurements.
#[derive(Clone, Debug, Serialize)]
pub struct DrOutcome {
    /// The procedure's report (plan, timed steps, findings, status).
    pub report: Report,
    /// RTO and RPO as measured.
    pub measurements: DrMeasurements,
}

/// `measured` and `d` in hours and seconds (`measured 0.01 h (21.3 s)`), or `not measured`.
fn hours(d: Option<SignedDuration>) -> String {
    d.map_or_else(
        || "not measured".into(),
        |d| {
            format!(
                "measured {:.2} h ({:.1} s)",
                d.as_secs_f64() / 3600.0,
                d.as_secs_f64()
            )
        },
    )
}

impl DrOutcome {
    /// The measured RTO and RPO against `policy`, one line each, with fleet-policy's verdict
    /// and message from the report (rules `recovery.rto` and `backup.rpo`).
    pub fn measured_against(&self, policy: &Policy) -> String {
        let verdict = |rule: &str| {
            self.report
                .findings
                .findings
                .iter()
                .find(|f| f.rule == rule)
                .map_or_else(
                    || "not judged".to_owned(),
                    |f| format!("{} ({})", f.outcome, f.message),
                )
        };
        let limit = |d: SignedDuration| format!("{:.0} h", d.as_secs_f64() / 3600.0);
        format!(
            "RTO: {} against the policy's {}: {}\nRPO: {} against the policy's {}: {}\n",
            hours(self.measurements.rto),
            limit(policy.backup.rto),
            verdict("recovery.rto"),
            hours(self.measurements.rpo),
            limit(policy.backup.rpo),
            verdict("backup.rpo"),
        )
    }

    /// The report and the measurements as one pretty-printed JSON object, with a final
    /// newline.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// What the plan found before acting.
#[derive(Clone, Debug)]
struct Found {
    database: Option<BackupEntry>,
    config: Option<BackupEntry>,
    dns_etag: Option<String>,
    dns_before: Option<Records>,
}

/// Confirms the inner steps of fleet-backup that the recovery's own confirmation covers: only
/// their planned words, and only because the outer step was confirmed first.
struct Covered(Vec<String>);

#[async_trait]
impl Confirm for Covered {
    async fn confirm(&self, request: &ConfirmRequest) -> Confirmation {
        if self.0.iter().any(|w| w == request.word.as_str()) {
            Confirmation::Confirmed {
                by: "disaster-recovery confirmation".into(),
            }
        } else {
            Confirmation::Refused {
                reason: format!("{} is not part of the confirmed recovery", request.word),
            }
        }
    }
}

fn nested(run: &Executor, words: Vec<String>) -> Result<Executor> {
    let c = run.context();
    let context = RunContext::new(DR_PROCEDURE, &c.actor, &c.reason, c.mode).map_err(|e| {
        Error::InvalidInput {
            field: "run context".into(),
            reason: e.to_string(),
        }
    })?;
    let guards: Guards = run.guards().clone().with_confirm(Arc::new(Covered(words)));
    Ok(Executor::new(context, guards))
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}

fn source(service: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Source {
        service,
        transient: false,
        source: Box::new(e),
    }
}

fn host_ref(host: &HostBinding, namespace: &str) -> DynamicRef {
    match host.source {
        HostSource::ConfigMap => {
            DynamicRef::namespaced("v1", "ConfigMap", "configmaps", namespace, &host.name)
        }
        HostSource::Secret => {
            DynamicRef::namespaced("v1", "Secret", "secrets", namespace, &host.name)
        }
    }
}

fn newest(entries: &[BackupEntry], named: Option<&str>, database: bool) -> Option<BackupEntry> {
    entries
        .iter()
        .filter(|e| e.status == BackupStatus::Complete)
        .filter(|e| named.is_none_or(|n| e.name == n))
        .find(|e| {
            e.manifest.as_ref().is_some_and(|m| {
                if database {
                    m.database.is_some()
                } else {
                    m.kubernetes.is_some()
                }
            })
        })
        .cloned()
}

impl DisasterRecovery {
    /// The recovery's clients and rules.
    pub fn new(
        cluster: Arc<dyn ConfigCluster>,
        backups: Backups,
        azure: AzureDns,
        signals: Signals,
        policy: Policy,
    ) -> Self {
        Self {
            cluster,
            backups,
            azure,
            signals,
            policy,
            managed: None,
            serving: None,
            access: None,
        }
    }

    /// With the managed server a point-in-time recovery restores from.
    #[must_use]
    pub fn with_managed_restore(mut self, managed: ManagedRestore) -> Self {
        self.managed = Some(managed);
        self
    }

    /// With the recovery cluster's pods and Services: validation then requires a ready
    /// endpoint for every restored Service. Its authorizer also answers the `verify-access` step, unless
    /// [`DisasterRecovery::with_access_check`] gave another.
    #[must_use]
    pub fn with_serving_check(mut self, kube: Kube) -> Self {
        if self.access.is_none() {
            self.access = Some(kube.access.clone());
        }
        self.serving = Some(kube);
        self
    }

    /// With the recovery cluster's authorizer (as the identity the recovery runs as): the
    /// first step checks the `dr` Role against it.
    #[must_use]
    pub fn with_access_check(mut self, access: Arc<dyn fleet_k8s::Access>) -> Self {
        self.access = Some(access);
        self
    }

    fn word(&self, options: &DrOptions) -> Result<ConfirmWord> {
        match &options.database_source {
            DatabaseSource::Logical => ConfirmWord::new(options.recovery_name.clone())
                .map_err(|e| invalid("recovery_name", e.to_string())),
            DatabaseSource::PointInTime { target_server, .. } => {
                if self.managed.is_none() {
                    return Err(invalid(
                        "database_source",
                        "a point-in-time recovery needs the managed server \
                         (DisasterRecovery::with_managed_restore)",
                    ));
                }
                ConfirmWord::new(target_server.clone())
                    .map_err(|e| invalid("target_server", e.to_string()))
            }
        }
    }

    fn steps(&self, options: &DrOptions, found: &Found, word: &ConfirmWord) -> Vec<Step> {
        let ns = self.cluster.namespace();
        let server = options
            .recovery_server
            .server_name
            .clone()
            .unwrap_or_else(|| "recovery server".into());
        let db_backup = found.database.as_ref().map_or("none", |b| b.name.as_str());
        let cfg_backup = found.config.as_ref().map_or("none", |b| b.name.as_str());
        let host_target = host_ref(&options.host, ns).describe();
        let shown = match (&options.host.source, &options.database_source) {
            (HostSource::Secret, _) => "<secret>".into(),
            (HostSource::ConfigMap, DatabaseSource::Logical) => options.host.value.clone(),
            (HostSource::ConfigMap, DatabaseSource::PointInTime { target_server, .. }) => {
                resolve_host(
                    &options.host.value,
                    &format!("<host name of {target_server}>"),
                )
            }
        };
        let fqdn = format!("{}.{}", options.dns.record_name, self.azure.dns_zone);
        let restore = match &options.database_source {
            DatabaseSource::Logical => Step::change(
                "restore-database",
                &format!("postgres:{server}/{}", options.database),
                format!(
                    "restore backup {db_backup} into the new database and validate its row counts"
                ),
            )
            .with_after(serde_json::json!({ "backup": db_backup, "database": options.database })),
            DatabaseSource::PointInTime {
                target_server,
                point_in_time,
                ..
            } => {
                let source = self
                    .managed
                    .as_ref()
                    .map_or("the managed server", |m| m.server.server_name());
                Step::change(
                    "restore-database",
                    &format!("azure-postgres/{target_server}"),
                    format!(
                        "point-in-time restore of {source} as of {point_in_time} into the new \
                         server {target_server}, then connect to it"
                    ),
                )
                .with_after(serde_json::json!({
                    "source": source,
                    "target_server": target_server,
                    "point_in_time": point_in_time,
                }))
            }
        };
        vec![
            restore.with_confirm(word.clone()),
            Step::change(
                "restore-config",
                &format!("namespace/{ns}"),
                format!(
                    "restore the configuration of backup {cfg_backup} into the recovery namespace"
                ),
            )
            .with_after(serde_json::json!({ "backup": cfg_backup }))
            .with_confirm(word.clone()),
            Step::change(
                "point-at-database",
                &host_target,
                format!("set {} to the restored database", options.host.key),
            )
            .with_after(serde_json::json!({ options.host.key.clone(): shown }))
            .with_confirm(word.clone()),
            Step::change(
                "restart-deployments",
                &format!("namespace/{ns}"),
                "restart the restored deployments so that they read the new host",
            ),
            Step::wait(
                "wait-rollouts",
                &format!("namespace/{ns}"),
                "wait for every restored deployment to roll out",
            ),
            Step::change(
                "switch-dns",
                &format!("dns/{fqdn}"),
                format!(
                    "point {fqdn} at the backup region ({})",
                    if found.dns_etag.is_some() {
                        "If-Match on the etag read"
                    } else {
                        "create only"
                    }
                ),
            )
            .with_before(&found.dns_before)
            .with_after(&options.dns.records)
            .with_confirm(word.clone()),
            Step::wait(
                "validate-services",
                &format!("namespace/{ns}"),
                "rollout status of every deployment, ready endpoints of every service, then \
                 the smoke tests",
            ),
        ]
    }

    async fn find(&self, run: &Executor, options: &DrOptions) -> Result<Found> {
        let listing = Step::read(
            "find-backups",
            &self.backups.store.to_string(),
            "the newest complete database and configuration backups",
        );
        let entries = run
            .read(
                listing,
                list_backups(&self.backups.store, &self.policy, options.disaster_at),
            )
            .await
            .map_err(|e| source("backup-store", e))?;
        let database = match options.database_source {
            DatabaseSource::Logical => newest(&entries, options.database_backup.as_deref(), true),
            DatabaseSource::PointInTime { .. } => None,
        };
        let config = newest(&entries, options.config_backup.as_deref(), false);
        let dns_step = Step::read(
            "read-dns",
            &format!("dns/{}.{}", options.dns.record_name, self.azure.dns_zone),
            "the record set's records and etag",
        );
        let record_type = options.dns.records.record_type();
        let read = async {
            match self
                .azure
                .dns
                .get_record_set(record_type, &options.dns.record_name, None)
                .await
            {
                Ok(set) => Ok(Some(set)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        };
        let set = run
            .read(dns_step, read)
            .await
            .map_err(|e| source("azure-dns", e))?;
        Ok(Found {
            database,
            config,
            dns_etag: set.as_ref().and_then(|s| s.etag.clone()),
            dns_before: set.map(|s| s.records),
        })
    }

    /// Reads what the recovery would use (the backups, the DNS record set) and builds the
    /// plan, without changing anything.
    ///
    /// # Errors
    /// An unusable recovery name, or a failed read.
    pub async fn plan(&self, run: &Executor, options: &DrOptions) -> Result<Plan> {
        let word = self.word(options)?;
        let found = self.find(run, options).await?;
        Ok(self.plan_from(options, &found, &word))
    }

    fn plan_from(&self, options: &DrOptions, found: &Found, word: &ConfirmWord) -> Plan {
        let mut plan = Plan::new(DR_PROCEDURE);
        plan.push(access::access_step_in(self.cluster.namespace(), DR_ROLE));
        if self.access.is_none() {
            plan.note(
                "no authorizer client for the recovery cluster: the dr Role is not verified first",
            );
        }
        for s in self.steps(options, found, word) {
            plan.push(s);
        }
        plan.note(format!(
            "RTO clock started at {}; RPO measured to the disaster at {}",
            options.declared_at, options.disaster_at
        ));
        if found.database.is_none() && options.database_source == DatabaseSource::Logical {
            plan.note("no complete database backup: nothing to restore from");
        }
        if found.config.is_none() {
            plan.note("no complete configuration backup: nothing to deploy from");
        }
        if self.serving.is_none() {
            plan.note(
                "no Kubernetes client for pods and services: restored Services' endpoints are \
                 not checked",
            );
        }
        plan
    }

    /// Runs the recovery (see the module docs) and reports it with the RTO and RPO judged.
    ///
    /// # Errors
    /// Only an unusable input or a failed read before the plan; failures of the steps are in
    /// the report (status `failed` or `refused`, naming the step).
    #[tracing::instrument(skip_all, fields(recovery = %options.recovery_name))]
    pub async fn run(&self, run: &Executor, options: &DrOptions) -> Result<DrOutcome> {
        let started = run.now();
        let word = self.word(options)?;
        let ns = self.cluster.namespace();
        match &self.access {
            Some(authorizer) => {
                if let Err(denied) = access::verify_in(run, &**authorizer, ns, DR_ROLE).await {
                    let unread = Found {
                        database: None,
                        config: None,
                        dns_etag: None,
                        dns_before: None,
                    };
                    let mut plan = Plan::new(DR_PROCEDURE);
                    plan.push(access::access_step_in(ns, DR_ROLE));
                    for s in self.steps(options, &unread, &word) {
                        plan.push(s);
                    }
                    plan.note("stopped at verify-access: no backup or DNS record set was read");
                    return Ok(DrOutcome {
                        report: denied.report(run, plan, &self.policy, started),
                        measurements: DrMeasurements {
                            declared_at: options.declared_at,
                            validated_at: None,
                            rto: None,
                            backup_at: None,
                            disaster_at: options.disaster_at,
                            rpo: None,
                            database_backup: None,
                            restored_host: None,
                            config_backup: None,
                            rows_validated: None,
                            deployments: Vec::new(),
                            services: Vec::new(),
                        },
                    });
                }
            }
            None => run.skip(
                access::access_step_in(ns, DR_ROLE),
                "no authorizer client for the recovery cluster (with_serving_check or \
                 with_access_check): the dr Role was not verified",
            ),
        }
        let found = self.find(run, options).await?;
        let plan = self.plan_from(options, &found, &word);
        let steps = self.steps(options, &found, &word);
        let step = |id: &str| steps.iter().find(|s| s.id == id).cloned();
        let (backup_at, database_backup) = match &options.database_source {
            DatabaseSource::Logical => (
                found
                    .database
                    .as_ref()
                    .and_then(|b| b.manifest.as_ref())
                    .map(|m| m.completed_at),
                found.database.as_ref().map(|b| b.name.clone()),
            ),
            DatabaseSource::PointInTime { point_in_time, .. } => (
                Some(*point_in_time),
                self.managed
                    .as_ref()
                    .map(|m| format!("{} at {point_in_time}", m.server.server_name())),
            ),
        };
        let mut m = DrMeasurements {
            declared_at: options.declared_at,
            validated_at: None,
            rto: None,
            backup_at,
            disaster_at: options.disaster_at,
            rpo: None,
            database_backup,
            restored_host: None,
            config_backup: found.config.as_ref().map(|b| b.name.clone()),
            rows_validated: None,
            deployments: Vec::new(),
            services: Vec::new(),
        };
        m.rpo = m.backup_at.map(|b| options.disaster_at.duration_since(b));
        let mut findings = Vec::new();
        let validated = self
            .execute(run, options, &found, &step, &mut m, &mut findings)
            .await;
        if validated {
            m.validated_at = Some(run.now());
        }
        m.rto = m
            .validated_at
            .map(|v| v.duration_since(options.declared_at));
        let subject = format!("recovery/{}", options.recovery_name);
        let records: Vec<BackupRecord> = m
            .backup_at
            .map(|t| BackupRecord {
                name: m.database_backup.clone().unwrap_or_default(),
                kind: BackupKind::OnDemand,
                status: fleet_policy::backup::BackupStatus::Succeeded,
                completed_at: Some(t),
            })
            .into_iter()
            .collect();
        let inventory = BackupInventory {
            server: subject.clone(),
            backups: records,
            ..BackupInventory::default()
        };
        findings.push(check_rpo(&self.policy, &inventory, options.disaster_at));
        let recovery = Recovery {
            started_at: options.declared_at,
            finished_at: m.validated_at,
        };
        findings.push(check_rto(&self.policy, &recovery, run.now(), &subject));
        self.communicate(run, options, &m, validated).await;
        let report = Report::from_run(run, plan, &self.policy, findings, started);
        Ok(DrOutcome {
            report,
            measurements: m,
        })
    }

    /// Steps 1 to 4; whether all services were validated.
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        run: &Executor,
        options: &DrOptions,
        found: &Found,
        step: &dyn Fn(&str) -> Option<Step>,
        m: &mut DrMeasurements,
        findings: &mut Vec<fleet_policy::Finding>,
    ) -> bool {
        let logical = options.database_source == DatabaseSource::Logical;
        let (Some(cfg), true) = (&found.config, !logical || found.database.is_some()) else {
            for id in ["restore-database", "restore-config", "switch-dns"] {
                if let Some(s) = step(id) {
                    run.skip(s, "no complete backup to recover from");
                }
            }
            return false;
        };
        let ns = self.cluster.namespace().to_owned();
        let database_word = match &options.database_source {
            DatabaseSource::Logical => options.database.clone(),
            DatabaseSource::PointInTime { target_server, .. } => target_server.clone(),
        };
        let Ok(inner) = nested(run, vec![database_word, ns.clone()]) else {
            return false;
        };
        // 1. The database.
        let Some(s) = step("restore-database") else {
            return false;
        };
        let host_value = match (&options.database_source, &found.database) {
            (DatabaseSource::Logical, Some(db)) => {
                let restore = DatabaseRestoreOptions::new(options.database.clone())
                    .with_tools(options.tools.clone());
                let restored = run
                    .change(s, || {
                        restore_database(
                            &inner,
                            &self.backups.store,
                            &db.name,
                            &self.backups.identities,
                            &options.recovery_server,
                            &restore,
                        )
                    })
                    .await;
                match restored {
                    Ok(applied) => {
                        if let Some(r) = applied.done() {
                            m.rows_validated = Some((r.tables_checked, r.rows_checked));
                        }
                    }
                    Err(_) => return false,
                }
                options.host.value.clone()
            }
            (
                DatabaseSource::PointInTime {
                    target_server,
                    point_in_time,
                    poll,
                },
                _,
            ) => {
                let Some(managed) = &self.managed else {
                    return false;
                };
                let request = PitrRequest {
                    target_server: target_server.clone(),
                    point_in_time: *point_in_time,
                };
                let restored = run
                    .change(s, || {
                        point_in_time_restore(
                            &inner,
                            managed.server.as_ref(),
                            &self.policy,
                            managed.records.as_ref(),
                            &request,
                            managed.check.as_ref(),
                            poll,
                        )
                    })
                    .await;
                match restored.map(Applied::done) {
                    Ok(Some(report)) => {
                        let Some(fqdn) = report.fqdn else {
                            return false;
                        };
                        m.restored_host = Some(fqdn.clone());
                        resolve_host(&options.host.value, &fqdn)
                    }
                    // A dry run (nothing restored) or a failed restore: nothing to point at.
                    Ok(None) | Err(_) => return false,
                }
            }
            (DatabaseSource::Logical, None) => return false,
        };
        // 2. The application in the backup region.
        let Some(s) = step("restore-config") else {
            return false;
        };
        let cfg_options = ConfigRestoreOptions::default();
        let report = match run
            .change(s, || {
                restore_config(
                    &inner,
                    &self.backups.store,
                    &cfg.name,
                    &self.backups.identities,
                    self.cluster.as_ref(),
                    &cfg_options,
                )
            })
            .await
        {
            Ok(a) => a.done(),
            Err(_) => return false,
        };
        let deployments: Vec<String> = report
            .as_ref()
            .map(|r| {
                r.items
                    .iter()
                    .filter(|i| i.kind == "Deployment")
                    .map(|i| i.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        m.deployments.clone_from(&deployments);
        let services: Vec<String> = report
            .as_ref()
            .map(|r| {
                r.items
                    .iter()
                    .filter(|i| i.kind == "Service")
                    .map(|i| i.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        m.services.clone_from(&services);
        let Some(s) = step("point-at-database") else {
            return false;
        };
        if run
            .change(s, || self.point_at_database(options, &host_value))
            .await
            .is_err()
        {
            return false;
        }
        let Some(s) = step("restart-deployments") else {
            return false;
        };
        let restart = async {
            for d in &deployments {
                self.cluster
                    .rollout_restart(d, Some(RolloutRestartOptions::default()))
                    .await?;
            }
            Ok::<(), fleet_k8s::Error>(())
        };
        if run.change(s, || restart).await.is_err() {
            return false;
        }
        let Some(s) = step("wait-rollouts") else {
            return false;
        };
        if run
            .wait(s, || self.rollouts(&deployments, options.rollout_timeout))
            .await
            .is_err()
        {
            return false;
        }
        // 3. DNS.
        let Some(s) = step("switch-dns") else {
            return false;
        };
        let precondition = match &found.dns_etag {
            Some(etag) => Precondition::IfMatch(etag.clone()),
            None => Precondition::IfNoneMatch,
        };
        let data = RecordSetData {
            ttl: options.dns.ttl,
            records: options.dns.records.clone(),
            metadata: BTreeMap::from([(
                "fleet-recovery".to_owned(),
                options.recovery_name.clone(),
            )]),
        };
        let set = async {
            let call = SetRecordSetOptions {
                precondition,
                ..SetRecordSetOptions::default()
            };
            self.azure
                .dns
                .set_record_set(&options.dns.record_name, &data, Some(call))
                .await
                .map(Outcome::applied)
        };
        if run.change(s, || set).await.is_err() {
            return false;
        }
        // 4. Validate.
        let Some(s) = step("validate-services") else {
            return false;
        };
        let validate = async {
            self.rollouts(&deployments, options.rollout_timeout).await?;
            self.endpoints(&services, options.endpoint_wait).await?;
            if options.smoke.is_empty() {
                return Ok(None);
            }
            run_smoke_tests(&options.smoke, Some(options.smoke_options.clone()))
                .await
                .map(Some)
        };
        match run.wait(s, || validate).await {
            Ok(Applied::DryRun) => false,
            Ok(Applied::Done(smoke)) => {
                if let Some(smoke) = smoke {
                    let input = RollbackInput {
                        subject: format!("recovery/{}", options.recovery_name),
                        smoke_tests: smoke.smoke_tests(),
                        ..RollbackInput::default()
                    };
                    let judged = rollback::evaluate(&self.policy, &input);
                    let passed = smoke.passed();
                    findings.extend(judged);
                    return passed;
                }
                true
            }
            Err(_) => false,
        }
    }

    async fn rollouts(&self, deployments: &[String], timeout: Duration) -> Result<()> {
        for d in deployments {
            let options = RolloutStatusOptions::default().with_timeout(timeout);
            let state = self
                .cluster
                .rollout_status(d, Some(options))
                .await
                .map_err(|e| source("kubernetes", e))?;
            if !matches!(state, RolloutState::Complete { .. }) {
                return Err(Error::Response {
                    service: "kubernetes",
                    target: format!("deployment/{d}"),
                    detail: format!("rollout did not complete: {state:?}"),
                });
            }
        }
        Ok(())
    }

    /// Every restored Service has a ready endpoint, within `wait`; else an error naming those
    /// without one. Not checked without [`DisasterRecovery::serving`].
    async fn endpoints(&self, services: &[String], wait: Duration) -> Result<()> {
        let Some(kube) = &self.serving else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let pods = kube
                .pods
                .list_pods()
                .await
                .map_err(|e| source("kubernetes", e))?;
            let listed = kube
                .networking
                .list_services()
                .await
                .map_err(|e| source("kubernetes", e))?;
            let restored: Vec<_> = listed
                .into_iter()
                .filter(|s| services.contains(&s.name))
                .collect();
            let problems = services_without_ready_endpoints(&pods, &restored);
            if problems.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Response {
                    service: "kubernetes",
                    target: format!("namespace/{}", kube.namespace),
                    detail: problems.join("; "),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn point_at_database(&self, options: &DrOptions, value: &str) -> Result<()> {
        let target = host_ref(&options.host, self.cluster.namespace());
        let found = self
            .cluster
            .get_object(&target)
            .await
            .map_err(|e| source("kubernetes", e))?;
        let Some(mut object) = found else {
            return Err(Error::NotFound {
                what: "database host object",
                name: target.describe(),
            });
        };
        let value = match options.host.source {
            HostSource::ConfigMap => value.to_owned(),
            HostSource::Secret => {
                base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
            }
        };
        if !object["data"].is_object() {
            object["data"] = serde_json::json!({});
        }
        object["data"][options.host.key.as_str()] = serde_json::Value::String(value);
        self.cluster
            .replace_object(&target, &object, &WriteOptions::default())
            .await
            .map_err(|e| source("kubernetes", e))?;
        Ok(())
    }

    async fn communicate(&self, run: &Executor, options: &DrOptions, m: &DrMeasurements, ok: bool) {
        let (severity, title) = if ok {
            (
                Severity::Warning,
                format!(
                    "Disaster recovery: services restored in {} (RTO {}, RPO {})",
                    options.recovery_name,
                    m.rto
                        .map_or("-".into(), |d| format!("{:.0} min", d.as_secs_f64() / 60.0)),
                    m.rpo
                        .map_or("-".into(), |d| format!("{:.1} h", d.as_secs_f64() / 3600.0)),
                ),
            )
        } else {
            (
                Severity::Critical,
                format!(
                    "Disaster recovery into {} did not complete",
                    options.recovery_name
                ),
            )
        };
        // Without an open incident to update, the status page and PagerDuty need a new one:
        // an update without a reference has nothing to attach to.
        let action = if options.incident_references.is_empty() {
            Action::Trigger
        } else {
            Action::Update
        };
        let body = match (ok, &m.restored_host, &m.database_backup) {
            (false, _, _) => "The recovery stopped before every service was validated.".to_owned(),
            (true, Some(host), _) => format!("Database restored to {host}."),
            (true, None, Some(backup)) => format!("Database restored from backup {backup}."),
            (true, None, None) => "Database restored.".to_owned(),
        };
        let mut note = Notification::new(
            Channel::incidents(),
            action,
            severity,
            title,
            DR_PROCEDURE,
            run.now(),
        )
        .with_key(format!("{DR_PROCEDURE}-{}", options.recovery_name))
        .with_body(format!(
            "{body} Deployments: {}.",
            if m.deployments.is_empty() {
                "none".to_owned()
            } else {
                m.deployments.join(", ")
            }
        ))
        .with_detail("recovery", &options.recovery_name)
        .with_detail("validated", ok);
        if let Some(rto) = m.rto {
            note = note.with_detail("rto_seconds", rto.as_secs());
        }
        if let Some(rpo) = m.rpo {
            note = note.with_detail("rpo_seconds", rpo.as_secs());
        }
        note.status = Some(if ok {
            IncidentStatus::Monitoring
        } else {
            IncidentStatus::Identified
        });
        for (notifier, id) in &options.incident_references {
            note = note.with_reference(notifier.clone(), id.clone());
        }
        notify_all(run, "communicate", &self.signals.notifiers, &note).await;
    }
}
