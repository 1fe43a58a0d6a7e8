//! `LeaseLock` on FakeCluster's Leases: races, a crashed holder, renewal, release, 409s.

use std::time::Duration;

use fleet_guard::{LockRequest, TargetLock};
use fleet_k8s::{LOCK_REASON_ANNOTATION, LeaseLock, LeaseLockOptions};
use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster, Op};
use serde_json::json;

use crate::common::kube_cluster;

const TARGET: &str = "deployment/fleet-management/fleet-api";

async fn cluster() -> FakeCluster {
    FakeCluster::builder()
        .seed_fleet()
        .without_controllers()
        .start()
        .await
        .expect("fake cluster starts")
}

/// A lock as one machine would have it: its own client, no clock-skew allowance (tests judge
/// expiry to the second).
fn lock(cluster: &FakeCluster) -> LeaseLock {
    let opts = LeaseLockOptions::default()
        .with_clock_skew(Duration::ZERO)
        .with_renew_every(Duration::from_millis(300));
    LeaseLock::new(&kube_cluster(cluster), opts).expect("valid options")
}

fn request(holder: &str, reason: &str, ttl_secs: u64) -> LockRequest {
    LockRequest {
        target: TARGET.into(),
        holder: holder.into(),
        reason: reason.into(),
        ttl: Duration::from_secs(ttl_secs),
    }
}

fn stored_holder(cluster: &FakeCluster, name: &str) -> Option<String> {
    cluster
        .store()
        .get("leases", FLEET_NAMESPACE, name)
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
}

#[tokio::test]
async fn of_two_racing_runs_one_wins_and_the_other_sees_who_and_why() {
    let fake = cluster().await;
    let (a, b) = (lock(&fake), lock(&fake));
    let ra = request("alice/run-1", "deploy 1.5.0 (CHG-1)", 30);
    let rb = request("cronjob/backup-2", "nightly backup", 30);
    let (ga, gb) = tokio::join!(a.acquire(&ra), b.acquire(&rb));
    let (winner, loser, won_by) = match (ga, gb) {
        (Ok(h), Err(e)) => (h, e, &ra),
        (Err(e), Ok(h)) => (h, e, &rb),
        (x, y) => panic!("exactly one must win: {:?} / {:?}", x.is_ok(), y.is_ok()),
    };
    assert!(loser.is_locked(), "{loser}");
    let shown = loser.lock_holder().expect("holder shown");
    assert_eq!(shown.holder, won_by.holder);
    assert_eq!(shown.reason, won_by.reason);
    assert_eq!(shown.target, TARGET);
    let text = loser.to_string();
    assert!(
        text.contains(&won_by.holder) && text.contains(&won_by.reason),
        "{text}"
    );
    // Stored as the Lease says it.
    let name = a.lease_name(TARGET).expect("name");
    assert_eq!(
        stored_holder(&fake, &name).as_deref(),
        Some(won_by.holder.as_str())
    );
    let lease = fake
        .store()
        .get("leases", FLEET_NAMESPACE, &name)
        .expect("lease");
    assert_eq!(
        lease["metadata"]["annotations"][LOCK_REASON_ANNOTATION],
        json!(won_by.reason)
    );
    assert_eq!(lease["spec"]["leaseDurationSeconds"], json!(30));
    // `current` agrees.
    let now = b.current(TARGET).await.expect("read").expect("held");
    assert_eq!(now.holder, won_by.holder);
    assert!(winner.is_held());
    winner.release().await.expect("release");
}

#[tokio::test]
async fn a_crashed_holder_is_taken_over_only_after_expiry() {
    let fake = cluster().await;
    let l = lock(&fake);
    let name = l.lease_name(TARGET).expect("name");
    // What a crashed run leaves behind: a claim that is never renewed.
    let now = format!("{:.6}", jiff::Timestamp::now());
    fake.store()
        .insert(json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": FLEET_NAMESPACE,
                "annotations": {LOCK_REASON_ANNOTATION: "rollback INC-7"}},
            "spec": {"holderIdentity": "bob/run-9", "leaseDurationSeconds": 2,
                "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        }))
        .expect("insert");
    let refused = l
        .acquire(&request("alice/run-1", "deploy", 30))
        .await
        .expect_err("still held");
    let shown = refused.lock_holder().expect("holder");
    assert_eq!(
        (shown.holder.as_str(), shown.reason.as_str()),
        ("bob/run-9", "rollback INC-7")
    );
    assert!(shown.expires > shown.renewed);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        l.current(TARGET).await.expect("read").is_none(),
        "expired holders are not shown"
    );
    let h = l
        .acquire(&request("alice/run-1", "deploy", 30))
        .await
        .expect("taken over after expiry");
    let lease = fake
        .store()
        .get("leases", FLEET_NAMESPACE, &name)
        .expect("lease");
    assert_eq!(lease["spec"]["holderIdentity"], json!("alice/run-1"));
    assert_eq!(lease["spec"]["leaseTransitions"], json!(1));
    h.release().await.expect("release");
}

