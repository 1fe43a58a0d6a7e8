//! kubectl's rollout algorithms on deployment and ReplicaSet objects: the `rollout status`
//! decision, `rollout history`'s revisions, `rollout undo`'s target and patch.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::info::{ContainerImage, template_images};
use crate::error::{Error, Result};
use crate::{compat, time};

/// Annotation holding a ReplicaSet's (and the deployment's) revision number.
pub(crate) const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Annotation holding the change cause shown by `rollout history`.
pub(crate) const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
/// Pod-template annotation `kubectl rollout restart` sets.
pub(crate) const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
/// Label the deployment controller adds to each ReplicaSet's template.
pub(crate) const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Deployment annotations `rollout undo` keeps from the deployment instead of copying them
/// from the target ReplicaSet (kubectl's list).
pub(crate) const UNDO_SKIPPED_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

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

/// The revision annotation: `Ok(None)` when absent (kubectl then counts it as 0), an error when
/// it is not an integer.
pub(crate) fn revision_of(
    ann: Option<&BTreeMap<String, String>>,
) -> std::result::Result<Option<i64>, String> {
    match ann.and_then(|a| a.get(REVISION_ANNOTATION)) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| v.clone()),
    }
}

/// Decides a deployment's rollout state exactly in `kubectl rollout status`'s order. With
/// `revision`, the deployment's revision must match (kubectl's `--revision`).
pub(crate) fn rollout_decision(d: &Deployment, revision: Option<i64>) -> Result<RolloutState> {
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
pub(crate) fn templates_equal(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalized_template(a) == normalized_template(b)
}

/// `kubectl rollout history` as a pure function: the deployment's revisions from its
/// ReplicaSets, as kubectl gathers them:
/// only ReplicaSets the deployment controls; a missing revision annotation counts as 0; an
/// unparsable one is skipped (with a warning). Sorted by revision, ascending.
pub fn rollout_revisions(deploy: &Deployment, replica_sets: &[ReplicaSet]) -> Vec<RolloutRevision> {
    let uid = deploy.metadata.uid.as_deref().unwrap_or("");
    let current_template = compat::deployment_spec(deploy).map(|s| &s.template);
    let mut owned: Vec<&ReplicaSet> = replica_sets
        .iter()
        .filter(|rs| controlled_by(rs, uid))
        .collect();
    owned.sort_by(|a, b| {
        let ta = time::from_time(a.metadata.creation_timestamp.as_ref());
        let tb = time::from_time(b.metadata.creation_timestamp.as_ref());
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
            created: time::from_time(rs.metadata.creation_timestamp.as_ref()),
            current: Some(i) == new_rs,
            template,
        });
    }
    out.sort_by_key(|r| r.revision);
    out
}

/// Picks the revision `rollout undo` goes back to: `to_revision` when positive, else the
/// second-highest revision (kubectl's single pass over latest and previous).
pub(crate) fn select_undo_target<'a>(
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
pub(crate) fn undo_patch(
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
        /// `false` for a server-side dry run: the patch was validated, nothing changed.
        applied: bool,
    },
    /// Nothing to do: "skipped rollback (current template already matches revision N)".
    Skipped {
        /// The matching revision.
        revision: i64,
    },
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{fixture, from, replay_body};

    #[test]
    fn a_spec_not_yet_observed_is_waited_for() {
        let list = replay_body("deployment-list.json", 0);
        let mut d: Deployment = from(list["items"][0].clone());
        assert!(rollout_decision(&d, None).is_ok_and(|s| s.is_complete()));
        d.metadata.generation = Some(99);
        assert_eq!(
            rollout_decision(&d, None)
                .ok()
                .map(|s| s.message().to_string())
                .as_deref(),
            Some("Waiting for deployment spec update to be observed...")
        );
        assert!(
            rollout_decision(&d, Some(7))
                .is_err_and(|e| e.to_string().contains("desired revision (7)"))
        );
    }

    #[test]
    fn history_and_undo_on_k9s_objects() {
        let d: Deployment = from(fixture("k9s-deployment-icx-db.json"));
        let mut rs = fixture("k9s-replicaset-icx-db.json");
        rs["apiVersion"] = json!("apps/v1");
        let rs: ReplicaSet = from(rs);
        let h = rollout_revisions(&d, std::slice::from_ref(&rs));
        assert_eq!(h.len(), 1);
        assert!(h[0].current, "template equal ignoring pod-template-hash");
        assert_eq!(h[0].revision, 1);
        assert!(h[0].created.is_some());
        let e = select_undo_target("icx-db", &h, 0).expect_err("only one revision");
        assert_eq!(
            e.to_string(),
            "rollout history not found: no rollout history found for deployment \"icx-db\""
        );
        assert!(select_undo_target("icx-db", &h, 1).is_ok());
        assert!(select_undo_target("icx-db", &h, 2).is_err());
        // A ReplicaSet owned by someone else is not history.
        let mut foreign = rs.clone();
        if let Some(o) = foreign.metadata.owner_references.as_mut() {
            o[0].uid = "other".into();
        }
        assert!(rollout_revisions(&d, &[foreign]).is_empty());

        let patch = undo_patch(
            &d,
            rs.metadata.annotations.as_ref().expect("annotations"),
            &h[0].template,
        );
        let ann = &patch[1]["value"];
        assert_eq!(patch[0]["op"], "replace");
        assert_eq!(patch[0]["path"], "/spec/template");
        assert!(
            patch[0]["value"]["metadata"]["labels"]
                .get("pod-template-hash")
                .is_none()
        );
        assert_eq!(patch[1]["path"], "/metadata/annotations");
        // Skipped annotations come from the deployment; the ReplicaSet's desired/max replicas
        // are not copied.
        assert!(
            ann.get("kubectl.kubernetes.io/last-applied-configuration")
                .is_some()
        );
        assert_eq!(ann["deployment.kubernetes.io/revision"], "1");
        assert!(
            ann.get("deployment.kubernetes.io/desired-replicas")
                .is_none()
        );
        let spec = compat::deployment_spec(&d).expect("spec");
        assert!(templates_equal(&spec.template, &h[0].template));
    }

    fn rev(n: i64) -> RolloutRevision {
        let mut d: Deployment = from(fixture("k9s-deployment-icx-db.json"));
        let mut rs = fixture("k9s-replicaset-icx-db.json");
        rs["apiVersion"] = json!("apps/v1");
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(n.to_string());
        d.metadata.uid = Some("6f6143bc-a5f3-11e9-990f-42010a800218".into());
        let rs: ReplicaSet = from(rs);
        rollout_revisions(&d, &[rs]).remove(0)
    }

    #[test]
    fn undo_target_is_the_second_highest_in_any_order() {
        let h = vec![rev(3), rev(7), rev(1), rev(5)];
        assert_eq!(
            select_undo_target("x", &h, 0).map(|r| r.revision).ok(),
            Some(5)
        );
        let h = vec![rev(7), rev(3)];
        assert_eq!(
            select_undo_target("x", &h, 0).map(|r| r.revision).ok(),
            Some(3)
        );
        assert_eq!(
            select_undo_target("x", &h, 3).map(|r| r.revision).ok(),
            Some(3)
        );
        assert!(select_undo_target("x", &h, -1).is_err());
    }
}
