//! Credential rotation end to end, ordered so that the application always has a working
//! credential: the new value exists in Key Vault before the database accepts it, the database
//! accepts it before the pods are given it, and the old version is retired only after the new
//! credential is proven to work and the old one to be refused. A failure undoes what would
//! leave the application with a credential the database rejects (a new Key Vault version that
//! is not in use is disabled and the old value stored again as the newest version, so that
//! readers of the latest version, and the next rotation, find a working one), and the report
//! names the step where it stopped.
//!
//! The first step is `verify-access`: without every permission of the `rotation` Role
//! (`docs/rbac.md`: `patch` the Secret, `get`/`patch` deployments for the restart, `get`/
//! `list`/`watch` deployments for the rollout wait) the run stops there, status `forbidden`,
//! before a new Key Vault version exists or the database is touched.

use std::sync::Arc;
use std::time::Duration;

use fleet_azure::{SecretForm, SecretValue, Secrets, SetSecretOptions};
use fleet_guard::{ConfirmWord, Executor, Plan, Step};
use fleet_k8s::{ConfigDataOptions, RolloutRestartOptions, RolloutStatusOptions};
use fleet_policy::Policy;

use crate::procedures::access;
use crate::procedures::deps::{Db, Kube, Signals};
use crate::report::Report;

/// The rotation's Role in `PROCEDURE_PERMISSIONS`.
const ROTATION_ROLE: &str = "rotation";

/// What is rotated, where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationTarget {
    /// The Key Vault secret holding the password (`fleet-db-password`).
    pub vault_secret: String,
    /// The database role whose password it is.
    pub db_role: String,
    /// The Kubernetes Secret the pods read it from.
    pub k8s_secret: String,
    /// The key in that Secret (`password`).
    pub k8s_key: String,
    /// The deployments restarted to pick it up.
    pub deployments: Vec<String>,
    /// The shape of the new value.
    pub form: SecretForm,
    /// How long each restarted rollout may take.
    pub rollout_timeout: Duration,
}

impl RotationTarget {
    /// A password of 32 characters for `db_role`, kept in `vault_secret` and in
    /// `k8s_secret`'s `password` key, used by `deployments`.
    pub fn new(
        vault_secret: impl Into<String>,
        db_role: impl Into<String>,
        k8s_secret: impl Into<String>,
        deployments: Vec<String>,
    ) -> Self {
        Self {
            vault_secret: vault_secret.into(),
            db_role: db_role.into(),
            k8s_secret: k8s_secret.into(),
            k8s_key: "password".into(),
            deployments,
            form: SecretForm::Password { length: 32 },
            rollout_timeout: Duration::from_secs(300),
        }
    }
}

/// The rotation procedure.
#[derive(Clone)]
#[non_exhaustive]
pub struct CredentialRotation {
    /// The cluster (the Secret, the deployments).
    pub kube: Kube,
    /// The database (password change, login checks).
    pub db: Db,
    /// Key Vault.
    pub vault: Arc<dyn Secrets>,
    /// Who is told.
    pub signals: Signals,
    /// The rules (lint and waivers of the report).
    pub policy: Policy,
    /// What is rotated.
    pub target: RotationTarget,
}

impl std::fmt::Debug for CredentialRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRotation")
            .field("kube", &self.kube)
            .field("db", &self.db)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn word(w: &str) -> Option<ConfirmWord> {
    ConfirmWord::new(w).ok()
}

impl CredentialRotation {
    /// The procedure.
    pub fn new(
        kube: Kube,
        db: Db,
        vault: Arc<dyn Secrets>,
        signals: Signals,
        policy: Policy,
        target: RotationTarget,
    ) -> Self {
        Self {
            kube,
            db,
            vault,
            signals,
            policy,
            target,
        }
    }

    fn steps(&self) -> Vec<Step> {
        let t = &self.target;
        let ns = &self.kube.namespace;
        let secret = format!("keyvault/secrets/{}", t.vault_secret);
        let role = format!("{}/role/{}", self.db.name, t.db_role);
        let k8s = format!("secret/{ns}/{}", t.k8s_secret);
        let mut steps = vec![
            Step::read(
                "read-current",
                &secret,
                "the current version (the credential in use)",
            ),
            Step::change(
                "new-version",
                &secret,
                "store a newly generated value as a new version",
            ),
            {
                let s = Step::change(
                    "db-password",
                    &role,
                    "set the role's password to the new value (SCRAM verifier, the password never sent)",
                );
                match word("ROTATE") {
                    Some(w) => s.with_confirm(w),
                    None => s,
                }
            },
            Step::change(
                "k8s-secret",
                &k8s,
                format!("set key {} to the new value", t.k8s_key),
            ),
        ];
        for d in &t.deployments {
            steps.push(Step::change(
                &format!("restart.{d}"),
                &format!("deployment/{ns}/{d}"),
                "rollout restart",
            ));
            steps.push(Step::wait(
                &format!("rollout.{d}"),
                &format!("deployment/{ns}/{d}"),
                "wait for the restarted rollout",
            ));
        }
        steps.push(Step::wait(
            "verify-new",
            &role,
            "log in with the new credential",
        ));
        steps.push(Step::wait(
            "verify-old-rejected",
            &role,
            "log in with the old credential: must be refused",
        ));
        steps.push(Step::change(
            "retire-old",
            &secret,
            "disable the old version",
        ));
        steps
    }