#[tokio::test]
async fn a_held_lock_is_renewed_past_its_ttl_and_release_lets_the_next_in() {
    let fake = cluster().await;
    let (a, b) = (lock(&fake), lock(&fake));
    let h = a
        .acquire(&request("alice/run-1", "deploy", 2))
        .await
        .expect("acquire");
    let first = h.holder().renewed;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(h.is_held(), "renewal keeps it");
    assert!(h.holder().renewed > first, "renewTime moved");
    let refused = b
        .acquire(&request("bob/run-2", "rollback", 2))
        .await
        .expect_err("renewed, so not expired");
    assert!(refused.is_locked());
    h.release().await.expect("release");
    let name = a.lease_name(TARGET).expect("name");
    assert_eq!(stored_holder(&fake, &name).as_deref(), Some(""));
    assert!(b.current(TARGET).await.expect("read").is_none());
    let next = b
        .acquire(&request("bob/run-2", "rollback", 2))
        .await
        .expect("free at once after release");
    assert_eq!(stored_holder(&fake, &name).as_deref(), Some("bob/run-2"));
    next.release().await.expect("release");
}

#[tokio::test]
async fn dropping_a_handle_releases_it_in_the_background() {
    let fake = cluster().await;
    let l = lock(&fake);
    let name = l.lease_name(TARGET).expect("name");
    let h = l
        .acquire(&request("alice/run-1", "deploy", 60))
        .await
        .expect("acquire");
    drop(h);
    let released = fake
        .wait_until(Duration::from_secs(5), |s| {
            s.get("leases", FLEET_NAMESPACE, &name)
                .is_some_and(|l| l["spec"]["holderIdentity"] == json!(""))
        })
        .await;
    assert!(released, "a dropped handle gives the lease back");
    l.acquire(&request("bob/run-2", "x", 60))
        .await
        .expect("free")
        .release()
        .await
        .expect("release");
}

#[tokio::test]
async fn conflicts_are_absorbed_by_reading_again() {
    let fake = cluster().await;
    let l = lock(&fake);
    let name = l.lease_name(TARGET).expect("name");
    // A free (released) lease, so acquiring is a PUT.
    let h = l.acquire(&request("a/1", "x", 30)).await.expect("acquire");
    h.release().await.expect("release");
    fake.clear_requests();
    fake.fail_next_on(Op::Update, Some("leases"), 409, 2);
    let h = l
        .acquire(&request("alice/run-1", "deploy", 30))
        .await
        .expect("two 409s then success");
    assert_eq!(fake.request_count(Op::Update), 3, "{:?}", fake.requests());
    assert_eq!(
        fake.request_count(Op::Get),
        3,
        "a fresh read before each write"
    );
    // A renewal that meets a newer resourceVersion (someone touched the Lease) re-reads and
    // keeps the lock when it is still ours.
    fake.store()
        .modify("leases", FLEET_NAMESPACE, &name, |l| {
            l["metadata"]["labels"] = json!({"touched": "yes"});
        })
        .expect("modify");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(h.is_held());
    assert_eq!(stored_holder(&fake, &name).as_deref(), Some("alice/run-1"));
    // Overtaken (an operator edited the Lease by hand): the handle notices.
    fake.store()
        .modify("leases", FLEET_NAMESPACE, &name, |l| {
            l["spec"]["holderIdentity"] = json!("mallory/manual");
        })
        .expect("modify");
    let lost = fake
        .wait_until(Duration::from_secs(3), |_| !h.is_held())
        .await;
    assert!(lost, "renewal notices it lost the lease");
    h.release()
        .await
        .expect("release of a lost lock is a no-op");
    assert_eq!(
        stored_holder(&fake, &name).as_deref(),
        Some("mallory/manual")
    );
}

#[tokio::test]
async fn a_dry_run_checks_but_stores_nothing() {
    let fake = cluster().await;
    let dry = LeaseLock::new(
        &kube_cluster(&fake).as_dry_run(),
        LeaseLockOptions::default(),
    )
    .expect("options");
    let h = dry
        .acquire(&request("alice/run-1", "deploy", 30))
        .await
        .expect("checked");
    let name = dry.lease_name(TARGET).expect("name");
    assert!(fake.store().get("leases", FLEET_NAMESPACE, &name).is_none());
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.op == Op::Create || r.op == Op::Update)
            .all(|r| r.query.contains("dryRun=All"))
    );
    h.release().await.expect("release");
}
