//! Pre-flight (`./scripts/production-preflight-check.sh`, runbook "Deployment Procedures",
//! read in `docs/decisions.md`, "Pre-flight"): everything a deploy relies on, read live and
//! judged by fleet-policy. Read-only: it changes nothing, dry run or not.
//!
//! Steps, in order (a read that fails makes its check an `Error` finding, and the others still
//! run, so one run shows everything that is wrong):
//!
//! 1. `deploy-window`: the deploy is allowed now (`deploy.window`, `deploy.freeze`,
//!    `deploy.backup-overlap` for a standard deploy; `deploy.hotfix-*` for a hotfix); no I/O.
//! 2. `read-deployment`: the running release's rollout state (`preflight.rollout`).
//! 3. `read-pods`: the deployment's pods (`preflight.crash-loop`).
//! 4. `check-access`: whether the caller holds each permission the deploy and its automatic
//!    rollback need ([`deploy_permissions`]; `preflight.rbac`): one SelfSubjectRulesReview,
//!    and a SelfSubjectAccessReview for any permission an incomplete rules list cannot answer.
//! 5. `read-usage`: the pods' CPU and memory against their limits (`metrics.cpu-usage`,
//!    `metrics.memory-usage`), when [`PreflightOptions::check_headroom`].
//! 6. `read-db-connections`: the database answers, connections in band
//!    (`metrics.db-connections`); Inconclusive without a [`Db`].
//! 7. `read-restore-points`: a backup within the RPO (`backup.rpo`); Inconclusive without an
//!    [`Azure`].
//!
//! RBAC: `get` deployments; `list` pods; `list` pods in metrics.k8s.io (headroom); `create`
//! selfsubjectaccessreviews (every identity has it). Database: `pg_monitor` (or the ability
//! to read `pg_stat_activity`). Azure: `Microsoft.DBforPostgreSQL/flexibleServers/read` and
//! `.../backups/read` (the Reader role on the server is enough).

use std::fmt;
use std::path::{Path, PathBuf};

use fleet_guard::{Executor, Plan, Step};
use fleet_k8s::{AccessCheck, DeploymentInfo, LabelSelector, PodUsage};
use fleet_policy::backup::{self, BackupInventory, BackupKind, BackupRecord, BackupStatus};
use fleet_policy::deploy::{self, Approval, DeployKind, DeployRequest};
use fleet_policy::metrics::{self, Metric};
use fleet_policy::preflight::{self as rules, Permission};
use fleet_policy::{Finding, Outcome, Policy, Section};
use serde::{Deserialize, Serialize};

use crate::changes::{ChangesOptions, changes_to_release};
use crate::error::Error;
use crate::evidence::crash_looping;
use crate::procedures::access;
use crate::procedures::deps::{AzureDatabase, Db, Kube};
use crate::report::Report;

/// What is about to be deployed, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PreflightOptions {
    /// The deployment (`fleet-api`).
    pub deployment: String,
    /// The version about to be deployed (`v1.2.3`), for the findings' subject.
    pub version: String,
    /// Standard (weekly window) or hotfix (approval instead of the window).
    pub kind: DeployKind,
    /// Approvals given (a hotfix needs the technical lead's).
    pub approvals: Vec<Approval>,
    /// The branch the release was cut from (a hotfix must come from `main`).
    pub base_branch: Option<String>,
    /// Whether to compare the pods' usage with their limits (needs metrics.k8s.io).
    pub check_headroom: bool,
    /// The release's local repository: when given, the commits about to be released (the
    /// runbook's `git log origin/main..HEAD`) are listed in the plan, read with gitoxide.
    pub repository: Option<PathBuf>,
    /// Which commits count as the release's (`HEAD` not in `origin/main`, by default).
    pub changes: ChangesOptions,
}

