//! Deployments: state, image updates, and kubectl's rollout algorithms (status, history,
//! undo, restart), scaling through the scale subresource, and vertical resource changes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::compat;
use crate::error::{Error, Result};

/// Annotation holding a ReplicaSet's (and the deployment's) revision number.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Annotation holding the change cause shown by `rollout history`.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
/// Pod-template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
/// Label the deployment controller adds to each ReplicaSet's template.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Deployment annotations `rollout undo` keeps from the deployment instead of copying them
/// from the target ReplicaSet (kubectl's list).
pub const UNDO_SKIPPED_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// A container and its image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ContainerImage {
    /// Container name.
    pub container: String,
    /// Image reference.
    pub image: String,
}

/// A status condition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Condition {
    /// `Available`, `Progressing`, `ReplicaFailure`.
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Reason.
    pub reason: Option<String>,
    /// Message.
    pub message: Option<String>,
}

/// Where a rollout stands, decided as `kubectl rollout status` decides it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum RolloutState {
    /// Every replica is updated and available.
    Complete {
        /// kubectl's message.
        message: String,
    },
    /// Still rolling out.
    Progressing {
        /// kubectl's waiting message.
        message: String,
    },
    /// The progress deadline passed.
    Failed {
        /// kubectl's message.
        message: String,
    },
}

impl RolloutState {
    /// kubectl's message for this state.
    pub fn message(&self) -> &str {
        match self {
            RolloutState::Complete { message }
            | RolloutState::Progressing { message }
            | RolloutState::Failed { message } => message,
        }
    }
    /// Whether the rollout finished successfully.
    pub fn is_complete(&self) -> bool {
        matches!(self, RolloutState::Complete { .. })
    }
}

