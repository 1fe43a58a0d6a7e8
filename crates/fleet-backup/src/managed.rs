//! Azure-managed database backups: the runbook's on-demand `manual-backup-YYYYMMDD`, the
//! inventory judged by the policy (RPO, schedule, retention) from live data, and the
//! point-in-time restore into a new server: planned (target validated, new server name),
//! confirmed with the target server's name, resumable after an interruption from a
//! `fleet_guard::RecordStore` record holding the operation's resume token, and validated by
//! connecting to the restored server with fleet-db.
//!
//! Everything here talks to Azure through [`ManagedServer`], a narrow seam; its one
//! implementation over fleet-azure is in `azure.rs`, so a change of fleet-azure's API lands
//! there only.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use fleet_guard::{ConfirmWord, Executor, RecordStore, Step, load_as, save_as};
use fleet_policy::backup::{
    BackupInventory, BackupKind, BackupRecord, BackupStatus as PolicyStatus, Recovery,
    check_restore_target, check_retention, check_rpo, check_rto, check_schedule,
};
use fleet_policy::{Finding, Outcome, Policy};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// How a managed backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBackupKind {
    /// The service's scheduled backup.
    Automatic,
    /// An on-demand backup.
    OnDemand,
}

/// One backup of a managed server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedBackup {
    /// Its name.
    pub name: String,
    /// Automatic or on demand.
    pub kind: ManagedBackupKind,
    /// When it completed; `None` while it runs.
    pub completed_at: Option<Timestamp>,
}

/// The range a point-in-time restore may target, as the service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreWindow {
    /// The earliest restorable instant, when the service reports it.
    pub earliest: Option<Timestamp>,
    /// The latest (now, for continuous WAL archiving).
    pub latest: Timestamp,
}

/// A server as the restore sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedServerInfo {
    /// Its name.
    pub name: String,
    /// Whether it is ready to take connections.
    pub ready: bool,
    /// The service's word for its state (`Ready`, `Provisioning`...).
    pub state: String,
    /// The host name to connect to.
    pub fqdn: Option<String>,
}

/// How a long-running operation stands after one poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum OperationState {
    /// Still running.
    Running {
        /// Percent complete, when the service says.
        percent: Option<f64>,
        /// When to poll next, when the service says.
        retry_after: Option<Duration>,
    },
    /// Done.
    Succeeded,
    /// Failed, canceled or refused by the service.
    Failed {
        /// The service's message.
        message: String,
    },
}

/// What the Azure-managed procedures need of one flexible server (the source). Implemented
/// over fleet-azure by [`crate::AzureFlexibleServer`]; a test can implement it too.
#[async_trait]
pub trait ManagedServer: Send + Sync {
    /// The server's name.
    fn server_name(&self) -> &str;
    /// Every backup, automatic and on demand.
    async fn backups(&self) -> Result<Vec<ManagedBackup>>;
    /// The point-in-time restore window.
    async fn restore_window(&self) -> Result<RestoreWindow>;
    /// Takes an on-demand backup named `name` and waits for it.
    async fn create_backup(&self, name: &str) -> Result<ManagedBackup>;
    /// Starts a point-in-time restore of this server at `point_in_time` into a new server
    /// `target`, and returns the operation's resume token (opaque text to keep).
    async fn begin_restore(&self, target: &str, point_in_time: Timestamp) -> Result<String>;
    /// Polls the operation of a resume token once.
    async fn poll(&self, resume_token: &str) -> Result<OperationState>;
    /// A server by name, or `None` when it does not exist.
    async fn server(&self, name: &str) -> Result<Option<ManagedServerInfo>>;
}

/// Checks a restored server by connecting to it.
#[async_trait]
pub trait RestoredServerCheck: Send + Sync {
    /// Connects to the server at `host` and says what was found (an error when it is not
    /// usable).
    async fn check(&self, host: &str) -> Result<String>;
}

/// The policy's findings on a managed server's backups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagedInventory {
    /// The inventory as fleet-policy judges it.
    pub inventory: BackupInventory,
    /// RPO, schedule and retention findings.
    pub findings: Vec<Finding>,
}