impl PreflightOptions {
    /// A standard deploy of `version` to `deployment`, headroom checked.
    pub fn new(deployment: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            deployment: deployment.into(),
            version: version.into(),
            kind: DeployKind::Standard,
            approvals: Vec::new(),
            base_branch: None,
            check_headroom: true,
            repository: None,
            changes: ChangesOptions::default(),
        }
    }

    /// Lists the commits of `repository` that `changes` selects (the release's tip not yet in
    /// what is released) in the plan.
    #[must_use]
    pub fn with_changes(mut self, repository: impl Into<PathBuf>, changes: ChangesOptions) -> Self {
        self.repository = Some(repository.into());
        self.changes = changes;
        self
    }

    /// A hotfix with its approvals and base branch.
    #[must_use]
    pub fn hotfix(mut self, approvals: Vec<Approval>, base_branch: impl Into<String>) -> Self {
        self.kind = DeployKind::Hotfix;
        self.approvals = approvals;
        self.base_branch = Some(base_branch.into());
        self
    }

    /// Checks headroom (`true`) or not.
    #[must_use]
    pub fn with_headroom(mut self, on: bool) -> Self {
        self.check_headroom = on;
        self
    }
}

/// At most this many commits are written into the plan; the rest are counted.
const LISTED_CHANGES: usize = 50;

/// The plan's lines about the commits to be released: a count, then `--oneline` lines; when
/// the repository cannot be read, a line saying why (the pre-flight's checks still run).
/// A local read (gitoxide, no network), quick enough for the plan.
fn change_notes(repository: &Path, options: &ChangesOptions) -> Vec<String> {
    match changes_to_release(repository, Some(options.clone())) {
        Ok(changes) => {
            let lines = changes.oneline();
            let more = if changes.truncated { " or more" } else { "" };
            let mut out = vec![format!(
                "changes to release ({}..{}): {} commit(s){more}",
                changes.upstream,
                changes.head,
                lines.len()
            )];
            out.extend(
                lines
                    .iter()
                    .take(LISTED_CHANGES)
                    .map(|line| format!("  {line}")),
            );
            if lines.len() > LISTED_CHANGES {
                out.push(format!("  ... and {} more", lines.len() - LISTED_CHANGES));
            }
            out
        }
        Err(e) => vec![format!("changes to release could not be listed: {e}")],
    }
}

/// The permissions a deploy and its automatic rollback need in `namespace`, as the questions
/// the pre-flight asks: derived from the deploy's entry of [`crate::PROCEDURE_PERMISSIONS`]
/// (the Role `docs/rbac.md` lists), so the check and the Role cannot drift apart.
pub fn deploy_permissions(namespace: &str) -> Vec<AccessCheck> {
    crate::rbac::access_checks(
        crate::rbac::permissions("deploy").unwrap_or_default(),
        namespace,
    )
}

/// The pre-flight procedure.
#[derive(Clone)]
#[non_exhaustive]
pub struct Preflight {
    /// The cluster.
    pub kube: Kube,
    /// The database, when it is checked.
    pub db: Option<Db>,
    /// The database server's backups, when they are checked.
    pub azure: Option<AzureDatabase>,
    /// The rules.
    pub policy: Policy,
    /// What is deployed.
    pub options: PreflightOptions,
    /// The permissions asked for (default [`deploy_permissions`]).
    pub permissions: Vec<AccessCheck>,
}

