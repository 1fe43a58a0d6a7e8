//! The garbage collector: an object whose owners (`metadata.ownerReferences`) are all gone is
//! deleted, as the real collector does with background propagation (the default of
//! `kubectl delete`). Dependents of dependents go in the same pass.

use std::collections::HashSet;

use super::cx::Cx;
use crate::k8s::util::{name_of, namespace_of, uid_of};

pub(super) fn collect(cx: &Cx) {
    // A deletion can orphan further objects (a Deployment's ReplicaSets, then their pods).
    for _ in 0..8 {
        let all = cx.sh.store.all();
        let uids: HashSet<&str> = all.iter().map(|(_, s)| uid_of(&s.value)).collect();
        let mut deleted = false;
        for (rt, s) in &all {
            let Some(refs) = s.value["metadata"]["ownerReferences"]
                .as_array()
                .filter(|r| !r.is_empty())
            else {
                continue;
            };
            let orphaned = refs
                .iter()
                .all(|r| !uids.contains(r["uid"].as_str().unwrap_or("")));
            if orphaned
                && cx
                    .sh
                    .store
                    .delete_in(rt, namespace_of(&s.value), name_of(&s.value), None, false)
                    .is_ok()
            {
                deleted = true;
            }
        }
        if !deleted {
            return;
        }
    }
}
