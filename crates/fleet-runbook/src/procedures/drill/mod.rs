//! Drill mode (feature `drill`): the disaster-recovery procedure end to end against stand-ins,
//! reporting measured RTO and RPO against the policy.
//!
//! The stand-ins are fleet-testkit's: a primary FakeCluster seeded with the fleet and an empty
//! recovery FakeCluster, one TempPostgres holding the application database and, as the
//! recovery server, the restored one, a local-directory [`BackupStore`] in the drill's
//! directory, and AzureReplay serving the DNS zone of Microsoft's examples (`zone1`, record set
//! `record1`). [`DrillWorld::start`] seeds the database, takes one fleet-backup backup of the
//! database and the namespace, and [`DrillWorld::recover`] runs the procedure with a clock
//! that shows the disaster happening [`DrillOptions::backup_age`] after the backup, so the
//! achieved RPO is that age and the RTO is the drill's real duration.
//!
//! [`run_drill_story`](crate::run_drill_story) runs the whole runbook on such a world: the
//! release procedures, then the recovery.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fleet_azure::{ArmClient, ArmClientOptions, DnsRecords, PollSettings, Records, RetrySettings};
use fleet_backup::{
    BackupRequest, BackupStore, DatabaseSource, Identities, KubernetesSource, PgTarget, PgTools,
    PitrOptions, PostgresCheck, backup_now,
};
use fleet_guard::{
    AuditSink, Clock, Executor, Guards, MemoryAuditSink, MemoryRecordStore, Mode, RunContext,
    TokenConfirm,
};
use fleet_k8s::{ClusterOptions, Export, KubeCluster};
use fleet_policy::Policy;
use fleet_testkit::azure::{
    AzureReplay, DNS_RESOURCE_GROUP, DNS_SUBSCRIPTION_ID, DNS_ZONE, RESOURCE_GROUP, SERVER,
    SUBSCRIPTION_ID,
};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use fleet_testkit::postgres::{PgClientTools, TempPostgres};
use jiff::{SignedDuration, Timestamp};

use super::deps::{AzureDns, Backups, Kube, ManagedRestore, Signals};
use super::dr::{DisasterRecovery, DnsSwitch, DrOptions, DrOutcome, HostBinding, HostSource};
use crate::{CONFIG_KINDS, Error, Result};

pub(crate) mod story;

/// The application database of the drill.
pub const DRILL_DATABASE: &str = "fleetdb";
/// The database the drill restores into.
pub const DRILL_RESTORED_DATABASE: &str = "fleetdb_dr";
/// The recovery target's name: the drill's confirmation word.
pub const DRILL_RECOVERY_NAME: &str = "fleet-dr";
/// The record set the drill switches (in AzureReplay's `zone1`).
pub const DRILL_RECORD: &str = "record1";
/// The backup the drill takes.
pub const DRILL_BACKUP: &str = "drill-backup";
/// The new server a point-in-time drill restores into (its confirmation word).
pub const DRILL_RESTORED_SERVER: &str = "fleet-dr-restored";

const SCHEMA: &str = "
    CREATE TABLE vehicles (id serial PRIMARY KEY, vin text NOT NULL);
    INSERT INTO vehicles (vin) SELECT 'VIN' || g FROM generate_series(1, 500) g;
    CREATE TABLE work_orders (id int PRIMARY KEY, vehicle int REFERENCES vehicles, note text);
    INSERT INTO work_orders SELECT g, g, 'check ' || g FROM generate_series(1, 120) g;
";

