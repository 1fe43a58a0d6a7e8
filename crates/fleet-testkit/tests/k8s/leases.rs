//! coordination.k8s.io/v1 Leases as a per-target lock needs them: conditional updates (409 on
//! a stale resourceVersion, 422 without one), create on PUT, exactly one winner when holders
//! race, and `kubectl get leases`.

use fleet_testkit::k8s::FakeCluster;
use serde_json::{Value, json};

use crate::common::{assert_status, fleet, http, ok};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/fleet-management/leases";
const JSON: Option<&str> = Some("application/json");

fn lease(name: &str, holder: &str, rv: Option<&str>) -> String {
    static RENEWALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    // Every write renews: a PUT identical to the stored object would be a no-op that keeps the
    // resourceVersion, as on the real server.
    let n = RENEWALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut l = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "fleet-management"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
            "acquireTime": "2026-11-27T10:00:00.000000Z", "renewTime": format!("2026-11-27T10:00:05.{n:06}Z"),
            "leaseTransitions": 0},
    });
    if let Some(rv) = rv {
        l["metadata"]["resourceVersion"] = json!(rv);
    }
    l.to_string()
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn put(c: &FakeCluster, name: &str, holder: &str, rv: Option<&str>) -> crate::common::Resp {
    http(
        c,
        "PUT",
        &format!("{LEASES}/{name}"),
        JSON,
        &lease(name, holder, rv),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_conditional_and_one_holder_wins() {
    let c = fleet().await;
    let created = http(
        &c,
        "POST",
        LEASES,
        JSON,
        &lease("deploy-fleet-api", "alice", None),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let v1 = rv(&created.json());
    assert_eq!(
        created.json()["spec"]["renewTime"],
        "2026-11-27T10:00:05.000000Z"
    );

    // The holder renews with the version it read.
    let renewed = put(&c, "deploy-fleet-api", "alice", Some(&v1)).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let v2 = rv(&renewed.json());
    assert_ne!(v1, v2);

    // A second engineer with the old version is refused, with the real server's Status.
    let stale = put(&c, "deploy-fleet-api", "bob", Some(&v1)).await;
    assert_status(&stale, 409, "Conflict");
    let body = stale.json();
    assert_eq!(
        body["message"],
        "Operation cannot be fulfilled on leases.coordination.k8s.io \"deploy-fleet-api\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        body["details"],
        json!({"name": "deploy-fleet-api", "group": "coordination.k8s.io", "kind": "leases"})
    );

    // A Lease update must name the version it replaces.
    let blind = put(&c, "deploy-fleet-api", "bob", None).await;
    assert_status(&blind, 422, "Invalid");
    assert_eq!(
        blind.json()["message"],
        "leases.coordination.k8s.io \"deploy-fleet-api\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    );
    assert_eq!(
        blind.json()["details"]["causes"][0]["field"],
        "metadata.resourceVersion"
    );

    // PUT to a missing name creates it (client-go's lock does GET, then Create or Update).
    let fresh = put(&c, "restore-fleetdb", "cronjob/nightly", None).await;
    assert_eq!(fresh.status, 201, "{}", fresh.body);

    // Eight candidates race from the same version: exactly one takes the lock.
    let mut racers = Vec::new();
    for i in 0..8 {
        let addr = c.addr();
        let v2 = v2.clone();
        racers.push(tokio::spawn(async move {
            http(
                &addr,
                "PUT",
                &format!("{LEASES}/deploy-fleet-api"),
                JSON,
                &lease("deploy-fleet-api", &format!("racer-{i}"), Some(&v2)),
            )
            .await
            .status
        }));
    }
    let mut codes = Vec::new();
    for r in racers {
        codes.push(r.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409, 409, 409], "{codes:?}");
    let holder = c
        .store()
        .get("leases", "fleet-management", "deploy-fleet-api")
        .unwrap();
    assert!(
        holder["spec"]["holderIdentity"]
            .as_str()
            .unwrap()
            .starts_with("racer-")
    );

    // Validation of the spec.
    let mut bad: Value = serde_json::from_str(&lease("bad", "x", None)).unwrap();
    bad["spec"]["leaseDurationSeconds"] = json!(0);
    let r = http(&c, "POST", LEASES, JSON, &bad.to_string()).await;
    assert_status(&r, 422, "Invalid");

    // kubectl shows who holds what.
    let out = ok(&c, &["get", "leases"]).await;
    assert!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            == ["NAME", "HOLDER", "AGE"],
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("restore-fleetdb") && l.contains("cronjob/nightly")),
        "{out}"
    );
}
