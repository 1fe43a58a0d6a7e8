//! The simulated control plane: a deployment controller (ReplicaSets per template revision,
//! rolling and recreate strategies, status and conditions), a ReplicaSet controller (pods), a
//! garbage collector for owned objects, and a kubelet stand-in that moves pods from Pending to
//! Running and Ready, or into the failure a [`Scenario`] asks for, with events and logs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::knobs::{ContainerLogs, Scenario, lock};
use super::resources::{self, ResourceType};
use super::server::Shared;
use super::store::Stored;
use super::util::{
    at, format_ts, i64_at, name_of, namespace_of, next_random, now_rfc3339, parse_ts,
    random_suffix, str_at, template_hash, uid_of,
};

const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
const HASH: &str = "pod-template-hash";
/// Deployment annotations that are not copied to ReplicaSets (and back on undo).
const SKIPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
];

/// When a managed pod was first seen, so that its lifecycle runs on a stable clock.
struct PodTrack {
    seen: Instant,
    seen_wall: jiff::Timestamp,
    events: HashSet<String>,
    /// Containers started once: a Secret or ConfigMap deleted later does not stop them.
    started: bool,
    /// Time to Ready, fixed when the pod is first seen.
    ready_after: Duration,
}

struct Types {
    pods: &'static ResourceType,
    rs: &'static ResourceType,
    deploy: &'static ResourceType,
    events: &'static ResourceType,
    nodes: &'static ResourceType,
    secrets: &'static ResourceType,
    configmaps: &'static ResourceType,
}

pub(crate) struct Controllers {
    sh: Arc<Shared>,
    t: Types,
    pods: HashMap<String, PodTrack>,
    progress_deadline: Option<Duration>,
    /// While the seed settles, pods are ready at once: the seeded world has been running.
    pub(crate) settling: bool,
}

fn find(name: &str) -> Option<&'static ResourceType> {
    resources::resolve(name)
}

impl Controllers {
    pub(crate) fn new(sh: Arc<Shared>, progress_deadline: Option<Duration>) -> Option<Self> {
        Some(Self {
            sh,
            t: Types {
                pods: find("pods")?,
                rs: find("replicasets")?,
                deploy: find("deployments")?,
                events: find("events")?,
                nodes: find("nodes")?,
                secrets: find("secrets")?,
                configmaps: find("configmaps")?,
            },
            pods: HashMap::new(),
            progress_deadline,
            settling: false,
        })
    }

