//! Roll the database back (runbook "Rollback Procedures", "Database Rollback": list backups,
//! restore from backup, point the application to the restored database, restart all pods;
//! "Backup & Recovery", "Restore from Backup": `az postgres flexible-server restore` into a new
//! server). Only for catastrophic cases: the application loses every write after the point in
//! time restored.
//!
//! Steps:
//!
//! 1. `list-managed-backups`: the source server's backups and its restore window (what `az
//!    postgres flexible-server backup list` shows); the plan names them and the window as
//!    [`fleet_policy::Policy::restore_window`] bounds it.
//! 2. `read-host`: the ConfigMap key holding the database host (its value is shown) or the
//!    Secret holding it (only its keys are read).
//! 3. `take-lock`: the source server's lock, when a [`TargetLock`] is given.
//! 4. The point-in-time restore into a **new** server, through
//!    [`fleet_backup::point_in_time_restore`]: `check-restore` (the target is new, the instant
//!    inside the window: `backup.restore-target`), `begin-restore` (destructive, confirmed with
//!    the target server's name; the operation's resume token is kept in the
//!    [`RecordStore`] so that a later run resumes it instead of restoring twice), `restore`
//!    (polled, with progress events), `find-restored-server`, `validate-restored-server`
//!    (connects to it).
//! 5. `validate-host` (dry run only): the host update sent with `dryRun=All`.
//! 6. `point-at-database`: the key set to the restored server's host name; confirmed with the
//!    target server's name again (the cut-over, possibly long after the restore was started).
//!    A Secret's value is never shown, logged or audited.
//! 7. `restart-pods`: `kubectl rollout restart` of every deployment that reads the key.
//! 8. `wait-rollouts`: their rollouts to completion (watch-based `rollout status`).
//! 9. The validation reads ([`crate::Validate`]).
//! 10. `notify-incident`: #incidents.
//!
//! A dry run reads (backups, window, host key, the restore's checks) and sends no change: no
//! restore request, no patch without `dryRun`. A refused confirmation changes nothing.
//!
//! Needs: Kubernetes `get`, `patch` configmaps or secrets (the one holding the host; `get`
//! reads only the keys of a Secret), `get`, `list`, `watch`, `patch` deployments, `list` pods
//! (the Role `db-rollback` of [`crate::PROCEDURE_PERMISSIONS`]); Azure on the resource group:
//! `Microsoft.DBforPostgreSQL/flexibleServers/read` and `/write` (a point-in-time restore
//! creates a server) and `Microsoft.DBforPostgreSQL/flexibleServers/backups/read`, granted by a custom role with exactly these actions or by the built-in
//! `Contributor` on the resource group; a PostgreSQL login on the restored server
//! for the connection check.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fleet_backup::{
    AzureFlexibleServer, ManagedInventory, PitrOptions, PitrReport, PitrRequest,
    RestoredServerCheck, managed_inventory, point_in_time_restore,
};
use fleet_guard::{ConfirmWord, Executor, Plan, RecordStore, Step, TargetLock};
use fleet_k8s::{ConfigDataOptions, RolloutRestartOptions, RolloutStatusOptions};
use fleet_policy::{Finding, Policy};
use jiff::Timestamp;
use serde::Serialize;

use crate::error::Error;
use crate::notify::{Action, Channel, Notification, Severity, notify_all};
use crate::procedures::deps::{AzureDatabase, Kube, Signals};
use crate::procedures::dr::HostSource;
use crate::procedures::validate::{Validate, ValidateOptions};
use crate::procedures::{access, lock};
use crate::report::{Report, RunStatus};

/// The procedure's name in plans, audit records and reports.
pub const DB_ROLLBACK_PROCEDURE: &str = "database-rollback";

/// The ConfigMap or Secret key the application reads its database host from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostKey {
    /// ConfigMap or Secret.
    pub source: HostSource,
    /// The object's name (`fleet-config`).
    pub name: String,
    /// The key (`database_host`).
    pub key: String,
}