/// How the drill runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DrillOptions {
    /// Where the backup store lives (created if missing).
    pub workdir: PathBuf,
    /// How long after the backup the disaster happens (the RPO the drill achieves).
    pub backup_age: SignedDuration,
    /// Who runs it.
    pub actor: String,
    /// The rules.
    pub policy: Policy,
    /// Objects added to the primary cluster before the backup (a Service, a Deployment), so
    /// that a drill can rehearse what it finds wrong after the recovery.
    pub extra_objects: Vec<serde_json::Value>,
    /// Where [`run_drill`] restores the database from (default: the fleet-backup logical
    /// backup the drill takes).
    pub source: DrillSource,
    /// How [`run_drill`] runs the recovery (default: executed; a dry run plans and reads only).
    pub mode: Mode,
    /// The recovery cluster authorizes requests with RBAC (its credential-less clients, the
    /// drill's own, stay the administrator): a drill can then recover as an identity bound to
    /// the `dr` Role ([`DrillWorld::recover_as`]).
    pub rbac: bool,
}

/// The database source a drill rehearses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrillSource {
    /// The fleet-backup logical backup, restored into [`DRILL_RESTORED_DATABASE`].
    #[default]
    Logical,
    /// Azure's point-in-time restore on AzureReplay into [`DRILL_RESTORED_SERVER`] (see
    /// [`DrillWorld::pitr_options`]).
    PointInTime,
}

impl DrillOptions {
    /// A drill in `workdir` whose disaster comes 6 hours after the backup, under the default
    /// policy.
    pub fn new(workdir: impl Into<PathBuf>) -> Self {
        Self {
            workdir: workdir.into(),
            backup_age: SignedDuration::from_hours(6),
            actor: "dr-drill".into(),
            policy: Policy::default(),
            extra_objects: Vec::new(),
            source: DrillSource::Logical,
            mode: Mode::Execute,
            rbac: false,
        }
    }

    /// Turns RBAC on in the recovery cluster.
    #[must_use]
    pub fn with_rbac(mut self) -> Self {
        self.rbac = true;
        self
    }

    /// Restores the database from `source`.
    #[must_use]
    pub fn with_source(mut self, source: DrillSource) -> Self {
        self.source = source;
        self
    }

    /// Runs the recovery in `mode` (a dry run plans and reads; the stand-ins and the backup
    /// are still set up).
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Adds `object` to the primary cluster before the backup.
    #[must_use]
    pub fn with_object(mut self, object: serde_json::Value) -> Self {
        self.extra_objects.push(object);
        self
    }

    /// The disaster comes `age` after the backup.
    #[must_use]
    pub fn with_backup_age(mut self, age: SignedDuration) -> Self {
        self.backup_age = age;
        self
    }
}

/// The system clock shifted by a fixed offset: the drill's "now" is the disaster's.
#[derive(Debug)]
struct Shifted(SignedDuration);

impl Clock for Shifted {
    fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(self.0)
            .unwrap_or(Timestamp::MAX)
    }
}

fn drill_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Source {
        service: "drill",
        transient: false,
        source: Box::new(std::io::Error::other(format!("{what}: {e}"))),
    }
}

/// The stand-ins of a drill, kept for inspection after the run.
#[non_exhaustive]
pub struct DrillWorld {
    /// The primary cluster (the backup's source).
    pub primary: FakeCluster,
    /// The recovery cluster (empty until the recovery).
    pub recovery: FakeCluster,
    /// The database server (source and recovery server).
    pub postgres: TempPostgres,
    /// Azure DNS.
    pub azure: AzureReplay,
    /// The backup store.
    pub store: BackupStore,
    identities: Identities,
    tools: PgTools,
    records: MemoryRecordStore,
    options: DrillOptions,
}

impl std::fmt::Debug for DrillWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrillWorld")
            .field("store", &self.store.to_string())
            .finish_non_exhaustive()
    }
}

fn kube(cluster: &FakeCluster) -> Result<KubeCluster> {
    let url = cluster
        .url()
        .parse()
        .map_err(|e| drill_err("fake cluster URL", e))?;
    KubeCluster::from_config(
        kube::Config::new(url),
        ClusterOptions::default().with_namespace(FLEET_NAMESPACE),
    )
    .map_err(|e| drill_err("cluster client", e))
}

