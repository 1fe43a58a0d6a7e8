//! What every controller works with: the shared state, the resource types they touch, event
//! recording, and owner-reference helpers.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::k8s::resources::{self, ResourceType};
use crate::k8s::shared::Shared;
use crate::k8s::util::{name_of, namespace_of, next_random, now_rfc3339, uid_of};

pub(super) struct Types {
    pub(super) pods: &'static ResourceType,
    pub(super) rs: &'static ResourceType,
    pub(super) deploy: &'static ResourceType,
    pub(super) events: &'static ResourceType,
    pub(super) nodes: &'static ResourceType,
    pub(super) secrets: &'static ResourceType,
    pub(super) configmaps: &'static ResourceType,
    pub(super) services: &'static ResourceType,
    pub(super) endpoints: &'static ResourceType,
    pub(super) slices: &'static ResourceType,
    pub(super) sts: &'static ResourceType,
    pub(super) revisions: &'static ResourceType,
    pub(super) pvcs: &'static ResourceType,
    pub(super) hpas: &'static ResourceType,
    pub(super) jobs: &'static ResourceType,
    pub(super) cronjobs: &'static ResourceType,
}

impl Types {
    fn new() -> Option<Self> {
        let find = resources::resolve;
        Some(Self {
            pods: find("pods")?,
            rs: find("replicasets")?,
            deploy: find("deployments")?,
            events: find("events")?,
            nodes: find("nodes")?,
            secrets: find("secrets")?,
            configmaps: find("configmaps")?,
            services: find("services")?,
            endpoints: find("endpoints")?,
            slices: find("endpointslices")?,
            sts: find("statefulsets")?,
            revisions: find("controllerrevisions")?,
            pvcs: find("persistentvolumeclaims")?,
            hpas: find("horizontalpodautoscalers")?,
            jobs: find("jobs")?,
            cronjobs: find("cronjobs")?,
        })
    }
}

/// The controllers' view of the cluster.
pub(super) struct Cx {
    pub(super) sh: Arc<Shared>,
    pub(super) t: Types,
}

impl Cx {
    pub(super) fn new(sh: Arc<Shared>) -> Option<Self> {
        Some(Self {
            sh,
            t: Types::new()?,
        })
    }

    #[allow(clippy::too_many_arguments)] // one call site per event kind; a struct adds nothing
    pub(super) fn event(
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
}

pub(super) fn controller_ref(v: &Value) -> Option<(&str, &str)> {
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

pub(super) fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name_of(owner), "uid": uid_of(owner), "controller": true, "blockOwnerDeletion": true})
}

pub(super) fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}