/// A deployment with its rollout state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct DeploymentInfo {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Desired replicas (`spec.replicas`, 1 when unset).
    pub replicas: i32,
    /// `status.replicas`.
    pub current_replicas: i32,
    /// `status.updatedReplicas`.
    pub updated_replicas: i32,
    /// `status.readyReplicas`.
    pub ready_replicas: i32,
    /// `status.availableReplicas`.
    pub available_replicas: i32,
    /// The deployment's revision annotation.
    pub revision: Option<i64>,
    /// `spec.paused`.
    pub paused: bool,
    /// Images of the pod template's containers.
    pub images: Vec<ContainerImage>,
    /// Status conditions.
    pub conditions: Vec<Condition>,
    /// Rollout state by kubectl's decision order.
    pub rollout: RolloutState,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration`.
    pub observed_generation: i64,
    /// Creation time.
    pub created: Option<Timestamp>,
    /// The object as read, for callers that need more.
    #[serde(skip)]
    pub raw: Deployment,
}

impl DeploymentInfo {
    /// Reads a deployment.
    pub fn from_deployment(d: &Deployment) -> Self {
        let spec = compat::deployment_spec(d);
        let st = d.status.as_ref();
        let conditions = st
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or(&[])
            .iter()
            .map(|c| Condition {
                type_: compat::condition_type(c).unwrap_or_default().to_string(),
                status: compat::condition_status(c).unwrap_or_default().to_string(),
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
            .collect();
        let rollout = match rollout_decision(d, None) {
            Ok(s) => s,
            Err(e) => RolloutState::Failed {
                message: e.to_string(),
            },
        };
        DeploymentInfo {
            name: d.metadata.name.clone().unwrap_or_default(),
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            current_replicas: st.and_then(|s| s.replicas).unwrap_or(0),
            updated_replicas: st.and_then(|s| s.updated_replicas).unwrap_or(0),
            ready_replicas: st.and_then(|s| s.ready_replicas).unwrap_or(0),
            available_replicas: st.and_then(|s| s.available_replicas).unwrap_or(0),
            revision: revision_of(d.metadata.annotations.as_ref()).ok().flatten(),
            paused: spec.and_then(|s| s.paused).unwrap_or(false),
            images: spec
                .map(|s| template_images(&s.template))
                .unwrap_or_default(),
            conditions,
            rollout,
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: st.and_then(|s| s.observed_generation).unwrap_or(0),
            created: d.metadata.creation_timestamp.as_ref().map(|t| t.0),
            raw: d.clone(),
        }
    }
}

pub(crate) fn template_images(t: &PodTemplateSpec) -> Vec<ContainerImage> {
    t.spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| ContainerImage {
                    container: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The revision annotation: `Ok(None)` when absent (kubectl then counts it as 0), an error when
/// it is not an integer.
fn revision_of(ann: Option<&BTreeMap<String, String>>) -> std::result::Result<Option<i64>, String> {
    match ann.and_then(|a| a.get(REVISION_ANNOTATION)) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| v.clone()),
    }
}

/// Decides a deployment's rollout state exactly in `kubectl rollout status`'s order. With
/// `revision`, the deployment's revision must match (kubectl's `--revision`).
pub fn rollout_decision(d: &Deployment, revision: Option<i64>) -> Result<RolloutState> {
    let name = d.metadata.name.clone().unwrap_or_default();
    if let Some(want) = revision.filter(|r| *r > 0) {
        let have = revision_of(d.metadata.annotations.as_ref())
            .ok()
            .flatten()
            .unwrap_or(0);
        if have != want {
            return Err(Error::Refused(format!(
                "desired revision ({want}) is different from the running revision ({have})"
            )));
        }
    }
    let st = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if generation > st.observed_generation.unwrap_or(0) {
        return Ok(RolloutState::Progressing {
            message: "Waiting for deployment spec update to be observed...".into(),
        });
    }
    let progressing = st
        .conditions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|c| compat::condition_type(c) == Some("Progressing"));
    if let Some(c) = progressing
        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return Ok(RolloutState::Failed {
            message: format!("deployment {name:?} exceeded its progress deadline"),
        });
    }
    let spec_replicas = compat::deployment_spec(d).and_then(|s| s.replicas);
    let updated = st.updated_replicas.unwrap_or(0);
    let replicas = st.replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    if let Some(want) = spec_replicas
        && updated < want
    {
        return Ok(RolloutState::Progressing {
            message: format!(
                "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated..."
            ),
        });
    }
    if replicas > updated {
        return Ok(RolloutState::Progressing {
            message: format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        });
    }
    if available < updated {
        return Ok(RolloutState::Progressing {
            message: format!(
                "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        });
    }
    Ok(RolloutState::Complete {
        message: format!("deployment {name:?} successfully rolled out"),
    })
}

/// One entry of `kubectl rollout history`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct RolloutRevision {
    /// Revision number (0 when the ReplicaSet has no revision annotation).
    pub revision: i64,
    /// The ReplicaSet holding it.
    pub replica_set: String,
    /// Images of its template.
    pub images: Vec<ContainerImage>,
    /// `kubernetes.io/change-cause`, if recorded.
    pub change_cause: Option<String>,
    /// When the ReplicaSet was created.
    pub created: Option<Timestamp>,
    /// Whether this is the template the deployment runs now.
    pub current: bool,
    /// The pod template of this revision.
    #[serde(skip)]
    pub template: PodTemplateSpec,
}

/// Whether `rs` is controlled by the deployment with `uid`.
fn controlled_by(rs: &ReplicaSet, uid: &str) -> bool {
    rs.metadata
        .owner_references
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

/// A template as JSON without the `pod-template-hash` label and with empty values dropped, so
/// that templates compare the way kubectl's semantic equality does (nil equals empty).
fn normalized_template(t: &PodTemplateSpec) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(labels) = v
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    prune(&mut v);
    v
}

fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for x in m.values_mut() {
                prune(x);
            }
            m.retain(|_, x| !is_empty_value(x));
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Whether two templates are equal ignoring the `pod-template-hash` label.
pub fn templates_equal(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalized_template(a) == normalized_template(b)
}

/// The deployment's revisions from its ReplicaSets, as `kubectl rollout history` gathers them:
/// only ReplicaSets the deployment controls; a missing revision annotation counts as 0; an
/// unparsable one is skipped (with a warning). Sorted by revision, ascending.
pub fn revisions(deploy: &Deployment, replica_sets: &[ReplicaSet]) -> Vec<RolloutRevision> {
    let uid = deploy.metadata.uid.as_deref().unwrap_or("");
    let current_template = compat::deployment_spec(deploy).map(|s| &s.template);
    let mut owned: Vec<&ReplicaSet> = replica_sets
        .iter()
        .filter(|rs| controlled_by(rs, uid))
        .collect();
    owned.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        ta.cmp(&tb)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    // The "new" ReplicaSet is the oldest one whose template matches the deployment's.
    let new_rs = owned.iter().position(|rs| {
        match (
            compat::replica_set_spec(rs).and_then(|s| s.template.as_ref()),
            current_template,
        ) {
            (Some(a), Some(b)) => templates_equal(a, b),
            _ => false,
        }
    });
    let mut out = Vec::new();
    for (i, rs) in owned.iter().enumerate() {
        let rev = match revision_of(rs.metadata.annotations.as_ref()) {
            Ok(r) => r.unwrap_or(0),
            Err(bad) => {
                tracing::warn!(replica_set = ?rs.metadata.name, value = %bad, "skipping a ReplicaSet with an unparsable revision");
                continue;
            }
        };
        let template = compat::replica_set_spec(rs)
            .and_then(|s| s.template.clone())
            .unwrap_or_default();
        out.push(RolloutRevision {
            revision: rev,
            replica_set: rs.metadata.name.clone().unwrap_or_default(),
            images: template_images(&template),
            change_cause: rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(CHANGE_CAUSE_ANNOTATION))
                .filter(|c| !c.is_empty())
                .cloned(),
            created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            current: Some(i) == new_rs,
            template,
        });
    }
    out.sort_by_key(|r| r.revision);
    out
}

/// Picks the revision `rollout undo` goes back to: `to_revision` when positive, else the
/// second-highest revision (kubectl's single pass over latest and previous).
pub fn select_undo_target<'a>(
    deployment: &str,
    history: &'a [RolloutRevision],
    to_revision: i64,
) -> Result<&'a RolloutRevision> {
    if to_revision < 0 {
        return Err(Error::NotFound {
            what: "revision",
            detail: format!("unable to find specified revision {to_revision} in history"),
        });
    }
    if to_revision > 0 {
        return history
            .iter()
            .find(|r| r.revision == to_revision)
            .ok_or_else(|| Error::NotFound {
                what: "revision",
                detail: format!("unable to find specified revision {to_revision} in history"),
            });
    }
    let mut latest: Option<&RolloutRevision> = None;
    let mut previous: Option<&RolloutRevision> = None;
    for r in history {
        if latest.is_none_or(|l| l.revision < r.revision) {
            previous = latest;
            latest = Some(r);
        } else if previous.is_none_or(|p| p.revision < r.revision) {
            previous = Some(r);
        }
    }
    previous.ok_or_else(|| Error::NotFound {
        what: "rollout history",
        detail: format!("no rollout history found for deployment {deployment:?}"),
    })
}

/// The JSON patch `rollout undo` sends: replace the template (without `pod-template-hash`) and
/// the annotations (skipped ones kept from the deployment, the rest from the ReplicaSet).
pub fn undo_patch(
    deploy: &Deployment,
    target_rs_annotations: &BTreeMap<String, String>,
    target: &PodTemplateSpec,
) -> Value {
    let mut template = target.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let current = deploy.metadata.annotations.clone().unwrap_or_default();
    let mut annotations = BTreeMap::new();
    for k in UNDO_SKIPPED_ANNOTATIONS {
        if let Some(v) = current.get(k) {
            annotations.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in target_rs_annotations {
        if !UNDO_SKIPPED_ANNOTATIONS.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    serde_json::json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])
}

/// What `rollout undo` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum UndoOutcome {
    /// The template was replaced by the target revision's.
    RolledBack {
        /// The revision rolled back to (it comes back as a new, highest revision).
        to_revision: i64,
        /// Whether this was a server-side dry run.
        dry_run: bool,
    },
    /// Nothing to do: "skipped rollback (current template already matches revision N)".
    Skipped {
        /// The matching revision.
        revision: i64,
    },
}

/// Options of [`Deployments::rollout_undo`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UndoOptions {
    /// Revision to go back to; `None` (or 0) means the previous one.
    pub to_revision: Option<i64>,
    /// Send the patch with `dryRun=All`.
    pub dry_run: bool,
}

impl UndoOptions {
    /// Back to the previous revision.
    pub fn previous() -> Self {
        Self::default()
    }
    /// Back to a given revision.
    pub fn to(revision: i64) -> Self {
        Self {
            to_revision: Some(revision),
            dry_run: false,
        }
    }
    /// As a server-side dry run.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }
}

/// An image change (`kubectl set image deployment/NAME CONTAINER=IMAGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetImage {
    /// Container to change.
    pub container: String,
    /// New image.
    pub image: String,
    /// Recorded as `kubernetes.io/change-cause` (shown by `rollout history`).
    pub change_cause: Option<String>,
}