impl HostKey {
    /// `key` of ConfigMap `name`.
    pub fn config_map(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            source: HostSource::ConfigMap,
            name: name.into(),
            key: key.into(),
        }
    }

    /// `key` of Secret `name` (written, never read back or shown).
    pub fn secret(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            source: HostSource::Secret,
            name: name.into(),
            key: key.into(),
        }
    }

    fn target(&self, namespace: &str) -> String {
        match self.source {
            HostSource::ConfigMap => format!("configmap/{namespace}/{}", self.name),
            HostSource::Secret => format!("secret/{namespace}/{}", self.name),
        }
    }

    /// What may be shown of a value of this key.
    fn shown(&self, value: &str) -> String {
        match self.source {
            HostSource::ConfigMap => value.to_owned(),
            HostSource::Secret => "<secret>".to_owned(),
        }
    }
}

/// What to restore, where to, and what to point at it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DbRollbackOptions {
    /// The new server's name (`fleet-postgres-server-restored`): also the word that confirms
    /// the restore and the cut-over.
    pub target_server: String,
    /// The instant to restore to.
    pub point_in_time: Timestamp,
    /// Where the application reads the database host.
    pub host: HostKey,
    /// The deployments restarted to read the new host (default: the validated one).
    pub restart: Vec<String>,
    /// How the restore is polled and how long it may take (default: the policy's RTO).
    pub pitr: PitrOptions,
    /// How long each rollout after the restart may take (10 minutes).
    pub rollout_timeout: Duration,
    /// The validation afterwards.
    pub validate: ValidateOptions,
    /// How long the source server's lock lasts (4 hours: the RTO).
    pub lock_ttl: Duration,
}

impl DbRollbackOptions {
    /// Restores to `point_in_time` into `target_server`, points `host` at it, restarts and
    /// validates `validate.deployment`.
    pub fn new(
        target_server: impl Into<String>,
        point_in_time: Timestamp,
        host: HostKey,
        validate: ValidateOptions,
    ) -> Self {
        Self {
            target_server: target_server.into(),
            point_in_time,
            host,
            restart: vec![validate.deployment.clone()],
            pitr: PitrOptions::default(),
            rollout_timeout: Duration::from_secs(600),
            validate,
            lock_ttl: Duration::from_secs(4 * 3600),
        }
    }

    /// Restarts these deployments (every one that reads the host key).
    #[must_use]
    pub fn with_restart(mut self, deployments: Vec<String>) -> Self {
        self.restart = deployments;
        self
    }

    /// Sets how the restore is polled.
    #[must_use]
    pub fn with_pitr(mut self, pitr: PitrOptions) -> Self {
        self.pitr = pitr;
        self
    }

    /// Sets the rollout timeout.
    #[must_use]
    pub fn with_rollout_timeout(mut self, timeout: Duration) -> Self {
        self.rollout_timeout = timeout;
        self
    }
}

/// What was read before planning.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DbRollbackState {
    /// When it was read (the run's clock).
    pub read_at: Timestamp,
    /// The source's backups, restore window and the policy's findings on them.
    pub inventory: Option<ManagedInventory>,
    /// The host key's current value (ConfigMap only), or whether the Secret has the key.
    pub host_before: Option<String>,
}

/// The database rollback procedure.
#[derive(Clone)]
#[non_exhaustive]
pub struct DbRollback {
    /// The cluster (the host key, the restarts, the validation).
    pub kube: Kube,
    /// The source server: its backups and the restore.
    pub azure: AzureDatabase,
    /// Connects to the restored server before the application is pointed at it.
    pub check: Arc<dyn RestoredServerCheck>,
    /// Where the restore's resume token is kept (a `FileRecordStore` in production).
    pub records: Arc<dyn RecordStore>,
    /// Notifiers and the metrics source.
    pub signals: Signals,
    /// The rules.
    pub policy: Policy,
    /// What to restore.
    pub options: DbRollbackOptions,
    /// One operation at a time on the source server, when given.
    pub lock: Option<Arc<dyn TargetLock>>,
}

