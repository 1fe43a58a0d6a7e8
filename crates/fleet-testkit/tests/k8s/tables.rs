//! `kubectl get` of every kind FakeCluster serves, through the real kubectl: the headers are
//! the real server's columns (kubernetes `pkg/printers/internalversion/printers.go`, plus the
//! default `NAME` / `CREATED AT` of kinds without a printer), and the cells say what the
//! objects hold.

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use serde_json::json;

use crate::common::{fleet, ok};

/// The header line split into column names (kubectl pads columns with at least 3 spaces).
fn header(out: &str) -> Vec<String> {
    let first = out.lines().next().unwrap_or_default();
    first
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The cells of the row that starts with `name`.
fn row(out: &str, name: &str) -> Vec<String> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in\n{out}"));
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

async fn get(c: &FakeCluster, args: &[&str]) -> String {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    ok(c, &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_prints_the_real_servers_columns() {
    let c = fleet().await;
    // Objects of the kinds the seed does not have.
    for obj in [
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": FLEET_NAMESPACE},
            "spec": {"schedule": "0 2 * * *", "timeZone": "Etc/UTC", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "backup", "image": "busybox:1.36", "command": ["true"]}]}}}}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": FLEET_NAMESPACE},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "agent", "image": "agent:1"}]}}}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "fleet-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": FLEET_NAMESPACE},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    ] {
        c.store().insert(obj).expect("insert");
    }
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["pods", "-o", "wide"],
            &[
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES",
            ],
        ),
        (
            &["deploy", "-o", "wide"],
            &[
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR",
            ],
        ),
        (&["rs"], &["NAME", "DESIRED", "CURRENT", "READY", "AGE"]),
        (
            &["sts", "-o", "wide"],
            &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"],
        ),
        (
            &["ds"],
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
        ),
        (
            &["svc", "-o", "wide"],
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "SELECTOR",
            ],
        ),
        (
            &["ingress"],
            &["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        ),
        (&["secrets"], &["NAME", "TYPE", "DATA", "AGE"]),
        (&["configmaps"], &["NAME", "DATA", "AGE"]),
        (&["serviceaccounts"], &["NAME", "SECRETS", "AGE"]),
        (
            &["hpa"],
            &[
                "NAME",
                "REFERENCE",
                "TARGETS",
                "MINPODS",
                "MAXPODS",
                "REPLICAS",
                "AGE",
            ],
        ),
        (&["netpol"], &["NAME", "POD-SELECTOR", "AGE"]),
        (&["roles"], &["NAME", "CREATED AT"]),
        (
            &["rolebindings", "-o", "wide"],
            &["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        ),
        (
            &["cronjobs"],
            &[
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
        ),
        (
            &["pvc"],
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
            ],
        ),
        (
            &["events", "-o", "wide"],
            &[
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "SUBOBJECT",
                "SOURCE",
                "MESSAGE",
                "FIRST SEEN",
                "COUNT",
                "NAME",
            ],
        ),
        (
            &["nodes", "-o", "wide"],
            &[
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
            ],
        ),
        (&["namespaces"], &["NAME", "STATUS", "AGE"]),
        (&["clusterroles"], &["NAME", "CREATED AT"]),
    ];
    for (args, want) in cases {
        let out = get(&c, args).await;
        assert_eq!(header(&out), *want, "kubectl get {args:?}\n{out}");
    }

    let ing = row(&get(&c, &["ingress"]).await, "fleet-ingress");
    assert_eq!(
        ing[1..5],
        ["nginx", "fleet.example.com", "20.62.0.10", "80, 443"],
        "{ing:?}"
    );
    let secret = row(&get(&c, &["secrets"]).await, "fleet-db-credentials");
    assert_eq!(secret[1..3], ["Opaque", "2"], "{secret:?}");
    let cm = row(&get(&c, &["configmaps"]).await, "fleet-config");
    assert_eq!(cm[1], "2");
    let sts = row(&get(&c, &["sts"]).await, "fleet-postgres");
    assert_eq!(sts[1], "1/1");
    let rb = row(
        &get(&c, &["rolebindings", "-o", "wide"]).await,
        "fleet-deployer",
    );
    assert_eq!(rb[1], "Role/fleet-deployer");
    assert_eq!(
        rb.last().map(String::as_str),
        Some("fleet-management/fleet-api"),
        "{rb:?}"
    );
    let np = row(&get(&c, &["netpol"]).await, "fleet-postgres-ingress");
    assert_eq!(np[1], "app=fleet-postgres");
    let cj = row(&get(&c, &["cronjobs"]).await, "nightly");
    assert_eq!(
        cj[1..6],
        ["0 2 * * *", "Etc/UTC", "False", "0", "<none>"],
        "{cj:?}"
    );
    let ds = row(&get(&c, &["ds"]).await, "agent");
    assert_eq!(ds[6], "kubernetes.io/os=linux");
    let pvc = row(&get(&c, &["pvc"]).await, "data");
    assert_eq!(pvc[1], "Pending", "{pvc:?}");
    let role = row(&get(&c, &["roles"]).await, "fleet-deployer");
    assert!(
        role[1].ends_with('Z') && role[1].contains('T'),
        "RFC 3339: {role:?}"
    );
    let hpa = row(&get(&c, &["hpa"]).await, "fleet-api");
    assert_eq!(
        hpa[1..6],
        ["Deployment/fleet-api", "cpu: 35%/70%", "3", "10", "3"],
        "{hpa:?}"
    );
}