impl SetImage {
    /// Changes `container` to `image`.
    pub fn new(container: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            container: container.into(),
            image: image.into(),
            change_cause: None,
        }
    }
    /// Records a change cause.
    #[must_use]
    pub fn change_cause(mut self, cause: impl Into<String>) -> Self {
        self.change_cause = Some(cause.into());
        self
    }
}

/// How to wait in [`Deployments::rollout_status`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolloutWait {
    /// Give up after this long (`None`: wait forever, kubectl's `--timeout=0`).
    pub timeout: Option<Duration>,
    /// Require this revision (kubectl's `--revision`).
    pub revision: Option<i64>,
    /// Return the current state at once instead of waiting (`--watch=false`).
    pub no_wait: bool,
}

impl RolloutWait {
    /// Waits up to `timeout`.
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::default()
        }
    }
    /// Reads the state once.
    pub fn once() -> Self {
        Self {
            no_wait: true,
            ..Self::default()
        }
    }
}

/// Container resources for vertical scaling; each value is a Kubernetes quantity (`500m`,
/// `1Gi`). Unset values are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerResources {
    /// `requests.cpu`.
    pub cpu_request: Option<String>,
    /// `requests.memory`.
    pub memory_request: Option<String>,
    /// `limits.cpu`.
    pub cpu_limit: Option<String>,
    /// `limits.memory`.
    pub memory_limit: Option<String>,
}