impl fmt::Debug for DbRollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbRollback")
            .field("kube", &self.kube)
            .field("azure", &self.azure)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl DbRollback {
    /// A database rollback on these clients.
    pub fn new(
        kube: Kube,
        azure: AzureDatabase,
        check: Arc<dyn RestoredServerCheck>,
        records: Arc<dyn RecordStore>,
        signals: Signals,
        policy: Policy,
        options: DbRollbackOptions,
    ) -> Self {
        Self {
            kube,
            azure,
            check,
            records,
            signals,
            policy,
            options,
            lock: None,
        }
    }

    /// Holds `lock` on the source server for the run.
    #[must_use]
    pub fn with_lock(mut self, lock: Arc<dyn TargetLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    fn server(&self) -> AzureFlexibleServer {
        AzureFlexibleServer::from_traits(
            self.azure.server.clone(),
            self.azure.backups.clone(),
            self.azure.restore.clone(),
        )
    }

    fn source_label(&self) -> String {
        format!("azure-postgres/{}", self.azure.server)
    }

    fn target_label(&self) -> String {
        format!("azure-postgres/{}", self.options.target_server)
    }

    fn validate(&self) -> Validate {
        Validate::new(
            self.kube.clone(),
            self.signals.clone(),
            self.policy.clone(),
            self.options.validate.clone(),
        )
    }

    /// Reads the backups, the restore window and the host key (reads only; dry runs too).
    pub async fn read_state(&self, run: &Executor) -> DbRollbackState {
        let inventory = managed_inventory(run, &self.server(), &self.policy)
            .await
            .ok();
        let host = &self.options.host;
        let step = Step::read(
            "read-host",
            &host.target(&self.kube.namespace),
            format!("the key {} that holds the database host", host.key),
        );
        let host_before = match host.source {
            HostSource::ConfigMap => run
                .read(
                    step,
                    self.kube.config.config_map_value(&host.name, &host.key),
                )
                .await
                .ok()
                .flatten(),
            HostSource::Secret => run
                .read(step, self.kube.config.secret_keys(&host.name))
                .await
                .ok()
                .map(|keys| {
                    if keys.contains(&host.key) {
                        "<secret>".to_owned()
                    } else {
                        "(no such key yet)".to_owned()
                    }
                }),
        };
        DbRollbackState {
            read_at: run.now(),
            inventory,
            host_before,
        }
    }

    /// The plan, from what [`DbRollback::read_state`] found.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the target server's name cannot be a confirmation word.
    pub fn plan(&self, state: &DbRollbackState) -> Result<Plan, Error> {
        let o = &self.options;
        let word = ConfirmWord::new(o.target_server.clone())
            .map_err(|e| Error::invalid("target_server", e.to_string()))?;
        let source = self.source_label();
        let target = self.target_label();
        let ns = &self.kube.namespace;
        let mut plan = Plan::new(DB_ROLLBACK_PROCEDURE);
        plan.push(access::access_step(&self.kube, "db-rollback"));
        plan.push(Step::read(
            "list-managed-backups",
            &source,
            "list backups and the restore window",
        ));
        plan.push(Step::read(
            "read-host",
            &o.host.target(ns),
            format!("the key {} that holds the database host", o.host.key),
        ));
        if self.lock.is_some() {
            plan.push(Step::change(
                "take-lock",
                &source,
                "take the source server's lock",
            ));
        }
        plan.push(Step::read(
            "check-restore",
            &target,
            format!(
                "{} is new and {} is inside the window",
                o.target_server, o.point_in_time
            ),
        ));
        plan.push(
            Step::change(
                "begin-restore",
                &target,
                format!(
                    "restore {} as of {} into the new server {}",
                    self.azure.server, o.point_in_time, o.target_server
                ),
            )
            .with_after(PitrRequest {
                target_server: o.target_server.clone(),
                point_in_time: o.point_in_time,
            })
            .with_confirm(word.clone()),
        );
        plan.push(Step::wait("restore", &target, "wait for the new server"));
        plan.push(Step::read(
            "find-restored-server",
            &target,
            "read the new server's state and host",
        ));
        plan.push(Step::read(
            "validate-restored-server",
            &target,
            "connect to the new server",
        ));
        plan.push(
            Step::change(
                "point-at-database",
                &o.host.target(ns),
                format!("set {} to the host name of {}", o.host.key, o.target_server),
            )
            .with_before(state.host_before.clone())
            .with_after(o.host.shown(&format!(
                "{} (the host name Azure reports)",
                o.target_server
            )))
            .with_confirm(word),
        );
        plan.push(Step::change(
            "restart-pods",
            &format!("namespace/{ns}"),
            format!("rollout restart of {}", o.restart.join(", ")),
        ));
        plan.push(Step::wait(
            "wait-rollouts",
            &format!("namespace/{ns}"),
            format!(
                "rollouts of {} complete within {} s each",
                o.restart.join(", "),
                o.rollout_timeout.as_secs()
            ),
        ));
        for step in self.validate().steps() {
            plan.push(step);
        }
        plan.push(Step::notify(
            "notify-incident",
            "#incidents",
            "the database rollback and its validation",
        ));
        match &state.inventory {
            Some(inv) => {
                let window = self
                    .policy
                    .restore_window(state.read_at, inv.inventory.earliest_restore_point);
                plan.note(format!(
                    "restore window (policy, {}-day retention): {} .. now",
                    self.policy.backup.retention_days, window.earliest
                ));
                for b in &inv.inventory.backups {
                    plan.note(format!(
                        "backup {} ({:?}, {})",
                        b.name,
                        b.kind,
                        b.completed_at
                            .map_or_else(|| "running".to_owned(), |t| t.to_string())
                    ));
                }
            }
            None => {
                plan.note("the backups could not be listed");
            }
        }
        plan.note(format!(
            "every write after {} is lost: only in catastrophic cases",
            o.point_in_time
        ));
        Ok(plan)
    }

    /// Runs the database rollback (see the module docs) and returns its report.
    pub async fn run(&self, run: &Executor) -> Report {
        let started = run.now();
        if let Err(denied) = access::verify(run, &self.kube, "db-rollback").await {
            let nothing = DbRollbackState {
                read_at: started,
                inventory: None,
                host_before: None,
            };
            return match self.plan(&nothing) {
                Ok(plan) => denied.report(run, plan, &self.policy, started),
                Err(e) => {
                    Report::invalid(run.context().clone(), &self.policy, started, e.to_string())
                }
            };
        }
        let state = self.read_state(run).await;
        let plan = match self.plan(&state) {
            Ok(plan) => plan,
            Err(e) => {
                return Report::invalid(
                    run.context().clone(),
                    &self.policy,
                    started,
                    e.to_string(),
                );
            }
        };
        let step = |id: &str| {
            plan.step(id)
                .cloned()
                .unwrap_or_else(|| Step::read(id, "", id))
        };

        let held = match lock::take(
            run,
            &plan,
            self.lock.as_ref(),
            self.source_label(),
            self.options.lock_ttl,
        )
        .await
        {
            Ok(held) => held,
            Err(_) => return Report::from_run(run, plan, &self.policy, Vec::new(), started),
        };

        let mut findings = Vec::new();
        let outcome = self.execute(run, &step, &mut findings).await;
        held.release().await;
        let mut report = Report::from_run(run, plan, &self.policy, findings, started);
        if let Err(e) = outcome
            && report.stopped.is_none()
        {
            // A failure outside any step (the restore record could not be read): still a
            // failed run, naming why.
            report.status = RunStatus::Failed;
            report.exit_code = report.status.exit_code();
            report.stopped = Some(e.to_string());
        }
        report
    }

    async fn execute(
        &self,
        run: &Executor,
        step: &dyn Fn(&str) -> Step,
        findings: &mut Vec<Finding>,
    ) -> Result<(), Error> {
        let o = &self.options;
        let request = PitrRequest {
            target_server: o.target_server.clone(),
            point_in_time: o.point_in_time,
        };
        let restored: PitrReport = point_in_time_restore(
            run,
            &self.server(),
            &self.policy,
            self.records.as_ref(),
            &request,
            self.check.as_ref(),
            &o.pitr,
        )
        .await
        .map_err(|e| Error::Step {
            step: "restore".into(),
            transient: e.is_transient(),
            source: Box::new(e),
        })
        .inspect_err(|_| {
            for id in ["point-at-database", "restart-pods", "wait-rollouts"] {
                run.skip(step(id), "the restore did not complete");
            }
        })?;
        findings.push(restored.target_finding.clone());
        findings.extend(restored.rto.clone());

        let host = &o.host;
        if !restored.applied {
            // Dry run: the server validates the key's update; nothing is stored.
            let expected = format!("{}.postgres.database.azure.com", o.target_server);
            let dry = Some(ConfigDataOptions::default().with_dry_run(true));
            let check = Step::read(
                "validate-host",
                &host.target(&self.kube.namespace),
                format!("set {} with dryRun=All", host.key),
            );
            let _ = match host.source {
                HostSource::ConfigMap => {
                    run.read(check, async {
                        self.kube
                            .config
                            .set_config_map_value(&host.name, &host.key, &expected, dry)
                            .await
                            .map(|_| ())
                    })
                    .await
                }
                HostSource::Secret => {
                    run.read(check, async {
                        self.kube
                            .config
                            .set_secret_value(&host.name, &host.key, &expected, dry)
                            .await
                            .map(|_| ())
                    })
                    .await
                }
            };
            run.skip(step("point-at-database"), "dry run: nothing was restored");
            run.skip(step("restart-pods"), "dry run: nothing was restored");
            run.skip(step("wait-rollouts"), "dry run: nothing was restored");
            return Ok(());
        }
        let fqdn = restored.fqdn.clone().ok_or_else(|| Error::NotFound {
            what: "host name of the restored server",
            name: o.target_server.clone(),
        })?;

        let pointed = run
            .change(step("point-at-database"), || async {
                match host.source {
                    HostSource::ConfigMap => self
                        .kube
                        .config
                        .set_config_map_value(&host.name, &host.key, &fqdn, None)
                        .await
                        .map(|_| ()),
                    HostSource::Secret => self
                        .kube
                        .config
                        .set_secret_value(&host.name, &host.key, &fqdn, None)
                        .await
                        .map(|_| ()),
                }
            })
            .await
            .map_err(|e| Error::from_step(e, fleet_k8s::Error::is_transient));
        if let Err(e) = pointed {
            run.skip(step("restart-pods"), "the application was not repointed");
            run.skip(step("wait-rollouts"), "the application was not repointed");
            return Err(e);
        }
        run.note(
            "point-at-database",
            format!("{} now names {}", host.key, host.shown(&fqdn)),
        );

        run.change(step("restart-pods"), || async {
            for d in &o.restart {
                self.kube
                    .deployments
                    .rollout_restart(d, Some(RolloutRestartOptions::default()))
                    .await?;
            }
            Ok::<(), fleet_k8s::Error>(())
        })
        .await
        .map_err(|e| Error::from_step(e, fleet_k8s::Error::is_transient))?;

        let total = u64::try_from(o.restart.len()).unwrap_or(u64::MAX);
        run.wait(step("wait-rollouts"), || async {
            for (i, d) in o.restart.iter().enumerate() {
                let state = self
                    .kube
                    .deployments
                    .rollout_status(
                        d,
                        Some(RolloutStatusOptions::default().with_timeout(o.rollout_timeout)),
                    )
                    .await?;
                run.advance(
                    "wait-rollouts",
                    u64::try_from(i + 1).unwrap_or(total),
                    Some(total),
                    "deployments",
                    state.message(),
                );
            }
            Ok::<(), fleet_k8s::Error>(())
        })
        .await
        .map_err(|e| Error::from_step(e, fleet_k8s::Error::is_transient))?;

        let subject = format!("{} on {}", o.validate.deployment, o.target_server);
        findings.extend(self.validate().check(run, &subject).await);
        let note = Notification::new(
            Channel::incidents(),
            Action::Post,
            Severity::Warning,
            format!(
                "database rolled back: {} restored as of {} into {}; {} restarted by {}",
                self.azure.server,
                o.point_in_time,
                o.target_server,
                o.restart.join(", "),
                run.context().actor
            ),
            DB_ROLLBACK_PROCEDURE,
            run.now(),
        )
        .with_body(run.context().reason.clone());
        notify_all(run, "notify-incident", &self.signals.notifiers, &note).await;
        Ok(())
    }
}
