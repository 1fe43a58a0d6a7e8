//! RBAC: requests are authorized for the kubeconfig's user (or the impersonated one) against
//! the Roles and bindings in the cluster, refused with the real server's 403 Status, and
//! answered by SelfSubjectAccessReview / RulesReview / SelfSubjectReview; checked with the real
//! kubectl (`auth can-i`, `--as`, `auth whoami`) and on the wire.

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Identity};
use serde_json::json;

use crate::common::{Out, http_with, ok, run};

async fn rbac_fleet() -> FakeCluster {
    FakeCluster::builder()
        .seed_fleet()
        .rbac()
        .start()
        .await
        .expect("start")
}

async fn as_user(c: &FakeCluster, id: &Identity, args: &[&str]) -> Out {
    let mut cmd = c.kubectl_as(id).expect("kubeconfig");
    cmd.args(args);
    run(cmd).await
}

fn bearer(c: &FakeCluster, id: &Identity) -> String {
    format!("Bearer {}", c.token_for(id))
}

const PODS: &str = "/api/v1/namespaces/fleet-management/pods";
const SCALE: &str = "/apis/apps/v1/namespaces/fleet-management/deployments/fleet-api/scale";
const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_real_status_and_roles_grant_exactly_their_rules() {
    let c = rbac_fleet().await;
    let jane = Identity::user("jane");
    let auth = bearer(&c, &jane);

    // The exact body of a refused list, and of the runbook's scale (procedures: 403 body).
    let r = http_with(&c, "GET", PODS, &[("Authorization", &auth)], "").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"fleet-management\"",
            "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403})
    );
    let r = http_with(
        &c,
        "PATCH",
        SCALE,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/merge-patch+json"),
        ],
        r#"{"spec":{"replicas":5}}"#,
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "deployments.apps \"fleet-api\" is forbidden: User \"jane\" cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace \"fleet-management\"",
            "reason": "Forbidden", "details": {"name": "fleet-api", "group": "apps", "kind": "deployments"}, "code": 403})
    );
    let r = http_with(&c, "GET", "/api/v1/nodes", &[("Authorization", &auth)], "").await;
    assert_eq!(
        r.json()["message"],
        "nodes is forbidden: User \"jane\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
    );
    // Discovery and version are open to every authenticated user; anonymous users get only
    // the public information; unknown tokens are 401.
    for path in ["/apis", "/api/v1", "/version"] {
        assert_eq!(
            http_with(&c, "GET", path, &[("Authorization", &auth)], "")
                .await
                .status,
            200,
            "{path}"
        );
    }
    let anonymous = [("Impersonate-User", "system:anonymous")];
    assert_eq!(
        http_with(&c, "GET", "/version", &anonymous, "")
            .await
            .status,
        200
    );
    let anon = http_with(&c, "GET", "/apis", &anonymous, "").await;
    assert_eq!(
        anon.json()["message"],
        "forbidden: User \"system:anonymous\" cannot get path \"/apis\""
    );
    let bad = http_with(&c, "GET", PODS, &[("Authorization", "Bearer nope")], "").await;
    assert_eq!(
        bad.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );

    // With the real kubectl.
    let out = as_user(&c, &jane, &["get", "pods"]).await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"fleet-management\""),
        "{}",
        out.stderr
    );
    // An administrator grants a narrow Role: get deployments, patch their scale.
    ok(
        &c,
        &[
            "create",
            "role",
            "fleet-scaler",
            "--verb=get,patch",
            "--resource=deployments,deployments/scale",
        ],
    )
    .await;
    ok(
        &c,
        &[
            "create",
            "rolebinding",
            "fleet-scaler",
            "--role=fleet-scaler",
            "--user=jane",
        ],
    )
    .await;
    let out = as_user(&c, &jane, &["scale", "deploy/fleet-api", "--replicas=4"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        c.store()
            .get("deploy", FLEET_NAMESPACE, "fleet-api")
            .unwrap()["spec"]["replicas"],
        4
    );
    let out = as_user(&c, &jane, &["delete", "deploy", "fleet-api"]).await;
    assert!(
        !out.ok
            && out
                .stderr
                .contains("cannot delete resource \"deployments\""),
        "{}",
        out.stderr
    );
    let yes = as_user(&c, &jane, &["auth", "can-i", "patch", "deployments/scale"]).await;
    assert!(
        yes.ok && yes.stdout.trim() == "yes",
        "{} {}",
        yes.stdout,
        yes.stderr
    );
    let no = as_user(&c, &jane, &["auth", "can-i", "delete", "deployments"]).await;
    assert!(
        !no.ok && no.stdout.trim() == "no",
        "{} {}",
        no.stdout,
        no.stderr
    );
    let list = as_user(&c, &jane, &["auth", "can-i", "--list"]).await;
    assert!(
        list.ok && list.stdout.contains("deployments.apps/scale"),
        "{}",
        list.stdout
    );
    let who = as_user(&c, &jane, &["auth", "whoami"]).await;
    assert!(
        who.ok && who.stdout.contains("jane") && who.stdout.contains("system:authenticated"),
        "{}",
        who.stdout
    );

    // SelfSubjectAccessReview on the wire: 201, the reason names the binding.
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "fleet-management", "verb": "patch", "group": "apps",
            "resource": "deployments", "subresource": "scale", "name": "fleet-api"}}});
    let r = http_with(
        &c,
        "POST",
        SSAR,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &review.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.json()["status"],
        json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"fleet-scaler/fleet-management\" of Role \"fleet-scaler\" to User \"jane\""})
    );
    assert_eq!(r.json()["spec"], review["spec"]);
    let neither = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}});
    let r = http_with(
        &c,
        "POST",
        SSAR,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &neither.to_string(),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // A binding to a Role that does not exist: the refusal says why.
    ok(
        &c,
        &[
            "create",
            "rolebinding",
            "ghost",
            "--role=ghost",
            "--user=jane",
        ],
    )
    .await;
    let r = http_with(
        &c,
        "GET",
        "/api/v1/namespaces/fleet-management/secrets",
        &[("Authorization", &auth)],
        "",
    )
    .await;
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .ends_with(": RBAC: role.rbac.authorization.k8s.io \"ghost\" not found"),
        "{}",
        r.body
    );

    // Exec needs both get and create on pods/exec (a WebSocket upgrade is a GET).
    ok(
        &c,
        &[
            "create",
            "role",
            "exec-only-create",
            "--verb=create",
            "--resource=pods/exec",
        ],
    )
    .await;
    ok(
        &c,
        &[
            "create",
            "rolebinding",
            "exec-only-create",
            "--role=exec-only-create",
            "--user=jane",
        ],
    )
    .await;
    let r = http_with(
        &c,
        "GET",
        &format!("{PODS}/fleet-postgres-0/exec?command=true"),
        &[("Authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("cannot get resource \"pods/exec\""),
        "{}",
        r.body
    );
    let log = c.requests();
    assert!(log.iter().any(|x| x.user == "jane" && x.status == 403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_and_service_accounts() {
    let c = rbac_fleet().await;
    // The seeded RoleBinding lets the fleet-api service account manage deployments.
    let sa = Identity::service_account(FLEET_NAMESPACE, "fleet-api");
    let out = as_user(&c, &sa, &["get", "deploy"]).await;
    assert!(out.ok, "{}", out.stderr);
    let out = as_user(&c, &sa, &["get", "pods"]).await;
    assert!(
        out.stderr.contains("User \"system:serviceaccount:fleet-management:fleet-api\" cannot list resource \"pods\""),
        "{}",
        out.stderr
    );
    // The administrator impersonates with --as / --as-group.
    let out = ok(
        &c,
        &[
            "auth",
            "can-i",
            "patch",
            "deployments",
            "--as=system:serviceaccount:fleet-management:fleet-api",
        ],
    )
    .await;
    assert_eq!(out.trim(), "yes");
    let out = crate::common::kubectl(&c, &["get", "pods", "--as=jane"]).await;
    assert!(
        !out.ok && out.stderr.contains("User \"jane\" cannot list"),
        "{}",
        out.stderr
    );
    let out = ok(
        &c,
        &["get", "pods", "--as=jane", "--as-group=system:masters"],
    )
    .await;
    assert!(out.contains("fleet-postgres-0"), "{out}");
    let who = ok(&c, &["auth", "whoami", "--as=jane", "--as-group=ops"]).await;
    assert!(who.contains("jane") && who.contains("ops"), "{who}");
    // A caller with her own credentials and without the impersonate verb cannot.
    let jane = Identity::user("jane");
    let r = http_with(
        &c,
        "GET",
        PODS,
        &[
            ("Authorization", &bearer(&c, &jane)),
            ("Impersonate-User", "bob"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "users \"bob\" is forbidden: User \"jane\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
    // Anonymous, through a kubeconfig: only the public information.
    let out = as_user(&c, &Identity::anonymous(), &["get", "--raw", "/version"]).await;
    assert!(out.ok, "{}", out.stderr);
    let out = as_user(&c, &Identity::anonymous(), &["get", "pods"]).await;
    assert!(!out.ok);
    let r = http_with(
        &c,
        "GET",
        PODS,
        &[
            ("Authorization", &bearer(&c, &Identity::admin())),
            ("Impersonate-Group", "ops"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rbac_everyone_may_and_reviews_say_so() {
    let c = crate::common::fleet().await;
    let jane = Identity::user("jane");
    let out = as_user(&c, &jane, &["get", "pods"]).await;
    assert!(out.ok, "{}", out.stderr);
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "fleet-management", "verb": "delete", "resource": "pods"}}});
    let r = http_with(
        &c,
        "POST",
        SSAR,
        &[
            ("Authorization", &bearer(&c, &jane)),
            ("Content-Type", "application/json"),
        ],
        &review.to_string(),
    )
    .await;
    assert_eq!(r.json()["status"], json!({"allowed": true}));
    // Turned on later, the same user is refused.
    c.set_rbac(true);
    let out = as_user(&c, &jane, &["get", "pods"]).await;
    assert!(!out.ok);
    let cr = ok(
        &c,
        &[
            "get",
            "clusterrolebinding",
            "system:basic-user",
            "-o",
            "wide",
        ],
    )
    .await;
    assert!(
        cr.contains("ClusterRole/system:basic-user") && cr.contains("system:authenticated"),
        "{cr}"
    );
}