    /// Runs until `stop` changes: a pass after every change, and at the next timed transition.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let next = self.pass();
            let wait = next
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(5));
            tokio::select! {
                _ = stop.changed() => return,
                () = self.sh.store.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One reconcile pass over everything; returns when the next time-driven change is due.
    pub(crate) fn pass(&mut self) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut soon = |d: Option<Duration>| {
            if let Some(d) = d {
                next = Some(next.map_or(d, |n: Duration| n.min(d)));
            }
        };
        self.collect_garbage();
        let (deploys, _) = self.sh.store.list_in(self.t.deploy, None);
        for d in &deploys {
            soon(self.deployment(d));
        }
        self.replicasets();
        let (pods, _) = self.sh.store.list_in(self.t.pods, None);
        let live: HashSet<&str> = pods.iter().map(|p| uid_of(&p.value)).collect();
        self.pods.retain(|uid, _| live.contains(uid.as_str()));
        for p in &pods {
            soon(self.kubelet(p));
        }
        // Status changes of pods feed ReplicaSet and Deployment status: one more round.
        self.replicasets();
        let (deploys, _) = self.sh.store.list_in(self.t.deploy, None);
        for d in &deploys {
            soon(self.deployment(d));
        }
        next
    }

    fn collect_garbage(&self) {
        let (deploys, _) = self.sh.store.list_in(self.t.deploy, None);
        let deploy_uids: HashSet<&str> = deploys.iter().map(|d| uid_of(&d.value)).collect();
        let (sets, _) = self.sh.store.list_in(self.t.rs, None);
        for rs in &sets {
            if let Some(owner) = controller_ref(&rs.value)
                && owner.0 == "Deployment"
                && !deploy_uids.contains(owner.1)
            {
                let _ = self.sh.store.delete_in(
                    self.t.rs,
                    namespace_of(&rs.value),
                    name_of(&rs.value),
                    None,
                    false,
                );
            }
        }
        let (sets, _) = self.sh.store.list_in(self.t.rs, None);
        let rs_uids: HashSet<&str> = sets.iter().map(|r| uid_of(&r.value)).collect();
        let (pods, _) = self.sh.store.list_in(self.t.pods, None);
        for p in &pods {
            if let Some(owner) = controller_ref(&p.value)
                && owner.0 == "ReplicaSet"
                && !rs_uids.contains(owner.1)
            {
                let _ = self.sh.store.delete_in(
                    self.t.pods,
                    namespace_of(&p.value),
                    name_of(&p.value),
                    None,
                    false,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one call site per event kind; a struct adds nothing
    fn event(
        &self,
        obj: &Value,
        kind: &str,
        ty: &str,
        reason: &str,
        message: &str,
        component: &str,
        field_path: Option<&str>,
    ) {
        let ns = namespace_of(obj);
        let now = now_rfc3339();
        let mut involved = json!({
            "kind": kind,
            "namespace": ns,
            "name": name_of(obj),
            "uid": uid_of(obj),
            "apiVersion": obj["apiVersion"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
        });
        if let Some(f) = field_path {
            involved["fieldPath"] = json!(f);
        }
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": format!("{}.{:016x}", name_of(obj), next_random()), "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": ty,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": "",
        });
        if let Err(e) = self.sh.store.create(self.t.events, ns, ev, false) {
            tracing::debug!(error = %e, "fake cluster could not record an event");
        }
    }

    // ----- Deployment controller -----

    fn owned_sets(&self, d: &Value) -> Vec<Arc<Stored>> {
        let (sets, _) = self.sh.store.list_in(self.t.rs, Some(namespace_of(d)));
        let uid = uid_of(d);
        sets.into_iter()
            .filter(|rs| controller_ref(&rs.value).is_some_and(|(_, u)| u == uid))
            .collect()
    }

    /// Reconciles one deployment; returns when its progress deadline falls due.
    fn deployment(&mut self, d: &Arc<Stored>) -> Option<Duration> {
        let d = &d.value;
        let ns = namespace_of(d).to_string();
        let dname = name_of(d).to_string();
        if at(d, &["spec", "paused"]) == Some(&Value::Bool(true)) {
            let _ = self.sh.store.modify_in(self.t.deploy, &ns, &dname, |v| {
                v["status"]["observedGeneration"] = v["metadata"]["generation"].clone();
            });
            return None;
        }
        let replicas = i64_at(d, &["spec", "replicas"], 1);
        let template = d["spec"]["template"].clone();
        let mut sets = self.owned_sets(d);
        let max_revision = sets.iter().map(|rs| revision(&rs.value)).max().unwrap_or(0);
        let new_pos = sets
            .iter()
            .position(|rs| same_template(&rs.value["spec"]["template"], &template));
        let (surge, unavailable) = rolling_params(d, replicas);
        let mut created_new = false;
        let new_rs = match new_pos {
            Some(i) => {
                let rs = sets.remove(i);
                let rev = revision(&rs.value);
                if rev < max_revision {
                    // Rolling back to an older template: it becomes the newest revision.
                    let next = max_revision + 1;
                    let updated =
                        self.sh
                            .store
                            .modify_in(self.t.rs, &ns, name_of(&rs.value), |v| {
                                let ann = &mut v["metadata"]["annotations"];
                                let mut history: Vec<String> = ann[REVISION_HISTORY]
                                    .as_str()
                                    .filter(|h| !h.is_empty())
                                    .map(|h| h.split(',').map(String::from).collect())
                                    .unwrap_or_default();
                                history.push(rev.to_string());
                                ann[REVISION_HISTORY] = json!(history.join(","));
                                ann[REVISION] = json!(next.to_string());
                                copy_annotations(d, v);
                            });
                    updated.unwrap_or(rs)
                } else {
                    rs
                }
            }
            None => {
                let mut tpl = template.clone();
                let hash = template_hash(&tpl);
                tpl["metadata"]["labels"][HASH] = json!(hash);
                let mut selector = d["spec"]["selector"].clone();
                selector["matchLabels"][HASH] = json!(hash);
                let mut rs = json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": format!("{dname}-{hash}"),
                        "namespace": ns,
                        "labels": tpl["metadata"]["labels"],
                        "annotations": {
                            REVISION: (max_revision + 1).to_string(),
                            DESIRED: replicas.to_string(),
                            MAX: (replicas + surge).to_string(),
                        },
                        "ownerReferences": [owner_ref(d, "apps/v1", "Deployment")],
                    },
                    "spec": {
                        "replicas": 0,
                        "minReadySeconds": d["spec"].get("minReadySeconds").cloned().unwrap_or(json!(0)),
                        "selector": selector,
                        "template": tpl,
                    },
                });
                copy_annotations(d, &mut rs);
                match self.sh.store.create(self.t.rs, &ns, rs, false) {
                    Ok(s) => {
                        created_new = true;
                        s
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "fake cluster could not create a ReplicaSet");
                        return None;
                    }
                }
            }
        };
        let new_name = name_of(&new_rs.value).to_string();
        let new_rev = revision(&new_rs.value);
        if str_at(d, &["metadata", "annotations", REVISION]) != Some(new_rev.to_string().as_str()) {
            let _ = self.sh.store.modify_in(self.t.deploy, &ns, &dname, |v| {
                v["metadata"]["annotations"][REVISION] = json!(new_rev.to_string());
            });
        }
        // Scale.
        let strategy = str_at(d, &["spec", "strategy", "type"]).unwrap_or("RollingUpdate");
        let spec_replicas = |rs: &Value| i64_at(rs, &["spec", "replicas"], 0);
        let status_of = |rs: &Value, f: &str| i64_at(rs, &["status", f], 0);
        let old_active: Vec<&Arc<Stored>> = sets
            .iter()
            .filter(|rs| spec_replicas(&rs.value) > 0 || status_of(&rs.value, "replicas") > 0)
            .collect();
        let mut scale_to: Vec<(String, i64, i64)> = Vec::new();
        let new_spec = spec_replicas(&new_rs.value);
        if strategy == "Recreate" {
            if old_active.iter().any(|rs| spec_replicas(&rs.value) > 0) {
                for rs in &old_active {
                    scale_to.push((name_of(&rs.value).into(), spec_replicas(&rs.value), 0));
                }
            } else if old_active.is_empty() && new_spec != replicas {
                scale_to.push((new_name.clone(), new_spec, replicas));
            }
        } else if old_active.iter().all(|rs| spec_replicas(&rs.value) == 0) {
            if new_spec != replicas {
                scale_to.push((new_name.clone(), new_spec, replicas));
            }
        } else {
            let total: i64 = sets.iter().map(|rs| spec_replicas(&rs.value)).sum::<i64>() + new_spec;
            let max_total = replicas + surge;
            let mut new_target = new_spec;
            if total < max_total {
                new_target = (new_spec + (max_total - total)).min(replicas);
            } else if new_spec > replicas {
                new_target = replicas;
            }
            if new_target != new_spec {
                scale_to.push((new_name.clone(), new_spec, new_target));
            }
            let min_available = replicas - unavailable;
            let available: i64 = sets
                .iter()
                .map(|rs| status_of(&rs.value, "availableReplicas"))
                .sum::<i64>()
                + status_of(&new_rs.value, "availableReplicas");
            let new_unavailable = (new_spec - status_of(&new_rs.value, "availableReplicas")).max(0);
            let all_pods: i64 = total;
            // As the real controller does, a pass that scaled the new ReplicaSet up scales
            // nothing down; the next pass sees the new counts.
            let mut budget = if new_target != new_spec {
                0
            } else {
                all_pods - min_available - new_unavailable
            };
            // Old replicas that are not available go first, then available ones down to the
            // minimum availability.
            let mut old_sorted: Vec<&Arc<Stored>> = old_active.clone();
            old_sorted.sort_by_key(|rs| revision(&rs.value));
            let mut planned: HashMap<String, i64> = HashMap::new();
            for rs in &old_sorted {
                if budget <= 0 {
                    break;
                }
                let cur = spec_replicas(&rs.value);
                let unhealthy = (cur - status_of(&rs.value, "availableReplicas")).max(0);
                let cut = unhealthy.min(budget);
                if cut > 0 {
                    planned.insert(name_of(&rs.value).into(), cur - cut);
                    budget -= cut;
                }
            }
            // Never below the budget left after the unhealthy cleanup: with `maxUnavailable`
            // pods, a status that lags a scale-down must not cause a second one.
            let mut scale_down = (available - min_available).max(0).min(budget.max(0));
            for rs in &old_sorted {
                if scale_down <= 0 {
                    break;
                }
                let cur = planned
                    .get(name_of(&rs.value))
                    .copied()
                    .unwrap_or_else(|| spec_replicas(&rs.value));
                let cut = cur.min(scale_down);
                if cut > 0 {
                    planned.insert(name_of(&rs.value).into(), cur - cut);
                    scale_down -= cut;
                }
            }
            for rs in &old_sorted {
                if let Some(target) = planned.get(name_of(&rs.value)) {
                    scale_to.push((name_of(&rs.value).into(), spec_replicas(&rs.value), *target));
                }
            }
        }
        for (rs_name, from, to) in &scale_to {
            let res = self.sh.store.modify_in(self.t.rs, &ns, rs_name, |v| {
                v["spec"]["replicas"] = json!(to);
                v["metadata"]["annotations"][DESIRED] = json!(replicas.to_string());
                v["metadata"]["annotations"][MAX] = json!((replicas + surge).to_string());
            });
            if res.is_ok() {
                let verb = if to > from { "up" } else { "down" };
                self.event(
                    d,
                    "Deployment",
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled {verb} replica set {rs_name} from {from} to {to}"),
                    "deployment-controller",
                    None,
                );
            }
        }
        // Old revisions beyond the history limit.
        let limit = i64_at(d, &["spec", "revisionHistoryLimit"], 10).max(0) as usize;
        let mut idle: Vec<&Arc<Stored>> = sets
            .iter()
            .filter(|rs| spec_replicas(&rs.value) == 0 && status_of(&rs.value, "replicas") == 0)
            .collect();
        if idle.len() > limit {
            idle.sort_by_key(|rs| revision(&rs.value));
            for rs in &idle[..idle.len() - limit] {
                let _ = self
                    .sh
                    .store
                    .delete_in(self.t.rs, &ns, name_of(&rs.value), None, false);
            }
        }
        // Status.
        let sets = self.owned_sets(d);
        let sum = |f: &str| sets.iter().map(|rs| status_of(&rs.value, f)).sum::<i64>();
        let new_now = sets.iter().find(|rs| name_of(&rs.value) == new_name);
        let updated = new_now.map_or(0, |rs| status_of(&rs.value, "replicas"));
        let total_spec: i64 = sets.iter().map(|rs| spec_replicas(&rs.value)).sum();
        let (status_replicas, ready, available) = (
            sum("replicas"),
            sum("readyReplicas"),
            sum("availableReplicas"),
        );
        let unavailable_count = (total_spec - available).max(0);
        let deadline = match self.progress_deadline {
            Some(d) => d,
            None => Duration::from_secs(
                i64_at(d, &["spec", "progressDeadlineSeconds"], 600).max(0) as u64,
            ),
        };
        let mut due = None;
        let now = jiff::Timestamp::now();
        let now_s = format_ts(now);
        let complete = updated == replicas && status_replicas == replicas && available == replicas;
        let _ = self.sh.store.modify_in(self.t.deploy, &ns, &dname, |v| {
            let old_status = v["status"].clone();
            let mut st = json!({"observedGeneration": v["metadata"]["generation"], "replicas": status_replicas});
            let mut put = |k: &str, n: i64| {
                if n > 0 {
                    st[k] = json!(n);
                }
            };
            put("updatedReplicas", updated);
            put("readyReplicas", ready);
            put("availableReplicas", available);
            put("unavailableReplicas", unavailable_count);
            // Pods are removed at once here, so none is ever terminating.
            st["terminatingReplicas"] = json!(0);
            let old_conds = old_status["conditions"].as_array().cloned().unwrap_or_default();
            let old_cond = |t: &str| old_conds.iter().find(|c| c["type"] == t).cloned();
            let counts_changed = ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"]
                .iter()
                .any(|k| old_status.get(*k) != st.get(*k));
            let cond = |t: &str, status: &str, reason: &str, message: String, progressed: bool| {
                let old = old_cond(t);
                let same = old.as_ref().is_some_and(|o| o["status"] == status && o["reason"] == reason && o["message"] == message.as_str());
                let transition = match &old {
                    Some(o) if o["status"] == status => o["lastTransitionTime"].clone(),
                    _ => json!(now_s),
                };
                let update = match &old {
                    Some(o) if same && !progressed => o["lastUpdateTime"].clone(),
                    _ => json!(now_s),
                };
                json!({"type": t, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
            };
            let available_cond = if available >= replicas - unavailable {
                cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into(), false)
            } else {
                cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".into(), false)
            };
            let prev = old_cond("Progressing");
            let prev_reason = prev.as_ref().and_then(|p| p["reason"].as_str().map(String::from)).unwrap_or_default();
            let prev_msg_rs = prev.as_ref().and_then(|p| p["message"].as_str()).is_some_and(|m| m.contains(&format!("\"{new_name}\"")));
            let progressing = if complete {
                cond("Progressing", "True", "NewReplicaSetAvailable", format!("ReplicaSet \"{new_name}\" has successfully progressed."), false)
            } else if created_new {
                cond("Progressing", "True", "NewReplicaSetCreated", format!("Created new replica set \"{new_name}\""), true)
            } else if prev_reason == "ProgressDeadlineExceeded" && prev_msg_rs {
                prev.clone().unwrap_or(Value::Null)
            } else {
                let last_update = prev
                    .as_ref()
                    .filter(|_| prev_msg_rs && !counts_changed && prev_reason != "NewReplicaSetAvailable")
                    .and_then(|p| parse_ts(p.get("lastUpdateTime")));
                match last_update {
                    Some(t) => {
                        let elapsed = Duration::try_from(now.duration_since(t)).unwrap_or_default();
                        if elapsed >= deadline {
                            cond(
                                "Progressing",
                                "False",
                                "ProgressDeadlineExceeded",
                                format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                                true,
                            )
                        } else {
                            due = Some(deadline - elapsed + Duration::from_millis(50));
                            prev.clone().unwrap_or(Value::Null)
                        }
                    }
                    None => {
                        due = Some(deadline + Duration::from_millis(50));
                        cond("Progressing", "True", "ReplicaSetUpdated", format!("ReplicaSet \"{new_name}\" is progressing."), true)
                    }
                }
            };
            st["conditions"] = json!([available_cond, progressing]);
            v["status"] = st;
        });
        due
    }

    // ----- ReplicaSet controller -----

    /// Reconciles every ReplicaSet, with its pods found through one index of pods by owner.
    fn replicasets(&self) {
        let (sets, _) = self.sh.store.list_in(self.t.rs, None);
        let (pods, _) = self.sh.store.list_in(self.t.pods, None);
        let mut by_owner: HashMap<&str, Vec<Arc<Stored>>> = HashMap::new();
        for p in &pods {
            if let Some((_, uid)) = controller_ref(&p.value) {
                by_owner.entry(uid).or_default().push(p.clone());
            }
        }
        for rs in &sets {
            let mine = by_owner.remove(uid_of(&rs.value)).unwrap_or_default();
            self.replicaset(rs, mine);
        }
    }

    fn replicaset(&self, rs: &Arc<Stored>, mut mine: Vec<Arc<Stored>>) {
        let rs = &rs.value;
        let ns = namespace_of(rs).to_string();
        let name = name_of(rs).to_string();
        let want = i64_at(rs, &["spec", "replicas"], 1);
        let have = mine.len() as i64;
        let mut count = have;
        let mut ready = mine.iter().filter(|p| pod_ready(&p.value)).count() as i64;
        if have < want {
            for _ in have..want {
                let tpl = &rs["spec"]["template"];
                let pod_name = format!("{name}-{}", random_suffix(5));
                let mut meta = tpl["metadata"].clone();
                if !meta.is_object() {
                    meta = json!({});
                }
                meta["name"] = json!(pod_name);
                meta["generateName"] = json!(format!("{name}-"));
                meta["namespace"] = json!(ns);
                meta["ownerReferences"] = json!([owner_ref(rs, "apps/v1", "ReplicaSet")]);
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tpl["spec"]});
                if self.sh.store.create(self.t.pods, &ns, pod, false).is_ok() {
                    count += 1;
                    self.event(
                        rs,
                        "ReplicaSet",
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {pod_name}"),
                        "replicaset-controller",
                        None,
                    );
                }
            }
        } else if have > want {
            // Not-ready pods go first, then the newest.
            mine.sort_by_key(|p| {
                (
                    pod_ready(&p.value),
                    std::cmp::Reverse(
                        str_at(&p.value, &["metadata", "creationTimestamp"])
                            .unwrap_or("")
                            .to_string(),
                    ),
                )
            });
            for p in mine.iter().take((have - want) as usize) {
                let pname = name_of(&p.value).to_string();
                if self
                    .sh
                    .store
                    .delete_in(self.t.pods, &ns, &pname, None, false)
                    .is_ok()
                {
                    count -= 1;
                    if pod_ready(&p.value) {
                        ready -= 1;
                    }
                    self.event(
                        rs,
                        "ReplicaSet",
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted pod: {pname}"),
                        "replicaset-controller",
                        None,
                    );
                }
            }
        }
        let _ = self.sh.store.modify_in(self.t.rs, &ns, &name, |v| {
            let mut st =
                json!({"replicas": count, "observedGeneration": v["metadata"]["generation"]});
            if count > 0 {
                st["fullyLabeledReplicas"] = json!(count);
            }
            if ready > 0 {
                st["readyReplicas"] = json!(ready);
                st["availableReplicas"] = json!(ready);
            }
            v["status"] = st;
        });
    }

    // ----- kubelet stand-in -----

    /// Missing Secret / ConfigMap referenced from env: the kubelet's
    /// `CreateContainerConfigError` message, if any.
    fn missing_ref(&self, ns: &str, pod: &Value) -> Option<String> {
        let exists = |rt: &ResourceType, n: &str| self.sh.store.get_in(rt, ns, n).is_some();
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            for e in c["env"].as_array().into_iter().flatten() {
                if let Some(n) = str_at(e, &["valueFrom", "secretKeyRef", "name"])
                    && !exists(self.t.secrets, n)
                    && e["valueFrom"]["secretKeyRef"]["optional"] != true
                {
                    return Some(format!("secret \"{n}\" not found"));
                }
                if let Some(n) = str_at(e, &["valueFrom", "configMapKeyRef", "name"])
                    && !exists(self.t.configmaps, n)
                    && e["valueFrom"]["configMapKeyRef"]["optional"] != true
                {
                    return Some(format!("configmap \"{n}\" not found"));
                }
            }
            for e in c["envFrom"].as_array().into_iter().flatten() {
                if let Some(n) = str_at(e, &["secretRef", "name"])
                    && !exists(self.t.secrets, n)
                    && e["secretRef"]["optional"] != true
                {
                    return Some(format!("secret \"{n}\" not found"));
                }
                if let Some(n) = str_at(e, &["configMapRef", "name"])
                    && !exists(self.t.configmaps, n)
                    && e["configMapRef"]["optional"] != true
                {
                    return Some(format!("configmap \"{n}\" not found"));
                }
            }
        }
        None
    }

    fn pick_node(&self, pod_name: &str) -> Option<String> {
        let (nodes, _) = self.sh.store.list_in(self.t.nodes, None);
        if nodes.is_empty() {
            return None;
        }
        let h = pod_name
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Some(name_of(&nodes[(h % nodes.len() as u64) as usize].value).to_string())
    }

    /// Moves one pod along its lifecycle; returns when its next transition is due.
    fn kubelet(&mut self, p: &Arc<Stored>) -> Option<Duration> {
        let pod = &p.value;
        let uid = uid_of(pod).to_string();
        if !self.pods.contains_key(&uid) {
            // Pods whose status the test wrote itself are left alone.
            if at(pod, &["status", "containerStatuses"]).is_some() {
                return None;
            }
        }
        let ns = namespace_of(pod).to_string();
        let name = name_of(pod).to_string();
        let images: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["image"].as_str())
            .collect();
        let scenario = self.sh.knobs.scenario_for(&ns, &name, &images);
        let settling = self.settling;
        let knob = *lock(&self.sh.knobs.pod_ready_after);
        let track = self.pods.entry(uid.clone()).or_insert_with(|| PodTrack {
            seen: Instant::now(),
            seen_wall: jiff::Timestamp::now(),
            events: HashSet::new(),
            started: false,
            ready_after: match &scenario {
                _ if settling => Duration::ZERO,
                Scenario::SlowStart(d) => *d,
                _ => knob,
            },
        });
        let ready_after = track.ready_after;
        let already_started = self.pods.get(&uid).is_some_and(|t| t.started);
        let missing = if already_started {
            None
        } else {
            self.missing_ref(&ns, pod)
        };
        let track = self.pods.get(&uid)?;
        let elapsed = track.seen.elapsed();
        let t0 = track.seen_wall;
        let at_offset =
            |d: Duration| format_ts(t0 + jiff::SignedDuration::try_from(d).unwrap_or_default());
        let half = ready_after / 2;
        let mut pending_events: Vec<(&'static str, &'static str, String, Option<String>)> =
            Vec::new();
        let mut next = None;
        let node = str_at(pod, &["spec", "nodeName"])
            .map(String::from)
            .or_else(|| {
                if matches!(scenario, Scenario::Unschedulable { .. }) {
                    None
                } else {
                    self.pick_node(&name)
                }
            });
        let h = uid
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
        let pod_ip = format!("10.244.{}.{}", (h >> 8) % 250 + 1, h % 250 + 2);
        let host_ip = format!("10.0.0.{}", (h >> 20) % 200 + 10);
        let scheduled_at = at_offset(Duration::ZERO);
        let cond = |t: &str, s: bool, when: &str| json!({"type": t, "status": if s { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": when});
        let containers: Vec<(String, String)> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["image"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let cid = |c: &str| {
            format!(
                "containerd://{:016x}{:016x}{:016x}{:016x}",
                h,
                h ^ 0x5555,
                h.rotate_left(7) ^ c.len() as u64,
                h.rotate_right(9)
            )
        };
        let image_id = |img: &str| {
            let ih = img.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |a, b| {
                (a ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!(
                "{}@sha256:{:016x}{:016x}{:016x}{:016x}",
                img.split(':').next().unwrap_or(img),
                ih,
                ih.rotate_left(13),
                ih.rotate_left(29),
                ih.rotate_left(41)
            )
        };
        let mut status = json!({"qosClass": pod["status"].get("qosClass").cloned().unwrap_or(json!("BestEffort"))});
        if let Scenario::Unschedulable { message } = &scenario {
            status["phase"] = json!("Pending");
            status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "lastProbeTime": null, "lastTransitionTime": scheduled_at, "reason": "Unschedulable", "message": message}]);
            pending_events.push(("Warning", "FailedScheduling", message.clone(), None));
            self.write_pod(pod, None, status);
            self.pod_events(&uid, pod, pending_events);
            return None;
        }
        status["hostIP"] = json!(host_ip);
        status["hostIPs"] = json!([{"ip": host_ip}]);
        status["startTime"] = json!(scheduled_at);
        pending_events.push((
            "Normal",
            "Scheduled",
            format!(
                "Successfully assigned {ns}/{name} to {}",
                node.clone().unwrap_or_default()
            ),
            None,
        ));
        let waiting_status = |c: &(String, String),
                              reason: &str,
                              message: Option<String>,
                              restarts: u32,
                              last: Value| {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"name": c.0, "state": {"waiting": w}, "lastState": last, "ready": false, "restartCount": restarts, "image": c.1, "imageID": if restarts > 0 { json!(image_id(&c.1)) } else { json!("") }, "started": false})
        };
        let failing = |reason: &str| match &scenario {
            Scenario::ImagePullFailure => Some(("ImagePullBackOff".to_string(), None)),
            _ => missing.clone().map(|m| (reason.to_string(), Some(m))),
        };
        let crash = match &scenario {
            Scenario::CrashLoop {
                exit_code,
                restarts,
            } => Some((
                *exit_code,
                *restarts,
                if *exit_code == 137 {
                    "OOMKilled"
                } else {
                    "Error"
                },
            )),
            Scenario::OomKilled { restarts } => Some((137, *restarts, "OOMKilled")),
            _ => None,
        };
        let unready_msg = format!(
            "containers with unready status: [{}]",
            containers
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let all_cond = |ready: bool, started: bool, when_ready: &str| {
            let mut ready_c = cond("Ready", ready, when_ready);
            let mut containers_c = cond("ContainersReady", ready, when_ready);
            if !ready {
                for c in [&mut ready_c, &mut containers_c] {
                    c["reason"] = json!("ContainersNotReady");
                    c["message"] = json!(unready_msg);
                }
            }
            Value::Array(vec![
                cond("PodReadyToStartContainers", started, &scheduled_at),
                cond("Initialized", true, &scheduled_at),
                ready_c,
                containers_c,
                cond("PodScheduled", true, &scheduled_at),
            ])
        };
        if let Some((reason, message)) = failing("CreateContainerConfigError") {
            status["phase"] = json!("Pending");
            status["conditions"] = all_cond(false, true, &scheduled_at);
            status["containerStatuses"] = containers
                .iter()
                .map(|c| {
                    waiting_status(
                        c,
                        &reason,
                        message.clone().or_else(|| {
                            (reason == "ImagePullBackOff")
                                .then(|| format!("Back-off pulling image \"{}\"", c.1))
                        }),
                        0,
                        json!({}),
                    )
                })
                .collect();
            if matches!(scenario, Scenario::ImagePullFailure) {
                for c in &containers {
                    let fp = Some(format!("spec.containers{{{}}}", c.0));
                    pending_events.push((
                        "Normal",
                        "Pulling",
                        format!("Pulling image \"{}\"", c.1),
                        fp.clone(),
                    ));
                    pending_events.push(("Warning", "Failed", format!("Failed to pull image \"{}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{}\": not found", c.1, c.1), fp.clone()));
                    pending_events.push((
                        "Warning",
                        "Failed",
                        "Error: ErrImagePull".into(),
                        fp.clone(),
                    ));
                    pending_events.push((
                        "Normal",
                        "BackOff",
                        format!("Back-off pulling image \"{}\"", c.1),
                        fp.clone(),
                    ));
                    pending_events.push((
                        "Warning",
                        "Failed",
                        "Error: ImagePullBackOff".into(),
                        fp,
                    ));
                }
            } else if let Some(m) = &message {
                for c in &containers {
                    pending_events.push((
                        "Warning",
                        "Failed",
                        format!("Error: {m}"),
                        Some(format!("spec.containers{{{}}}", c.0)),
                    ));
                }
            }
        } else if matches!(scenario, Scenario::Stuck) || elapsed < half {
            status["phase"] = json!("Pending");
            status["conditions"] = all_cond(false, false, &scheduled_at);
            status["containerStatuses"] = containers
                .iter()
                .map(|c| waiting_status(c, "ContainerCreating", None, 0, json!({})))
                .collect();
            if !matches!(scenario, Scenario::Stuck) {
                next = Some(half - elapsed);
            }
        } else {
            let started_at = at_offset(half);
            status["phase"] = json!("Running");
            if let Some(t) = self.pods.get_mut(&uid) {
                t.started = true;
            }
            status["podIP"] = json!(pod_ip);
            status["podIPs"] = json!([{"ip": pod_ip}]);
            for c in &containers {
                let fp = Some(format!("spec.containers{{{}}}", c.0));
                pending_events.push((
                    "Normal",
                    "Pulled",
                    format!("Container image \"{}\" already present on machine", c.1),
                    fp.clone(),
                ));
                pending_events.push((
                    "Normal",
                    "Created",
                    format!("Created container: {}", c.0),
                    fp.clone(),
                ));
                pending_events.push((
                    "Normal",
                    "Started",
                    format!("Started container {}", c.0),
                    fp,
                ));
            }
            if let Some((code, restarts, reason)) = crash {
                status["conditions"] = all_cond(false, true, &started_at);
                status["containerStatuses"] = containers.iter().map(|c| {
                    let last = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": started_at, "containerID": cid(&c.0)}});
                    let mut s = waiting_status(c, "CrashLoopBackOff", Some(format!("back-off 5m0s restarting failed container={} pod={name}_{ns}({uid})", c.0)), restarts.max(1), last);
                    s["containerID"] = json!(cid(&c.0));
                    s
                }).collect();
                for c in &containers {
                    pending_events.push((
                        "Warning",
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {} in pod {name}_{ns}({uid})",
                            c.0
                        ),
                        Some(format!("spec.containers{{{}}}", c.0)),
                    ));
                    let mut logs = lock(&self.sh.knobs.logs);
                    let entry = logs
                        .entry((ns.clone(), name.clone(), c.0.clone()))
                        .or_default();
                    if entry.previous.is_none() {
                        entry.previous = Some(if reason == "OOMKilled" {
                            vec![
                                format!("{} INFO starting {} ({})", started_at, c.0, c.1),
                                format!(
                                    "{} WARN memory usage above limit, allocation failed",
                                    started_at
                                ),
                            ]
                        } else {
                            vec![
                                format!("{} INFO starting {} ({})", started_at, c.0, c.1),
                                format!(
                                    "{} FATAL unrecoverable error, exiting with code {code}",
                                    started_at
                                ),
                            ]
                        });
                    }
                }
            } else {
                let ready = elapsed >= ready_after;
                if !ready {
                    next = Some(ready_after - elapsed);
                }
                let ready_at = at_offset(ready_after);
                status["conditions"] =
                    all_cond(ready, true, if ready { &ready_at } else { &started_at });
                status["containerStatuses"] = containers.iter().map(|c| json!({
                    "name": c.0, "state": {"running": {"startedAt": started_at}}, "lastState": {},
                    "ready": ready, "restartCount": 0, "image": c.1, "imageID": image_id(&c.1),
                    "containerID": cid(&c.0), "started": true
                })).collect();
                let mut logs = lock(&self.sh.knobs.logs);
                for c in &containers {
                    logs.entry((ns.clone(), name.clone(), c.0.clone()))
                        .or_insert_with(|| ContainerLogs {
                            current: vec![
                                format!("{started_at} INFO starting {} ({})", c.0, c.1),
                                format!("{started_at} INFO listening on :8080"),
                                format!("{started_at} INFO ready"),
                            ],
                            previous: None,
                        });
                }
            }
        }
        self.write_pod(pod, node, status);
        self.pod_events(&uid, pod, pending_events);
        next
    }

    fn write_pod(&self, pod: &Value, node: Option<String>, mut status: Value) {
        let (ns, name) = (namespace_of(pod), name_of(pod));
        decorate_pod_status(pod, &mut status);
        let bound = pod["spec"].get("nodeName").is_some() || node.is_none();
        if bound && pod["status"] == status {
            // Nothing changed: skip the write (and its copies) altogether.
            return;
        }
        let _ = self.sh.store.modify_in(self.t.pods, ns, name, |v| {
            if let Some(n) = &node
                && v["spec"].get("nodeName").is_none()
            {
                v["spec"]["nodeName"] = json!(n);
            }
            v["status"] = status.clone();
        });
    }

    fn pod_events(
        &mut self,
        uid: &str,
        pod: &Value,
        events: Vec<(&'static str, &'static str, String, Option<String>)>,
    ) {
        let mut fresh = Vec::new();
        if let Some(track) = self.pods.get_mut(uid) {
            for e in events {
                let key = format!("{}|{}", e.1, e.2);
                if track.events.insert(key) {
                    fresh.push(e);
                }
            }
        }
        for (ty, reason, message, fp) in fresh {
            let component = if reason == "FailedScheduling" || reason == "Scheduled" {
                "default-scheduler"
            } else {
                "kubelet"
            };
            self.event(pod, "Pod", ty, reason, &message, component, fp.as_deref());
        }
    }
}

