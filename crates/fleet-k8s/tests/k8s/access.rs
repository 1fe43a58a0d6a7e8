//! `can_i` against FakeCluster's authorizer: the administrator may, a user without roles may
//! not, and a role grants exactly its rules.

use fleet_k8s::{Access, AccessCheck, KubeCluster};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};

use crate::common::{config, kube_cluster, kubectl, options};

/// A client acting as `user` (FakeCluster takes an impersonation header from an
/// unauthenticated caller as kubectl's `--as`).
fn as_user(cluster: &FakeCluster, user: &str) -> KubeCluster {
    let mut cfg = config(cluster);
    cfg.auth_info.impersonate = Some(user.into());
    KubeCluster::from_config(cfg, options()).expect("valid options")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_i_asks_the_authorizer_once_per_question() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .rbac()
        .start()
        .await
        .expect("fake cluster starts");
    let patch = AccessCheck::new("patch", "deployments", "apps", FLEET_NAMESPACE);
    let scale =
        AccessCheck::new("patch", "deployments", "apps", FLEET_NAMESPACE).with_subresource("scale");

    let admin = kube_cluster(&c);
    c.clear_requests();
    let d = admin.can_i(&patch).await.expect("review answered");
    assert!(d.allowed, "{d:?}");
    let reviews: Vec<_> = c.requests();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].op, Op::Create);
    assert_eq!(
        reviews[0].path,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    );

    let jane = as_user(&c, "jane");
    assert!(!jane.can_i(&patch).await.expect("answered").allowed);

    // A role that lets jane patch deployments, not their scale subresource.
    let (ok, _, err) = kubectl(
        &c,
        &[
            "create",
            "role",
            "deployer",
            "--verb=get,patch",
            "--resource=deployments.apps",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = kubectl(
        &c,
        &[
            "create",
            "rolebinding",
            "deployer",
            "--role=deployer",
            "--user=jane",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(jane.can_i(&patch).await.expect("answered").allowed);
    assert!(!jane.can_i(&scale).await.expect("answered").allowed);

    // kubectl agrees.
    let (ok, out, _) = kubectl(
        &c,
        &[
            "auth",
            "can-i",
            "patch",
            "deployments",
            "--subresource=scale",
            "--as=jane",
        ],
    )
    .await;
    assert!(!ok && out.trim() == "no", "{out}");

    let empty = AccessCheck::new("", "deployments", "apps", FLEET_NAMESPACE);
    assert!(
        admin
            .can_i(&empty)
            .await
            .is_err_and(|e| e.is_invalid_input())
    );
}

/// One rules review answers every question the same way `can_i` does, for a user with a Role,
/// one without, and the administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rules_review_agrees_with_the_access_reviews() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .rbac()
        .start()
        .await
        .expect("fake cluster starts");
    let (ok, _, err) = kubectl(
        &c,
        &[
            "create",
            "role",
            "scaler",
            "--verb=get,list,watch",
            "--resource=deployments.apps,pods",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = kubectl(
        &c,
        &[
            "create",
            "role",
            "scaler-write",
            "--verb=patch",
            "--resource=deployments.apps/scale",
        ],
    )
    .await;
    assert!(ok, "{err}");
    for role in ["scaler", "scaler-write"] {
        let (ok, _, err) = kubectl(
            &c,
            &[
                "create",
                "rolebinding",
                role,
                &format!("--role={role}"),
                "--user=sam",
            ],
        )
        .await;
        assert!(ok, "{err}");
    }
    let checks = [
        AccessCheck::new("get", "deployments", "apps", FLEET_NAMESPACE),
        AccessCheck::new("watch", "pods", "", FLEET_NAMESPACE),
        AccessCheck::new("patch", "deployments", "apps", FLEET_NAMESPACE),
        AccessCheck::new("patch", "deployments", "apps", FLEET_NAMESPACE).with_subresource("scale"),
        AccessCheck::new("get", "pods", "", FLEET_NAMESPACE).with_subresource("log"),
        AccessCheck::new("list", "secrets", "", FLEET_NAMESPACE),
    ];
    for who in [as_user(&c, "sam"), as_user(&c, "nobody"), kube_cluster(&c)] {
        c.clear_requests();
        let rules = who.rules(FLEET_NAMESPACE).await.expect("rules review");
        assert_eq!(c.requests().len(), 1, "one request");
        assert_eq!(
            c.requests()[0].path,
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
        );
        for check in &checks {
            let listed = rules.allows(check).expect("a complete list answers");
            let asked = who.can_i(check).await.expect("review").allowed;
            assert_eq!(listed, asked, "{check:?} in {rules:?}");
        }
    }
    assert!(
        kube_cluster(&c)
            .rules(" ")
            .await
            .is_err_and(|e| e.is_invalid_input())
    );
}