impl ContainerResources {
    /// The runbook's default vertical step: requests 512Mi / 500m, limits 1Gi / 1000m.
    pub fn runbook_default_step() -> Self {
        Self {
            cpu_request: Some("500m".into()),
            memory_request: Some("512Mi".into()),
            cpu_limit: Some("1000m".into()),
            memory_limit: Some("1Gi".into()),
        }
    }
}

/// Deployment operations.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Deployments: Send + Sync {
    /// The deployment with its rollout state.
    async fn get_deployment(&self, name: &str) -> Result<DeploymentInfo>;
    /// Changes a container's image (strategic merge patch, as `kubectl set image`), recording
    /// the change cause when given. Fails with a not-found error naming the container when
    /// the template has no such container.
    async fn set_image(&self, name: &str, change: &SetImage) -> Result<DeploymentInfo>;
    /// Waits for the rollout in `kubectl rollout status`'s decision order; a passed progress
    /// deadline is [`Error::ProgressDeadlineExceeded`], a passed timeout [`Error::Timeout`].
    async fn rollout_status(&self, name: &str, wait: &RolloutWait) -> Result<RolloutState>;
    /// Revisions, ascending (`kubectl rollout history`).
    async fn rollout_history(&self, name: &str) -> Result<Vec<RolloutRevision>>;
    /// Rolls back as `kubectl rollout undo` does.
    async fn rollout_undo(&self, name: &str, options: &UndoOptions) -> Result<UndoOutcome>;
    /// Restarts the pods as `kubectl rollout restart` does; returns the timestamp written.
    async fn rollout_restart(&self, name: &str) -> Result<String>;
    /// Sets the replica count through the scale subresource (`kubectl scale`); returns the
    /// new desired count.
    async fn scale(&self, name: &str, replicas: i32) -> Result<i32>;
    /// Changes a container's requests and limits (vertical scaling).
    async fn update_resources(
        &self,
        name: &str,
        container: &str,
        resources: &ContainerResources,
    ) -> Result<DeploymentInfo>;
}