impl ManagedInventory {
    /// The worst outcome of the findings.
    pub fn worst(&self) -> Outcome {
        self.findings
            .iter()
            .map(|f| f.outcome)
            .max_by_key(|o| outcome_rank(*o))
            .unwrap_or(Outcome::Pass)
    }
}

fn outcome_rank(o: Outcome) -> u8 {
    match o {
        Outcome::Pass => 0,
        Outcome::Warn => 1,
        Outcome::Inconclusive => 2,
        Outcome::Error => 3,
        Outcome::Fail => 4,
    }
}

/// The inventory fleet-policy judges, from what the service listed (pure).
pub(crate) fn inventory(
    server: &str,
    backups: &[ManagedBackup],
    window: &RestoreWindow,
) -> BackupInventory {
    BackupInventory {
        server: server.to_owned(),
        backups: backups
            .iter()
            .map(|b| BackupRecord {
                name: b.name.clone(),
                kind: match b.kind {
                    ManagedBackupKind::Automatic => BackupKind::Automatic,
                    ManagedBackupKind::OnDemand => BackupKind::OnDemand,
                },
                status: if b.completed_at.is_some() {
                    PolicyStatus::Succeeded
                } else {
                    PolicyStatus::InProgress
                },
                completed_at: b.completed_at,
            })
            .collect(),
        earliest_restore_point: window.earliest,
        restore_target: None,
        recovery: None,
    }
}

/// Reads the server's backups and restore window and judges them by the policy: RPO (the
/// newest backup's age), the daily schedule, and retention.
#[tracing::instrument(skip_all, fields(server = %server.server_name()))]
pub async fn managed_inventory(
    executor: &Executor,
    server: &dyn ManagedServer,
    policy: &Policy,
) -> Result<ManagedInventory> {
    let name = server.server_name().to_owned();
    let (backups, window) = executor
        .read(
            Step::read(
                "list-managed-backups",
                &format!("azure-postgres/{name}"),
                "list backups and the restore window",
            ),
            async { Ok::<_, Error>((server.backups().await?, server.restore_window().await?)) },
        )
        .await
        .map_err(Error::from_step)?;
    let now = executor.now();
    let inv = inventory(&name, &backups, &window);
    let findings = vec![
        check_rpo(policy, &inv, now),
        check_schedule(policy, &inv, now),
        check_retention(policy, &inv, now),
    ];
    Ok(ManagedInventory {
        inventory: inv,
        findings,
    })
}

/// What an on-demand managed backup did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagedBackupReport {
    /// The backup's name (`manual-backup-YYYYMMDD`, from the policy).
    pub name: String,
    /// The backup as the service lists it (absent in a dry run).
    pub backup: Option<ManagedBackup>,
}

/// Takes an on-demand backup named by the policy (`manual-backup-YYYYMMDD`, UTC, with `-2`,
/// `-3`... when the day's name is taken), as an audited step.
#[tracing::instrument(skip_all, fields(server = %server.server_name()))]
pub async fn managed_backup_now(
    executor: &Executor,
    server: &dyn ManagedServer,
    policy: &Policy,
) -> Result<ManagedBackupReport> {
    let source = server.server_name().to_owned();
    let existing = executor
        .read(
            Step::read(
                "list-managed-backups",
                &format!("azure-postgres/{source}"),
                "list backups (to pick a free name)",
            ),
            server.backups(),
        )
        .await
        .map_err(Error::from_step)?;
    let names: Vec<&str> = existing.iter().map(|b| b.name.as_str()).collect();
    let date = executor.now().to_zoned_datetime(TimeZone::UTC).date();
    let name = fleet_policy::backup::on_demand_name(policy, date, &names);
    let backup = executor
        .change(
            Step::change(
                "create-managed-backup",
                &format!("azure-postgres/{source}"),
                format!("on-demand backup {name}"),
            )
            .with_after(&name),
            || server.create_backup(&name),
        )
        .await
        .map_err(Error::from_step)?
        .done();
    Ok(ManagedBackupReport { name, backup })
}

/// A point-in-time restore into a new server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PitrRequest {
    /// The new server's name (3 to 63 of a-z 0-9 -, not starting or ending with -).
    pub target_server: String,
    /// The instant to restore to.
    pub point_in_time: Timestamp,
}

