//! The runbook's "Security Incident Response": isolate, assess, contain, and credential
//! rotation end to end ([`CredentialRotation`]).
//!
//! - [`SecurityResponse::isolate`]: blocks source ranges at the ingress (fleet-k8s's
//!   denylist annotation), confirmed with `ISOLATE`.
//! - [`SecurityResponse::assess`]: what the crates can see: database roles and their
//!   activity, connections by client address, the largest reads (`pg_stat_statements`),
//!   warning events, and the resource group's Azure Activity Log over a window.
//! - [`SecurityResponse::contain`]: disables compromised roles (`NOLOGIN` and their sessions
//!   ended, confirmed with `DISABLE`), deletes service-account token Secrets (`REVOKE`) and
//!   deletes PostgreSQL firewall rules (`FIREWALL`); each audited.
//! - [`CredentialRotation`]: see its module.
//!
//! Security and legal are told through the notifiers (#security); recovery is the release
//! and backup procedures' work.
//!
//! Kubernetes RBAC: one Role, `security` (`docs/rbac.md`), for isolate, assess and contain;
//! each starts with `verify-access` and, without every permission of the Role, stops there
//! (status `forbidden`) before any read, change or notification. In the namespace:
//! `get`/`patch` ingresses (isolate); `list` events (assess); `list`, `delete` secrets (token
//! revocation). The rotation has its own Role, `rotation` (see its module). Database: a role with `CREATEROLE` (password change, `NOLOGIN`)
//! and `pg_signal_backend` (ending sessions), `pg_read_all_stats` to see every session. Azure:
//! Key Vault Secrets Officer on the vault (rotation), `Microsoft.DBforPostgreSQL/
//! flexibleServers/firewallRules/delete` (containment), Monitoring Reader (activity log).

mod rotation;

pub use rotation::{CredentialRotation, RotationTarget};

use std::time::Duration;

use fleet_azure::{ActivityEvent, ActivityFilter, BeginOptions};
use fleet_db::{ConnectionSource, LargeReadsReport, RolesReport};
use fleet_guard::{ConfirmWord, Executor, Plan, Step};
use fleet_k8s::{ConfigDataOptions, DenylistOptions, EventOptions, EventRecord};
use fleet_policy::Policy;
use futures::TryStreamExt;
use jiff::Timestamp;
use serde::Serialize;

use super::access;
use super::deps::{Azure, Db, Kube, Signals};
use crate::notify::{Action, Channel, Notification, Severity, notify_all};
use crate::report::Report;

/// The Role of the response's phases in `PROCEDURE_PERMISSIONS`.
const SECURITY_ROLE: &str = "security";

/// What the security assessment saw.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct SecurityEvidence {
    /// Roles with their attributes and activity.
    pub roles: Option<RolesReport>,
    /// Sessions by client address and role.
    pub connections: Vec<ConnectionSource>,
    /// The statements that read the most.
    pub large_reads: Option<LargeReadsReport>,
    /// Warning events.
    pub events: Vec<EventRecord>,
    /// The resource group's activity log over the window.
    pub activity: Vec<ActivityEvent>,
}

/// What containment acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Containment {
    /// Database roles to disable.
    pub roles: Vec<String>,
    /// Service accounts whose token Secrets are deleted.
    pub service_accounts: Vec<String>,
    /// Firewall rules of the PostgreSQL server to delete.
    pub firewall_rules: Vec<String>,
}

impl Containment {
    /// Database roles to disable.
    #[must_use]
    pub fn with_roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Service accounts whose token Secrets are deleted.
    #[must_use]
    pub fn with_service_accounts<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: I,
    ) -> Self {
        self.service_accounts = names.into_iter().map(Into::into).collect();
        self
    }

    /// Firewall rules to delete.
    #[must_use]
    pub fn with_firewall_rules<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: I,
    ) -> Self {
        self.firewall_rules = names.into_iter().map(Into::into).collect();
        self
    }
}

