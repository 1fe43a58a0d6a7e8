//! [`Deployments`] over kube.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{ListParams, Patch};
use serde_json::json;

use super::rollout::{
    CHANGE_CAUSE_ANNOTATION, RESTARTED_AT_ANNOTATION, rollout_decision, rollout_revisions,
    select_undo_target, templates_equal, undo_patch,
};
use super::{
    ContainerResources, DeploymentInfo, Deployments, RolloutRestartOptions, RolloutRevision,
    RolloutState, RolloutStatusOptions, RolloutUndoOptions, ScaleOptions, SetImageOptions,
    UndoOutcome, UpdateResourcesOptions,
};
use crate::cluster::KubeCluster;
use crate::error::{Error, Result};
use crate::outcome::{WriteOutcome, verb};
use crate::selector::FieldSelector;
use crate::watch::{Change, Resumable};
use crate::{compat, quantity, validate};

impl KubeCluster {
    async fn read_deployment(&self, name: &str) -> Result<Deployment> {
        validate::object_name("deployment name", name)?;
        let api = self.api::<Deployment>();
        self.call(&format!("get deployment {name}"), || api.get(name))
            .await
    }

    /// The ReplicaSets matching the deployment's selector (ownership is checked later).
    async fn replica_sets_of(&self, d: &Deployment) -> Result<Vec<ReplicaSet>> {
        let name = d.metadata.name.as_deref().unwrap_or_default();
        let selector = compat::deployment_spec(d)
            .map(|s| s.selector.clone())
            .ok_or_else(|| Error::unexpected(format!("deployment {name}"), "has no spec"))?;
        let selector = kube::core::Selector::try_from(selector).map_err(|e| {
            Error::unexpected(format!("deployment {name}"), format!("selector: {e}"))
        })?;
        let api = self.api::<ReplicaSet>();
        let lp = ListParams::default().labels(&selector.to_string());
        self.list_all(&api, &lp, &format!("list replicasets of {name}"))
            .await
    }

    async fn patch_deployment(
        &self,
        name: &str,
        op: &str,
        patch: Patch<serde_json::Value>,
        dry_run: bool,
    ) -> Result<Deployment> {
        let api = self.api::<Deployment>();
        let pp = self.patch_params(dry_run);
        self.call(op, || api.patch(name, &pp, &patch)).await
    }

    fn container_must_exist(d: &Deployment, name: &str, container: &str) -> Result<()> {
        let found = compat::deployment_spec(d)
            .and_then(|s| s.template.spec.as_ref())
            .is_some_and(|s| s.containers.iter().any(|c| c.name == container));
        if found {
            Ok(())
        } else {
            Err(Error::NotFound {
                what: "container",
                detail: format!(
                    "unable to find container named {container:?} in deployment {name:?}"
                ),
            })
        }
    }

    /// kubectl's decision, with a passed progress deadline as an error.
    fn decide(d: &Deployment, revision: Option<i64>) -> Result<RolloutState> {
        let state = rollout_decision(d, revision)?;
        if let RolloutState::Failed { .. } = state {
            let message = d
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_deref())
                .unwrap_or(&[])
                .iter()
                .find(|c| compat::condition_type(c) == Some("Progressing"))
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            return Err(Error::ProgressDeadlineExceeded {
                name: d.metadata.name.clone().unwrap_or_default(),
                message,
            });
        }
        Ok(state)
    }

    /// `kubectl rollout status`: list the one object, decide, then watch and decide on every
    /// change (through the shared resumable watch).
    async fn wait_rollout(&self, name: &str, opts: &RolloutStatusOptions) -> Result<RolloutState> {
        let fields = FieldSelector::default().with_equals("metadata.name", name);
        let (mut watch, items) = Resumable::start(
            self.clone(),
            self.api::<Deployment>(),
            Some(fields.to_string()),
            format!("deployment {name}"),
        )
        .await?;
        let not_found = || Error::NotFound {
            what: "deployment",
            detail: format!(
                "deployments.apps {name:?} not found in {}",
                self.namespace()
            ),
        };
        let d = items.first().ok_or_else(not_found)?;
        let state = Self::decide(d, opts.revision)?;
        if state.is_complete() || !opts.watch {
            return Ok(state);
        }
        tracing::info!(deployment = name, "{}", state.message());
        loop {
            let d = match watch.next().await? {
                Change::Applied(d) => d,
                Change::Relisted(items) => items.into_iter().next().ok_or_else(not_found)?,
                Change::Deleted(_) => {
                    return Err(Error::Refused(format!(
                        "deployment {name:?}: object has been deleted"
                    )));
                }
            };
            let state = Self::decide(&d, opts.revision)?;
            if state.is_complete() {
                tracing::info!(deployment = name, "{}", state.message());
                return Ok(state);
            }
            tracing::info!(deployment = name, "{}", state.message());
        }
    }
}