impl DrillWorld {
    /// Starts the stand-ins, seeds the database and takes the backup the drill restores.
    ///
    /// # Errors
    /// A stand-in that does not start, or a failed seed or backup.
    pub async fn start(options: DrillOptions) -> Result<Self> {
        let primary = FakeCluster::builder()
            .seed_fleet()
            .pod_ready_after(Duration::from_millis(100))
            .start()
            .await
            .map_err(|e| drill_err("primary cluster", e))?;
        let mut recovery = FakeCluster::builder().pod_ready_after(Duration::from_millis(100));
        if options.rbac {
            recovery = recovery.rbac();
        }
        let recovery = recovery
            .start()
            .await
            .map_err(|e| drill_err("recovery cluster", e))?;
        let postgres = TempPostgres::start().map_err(|e| drill_err("postgres", e))?;
        let azure = AzureReplay::start()
            .await
            .map_err(|e| drill_err("azure replay", e))?;
        let found = PgClientTools::newest().map_err(|e| drill_err("pg_dump/pg_restore", e))?;
        let mut tools = PgTools::in_dir(found.bindir());
        if let Some(lib) = found.libdir() {
            tools = tools.with_libdir(lib);
        }
        let store = BackupStore::local(options.workdir.join("backups"))
            .map_err(|e| drill_err("backup store", e))?;
        let identities = Identities::generate();
        let world = Self {
            primary,
            recovery,
            postgres,
            azure,
            store,
            identities,
            tools,
            records: MemoryRecordStore::new(),
            options,
        };
        for object in &world.options.extra_objects {
            world
                .primary
                .store()
                .insert(object.clone())
                .map_err(|e| drill_err("extra object", format!("{e:?}")))?;
        }
        world.seed().await?;
        world.backup().await?;
        Ok(world)
    }

    fn target(&self, database: &str) -> PgTarget {
        let pg = &self.postgres;
        PgTarget::new(pg.url_for(pg.user(), pg.password(), database))
            .with_server_name("fleet-postgres-drill")
    }

    async fn sql(&self, database: &str, sql: &str) -> Result<()> {
        let pg = &self.postgres;
        let (client, conn) = tokio_postgres::connect(
            &pg.url_for(pg.user(), pg.password(), database),
            tokio_postgres::NoTls,
        )
        .await
        .map_err(|e| drill_err("connect", e))?;
        let task = tokio::spawn(conn);
        let result = client.batch_execute(sql).await;
        drop(client);
        let _ = task.await;
        result.map_err(|e| drill_err("seed", e))
    }

    async fn seed(&self) -> Result<()> {
        self.sql("postgres", &format!("CREATE DATABASE {DRILL_DATABASE}"))
            .await?;
        self.sql(DRILL_DATABASE, SCHEMA).await
    }

    /// The configuration backup covers the kinds of [`crate::CONFIG_KINDS`], as the scheduled
    /// backup does (and the recovery's Role may write): every other kind discovery finds in
    /// the primary cluster is left out.
    async fn backup(&self) -> Result<()> {
        let context = RunContext::new("backup", &self.options.actor, "dr drill", Mode::Execute)
            .map_err(|e| drill_err("context", e))?;
        let run = Executor::new(context, Guards::new(Arc::new(MemoryAuditSink::new())));
        let request = BackupRequest::new(DRILL_BACKUP, self.identities.public())
            .with_database(DatabaseSource::new(
                self.target(DRILL_DATABASE),
                self.tools.clone(),
            ))
            .with_kubernetes(self.config_source().await?);
        backup_now(&run, &self.store, request)
            .await
            .map_err(|e| drill_err("backup", e))?;
        Ok(())
    }