    /// The plan: every step, its object, and the compensations on failure.
    pub fn plan(&self) -> Plan {
        let mut plan = Plan::new("rotate-credentials");
        plan.push(access::access_step(&self.kube, ROTATION_ROLE));
        for s in self.steps() {
            plan.push(s);
        }
        plan.note("new-version fails: nothing changed");
        plan.note("db-password fails: the new Key Vault version is disabled and the old value stored again as the newest; the old credential still works");
        plan.note("k8s-secret fails: the role's password is set back to the old value, the new version disabled and the old value stored again as the newest");
        plan.note("a restart fails: the Secret and the role already agree on the new value; the old version is not retired");
        plan.note("verify-new fails: the role, the Secret and the pods go back to the old value, the new version is disabled and the old value stored again as the newest");
        plan.note("verify-old-rejected fails: the old version is kept enabled and the report says the old credential still works");
        plan
    }

    fn db_request(&self, run: &Executor) -> Option<fleet_db::Request> {
        let c = run.context();
        if run.is_dry_run() {
            fleet_db::Request::dry_run(&c.actor, &c.reason).ok()
        } else {
            fleet_db::Request::execute(&c.actor, &c.reason).ok()
        }
    }

    async fn set_db_password(&self, run: &Executor, step: Step, value: &SecretValue) -> bool {
        let Some(request) = self.db_request(run) else {
            run.skip(step, "actor or reason unusable for fleet-db");
            return false;
        };
        let secret = fleet_db::Secret::new(value.expose());
        run.change(step, || {
            self.db
                .remediation
                .change_password(&self.target.db_role, &secret, &request)
        })
        .await
        .is_ok()
    }

    async fn set_k8s_secret(&self, run: &Executor, step: Step, value: &SecretValue) -> bool {
        let opts = ConfigDataOptions::default().with_dry_run(run.is_dry_run());
        run.change(step, || {
            self.kube.config.set_secret_value(
                &self.target.k8s_secret,
                &self.target.k8s_key,
                value.expose(),
                Some(opts),
            )
        })
        .await
        .is_ok()
    }

    async fn restart(&self, run: &Executor, suffix: &str) -> bool {
        let ns = &self.kube.namespace;
        for d in &self.target.deployments {
            let target = format!("deployment/{ns}/{d}");
            let opts = RolloutRestartOptions::default().with_dry_run(run.is_dry_run());
            let restarted = run
                .change(
                    Step::change(&format!("restart{suffix}.{d}"), &target, "rollout restart"),
                    || self.kube.deployments.rollout_restart(d, Some(opts)),
                )
                .await;
            if restarted.is_err() {
                return false;
            }
            let wait = RolloutStatusOptions::default().with_timeout(self.target.rollout_timeout);
            let done = run
                .wait(
                    Step::wait(
                        &format!("rollout{suffix}.{d}"),
                        &target,
                        "wait for the restarted rollout",
                    ),
                    || self.kube.deployments.rollout_status(d, Some(wait.clone())),
                )
                .await;
            if done.is_err() {
                return false;
            }
        }
        true
    }

    async fn disable_version(&self, run: &Executor, id: &str, version: &str, why: &str) -> bool {
        let secret = format!("keyvault/secrets/{}", self.target.vault_secret);
        let step = Step::change(id, &secret, format!("disable version {version}: {why}"))
            .with_before(true)
            .with_after(false);
        let opts = fleet_azure::ChangeOptions {
            dry_run: run.is_dry_run(),
            ..Default::default()
        };
        run.change(step, || {
            self.vault
                .set_version_enabled(&self.target.vault_secret, version, false, Some(opts))
        })
        .await
        .is_ok()
    }

    /// Takes back a new version that is not in use: disables it, then stores the old value
    /// again as the newest version, since readers of the secret's latest version (an
    /// application, a CSI driver, the next rotation) would otherwise find a disabled one.
    async fn undo_new_version(&self, run: &Executor, version: &str, why: &str, old: &SecretValue) {
        self.disable_version(run, "undo.new-version", version, why)
            .await;
        let secret = format!("keyvault/secrets/{}", self.target.vault_secret);
        let step = Step::change(
            "undo.latest",
            &secret,
            "store the old value again as the newest version",
        );
        let opts = SetSecretOptions {
            dry_run: run.is_dry_run(),
            ..Default::default()
        };
        let _ = run
            .change(step, || {
                self.vault
                    .set_secret(&self.target.vault_secret, old, Some(opts))
            })
            .await;
    }