/// Adds what a current kubelet reports besides states: observed generations, resources per
/// container and for the pod, mounted volumes and the container user.
fn decorate_pod_status(pod: &Value, status: &mut Value) {
    // Static (mirror) pods are reported without generations and mounted volumes.
    let mirror = at(
        pod,
        &["metadata", "annotations", "kubernetes.io/config.mirror"],
    )
    .is_some();
    let generation = pod["metadata"]["generation"].clone();
    if !mirror {
        status["observedGeneration"] = generation.clone();
    }
    if let Some(conds) = status["conditions"].as_array_mut().filter(|_| !mirror) {
        for c in conds {
            if let Some(m) = c.as_object_mut() {
                // Keep the real key order: type, observedGeneration, status, ...
                let rest = std::mem::take(m);
                for (k, v) in rest {
                    m.insert(k.clone(), v);
                    if k == "type" {
                        m.insert("observedGeneration".into(), generation.clone());
                    }
                }
            }
        }
    }
    status["qosClass"] = json!(super::defaults::qos_class(&pod["spec"]));
    let containers: Vec<&Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if let Some(statuses) = status["containerStatuses"].as_array_mut() {
        for cs in statuses {
            let Some(spec) = containers.iter().find(|c| c["name"] == cs["name"]) else {
                continue;
            };
            let resources = spec.get("resources").cloned().unwrap_or(json!({}));
            if let Some(req) = resources
                .get("requests")
                .filter(|r| r.as_object().is_some_and(|m| !m.is_empty()))
            {
                cs["allocatedResources"] = req.clone();
            }
            cs["resources"] = resources;
            if let Some(mounts) = spec["volumeMounts"].as_array().filter(|_| !mirror) {
                cs["volumeMounts"] = mounts
                    .iter()
                    .map(|m| {
                        let mut out = json!({"name": m["name"], "mountPath": m["mountPath"]});
                        if m["readOnly"] == true {
                            out["readOnly"] = json!(true);
                            out["recursiveReadOnly"] = json!("Disabled");
                        }
                        out
                    })
                    .collect();
            }
            let uid = i64_at(
                spec,
                &["securityContext", "runAsUser"],
                i64_at(pod, &["spec", "securityContext", "runAsUser"], 0),
            );
            let gid = i64_at(
                spec,
                &["securityContext", "runAsGroup"],
                i64_at(pod, &["spec", "securityContext", "runAsGroup"], 0),
            );
            cs["user"] = json!({"linux": {"uid": uid, "gid": gid, "supplementalGroups": [gid]}});
        }
    }
    let pick = |k: &str| -> Vec<&Value> {
        containers
            .iter()
            .filter_map(|c| c["resources"].get(k))
            .filter(|m| m.as_object().is_some_and(|m| !m.is_empty()))
            .collect()
    };
    let (requests, limits) = (pick("requests"), pick("limits"));
    let mut pod_resources = json!({});
    if !limits.is_empty() {
        pod_resources["limits"] = super::util::sum_resources(&limits);
    }
    if !requests.is_empty() {
        let total = super::util::sum_resources(&requests);
        status["allocatedResources"] = total.clone();
        pod_resources["requests"] = total;
    }
    status["resources"] = pod_resources;
}