    async fn config_source(&self) -> Result<KubernetesSource> {
        let primary = kube(&self.primary)?;
        let kinds = primary
            .export_kinds(None)
            .await
            .map_err(|e| drill_err("discovery", e))?;
        let mut source = KubernetesSource::new(Arc::new(primary));
        let configured: Vec<String> = CONFIG_KINDS
            .iter()
            .map(|(group, resource)| {
                if group.is_empty() {
                    (*resource).to_owned()
                } else {
                    format!("{resource}.{group}")
                }
            })
            .collect();
        for kind in kinds {
            let q = kind.qualified();
            if !configured.contains(&q) {
                source.options = source.options.with_exclude(q);
            }
        }
        Ok(source)
    }

    fn dns(&self) -> Result<Arc<dyn DnsRecords>> {
        let mut options = ArmClientOptions::default();
        options.client_options.transport = Some(self.azure.transport());
        options.client_options.retry = RetrySettings::fast_for_tests(2).into();
        options.polling = PollSettings::fast_for_tests(Duration::from_secs(20));
        let client = ArmClient::new(
            self.azure.base_url(),
            self.azure.credential(),
            Some(options),
        )
        .and_then(|c| c.dns_zone_client(DNS_SUBSCRIPTION_ID, DNS_RESOURCE_GROUP, DNS_ZONE))
        .map_err(|e| drill_err("azure dns client", e))?;
        Ok(Arc::new(client))
    }

    fn managed(&self) -> Result<ManagedRestore> {
        let mut options = ArmClientOptions::default();
        options.client_options.transport = Some(self.azure.transport());
        options.client_options.retry = RetrySettings::fast_for_tests(2).into();
        options.polling = PollSettings::fast_for_tests(Duration::from_secs(20));
        let client = ArmClient::new(
            self.azure.base_url(),
            self.azure.credential(),
            Some(options),
        )
        .and_then(|c| c.flexible_server_client(SUBSCRIPTION_ID, RESOURCE_GROUP, SERVER))
        .map_err(|e| drill_err("azure postgres client", e))?;
        // The restored server's host name resolves nowhere here: the check connects to the
        // drill's PostgreSQL, which stands in for it.
        let pg = &self.postgres;
        let check = PostgresCheck::new(pg.user(), Some(pg.password().to_owned()), "postgres")
            .with_connect_to(pg.host(), pg.port())
            .with_tls(fleet_db::TlsMode::Disable);
        Ok(ManagedRestore::from_client(
            client,
            Arc::new(self.records.clone()),
            Arc::new(check),
        ))
    }

    /// The procedure's options for a point-in-time recovery in this world: the replay's
    /// `exampleserver` restored into [`DRILL_RESTORED_SERVER`], whose host name goes into
    /// `fleet-config`'s `database_host`. The restore point is the real present (Azure refuses
    /// a point in the future), so it plays the backup and the achieved RPO is again
    /// [`DrillOptions::backup_age`].
    pub fn pitr_options(&self) -> DrOptions {
        let mut options = self.dr_options();
        options.host.value = String::new();
        let at = Timestamp::now();
        options.with_point_in_time(
            DRILL_RESTORED_SERVER,
            at,
            PitrOptions::default().with_poll_interval(Duration::from_millis(10)),
        )
    }

    /// The procedure's options for this world: restore into [`DRILL_RESTORED_DATABASE`],
    /// write its host into `fleet-config`'s `database_host`, point `record1` at 10.20.0.10.
    pub fn dr_options(&self) -> DrOptions {
        let now = Timestamp::now()
            .checked_add(self.options.backup_age)
            .unwrap_or(Timestamp::MAX);
        let pg = &self.postgres;
        DrOptions::new(
            DRILL_RECOVERY_NAME,
            now,
            now,
            self.target("postgres"),
            DRILL_RESTORED_DATABASE,
            self.tools.clone(),
            HostBinding {
                source: HostSource::ConfigMap,
                name: "fleet-config".into(),
                key: "database_host".into(),
                value: format!("{}:{}/{DRILL_RESTORED_DATABASE}", pg.host(), pg.port()),
            },
            DnsSwitch {
                record_name: DRILL_RECORD.into(),
                records: Records::A(vec![std::net::Ipv4Addr::new(10, 20, 0, 10)]),
                ttl: 60,
            },
        )
        .with_rollout_timeout(Duration::from_secs(60))
    }

