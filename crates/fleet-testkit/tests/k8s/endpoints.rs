//! EndpointSlices and Endpoints derived from Services and ready pods: on the wire, through
//! `kubectl get` / `describe`, and as pods become ready, crash or go away.

use std::time::Duration;

use fleet_testkit::k8s::{FLEET_API_IMAGE, FLEET_NAMESPACE, Scenario};
use serde_json::Value;

use crate::common::{fleet, http, ok, pods_of, wait};

const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/fleet-management/endpointslices";

fn ready_ips(slices: &Value) -> Vec<String> {
    let mut ips: Vec<String> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .filter(|e| e["conditions"]["ready"] != false)
        .filter_map(|e| e["addresses"][0].as_str().map(String::from))
        .collect();
    ips.sort();
    ips
}

fn pod_ips(c: &fleet_testkit::k8s::FakeCluster, app: &str) -> Vec<String> {
    let mut ips: Vec<String> = pods_of(c, app)
        .iter()
        .filter_map(|p| p["status"]["podIP"].as_str().map(String::from))
        .collect();
    ips.sort();
    ips
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_follow_ready_pods_on_the_wire() {
    let c = fleet().await;
    let r = http(
        &c,
        "GET",
        &format!("{SLICES}?labelSelector=kubernetes.io/service-name%3Dfleet-api"),
        None,
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    assert_eq!(list["kind"], "EndpointSliceList");
    let slice = &list["items"][0];
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(
        slice["metadata"]["labels"]["app"], "fleet-api",
        "Service labels are copied"
    );
    assert!(
        slice["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("fleet-api-")
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert_eq!(
        slice["ports"],
        serde_json::json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    let e = &slice["endpoints"][0];
    assert_eq!(
        e["conditions"],
        serde_json::json!({"ready": true, "serving": true, "terminating": false})
    );
    assert_eq!(e["targetRef"]["kind"], "Pod");
    assert!(e["nodeName"].is_string());
    assert_eq!(ready_ips(&list), pod_ips(&c, "fleet-api"));

    // The headless database Service: hostname from the pod's hostname/subdomain.
    let pg = http(
        &c,
        "GET",
        &format!("{SLICES}?labelSelector=kubernetes.io/service-name%3Dfleet-postgres"),
        None,
        "",
    )
    .await
    .json();
    let s = &pg["items"][0];
    assert_eq!(
        s["metadata"]["labels"]["service.kubernetes.io/headless"],
        ""
    );
    assert_eq!(s["endpoints"][0]["hostname"], "fleet-postgres-0");
    assert_eq!(s["ports"][0]["port"], 5432);

    // v1 Endpoints agree.
    let ep = http(
        &c,
        "GET",
        "/api/v1/namespaces/fleet-management/endpoints/fleet-api",
        None,
        "",
    )
    .await
    .json();
    let mut ips: Vec<String> = ep["subsets"][0]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ip"].as_str().unwrap().to_string())
        .collect();
    ips.sort();
    assert_eq!(ips, pod_ips(&c, "fleet-api"));
    assert_eq!(
        ep["subsets"][0]["ports"],
        serde_json::json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );

    // Scaling up adds endpoints; the slice keeps its name.
    let name = slice["metadata"]["name"].as_str().unwrap().to_string();
    ok(&c, &["scale", "deploy/fleet-api", "--replicas=5"]).await;
    wait(&c, "five ready fleet-api endpoints", |s| {
        s.list("endpointslices", Some(FLEET_NAMESPACE))
            .iter()
            .filter(|x| x["metadata"]["labels"]["kubernetes.io/service-name"] == "fleet-api")
            .flat_map(|x| x["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == true)
            .count()
            == 5
    })
    .await;
    assert!(
        c.store()
            .get("endpointslices", FLEET_NAMESPACE, &name)
            .is_some(),
        "slice kept"
    );

    // Deleting the Service takes its slices (owner reference) and Endpoints with it.
    c.store()
        .delete("services", FLEET_NAMESPACE, "fleet-api")
        .unwrap();
    wait(
        &c,
        "slices and Endpoints of the deleted Service gone",
        |s| {
            s.get("endpointslices", FLEET_NAMESPACE, &name).is_none()
                && s.get("endpoints", FLEET_NAMESPACE, "fleet-api").is_none()
        },
    )
    .await;
}

/// `kubectl describe ingress` lists each backend with its ready endpoints; when every pod of
/// a backend crash-loops, the backend shows none: the 503 diagnosis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_ingress_shows_backends_and_their_endpoints() {
    let c = fleet().await;
    let out = ok(&c, &["describe", "ingress", "fleet-ingress"]).await;
    assert!(!out.contains("<error"), "{out}");
    let api_ips = pod_ips(&c, "fleet-api");
    let line = out
        .lines()
        .find(|l| l.contains("/api") && l.contains("fleet-api:80"))
        .unwrap_or_else(|| panic!("no /api backend line in\n{out}"));
    for ip in &api_ips {
        assert!(line.contains(&format!("{ip}:8080")), "{line}");
    }
    let frontend = out
        .lines()
        .find(|l| l.contains("fleet-frontend:80"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(frontend.contains(":3000"), "{frontend}");

    c.set_scenario(
        FLEET_API_IMAGE,
        Scenario::CrashLoop {
            exit_code: 1,
            restarts: 3,
        },
    );
    wait(&c, "no ready fleet-api endpoint", |s| {
        let eps = s
            .get("endpoints", FLEET_NAMESPACE, "fleet-api")
            .unwrap_or_default();
        eps["subsets"][0]["addresses"].is_null()
            && !eps["subsets"][0]["notReadyAddresses"].is_null()
    })
    .await;
    let out = ok(&c, &["describe", "ingress", "fleet-ingress"]).await;
    let line = out
        .lines()
        .find(|l| l.contains("fleet-api:80"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.trim_end().ends_with("fleet-api:80 ()"), "{line}");

    let eps = ok(&c, &["get", "endpoints", "fleet-api"]).await;
    // Only not-ready addresses: the ENDPOINTS cell is empty, as on a real server.
    let row = eps.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("fleet-api") && !row.contains(":8080"),
        "{eps}"
    );
    let slices = ok(
        &c,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=fleet-frontend",
        ],
    )
    .await;
    assert!(
        slices.contains("IPv4") && slices.contains("3000"),
        "{slices}"
    );

    // Healthy again: the endpoints come back.
    c.clear_scenario(FLEET_API_IMAGE);
    wait(&c, "ready fleet-api endpoints again", |s| {
        let eps = s
            .get("endpoints", FLEET_NAMESPACE, "fleet-api")
            .unwrap_or_default();
        eps["subsets"][0]["addresses"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let svc = ok(&c, &["describe", "svc", "fleet-api"]).await;
    let endpoints_line = svc
        .lines()
        .find(|l| l.starts_with("Endpoints:"))
        .unwrap_or_else(|| panic!("{svc}"));
    assert!(endpoints_line.contains(":8080"), "{endpoints_line}");
}