#[async_trait::async_trait]
impl Deployments for KubeCluster {
    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name))]
    async fn get_deployment(&self, name: &str) -> Result<DeploymentInfo> {
        Ok(DeploymentInfo::from_deployment(
            &self.read_deployment(name).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name, container, image))]
    async fn set_image(
        &self,
        name: &str,
        container: &str,
        image: &str,
        options: Option<SetImageOptions>,
    ) -> Result<WriteOutcome<DeploymentInfo>> {
        let options = options.unwrap_or_default();
        validate::object_name("deployment name", name)?;
        validate::label_name("container name", container)?;
        validate::image(image)?;
        let dry_run = self.dry_run(options.dry_run);
        let d = self.read_deployment(name).await?;
        Self::container_must_exist(&d, name, container)?;
        let mut patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": container, "image": image}
        ]}}}});
        if let Some(cause) = &options.change_cause {
            patch["metadata"] = json!({"annotations": {CHANGE_CAUSE_ANNOTATION: cause}});
        }
        let d = self
            .patch_deployment(
                name,
                &format!("set image of deployment {name}"),
                Patch::Strategic(patch),
                dry_run,
            )
            .await?;
        tracing::info!(
            deployment = name,
            container,
            image,
            dry_run,
            "{}",
            verb(dry_run, "image set", "would set image")
        );
        Ok(WriteOutcome::new(
            DeploymentInfo::from_deployment(&d),
            dry_run,
        ))
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name))]
    async fn rollout_status(
        &self,
        name: &str,
        options: Option<RolloutStatusOptions>,
    ) -> Result<RolloutState> {
        let options = options.unwrap_or_default();
        validate::object_name("deployment name", name)?;
        tokio::time::timeout(options.timeout, self.wait_rollout(name, &options))
            .await
            .map_err(|_| Error::Timeout {
                op: format!("rollout status of deployment {name}"),
                after: options.timeout,
            })?
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name))]
    async fn rollout_history(&self, name: &str) -> Result<Vec<RolloutRevision>> {
        let d = self.read_deployment(name).await?;
        let rss = self.replica_sets_of(&d).await?;
        Ok(rollout_revisions(&d, &rss))
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name))]
    async fn rollout_undo(
        &self,
        name: &str,
        options: Option<RolloutUndoOptions>,
    ) -> Result<UndoOutcome> {
        let options = options.unwrap_or_default();
        let to = options.to_revision.unwrap_or(0);
        validate::object_name("deployment name", name)?;
        if to < 0 {
            return Err(Error::NotFound {
                what: "revision",
                detail: format!("unable to find specified revision {to} in history"),
            });
        }
        let d = self.read_deployment(name).await?;
        let rss = self.replica_sets_of(&d).await?;
        let history = rollout_revisions(&d, &rss);
        let target = select_undo_target(name, &history, to)?;
        let spec = compat::deployment_spec(&d)
            .ok_or_else(|| Error::unexpected(format!("deployment {name}"), "has no spec"))?;
        if spec.paused == Some(true) {
            return Err(Error::Refused(
                "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
                    .into(),
            ));
        }
        if templates_equal(&target.template, &spec.template) {
            tracing::info!(
                deployment = name,
                revision = target.revision,
                "skipped rollback: template already matches"
            );
            return Ok(UndoOutcome::Skipped {
                revision: target.revision,
            });
        }
        let rs_annotations = rss
            .iter()
            .find(|rs| rs.metadata.name.as_deref() == Some(target.replica_set.as_str()))
            .and_then(|rs| rs.metadata.annotations.clone())
            .unwrap_or_default();
        let patch = undo_patch(&d, &rs_annotations, &target.template);
        let ops = serde_json::from_value(patch)
            .map_err(|e| Error::unexpected("rollback patch", e.to_string()))?;
        let api = self.api::<Deployment>();
        let dry_run = self.dry_run(options.dry_run);
        let pp = self.patch_params(dry_run);
        let jp: Patch<()> = Patch::Json(ops);
        self.call(&format!("roll back deployment {name}"), || {
            api.patch(name, &pp, &jp)
        })
        .await?;
        tracing::info!(
            deployment = name,
            to_revision = target.revision,
            dry_run,
            "{}",
            verb(dry_run, "rolled back", "would roll back")
        );
        Ok(UndoOutcome::RolledBack {
            to_revision: target.revision,
            applied: !dry_run,
        })
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name))]
    async fn rollout_restart(
        &self,
        name: &str,
        options: Option<RolloutRestartOptions>,
    ) -> Result<WriteOutcome<Timestamp>> {
        let options = options.unwrap_or_default();
        let dry_run = self.dry_run(options.dry_run);
        let d = self.read_deployment(name).await?;
        let spec = compat::deployment_spec(&d)
            .ok_or_else(|| Error::unexpected(format!("deployment {name}"), "has no spec"))?;
        if spec.paused == Some(true) {
            return Err(Error::Refused(
                "can't restart paused deployment (run rollout resume first)".into(),
            ));
        }
        // Seconds precision, as kubectl writes it.
        let now = Timestamp::from_second(Timestamp::now().as_second())
            .map_err(|e| Error::unexpected("the current time", e.to_string()))?;
        let text = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let current = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_AT_ANNOTATION));
        if current == Some(&text) {
            return Err(Error::Refused(format!(
                "failed to create patch for deployment {name:?}: if restart has already been triggered within the past second, please wait before attempting to trigger another"
            )));
        }
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: text}}}}});
        self.patch_deployment(
            name,
            &format!("restart deployment {name}"),
            Patch::Strategic(patch),
            dry_run,
        )
        .await?;
        tracing::info!(
            deployment = name,
            restarted_at = %text,
            dry_run,
            "{}",
            verb(dry_run, "restarted", "would restart")
        );
        Ok(WriteOutcome::new(now, dry_run))
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name, replicas))]
    async fn scale(
        &self,
        name: &str,
        replicas: u32,
        options: Option<ScaleOptions>,
    ) -> Result<WriteOutcome<u32>> {
        let options = options.unwrap_or_default();
        validate::object_name("deployment name", name)?;
        let n = validate::replicas("replicas", replicas, self.opts.max_replicas)?;
        let dry_run = self.dry_run(options.dry_run);
        let api = self.api::<Deployment>();
        let pp = self.patch_params(dry_run);
        let patch = Patch::Merge(json!({"spec": {"replicas": n}}));
        let scale = self
            .call(&format!("scale deployment {name}"), || {
                api.patch_scale(name, &pp, &patch)
            })
            .await?;
        tracing::info!(
            deployment = name,
            replicas,
            dry_run,
            "{}",
            verb(dry_run, "scaled", "would scale")
        );
        let answered = scale
            .spec
            .and_then(|s| s.replicas)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(replicas);
        Ok(WriteOutcome::new(answered, dry_run))
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), deployment = name, container))]
    async fn update_resources(
        &self,
        name: &str,
        container: &str,
        resources: &ContainerResources,
        options: Option<UpdateResourcesOptions>,
    ) -> Result<WriteOutcome<DeploymentInfo>> {
        let options = options.unwrap_or_default();
        validate::object_name("deployment name", name)?;
        validate::label_name("container name", container)?;
        let dry_run = self.dry_run(options.dry_run);
        let mut requests = serde_json::Map::new();
        let mut limits = serde_json::Map::new();
        let entries = [
            (&resources.cpu_request, "cpu", true, true),
            (&resources.memory_request, "memory", false, true),
            (&resources.cpu_limit, "cpu", true, false),
            (&resources.memory_limit, "memory", false, false),
        ];
        for (value, key, is_cpu, is_request) in entries {
            if let Some(v) = value {
                if is_cpu {
                    quantity::cpu_millicores(v)?;
                } else {
                    quantity::memory_bytes(v)?;
                }
                let map = if is_request {
                    &mut requests
                } else {
                    &mut limits
                };
                map.insert(key.into(), json!(v));
            }
        }
        if requests.is_empty() && limits.is_empty() {
            return Err(Error::invalid(
                "resources",
                "{}",
                "set at least one request or limit",
            ));
        }
        let d = self.read_deployment(name).await?;
        Self::container_must_exist(&d, name, container)?;
        let mut res = serde_json::Map::new();
        if !requests.is_empty() {
            res.insert("requests".into(), requests.into());
        }
        if !limits.is_empty() {
            res.insert("limits".into(), limits.into());
        }
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": container, "resources": res}]}}}});
        let d = self
            .patch_deployment(
                name,
                &format!("update resources of deployment {name}"),
                Patch::Strategic(patch),
                dry_run,
            )
            .await?;
        tracing::info!(
            deployment = name,
            container,
            resources = %resources,
            dry_run,
            "{}",
            verb(dry_run, "resources changed", "would change resources")
        );
        Ok(WriteOutcome::new(
            DeploymentInfo::from_deployment(&d),
            dry_run,
        ))
    }
}