    /// Runs the recovery in `mode`, confirmed with `confirm` (the recovery name confirms it),
    /// auditing to `audit`, telling `signals`.
    ///
    /// # Errors
    /// See [`DisasterRecovery::run`].
    pub async fn recover(
        &self,
        mode: Mode,
        confirm: Option<&str>,
        audit: Arc<dyn AuditSink>,
        signals: Signals,
    ) -> Result<DrOutcome> {
        self.recover_with(mode, confirm, audit, signals, &self.dr_options())
            .await
    }

    /// Runs the recovery with `options` (see [`DrillWorld::dr_options`] and
    /// [`DrillWorld::pitr_options`]), otherwise as [`DrillWorld::recover`].
    ///
    /// # Errors
    /// See [`DisasterRecovery::run`].
    pub async fn recover_with(
        &self,
        mode: Mode,
        confirm: Option<&str>,
        audit: Arc<dyn AuditSink>,
        signals: Signals,
        options: &DrOptions,
    ) -> Result<DrOutcome> {
        self.recover_as(
            kube(&self.recovery)?,
            mode,
            confirm,
            audit,
            signals,
            options,
        )
        .await
    }

    /// Runs the recovery with `recovery` as the recovery cluster's client (an identity of its
    /// own: its authorizer answers the `verify-access` step), otherwise as
    /// [`DrillWorld::recover_with`].
    ///
    /// # Errors
    /// See [`DisasterRecovery::run`].
    pub async fn recover_as(
        &self,
        recovery: KubeCluster,
        mode: Mode,
        confirm: Option<&str>,
        audit: Arc<dyn AuditSink>,
        signals: Signals,
        options: &DrOptions,
    ) -> Result<DrOutcome> {
        let mut guards = Guards::new(audit).with_clock(Arc::new(Shifted(self.options.backup_age)));
        if let Some(word) = confirm {
            guards = guards.with_confirm(Arc::new(TokenConfirm::new(word)));
        }
        let context = RunContext::new(
            super::dr::DR_PROCEDURE,
            &self.options.actor,
            "disaster-recovery drill",
            mode,
        )
        .map_err(|e| drill_err("context", e))?;
        let run = Executor::new(context, guards);
        let procedure = DisasterRecovery::new(
            Arc::new(recovery.clone()),
            Backups::new(self.store.clone(), self.identities.clone()),
            AzureDns::new(self.dns()?, DNS_ZONE),
            signals,
            self.options.policy.clone(),
        )
        .with_managed_restore(self.managed()?)
        .with_serving_check(Kube::from_cluster(recovery));
        procedure.run(&run, options).await
    }
}

/// Runs a whole drill: starts the stand-ins, takes the backup, recovers from
/// [`DrillOptions::source`] in [`DrillOptions::mode`] (confirmed by the drill itself with the
/// recovery's word: [`DRILL_RECOVERY_NAME`], or [`DRILL_RESTORED_SERVER`] for a point-in-time
/// source), and returns the outcome with the stand-ins for inspection.
///
/// # Errors
/// See [`DrillWorld::start`] and [`DisasterRecovery::run`].
pub async fn run_drill(
    options: DrillOptions,
    audit: Arc<dyn AuditSink>,
    signals: Signals,
) -> Result<(DrOutcome, DrillWorld)> {
    let world = DrillWorld::start(options).await?;
    let (dr, word) = match world.options.source {
        DrillSource::Logical => (world.dr_options(), DRILL_RECOVERY_NAME),
        DrillSource::PointInTime => (world.pitr_options(), DRILL_RESTORED_SERVER),
    };
    let outcome = world
        .recover_with(world.options.mode, Some(word), audit, signals, &dr)
        .await?;
    Ok((outcome, world))
}