/// The security procedure.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SecurityResponse {
    /// The cluster.
    pub kube: Kube,
    /// The database.
    pub db: Option<Db>,
    /// Azure.
    pub azure: Azure,
    /// Who is told (#security).
    pub signals: Signals,
    /// The rules.
    pub policy: Policy,
}

fn confirm(step: Step, word: &str) -> Step {
    match ConfirmWord::new(word) {
        Ok(w) => step.with_confirm(w),
        Err(_) => step,
    }
}

impl SecurityResponse {
    /// The procedure.
    pub fn new(kube: Kube, db: Option<Db>, azure: Azure, signals: Signals, policy: Policy) -> Self {
        Self {
            kube,
            db,
            azure,
            signals,
            policy,
        }
    }

    async fn tell(&self, run: &Executor, title: String) {
        let note = Notification::new(
            Channel::security(),
            Action::Post,
            Severity::Critical,
            title,
            "security",
            run.now(),
        );
        notify_all(run, "tell-security", &self.signals.notifiers, &note).await;
    }

    /// Blocks `cidrs` at `ingress` (the denylist annotation).
    pub async fn isolate(&self, run: &Executor, ingress: &str, cidrs: &[String]) -> Report {
        let started = run.now();
        let mut plan = Plan::new("security-isolate");
        plan.push(access::access_step(&self.kube, SECURITY_ROLE));
        if let Err(denied) = access::verify(run, &self.kube, SECURITY_ROLE).await {
            return denied.report(run, plan, &self.policy, started);
        }
        let step = confirm(
            Step::change(
                "block",
                &format!("ingress/{}/{ingress}", self.kube.namespace),
                format!("deny {}", cidrs.join(", ")),
            )
            .with_after(cidrs),
            "ISOLATE",
        );
        plan.push(step.clone());
        let opts = DenylistOptions::default().with_dry_run(run.is_dry_run());
        if run
            .change(step, || {
                self.kube.networking.block_cidrs(ingress, cidrs, Some(opts))
            })
            .await
            .is_ok()
            && !run.is_dry_run()
        {
            self.tell(
                run,
                format!("blocked {} at ingress {ingress}", cidrs.join(", ")),
            )
            .await;
        }
        Report::from_run(run, plan, &self.policy, Vec::new(), started)
    }

