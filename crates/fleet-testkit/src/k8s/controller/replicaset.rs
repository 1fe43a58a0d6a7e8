//! The ReplicaSet controller: creates and deletes pods to match `spec.replicas` (not-ready and
//! newest pods go first) and reports counts in status.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::cx::{Cx, controller_ref, owner_ref, pod_ready};
use crate::k8s::store::Stored;
use crate::k8s::util::{i64_at, name_of, namespace_of, random_suffix, str_at, uid_of};

pub(super) fn sync_all(cx: &Cx) {
    let (sets, _) = cx.sh.store.list_in(cx.t.rs, None);
    let (pods, _) = cx.sh.store.list_in(cx.t.pods, None);
    let mut by_owner: HashMap<&str, Vec<Arc<Stored>>> = HashMap::new();
    for p in &pods {
        if let Some((_, uid)) = controller_ref(&p.value) {
            by_owner.entry(uid).or_default().push(p.clone());
        }
    }
    for rs in &sets {
        let mine = by_owner.remove(uid_of(&rs.value)).unwrap_or_default();
        sync(cx, rs, mine);
    }
}

fn sync(cx: &Cx, rs: &Arc<Stored>, mut mine: Vec<Arc<Stored>>) {
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
            let pod =
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tpl["spec"]});
            if cx.sh.store.create(cx.t.pods, &ns, pod, false).is_ok() {
                count += 1;
                cx.event(
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
            if cx
                .sh
                .store
                .delete_in(cx.t.pods, &ns, &pname, None, false)
                .is_ok()
            {
                count -= 1;
                if pod_ready(&p.value) {
                    ready -= 1;
                }
                cx.event(
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
    let _ = cx.sh.store.modify_in(cx.t.rs, &ns, &name, |v| {
        let mut st = json!({"replicas": count, "observedGeneration": v["metadata"]["generation"]});
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