impl fmt::Debug for Preflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Preflight")
            .field("kube", &self.kube)
            .field("db", &self.db)
            .field("azure", &self.azure)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Preflight {
    /// A pre-flight of `options` on `kube`, with the deploy's permissions.
    pub fn new(
        kube: Kube,
        db: Option<Db>,
        azure: Option<AzureDatabase>,
        policy: Policy,
        options: PreflightOptions,
    ) -> Self {
        let permissions = deploy_permissions(&kube.namespace);
        Self {
            kube,
            db,
            azure,
            policy,
            options,
            permissions,
        }
    }

    fn target(&self) -> String {
        format!(
            "deployment/{}/{}",
            self.kube.namespace, self.options.deployment
        )
    }

    fn subject(&self) -> String {
        format!("{} {}", self.options.deployment, self.options.version)
    }

    /// The steps, before anything is read.
    pub fn steps(&self) -> Vec<Step> {
        let target = self.target();
        let mut steps = vec![
            Step::read(
                "deploy-window",
                &self.subject(),
                match self.options.kind {
                    DeployKind::Standard => "standard deploy: inside the weekly window, no freeze",
                    DeployKind::Hotfix => "hotfix: technical-lead approval, branch from main",
                },
            ),
            Step::read(
                "read-deployment",
                &target,
                "the running release's rollout state",
            ),
            Step::read("read-pods", &target, "its pods: none crash-looping"),
            Step::read(
                "check-access",
                &format!("namespace/{}", self.kube.namespace),
                format!(
                    "{} permission(s), one rules review: {}",
                    self.permissions.len(),
                    self.permissions
                        .iter()
                        .map(describe)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        ];
        if self.options.check_headroom {
            steps.push(Step::read(
                "read-usage",
                &target,
                "pods' CPU and memory against their limits (kubectl top pods)",
            ));
        }
        steps.push(Step::read(
            "read-db-connections",
            self.db
                .as_ref()
                .map_or("database (not configured)", |d| &d.name),
            "connections in band (pg_stat_activity)",
        ));
        steps.push(Step::read(
            "read-restore-points",
            self.azure
                .as_ref()
                .map_or("backups (not configured)", |a| &a.server),
            "newest backup within the RPO",
        ));
        steps
    }

    /// The plan: every read, nothing changed.
    pub fn plan(&self) -> Plan {
        let mut plan = Plan::new("preflight");
        plan.push(access::access_step(&self.kube, "preflight"));
        for step in self.steps() {
            plan.push(step);
        }
        plan.note("read-only: changes nothing; every check is judged by fleet-policy");
        if let Some(repository) = &self.options.repository {
            for line in change_notes(repository, &self.options.changes) {
                plan.note(line);
            }
        }
        plan
    }

    /// Runs the checks as steps of `run` and returns fleet-policy's findings (for a deploy
    /// that embeds its pre-flight).
    pub async fn check(&self, run: &Executor) -> Vec<Finding> {
        let mut out = Vec::new();
        let steps = self.steps();
        let step = |id: &str| {
            steps
                .iter()
                .find(|s| s.id == id)
                .cloned()
                .unwrap_or_else(|| Step::read(id, &self.target(), id))
        };
        let target = self.target();

        // 1. The window, pure.
        let request = DeployRequest {
            service: self.options.deployment.clone(),
            version: self.options.version.clone(),
            kind: self.options.kind,
            at: None,
            preflight: deploy::Preflight::Passed,
            approvals: self.options.approvals.clone(),
            base_branch: self.options.base_branch.clone(),
        };
        let now = run.now();
        let window: Vec<Finding> = deploy::evaluate(&self.policy, &request, now)
            .into_iter()
            .filter(|f| f.rule != "deploy.preflight")
            .collect();
        let _ = run
            .read(step("deploy-window"), async { Ok::<_, Error>(()) })
            .await;
        out.extend(window);

        // 2. The rollout.
        let info = run
            .read(
                step("read-deployment"),
                self.kube
                    .deployments
                    .get_deployment(&self.options.deployment),
            )
            .await;
        let info = match info {
            Ok(info) => {
                out.push(rules::rollout(
                    &target,
                    info.rollout.is_complete(),
                    info.rollout.message(),
                ));
                Some(info)
            }
            Err(e) => {
                out.push(source_failed("preflight.rollout", &target, &e));
                None
            }
        };

        // 3. Crash loops.
        let pods = match &info {
            Some(info) => {
                let selector = selector_of(info);
                run.read(step("read-pods"), async {
                    match &selector {
                        Some(s) => self.kube.pods.list_pods_by_selector(s).await,
                        None => Err(fleet_k8s::Error::Unexpected {
                            what: target.clone(),
                            detail: "the deployment has no label selector".into(),
                        }),
                    }
                })
                .await
                .map_err(|e| e.to_string())
            }
            None => {
                run.skip(step("read-pods"), "the deployment could not be read");
                Err("the deployment could not be read".to_owned())
            }
        };
        match &pods {
            Ok(pods) => {
                let names: Vec<String> =
                    crash_looping(pods).iter().map(|p| p.name.clone()).collect();
                out.push(rules::crash_loops(&target, &names));
            }
            Err(e) => out.push(source_failed("preflight.crash-loop", &target, e)),
        }

        // 4. RBAC.
        let access = run
            .read(step("check-access"), async {
                // One rules review answers what it lists; a review per verb the rest.
                let rules = self.kube.access.rules(&self.kube.namespace).await.ok();
                let mut checked = Vec::new();
                for check in &self.permissions {
                    let listed = rules
                        .as_ref()
                        .filter(|r| check.namespace.as_deref() == Some(r.namespace.as_str()))
                        .and_then(|r| r.allows(check));
                    let allowed = match listed {
                        Some(allowed) => allowed,
                        None => self.kube.access.can_i(check).await?.allowed,
                    };
                    checked.push(Permission::new(
                        &check.verb,
                        &resource_of(check),
                        &check.group,
                        check.namespace.as_deref().unwrap_or(""),
                        allowed,
                    ));
                }
                Ok::<_, fleet_k8s::Error>(checked)
            })
            .await;
        out.push(match access {
            Ok(checked) => rules::permissions(&target, &checked),
            Err(e) => source_failed("preflight.rbac", &target, &e),
        });

        // 5. Headroom.
        if self.options.check_headroom {
            out.extend(self.headroom(run, step("read-usage"), info.as_ref()).await);
        }

        // 6. Database connections.
        match &self.db {
            Some(db) => {
                let read = run
                    .read(
                        step("read-db-connections"),
                        db.diagnostics.connection_summary(),
                    )
                    .await;
                out.push(match read {
                    Ok(summary) => metrics::check(
                        &self.policy.metrics,
                        &db.name,
                        Metric::DbConnections,
                        Some(f64::from(summary.total)),
                    ),
                    Err(e) => source_failed("metrics.db-connections", &db.name, &e),
                });
            }
            None => {
                run.skip(step("read-db-connections"), "no database configured");
                out.push(metrics::check(
                    &self.policy.metrics,
                    "database",
                    Metric::DbConnections,
                    None,
                ));
            }
        }

        // 7. Backups.
        match &self.azure {
            Some(azure) => {
                let read = run
                    .read(
                        step("read-restore-points"),
                        azure.backups.restore_points(None),
                    )
                    .await;
                out.push(match read {
                    Ok(points) => {
                        let inventory = BackupInventory {
                            server: azure.server.clone(),
                            backups: points
                                .newest_backup
                                .map(|at| BackupRecord {
                                    name: "newest backup (restore points)".into(),
                                    kind: BackupKind::Automatic,
                                    status: BackupStatus::Succeeded,
                                    completed_at: Some(at),
                                })
                                .into_iter()
                                .collect(),
                            earliest_restore_point: points.earliest,
                            restore_target: None,
                            recovery: None,
                        };
                        backup::check_rpo(&self.policy, &inventory, now)
                    }
                    Err(e) => source_failed("backup.rpo", &azure.server, &e),
                });
            }
            None => {
                run.skip(step("read-restore-points"), "no database server configured");
                out.push(Finding::new(
                    "backup.rpo",
                    "database server",
                    Outcome::Inconclusive,
                    Section::BackupRecovery,
                    "backups not checked: no database server configured",
                ));
            }
        }
        out
    }

    async fn headroom(
        &self,
        run: &Executor,
        step: Step,
        info: Option<&DeploymentInfo>,
    ) -> Vec<Finding> {
        let target = self.target();
        let Some(info) = info else {
            run.skip(step, "the deployment could not be read");
            return vec![
                source_failed("metrics.cpu-usage", &target, &"deployment not read"),
                source_failed("metrics.memory-usage", &target, &"deployment not read"),
            ];
        };
        let Some(selector) = selector_of(info) else {
            run.skip(step, "the deployment has no label selector");
            return Vec::new();
        };
        let usage = run
            .read(step, self.kube.metrics.top_pods_by_selector(&selector))
            .await;
        match usage {
            Ok(usage) => {
                let (cpu, memory) = percent_of_limits(info, &usage);
                vec![
                    metrics::check(&self.policy.metrics, &target, Metric::CpuUsage, cpu),
                    metrics::check(&self.policy.metrics, &target, Metric::MemoryUsage, memory),
                ]
            }
            Err(e) => vec![
                source_failed("metrics.cpu-usage", &target, &e),
                source_failed("metrics.memory-usage", &target, &e),
            ],
        }
    }

    /// Runs the pre-flight and returns its report (exit 0 when nothing blocks).
    pub async fn run(&self, run: &Executor) -> Report {
        let started = run.now();
        if let Err(denied) = access::verify(run, &self.kube, "preflight").await {
            return denied.report(run, self.plan(), &self.policy, started);
        }
        let findings = self.check(run).await;
        Report::from_run(run, self.plan(), &self.policy, findings, started)
    }
}

fn describe(c: &AccessCheck) -> String {
    format!("{} {}", c.verb, resource_of(c))
}

fn resource_of(c: &AccessCheck) -> String {
    match &c.subresource {
        Some(sub) => format!("{}/{sub}", c.resource),
        None => c.resource.clone(),
    }
}

/// A rule whose evidence could not be read: `Error`, which blocks.
pub(crate) fn source_failed(rule: &str, subject: &str, e: &dyn fmt::Display) -> Finding {
    let section =
        fleet_policy::rules::rule(rule).map_or(Section::DeploymentProcedures, |r| r.section);
    Finding::new(
        rule,
        subject,
        Outcome::Error,
        section,
        format!("could not be checked: {e}"),
    )
}

/// The deployment's pod selector (`matchLabels` only, as `kubectl` shows it).
pub(crate) fn selector_of(info: &DeploymentInfo) -> Option<LabelSelector> {
    let labels = info.raw.spec.selector.match_labels.as_ref()?;
    if labels.is_empty() {
        return None;
    }
    let text = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    text.parse().ok()
}

/// The highest pod's CPU and memory use as a percentage of the pod's limits (the sum over its
/// containers); `None` when a container has no limit for it.
fn percent_of_limits(info: &DeploymentInfo, usage: &[PodUsage]) -> (Option<f64>, Option<f64>) {
    let containers = info
        .raw
        .spec
        .template
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let limit = |key: &str, parse: fn(&str) -> fleet_k8s::Result<u64>| -> Option<u64> {
        let mut total = 0u64;
        for c in containers {
            let q = c.resources.as_ref()?.limits.as_ref()?.get(key)?;
            total = total.saturating_add(parse(&q.0).ok()?);
        }
        (total > 0 && !containers.is_empty()).then_some(total)
    };
    let cpu_limit = limit("cpu", fleet_k8s::cpu_millicores);
    let mem_limit = limit("memory", fleet_k8s::memory_bytes);
    let max = |f: &dyn Fn(&PodUsage) -> u64, lim: Option<u64>| -> Option<f64> {
        let lim = lim?;
        usage
            .iter()
            .map(|p| f(p) as f64 * 100.0 / lim as f64)
            .reduce(f64::max)
    };
    (
        max(&|p| p.cpu_millicores, cpu_limit),
        max(&|p| p.memory_bytes, mem_limit),
    )
}
