//! Least privilege on FakeCluster with RBAC on: a rollback's fleet-k8s calls succeed as a
//! service account bound to the generated Role, and without any one verb of it the access
//! check fails, typed and naming the verb and resource, before any write.

use std::time::Duration;

use fleet_k8s::{ClusterOptions, Deployments, KubeCluster, SetImageOptions};
use fleet_runbook::{permissions, rbac_table, role, verify_access};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Identity};
use serde_json::{Value, json};

const SA: &str = "fleet-rollback";

async fn client_for(path: &std::path::Path) -> KubeCluster {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    KubeCluster::from_config(
        config,
        ClusterOptions::default().with_namespace(FLEET_NAMESPACE),
    )
    .expect("client")
}

/// The role's JSON with `verb` removed from the rule on `group`/`resource` (and the rule gone
/// when it has no verb left).
fn without(role: &Value, group: &str, resource: &str, verb: &str) -> Value {
    let mut role = role.clone();
    let rules = role["rules"].as_array_mut().expect("rules");
    for rule in rules.iter_mut() {
        if rule["apiGroups"] == json!([group]) && rule["resources"] == json!([resource]) {
            let verbs = rule["verbs"].as_array_mut().expect("verbs");
            verbs.retain(|v| v != verb);
        }
    }
    rules.retain(|r| r["verbs"].as_array().is_some_and(|v| !v.is_empty()));
    role
}

fn put_role(fake: &FakeCluster, role: &Value) {
    let role = role.clone();
    fake.store()
        .modify("roles", FLEET_NAMESPACE, "fleet-rollback", move |r| {
            r["rules"] = role["rules"].clone();
        })
        .expect("role updated");
}

fn writes(fake: &FakeCluster) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/selfsubjectaccessreviews"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn a_rollback_runs_under_its_role_and_fails_early_without_any_verb_of_it() {
    let fake = FakeCluster::builder()
        .seed_fleet()
        .pod_ready_after(Duration::from_millis(50))
        .rbac()
        .start()
        .await
        .expect("fake cluster");
    // A second revision to roll back from, made by the administrator.
    let admin = client_for(fake.kubeconfig_path()).await;
    admin
        .set_image(
            "fleet-api",
            "fleet-api",
            "registry.example.com/fleet/fleet-api:9.9.9",
            Some(SetImageOptions::default()),
        )
        .await
        .expect("set image");
    let two = fake
        .wait_until(Duration::from_secs(10), |s| {
            s.list("replicasets", Some(FLEET_NAMESPACE))
                .iter()
                .filter(|r| {
                    r["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("fleet-api-"))
                })
                .count()
                >= 2
        })
        .await;
    assert!(two, "the deployment controller made a second ReplicaSet");

    // The service account, its Role from the generator, and the binding.
    let perms = permissions("rollback").expect("rollback permissions");
    let generated = serde_json::to_value(role("rollback", FLEET_NAMESPACE, perms).expect("role"))
        .expect("json");
    assert_eq!(generated["kind"], json!("Role"));
    fake.store()
        .insert(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": SA, "namespace": FLEET_NAMESPACE}}))
        .expect("sa");
    fake.store().insert(generated.clone()).expect("role");
    fake.store()
        .insert(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "fleet-rollback", "namespace": FLEET_NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fleet-rollback"},
            "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": FLEET_NAMESPACE}]}))
        .expect("binding");
    let path = fake
        .kubeconfig_for(&Identity::service_account(FLEET_NAMESPACE, SA))
        .expect("kubeconfig");
    let sa = client_for(&path).await;

    // Without any one verb: refused by the check, naming it, with nothing written.
    let mut checked = 0;
    for p in perms {
        for verb in p.verbs {
            put_role(
                &fake,
                &without(&generated, p.group, &p.rule_resource(), verb),
            );
            fake.clear_requests();
            let err = verify_access(sa.client(), "rollback", FLEET_NAMESPACE, perms)
                .await
                .expect_err("a verb is missing");
            assert!(err.is_auth(), "{err}");
            let text = err.to_string();
            let want = format!("cannot {verb} resource \"{}\"", p.rule_resource());
            assert!(text.contains(&want), "{want} in {text}");
            assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "every verb of the set was removed once ({checked})"
    );

    // The server's own refusal of the write is typed too, with the real 403 wording.
    put_role(&fake, &without(&generated, "apps", "deployments", "patch"));
    let refused = sa
        .rollout_undo("fleet-api", None)
        .await
        .expect_err("patch is not granted");
    assert!(refused.is_forbidden(), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("cannot patch resource \"deployments\""),
        "{refused}"
    );

    // With the whole Role: the check passes and the rollback's calls succeed.
    put_role(&fake, &generated);
    verify_access(sa.client(), "rollback", FLEET_NAMESPACE, perms)
        .await
        .expect("allowed");
    let before = sa.get_deployment("fleet-api").await.expect("get");
    let history = sa.rollout_history("fleet-api").await.expect("history");
    assert!(history.len() >= 2, "{history:?}");
    sa.rollout_undo("fleet-api", None).await.expect("undo");
    let after = sa.get_deployment("fleet-api").await.expect("get");
    assert!(
        before.images.iter().any(|i| i.image.ends_with(":9.9.9")),
        "{:?}",
        before.images
    );
    assert!(
        after.images.iter().all(|i| !i.image.ends_with(":9.9.9")),
        "the template went back: {:?}",
        after.images
    );
}

/// `docs/rbac.md` carries the generated table; `FLEET_UPDATE_DOCS=1` rewrites it.
#[test]
fn docs_rbac_md_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rbac.md");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (begin, end) = ("<!-- rbac-table:begin -->\n", "<!-- rbac-table:end -->");
    let table = rbac_table();
    let current = match (text.find(begin), text.find(end)) {
        (Some(b), Some(e)) if b < e => text[b + begin.len()..e] == table,
        _ => false,
    };
    if !current && std::env::var_os("FLEET_UPDATE_DOCS").is_some() {
        let (b, e) = (
            text.find(begin).expect("begin marker"),
            text.find(end).expect("end marker"),
        );
        let updated = format!("{}{begin}{table}{}", &text[..b], &text[e..]);
        std::fs::write(path, updated).expect("write docs/rbac.md");
        return;
    }
    assert!(
        current,
        "docs/rbac.md is stale: run FLEET_UPDATE_DOCS=1 cargo test -p fleet-runbook --test runbook docs_rbac"
    );
}

/// `deploy/fleet-runbook.yaml` is `in_cluster_objects` for the defaults; `FLEET_UPDATE_DOCS=1`
/// rewrites it.
#[test]
fn deploy_manifests_are_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/fleet-runbook.yaml"
    );
    let objects = fleet_runbook::in_cluster_objects(&fleet_runbook::ScheduleOptions::default())
        .expect("objects");
    let want = objects.to_documents().expect("documents");
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have != want && std::env::var_os("FLEET_UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).expect("write deploy/fleet-runbook.yaml");
        return;
    }
    assert!(
        have == want,
        "deploy/fleet-runbook.yaml is stale: run FLEET_UPDATE_DOCS=1 cargo test -p fleet-runbook --test runbook deploy_manifests"
    );
}