    /// Runs the rotation. Never returns early with an error: where it stopped and what it
    /// undid are the report's steps.
    pub async fn run(&self, run: &Executor) -> Report {
        let started = run.now();
        let plan = self.plan();
        if let Err(denied) = access::verify(run, &self.kube, ROTATION_ROLE).await {
            return denied.report(run, plan, &self.policy, started);
        }
        let t = &self.target;
        let mut steps = self.steps().into_iter();
        let mut next = || steps.next().unwrap_or_else(|| Step::read("?", "?", "?"));

        // 1. The credential in use.
        let current = run
            .read(next(), self.vault.get_secret(&t.vault_secret, None))
            .await;
        let Ok(current) = current else {
            return Report::from_run(run, plan, &self.policy, Vec::new(), started);
        };
        let old_value = current.value;
        let old_version = current.version.version;

        // 2. A new version.
        let new_value = match t.form.generate() {
            Ok(v) => v,
            Err(e) => {
                run.skip(next(), format!("no value generated: {e}"));
                return Report::from_run(run, plan, &self.policy, Vec::new(), started);
            }
        };
        let opts = SetSecretOptions {
            dry_run: run.is_dry_run(),
            ..Default::default()
        };
        let stored = run
            .change(next(), || {
                self.vault
                    .set_secret(&t.vault_secret, &new_value, Some(opts))
            })
            .await;
        let new_version = match stored {
            Ok(fleet_guard::Applied::Done(out)) => out.applied().map(|v| v.version),
            Ok(fleet_guard::Applied::DryRun) => None,
            Err(_) => return Report::from_run(run, plan, &self.policy, Vec::new(), started),
        };

        // 3. The database accepts it.
        if !self.set_db_password(run, next(), &new_value).await {
            if let Some(v) = &new_version {
                self.undo_new_version(run, v, "the database did not take it", &old_value)
                    .await;
            }
            return Report::from_run(run, plan, &self.policy, Vec::new(), started);
        }

        // 4. The pods are given it.
        if !self.set_k8s_secret(run, next(), &new_value).await {
            let step = Step::change(
                "undo.db-password",
                &format!("{}/role/{}", self.db.name, t.db_role),
                "set the role's password back to the old value",
            );
            self.set_db_password(run, step, &old_value).await;
            if let Some(v) = &new_version {
                self.undo_new_version(run, v, "the Secret was not updated", &old_value)
                    .await;
            }
            return Report::from_run(run, plan, &self.policy, Vec::new(), started);
        }

        // 5. They restart with it.
        if !self.restart(run, "").await {
            return Report::from_run(run, plan, &self.policy, Vec::new(), started);
        }
        for _ in &t.deployments {
            next();
            next();
        }

        // 6. The new credential works; the old one is refused.
        let new_db = fleet_db::Secret::new(new_value.expose());
        let verified = run
            .wait(next(), || self.db.security.check_login(&t.db_role, &new_db))
            .await;
        if verified.is_err() {
            let role = format!("{}/role/{}", self.db.name, t.db_role);
            self.set_db_password(
                run,
                Step::change(
                    "undo.db-password",
                    &role,
                    "set the role's password back to the old value",
                ),
                &old_value,
            )
            .await;
            let k8s = format!("secret/{}/{}", self.kube.namespace, t.k8s_secret);
            self.set_k8s_secret(
                run,
                Step::change("undo.k8s-secret", &k8s, "set the key back to the old value"),
                &old_value,
            )
            .await;
            self.restart(run, ".undo").await;
            if let Some(v) = &new_version {
                self.undo_new_version(run, v, "the new credential was refused", &old_value)
                    .await;
            }
            return Report::from_run(run, plan, &self.policy, Vec::new(), started);
        }
        let old_db = fleet_db::Secret::new(old_value.expose());
        let rejected = run
            .wait(next(), || async {
                match self.db.security.check_login(&t.db_role, &old_db).await {
                    Ok(_) => Err("the old credential is still accepted".to_owned()),
                    Err(e) if e.is_auth() => Ok(()),
                    Err(e) => Err(format!("could not check the old credential: {e}")),
                }
            })
            .await;
        if rejected.is_err() {
            return Report::from_run(run, plan, &self.policy, Vec::new(), started);
        }

        // 7. Only now is the old version retired.
        self.disable_version(run, &next().id, &old_version, "rotated")
            .await;
        Report::from_run(run, plan, &self.policy, Vec::new(), started)
    }
}