/// Options of a point-in-time restore run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PitrOptions {
    /// Time between polls when the service suggests none (default 15 s).
    pub poll_interval: Duration,
    /// Longest time to wait for the restore (default: the policy's RTO).
    pub timeout: Option<Duration>,
}

impl Default for PitrOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(15),
            timeout: None,
        }
    }
}

impl PitrOptions {
    /// Sets the poll interval.
    #[must_use]
    pub fn with_poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// Sets the wait limit.
    #[must_use]
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
}

/// Where a restore run stands, as recorded (so that a crash or a second engineer resumes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
enum PitrState {
    /// Confirmed and about to be sent; if a run stops here, the next one looks for the new
    /// server to know whether the request reached Azure.
    Starting,
    /// The operation was accepted; this token follows it.
    Started { resume_token: String },
    /// The new server exists and is ready.
    Restored { restored_at: Timestamp },
    /// Validated by connecting to it.
    Validated {
        restored_at: Timestamp,
        validation: String,
    },
    /// The service reported failure.
    Failed { message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PitrRecord {
    source: String,
    target: String,
    point_in_time: Timestamp,
    started_at: Timestamp,
    state: PitrState,
}

/// What a point-in-time restore run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PitrReport {
    /// The source server.
    pub source: String,
    /// The new server.
    pub target: String,
    /// The instant restored to.
    pub point_in_time: Timestamp,
    /// Whether the restore ran (false for a dry run).
    pub applied: bool,
    /// Whether this run picked up an operation an earlier run started.
    pub resumed: bool,
    /// The restored server's host name.
    pub fqdn: Option<String>,
    /// What the connection check found.
    pub validation: Option<String>,
    /// The restore target against the policy's window.
    pub target_finding: Finding,
    /// The recovery against the policy's RTO (from the record's start to now).
    pub rto: Option<Finding>,
}

/// Checks a restore request before anything changes: the new server's name, that it differs
/// from the source and does not exist, and that the instant is inside the service's window and
/// the policy's (not in the future, not before the earliest restore point, inside the retention).
async fn check_request(
    server: &dyn ManagedServer,
    policy: &Policy,
    request: &PitrRequest,
    now: Timestamp,
) -> Result<Finding> {
    let target = &request.target_server;
    let ok_name = (3..=63).contains(&target.len())
        && target
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !target.starts_with('-')
        && !target.ends_with('-');
    if !ok_name {
        return Err(Error::invalid(
            "target server",
            format!("{target:?}: 3 to 63 of a-z 0-9 -, not starting or ending with -"),
        ));
    }
    if target == server.server_name() {
        return Err(Error::invalid(
            "target server",
            "a point-in-time restore goes into a new server, never over the source",
        ));
    }
    if server.server(target).await?.is_some() {
        return Err(Error::Conflict {
            what: "server",
            detail: format!("{target} exists: restore into a new server name"),
        });
    }
    let window = server.restore_window().await?;
    let finding = check_restore_target(
        policy,
        request.point_in_time,
        window.earliest,
        now,
        server.server_name(),
    );
    if finding.outcome != Outcome::Pass {
        return Err(Error::invalid("point in time", finding.message.clone()));
    }
    Ok(finding)
}

/// Plans and runs a point-in-time restore of `server` into a new server, as the runbook's
/// `az postgres flexible-server restore` does, with the guard rails around it:
///
/// 1. checks (read, also in a dry run): target name, no such server yet, instant inside the
///    window (`backup.restore-target`);
/// 2. starts the restore: destructive, confirmed with the target server's name, audited; the
///    operation's resume token is saved in `records` under `pitr-<target>` at once;
/// 3. waits for it, polling; a later run with the same `records` (after a crash, or by a
///    second engineer) resumes from the token instead of starting another restore;
/// 4. validates: the new server is ready and `check` connects to it;
/// 5. judges the recovery time against the policy's RTO.
#[tracing::instrument(skip_all, fields(server = %server.server_name(), target = %request.target_server))]
pub async fn point_in_time_restore(
    executor: &Executor,
    server: &dyn ManagedServer,
    policy: &Policy,
    records: &dyn RecordStore,
    request: &PitrRequest,
    check: &dyn RestoredServerCheck,
    options: &PitrOptions,
) -> Result<PitrReport> {
    let source = server.server_name().to_owned();
    let target = request.target_server.clone();
    let key = format!("pitr-{target}");
    let label = format!("azure-postgres/{target}");
    let guard = |op: &str| {
        let op = op.to_owned();
        move |source: fleet_guard::Error| Error::Guard { op, source }
    };
    let report = |applied, resumed, started_at, fqdn, validation, rto| PitrReport {
        source: source.clone(),
        target: target.clone(),
        point_in_time: request.point_in_time,
        applied,
        resumed,
        fqdn,
        validation,
        target_finding: check_restore_target(
            policy,
            request.point_in_time,
            None,
            started_at,
            &source,
        ),
        rto,
    };
    let existing = load_as::<PitrRecord>(records, &key)
        .await
        .map_err(guard("load the restore record"))?;
    let resumed = existing.is_some();
    let (mut version, mut record) = match existing {
        Some((v, r)) => {
            if r.source != source || r.point_in_time != request.point_in_time {
                return Err(Error::Conflict {
                    what: "restore record",
                    detail: format!(
                        "{key} is a restore of {} at {}, not of {source} at {}",
                        r.source, r.point_in_time, request.point_in_time
                    ),
                });
            }
            executor.note(
                "begin-restore",
                format!("resuming the restore recorded under {key}"),
            );
            (Some(v), r)
        }
        None => (
            None,
            PitrRecord {
                source: source.clone(),
                target: target.clone(),
                point_in_time: request.point_in_time,
                started_at: executor.now(),
                state: PitrState::Starting,
            },
        ),
    };
    if let PitrState::Failed { message } = &record.state {
        return Err(Error::Refused {
            reason: format!(
                "the restore recorded under {key} failed ({message}); clean up {target} before trying again"
            ),
        });
    }
    // A run that stopped before Azure took the request starts it again (confirmed again).
    let reached_azure = match &record.state {
        PitrState::Starting if version.is_some() => server.server(&target).await?.is_some(),
        PitrState::Starting => false,
        _ => true,
    };
    if !reached_azure {
        executor
            .read(
                Step::read(
                    "check-restore",
                    &label,
                    format!(
                        "{target} is new and {} is inside the window",
                        request.point_in_time
                    ),
                ),
                check_request(server, policy, request, executor.now()),
            )
            .await
            .map_err(Error::from_step)?;
        let word = ConfirmWord::new(target.clone()).map_err(guard("confirmation word"))?;
        let step = Step::change(
            "begin-restore",
            &label,
            format!(
                "restore {source} as of {} into the new server {target}",
                request.point_in_time
            ),
        )
        .with_after(request)
        .with_confirm(word);
        let begun = executor
            .change(step, || async {
                // Recorded before the request: a crash in between is found by the next run.
                record.started_at = executor.now();
                let v = save_as(records, &key, &record, version)
                    .await
                    .map_err(guard("save the restore record"))?;
                let token = server.begin_restore(&target, request.point_in_time).await?;
                Ok::<_, Error>((v, token))
            })
            .await
            .map_err(Error::from_step)?;
        let Some((v, resume_token)) = begun.done() else {
            return Ok(report(false, false, executor.now(), None, None, None));
        };
        record.state = PitrState::Started { resume_token };
        version = Some(
            save_as(records, &key, &record, Some(v))
                .await
                .map_err(guard("save the restore record"))?,
        );
    } else if executor.is_dry_run() {
        // A dry run reports that a recorded restore exists and changes nothing.
        return Ok(report(false, true, record.started_at, None, None, None));
    }

    let token = match &record.state {
        PitrState::Started { resume_token } => Some(resume_token.clone()),
        PitrState::Starting => None,
        _ => None,
    };
    if matches!(
        record.state,
        PitrState::Started { .. } | PitrState::Starting
    ) {
        let timeout = options
            .timeout
            .unwrap_or_else(|| policy.backup.rto.unsigned_abs());
        let waited = executor
            .wait(
                Step::wait("restore", &label, "wait for the new server"),
                || {
                    wait_for(
                        executor,
                        server,
                        &target,
                        token.as_deref(),
                        options.poll_interval,
                        timeout,
                    )
                },
            )
            .await
            .map_err(Error::from_step);
        if let Err(e) = waited {
            // The service said it failed: record it, so that nobody resumes a dead
            // operation. Anything else (a timeout, a network error) can be resumed.
            if let Error::Azure {
                kind: ErrorKind::Refused,
                ..
            } = &e
            {
                record.state = PitrState::Failed {
                    message: e.to_string(),
                };
                if let Err(save) = save_as(records, &key, &record, version).await {
                    tracing::warn!(error = %save, "the failed restore could not be recorded");
                }
            }
            return Err(e);
        }
        record.state = PitrState::Restored {
            restored_at: executor.now(),
        };
        version = Some(
            save_as(records, &key, &record, version)
                .await
                .map_err(guard("save the restore record"))?,
        );
    }

    let info = executor
        .read(
            Step::read(
                "find-restored-server",
                &label,
                "read the new server's state and host",
            ),
            async {
                server
                    .server(&target)
                    .await?
                    .ok_or_else(|| Error::NotFound {
                        what: "server",
                        detail: format!("{target} after the restore"),
                    })
            },
        )
        .await
        .map_err(Error::from_step)?;
    if !info.ready {
        return Err(Error::Refused {
            reason: format!("{target} is {}, not ready", info.state),
        });
    }
    let fqdn = info.fqdn.clone().ok_or_else(|| Error::NotFound {
        what: "host name",
        detail: format!("{target} reports no FQDN"),
    })?;
    let validation = match &record.state {
        PitrState::Validated { validation, .. } => validation.clone(),
        _ => executor
            .read(
                Step::read(
                    "validate-restored-server",
                    &label,
                    format!("connect to {fqdn}"),
                ),
                check.check(&fqdn),
            )
            .await
            .map_err(Error::from_step)?,
    };
    if let PitrState::Restored { restored_at } = record.state.clone() {
        record.state = PitrState::Validated {
            restored_at,
            validation: validation.clone(),
        };
        save_as(records, &key, &record, version)
            .await
            .map_err(guard("save the restore record"))?;
    }
    let now = executor.now();
    let rto = check_rto(
        policy,
        &Recovery {
            started_at: record.started_at,
            finished_at: Some(now),
        },
        now,
        &target,
    );
    Ok(report(
        true,
        resumed,
        record.started_at,
        Some(fqdn),
        Some(validation),
        Some(rto),
    ))
}

/// Waits for the restore: through the operation's status (with a token), or through the new
/// server's state (a run that stopped between the request and recording its token).
async fn wait_for(
    executor: &Executor,
    server: &dyn ManagedServer,
    target: &str,
    token: Option<&str>,
    interval: Duration,
    timeout: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let state = match token {
            Some(t) => server.poll(t).await?,
            None => match server.server(target).await? {
                Some(info) if info.ready => OperationState::Succeeded,
                Some(_) => OperationState::Running {
                    percent: None,
                    retry_after: None,
                },
                None => OperationState::Failed {
                    message: format!("{target} disappeared: the restore failed"),
                },
            },
        };
        match state {
            OperationState::Succeeded => return Ok(()),
            OperationState::Failed { message } => {
                return Err(Error::Azure {
                    op: "point-in-time restore".into(),
                    kind: ErrorKind::Refused,
                    source: message.into(),
                });
            }
            OperationState::Running {
                percent,
                retry_after,
            } => {
                let done = percent.map_or(0, |p| p.clamp(0.0, 100.0) as u64);
                executor.advance("restore", done, Some(100), "percent", "restoring");
                // The service's Retry-After, capped by our own interval.
                let wait = retry_after.unwrap_or(interval).min(interval);
                if tokio::time::Instant::now() + wait > deadline {
                    return Err(Error::Azure {
                        op: "point-in-time restore".into(),
                        kind: ErrorKind::Transient,
                        source: format!("still running after {timeout:?}; run again to resume")
                            .into(),
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Connects to a restored server with fleet-db and checks it answers, is not in recovery, and
/// has the database. `Debug` hides the password.
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresCheck {
    /// The role to log in as.
    pub user: String,
    /// Its password.
    pub password: Option<String>,
    /// A database that must exist.
    pub database: String,
    /// The port (5432).
    pub port: u16,
    /// Connect here instead of the server's FQDN (a private endpoint, a tunnel).
    pub connect_to: Option<String>,
    /// TLS (Azure requires it; the default).
    pub tls: fleet_db::TlsMode,
    /// Extra trusted root certificates (PEM).
    pub extra_roots_pem: Vec<u8>,
}

impl fmt::Debug for PostgresCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCheck")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("port", &self.port)
            .field("connect_to", &self.connect_to)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl PostgresCheck {
    /// Logs in as `user` to `database` on port 5432 with TLS required.
    pub fn new(
        user: impl Into<String>,
        password: Option<String>,
        database: impl Into<String>,
    ) -> Self {
        Self {
            user: user.into(),
            password,
            database: database.into(),
            port: 5432,
            connect_to: None,
            tls: fleet_db::TlsMode::Require,
            extra_roots_pem: Vec::new(),
        }
    }

    /// Connects to `host:port` instead of the FQDN.
    #[must_use]
    pub fn with_connect_to(mut self, host: impl Into<String>, port: u16) -> Self {
        self.connect_to = Some(host.into());
        self.port = port;
        self
    }

    /// Sets the TLS mode.
    #[must_use]
    pub fn with_tls(mut self, tls: fleet_db::TlsMode) -> Self {
        self.tls = tls;
        self
    }
}

#[async_trait]
impl RestoredServerCheck for PostgresCheck {
    async fn check(&self, host: &str) -> Result<String> {
        use fleet_db::Diagnostics as _;
        let connect = self.connect_to.as_deref().unwrap_or(host);
        let options = fleet_db::DbOptions::from_parts(
            connect,
            self.port,
            &self.user,
            self.password.clone().map(fleet_db::Secret::new),
            &self.database,
        )
        .with_tls_mode(self.tls)
        .with_extra_roots_pem(self.extra_roots_pem.clone());
        let failed = |e: fleet_db::Error| Error::Tool {
            tool: "fleet-db",
            detail: format!("connecting to {host} (via {connect}:{}): {e}", self.port),
        };
        let db = fleet_db::PgClient::new(options).map_err(failed)?;
        let snapshot = db.snapshot().await.map_err(failed)?;
        db.close();
        let health = &snapshot.health;
        if health.in_recovery {
            return Err(Error::Refused {
                reason: format!("{host} is still in recovery: it has not been promoted"),
            });
        }
        if !health.databases.iter().any(|d| d.name == self.database) {
            return Err(Error::NotFound {
                what: "database",
                detail: format!("{} on {host}", self.database),
            });
        }
        Ok(format!(
            "{host}: {} answers, not in recovery, database {} present, {} connections in use",
            health.version, self.database, snapshot.connections.total
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_maps_kinds_and_running_backups() {
        let t: Timestamp = "2026-05-14T02:30:00Z".parse().expect("ts");
        let inv = inventory(
            "fleet-postgres-server",
            &[
                ManagedBackup {
                    name: "a".into(),
                    kind: ManagedBackupKind::Automatic,
                    completed_at: Some(t),
                },
                ManagedBackup {
                    name: "manual-backup-20260514".into(),
                    kind: ManagedBackupKind::OnDemand,
                    completed_at: None,
                },
            ],
            &RestoreWindow {
                earliest: Some(t),
                latest: t,
            },
        );
        assert_eq!(inv.backups[0].kind, BackupKind::Automatic);
        assert_eq!(inv.backups[0].status, PolicyStatus::Succeeded);
        assert_eq!(inv.backups[1].status, PolicyStatus::InProgress);
        assert_eq!(inv.earliest_restore_point, Some(t));
    }

    #[test]
    fn passwords_stay_out_of_debug() {
        let c = PostgresCheck::new("admin", Some("s3cret".into()), "fleetdb");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
