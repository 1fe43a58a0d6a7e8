//! Garbage collection of owned objects: ReplicaSets whose Deployment is gone, pods whose
//! ReplicaSet is gone (background propagation, as `kubectl delete` asks by default).

use std::collections::HashSet;

use super::cx::{Cx, controller_ref};
use crate::k8s::util::{name_of, namespace_of, uid_of};

pub(super) fn collect(cx: &Cx) {
    let (deploys, _) = cx.sh.store.list_in(cx.t.deploy, None);
    let deploy_uids: HashSet<&str> = deploys.iter().map(|d| uid_of(&d.value)).collect();
    let (sets, _) = cx.sh.store.list_in(cx.t.rs, None);
    for rs in &sets {
        if let Some(owner) = controller_ref(&rs.value)
            && owner.0 == "Deployment"
            && !deploy_uids.contains(owner.1)
        {
            let _ = cx.sh.store.delete_in(
                cx.t.rs,
                namespace_of(&rs.value),
                name_of(&rs.value),
                None,
                false,
            );
        }
    }
    let (sets, _) = cx.sh.store.list_in(cx.t.rs, None);
    let rs_uids: HashSet<&str> = sets.iter().map(|r| uid_of(&r.value)).collect();
    let (pods, _) = cx.sh.store.list_in(cx.t.pods, None);
    for p in &pods {
        if let Some(owner) = controller_ref(&p.value)
            && owner.0 == "ReplicaSet"
            && !rs_uids.contains(owner.1)
        {
            let _ = cx.sh.store.delete_in(
                cx.t.pods,
                namespace_of(&p.value),
                name_of(&p.value),
                None,
                false,
            );
        }
    }
}