fn controller_ref(v: &Value) -> Option<(&str, &str)> {
    v["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or(""),
                o["uid"].as_str().unwrap_or(""),
            )
        })
}

fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name_of(owner), "uid": uid_of(owner), "controller": true, "blockOwnerDeletion": true})
}

fn revision(rs: &Value) -> i64 {
    str_at(rs, &["metadata", "annotations", REVISION])
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn same_template(rs_template: &Value, template: &Value) -> bool {
    let mut a = rs_template.clone();
    if let Some(labels) = a["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH);
        if labels.is_empty() {
            a["metadata"].as_object_mut().map(|m| m.remove("labels"));
        }
    }
    a == *template
}

fn copy_annotations(d: &Value, rs: &mut Value) {
    if let Some(ann) = d["metadata"]["annotations"].as_object() {
        for (k, v) in ann {
            if !SKIPPED_ANNOTATIONS.contains(&k.as_str()) {
                rs["metadata"]["annotations"][k] = v.clone();
            }
        }
    }
}

/// Resolves an int-or-percent against `total`.
fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => {
                let x = p * total;
                if round_up { (x + 99) / 100 } else { x / 100 }
            }
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

/// (maxSurge, maxUnavailable) of a rolling deployment.
fn rolling_params(d: &Value, replicas: i64) -> (i64, i64) {
    if str_at(d, &["spec", "strategy", "type"]) == Some("Recreate") {
        return (0, replicas);
    }
    let ru = at(d, &["spec", "strategy", "rollingUpdate"]);
    let surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), replicas, true, 1);
    let mut unavailable =
        int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), replicas, false, 0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_like_the_controller() {
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, true, 0), 1);
        assert_eq!(int_or_percent(Some(&json!("25%")), 3, false, 0), 0);
        assert_eq!(int_or_percent(Some(&json!(2)), 3, false, 0), 2);
        let d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!(rolling_params(&d, 3), (0, 1));
    }

    #[test]
    fn template_match_ignores_hash_label() {
        let t = json!({"metadata": {"labels": {"app": "a"}}, "spec": {}});
        let rs = json!({"metadata": {"labels": {"app": "a", HASH: "x"}}, "spec": {}});
        assert!(same_template(&rs, &t));
    }
}