mod kube_impl {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use kube::api::{ListParams, Patch, PatchParams, WatchEvent, WatchParams};
    use serde_json::json;

    use super::{
        CHANGE_CAUSE_ANNOTATION, ContainerResources, DeploymentInfo, Deployments,
        RESTARTED_AT_ANNOTATION, RolloutRevision, RolloutState, RolloutWait, SetImage, UndoOptions,
        UndoOutcome, revisions, rollout_decision, select_undo_target, templates_equal, undo_patch,
    };
    use crate::cluster::KubeCluster;
    use crate::compat;
    use crate::error::{Error, Result};
    use crate::quantity;
    use crate::validate;

    impl KubeCluster {
        pub(crate) fn patch_params(&self, dry_run: bool) -> PatchParams {
            PatchParams {
                field_manager: Some(self.opts.field_manager.clone()),
                dry_run: dry_run || self.opts.dry_run,
                ..PatchParams::default()
            }
        }

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
        /// change; re-watch after a drop, re-list after an expired position.
        async fn wait_rollout(&self, name: &str, wait: &RolloutWait) -> Result<RolloutState> {
            let api = self.api::<Deployment>();
            let fields = format!("metadata.name={name}");
            loop {
                let lp = ListParams::default().fields(&fields);
                let list = self
                    .call(&format!("list deployment {name}"), || api.list(&lp))
                    .await?;
                let Some(d) = list.items.first() else {
                    return Err(Error::NotFound {
                        what: "deployment",
                        detail: format!(
                            "deployments.apps {name:?} not found in {}",
                            self.namespace()
                        ),
                    });
                };
                let state = Self::decide(d, wait.revision)?;
                if state.is_complete() || wait.no_wait {
                    return Ok(state);
                }
                tracing::info!(deployment = name, "{}", state.message());
                let mut rv = list.metadata.resource_version.unwrap_or_default();
                let mut failures = 0u32;
                'watch: loop {
                    let wp = WatchParams::default().fields(&fields).timeout(290);
                    let stream = match api.watch(&wp, &rv).await {
                        Ok(s) => s,
                        Err(e) => {
                            let err = Error::from_kube(format!("watch deployment {name}"), e);
                            if err.status_code() == Some(410) {
                                break 'watch;
                            }
                            failures += 1;
                            if !err.is_transient() || failures >= self.opts.retry.max_attempts {
                                return Err(err);
                            }
                            tokio::time::sleep(self.opts.retry.delay(failures - 1, &err)).await;
                            continue;
                        }
                    };
                    let mut stream = stream.boxed();
                    loop {
                        match stream.try_next().await {
                            Ok(Some(WatchEvent::Added(d) | WatchEvent::Modified(d))) => {
                                failures = 0;
                                rv = d.metadata.resource_version.clone().unwrap_or_default();
                                let state = Self::decide(&d, wait.revision)?;
                                if state.is_complete() {
                                    return Ok(state);
                                }
                                tracing::info!(deployment = name, "{}", state.message());
                            }
                            Ok(Some(WatchEvent::Deleted(_))) => {
                                return Err(Error::Refused(format!(
                                    "deployment {name:?}: object has been deleted"
                                )));
                            }
                            Ok(Some(WatchEvent::Bookmark(b))) => rv = b.metadata.resource_version,
                            Ok(Some(WatchEvent::Error(s))) if s.code == 410 => break 'watch,
                            Ok(Some(WatchEvent::Error(s))) => {
                                tracing::debug!(code = s.code, message = %s.message, "rollout watch error");
                                failures += 1;
                                if failures >= self.opts.retry.max_attempts {
                                    return Err(Error::from_kube(
                                        format!("watch deployment {name}"),
                                        kube::Error::Api(s),
                                    ));
                                }
                                tokio::time::sleep(self.opts.retry.initial_backoff).await;
                                continue 'watch;
                            }
                            Ok(None) => continue 'watch,
                            Err(e) => {
                                tracing::debug!(error = %e, "rollout watch interrupted");
                                continue 'watch;
                            }
                        }
                    }
                }
            }
        }
    }

    #[async_trait::async_trait]
    impl Deployments for KubeCluster {
        async fn get_deployment(&self, name: &str) -> Result<DeploymentInfo> {
            Ok(DeploymentInfo::from_deployment(
                &self.read_deployment(name).await?,
            ))
        }

        async fn set_image(&self, name: &str, change: &SetImage) -> Result<DeploymentInfo> {
            validate::object_name("deployment name", name)?;
            validate::label_name("container name", &change.container)?;
            validate::image(&change.image)?;
            let d = self.read_deployment(name).await?;
            Self::container_must_exist(&d, name, &change.container)?;
            let mut patch = json!({"spec": {"template": {"spec": {"containers": [
                {"name": change.container, "image": change.image}
            ]}}}});
            if let Some(cause) = &change.change_cause {
                patch["metadata"] = json!({"annotations": {CHANGE_CAUSE_ANNOTATION: cause}});
            }
            let d = self
                .patch_deployment(
                    name,
                    &format!("set image of deployment {name}"),
                    Patch::Strategic(patch),
                    false,
                )
                .await?;
            tracing::info!(deployment = name, container = %change.container, image = %change.image, "image set");
            Ok(DeploymentInfo::from_deployment(&d))
        }

        async fn rollout_status(&self, name: &str, wait: &RolloutWait) -> Result<RolloutState> {
            validate::object_name("deployment name", name)?;
            match wait.timeout {
                Some(limit) => tokio::time::timeout(limit, self.wait_rollout(name, wait))
                    .await
                    .map_err(|_| Error::Timeout {
                        op: format!("rollout status of deployment {name}"),
                        after: limit,
                    })?,
                None => self.wait_rollout(name, wait).await,
            }
        }

        async fn rollout_history(&self, name: &str) -> Result<Vec<RolloutRevision>> {
            let d = self.read_deployment(name).await?;
            let rss = self.replica_sets_of(&d).await?;
            Ok(revisions(&d, &rss))
        }

        async fn rollout_undo(&self, name: &str, options: &UndoOptions) -> Result<UndoOutcome> {
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
            let history = revisions(&d, &rss);
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
            let dry_run = options.dry_run || self.opts.dry_run;
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
                "rolled back"
            );
            Ok(UndoOutcome::RolledBack {
                to_revision: target.revision,
                dry_run,
            })
        }

        async fn rollout_restart(&self, name: &str) -> Result<String> {
            let d = self.read_deployment(name).await?;
            let spec = compat::deployment_spec(&d)
                .ok_or_else(|| Error::unexpected(format!("deployment {name}"), "has no spec"))?;
            if spec.paused == Some(true) {
                return Err(Error::Refused(
                    "can't restart paused deployment (run rollout resume first)".into(),
                ));
            }
            let now = k8s_openapi::jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let current = spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(RESTARTED_AT_ANNOTATION));
            if current == Some(&now) {
                return Err(Error::Refused(format!(
                    "failed to create patch for deployment {name:?}: if restart has already been triggered within the past second, please wait before attempting to trigger another"
                )));
            }
            let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}});
            self.patch_deployment(
                name,
                &format!("restart deployment {name}"),
                Patch::Strategic(patch),
                false,
            )
            .await?;
            tracing::info!(deployment = name, restarted_at = %now, "restarted");
            Ok(now)
        }

        async fn scale(&self, name: &str, replicas: i32) -> Result<i32> {
            validate::object_name("deployment name", name)?;
            validate::replicas("replicas", replicas, self.opts.max_replicas)?;
            let api = self.api::<Deployment>();
            let pp = self.patch_params(false);
            let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
            let scale = self
                .call(&format!("scale deployment {name}"), || {
                    api.patch_scale(name, &pp, &patch)
                })
                .await?;
            tracing::info!(deployment = name, replicas, "scaled");
            Ok(scale.spec.and_then(|s| s.replicas).unwrap_or(replicas))
        }

        async fn update_resources(
            &self,
            name: &str,
            container: &str,
            resources: &ContainerResources,
        ) -> Result<DeploymentInfo> {
            validate::object_name("deployment name", name)?;
            validate::label_name("container name", container)?;
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
                    false,
                )
                .await?;
            Ok(DeploymentInfo::from_deployment(&d))
        }
    }
}