    /// Collects the security evidence; the activity log covers `window` before now.
    pub async fn assess(&self, run: &Executor, window: Duration) -> (Report, SecurityEvidence) {
        let started = run.now();
        let mut plan = Plan::new("security-assess");
        plan.push(access::access_step(&self.kube, SECURITY_ROLE));
        if let Err(denied) = access::verify(run, &self.kube, SECURITY_ROLE).await {
            return (
                denied.report(run, plan, &self.policy, started),
                SecurityEvidence::default(),
            );
        }
        let mut ev = SecurityEvidence::default();
        if let Some(db) = &self.db {
            let s = Step::read(
                "roles",
                &db.name,
                "roles, attributes, sessions, statement totals",
            );
            plan.push(s.clone());
            ev.roles = run.read(s, db.security.roles(None)).await.ok();
            let s = Step::read(
                "connections",
                &db.name,
                "sessions by client address and role",
            );
            plan.push(s.clone());
            ev.connections = run
                .read(s, db.security.connections_by_source())
                .await
                .unwrap_or_default();
            let s = Step::read(
                "large-reads",
                &db.name,
                "statements that read the most rows",
            );
            plan.push(s.clone());
            ev.large_reads = run.read(s, db.security.large_reads(None)).await.ok();
        }
        let s = Step::read(
            "events",
            &format!("namespace/{}", self.kube.namespace),
            "warning events",
        );
        plan.push(s.clone());
        ev.events = run
            .read(
                s,
                self.kube
                    .events
                    .list_events(Some(EventOptions::default().with_warnings_only(true))),
            )
            .await
            .unwrap_or_default();
        if let Some(log) = &self.azure.activity {
            let end = started;
            let span = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::ZERO);
            let start = end.checked_sub(span).unwrap_or(Timestamp::UNIX_EPOCH);
            let s = Step::read(
                "activity-log",
                &format!("resourceGroups/{}", self.azure.resource_group),
                format!("activity log from {start} to {end}"),
            );
            plan.push(s.clone());
            let read = async {
                let filter =
                    ActivityFilter::resource_group(&self.azure.resource_group, start, end)?;
                log.list_activity(&filter, None)?
                    .try_collect::<Vec<_>>()
                    .await
            };
            ev.activity = run.read(s, read).await.unwrap_or_default();
        }
        (
            Report::from_run(run, plan, &self.policy, Vec::new(), started),
            ev,
        )
    }

    /// Disables roles, revokes service-account tokens and deletes firewall rules, each step
    /// confirmed and audited; stops at the first refusal or failure.
    pub async fn contain(&self, run: &Executor, what: &Containment) -> Report {
        let started = run.now();
        let mut plan = Plan::new("security-contain");
        plan.push(access::access_step(&self.kube, SECURITY_ROLE));
        if let Err(denied) = access::verify(run, &self.kube, SECURITY_ROLE).await {
            return denied.report(run, plan, &self.policy, started);
        }
        let ns = &self.kube.namespace;
        let dry = run.is_dry_run();
        let done = |plan: Plan| Report::from_run(run, plan, &self.policy, Vec::new(), started);
        if let Some(db) = &self.db {
            for role in &what.roles {
                let step = confirm(
                    Step::change(
                        &format!("disable-role.{role}"),
                        &format!("{}/role/{role}", db.name),
                        "NOLOGIN and end its sessions",
                    ),
                    "DISABLE",
                );
                plan.push(step.clone());
                let c = run.context();
                let request = if dry {
                    fleet_db::Request::dry_run(&c.actor, &c.reason)
                } else {
                    fleet_db::Request::execute(&c.actor, &c.reason)
                };
                let Ok(request) = request else {
                    run.skip(step, "actor or reason unusable for fleet-db");
                    return done(plan);
                };
                if run
                    .change(step, || db.remediation.disable_role(role, &request))
                    .await
                    .is_err()
                {
                    return done(plan);
                }
            }
        }
        for sa in &what.service_accounts {
            let s = Step::read(
                &format!("tokens.{sa}"),
                &format!("serviceaccount/{ns}/{sa}"),
                "its token Secrets",
            );
            plan.push(s.clone());
            let Ok(tokens) = run
                .read(s, self.kube.config.token_secrets(Some(sa.clone())))
                .await
            else {
                return done(plan);
            };
            for t in tokens {
                let step = confirm(
                    Step::change(
                        &format!("revoke.{}", t.name),
                        &format!("secret/{ns}/{}", t.name),
                        format!("delete the token Secret of {sa}"),
                    ),
                    "REVOKE",
                );
                plan.push(step.clone());
                let opts = ConfigDataOptions::default().with_dry_run(dry);
                if run
                    .change(step, || self.kube.config.delete_secret(&t.name, Some(opts)))
                    .await
                    .is_err()
                {
                    return done(plan);
                }
            }
        }
        if let Some(fw) = &self.azure.firewall {
            for rule in &what.firewall_rules {
                let step = confirm(
                    Step::change(
                        &format!("firewall.{rule}"),
                        &format!("firewallRules/{rule}"),
                        "delete the rule",
                    ),
                    "FIREWALL",
                );
                plan.push(step.clone());
                let act = || async {
                    let opts = BeginOptions {
                        dry_run: dry,
                        ..Default::default()
                    };
                    let poller = fw.begin_delete_firewall_rule(rule, Some(opts)).await?;
                    fleet_azure::follow(poller, |_| {}).await
                };
                if run.change(step, act).await.is_err() {
                    return done(plan);
                }
            }
        }
        if !dry {
            self.tell(
                run,
                format!(
                    "contained: roles {:?}, service accounts {:?}, firewall rules {:?}",
                    what.roles, what.service_accounts, what.firewall_rules
                ),
            )
            .await;
        }
        done(plan)
    }
}
