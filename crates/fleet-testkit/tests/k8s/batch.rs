//! Jobs run their command as a child process of the test process (argument vector, the pod's
//! environment, exit code to status, output as logs) and CronJobs create Jobs on schedule; with
//! the real kubectl (`apply`, `wait`, `logs`, `get`) and the store.

use std::time::Duration;

use fleet_testkit::k8s::{FLEET_NAMESPACE, FakeCluster};
use serde_json::Value;

use crate::common::{fleet, kubectl, ok, wait};

async fn apply(c: &FakeCluster, yaml: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("job.yaml");
    std::fs::write(&path, yaml).expect("write");
    ok(c, &["apply", "-f", path.to_str().expect("utf-8")]).await
}

fn job(c: &FakeCluster, name: &str) -> Value {
    c.store()
        .get("jobs", FLEET_NAMESPACE, name)
        .unwrap_or_else(|| panic!("job {name}"))
}

fn pods_of_job(c: &FakeCluster, name: &str) -> Vec<Value> {
    c.store()
        .list("pods", Some(FLEET_NAMESPACE))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["job-name"] == name)
        .collect()
}

const HELLO: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: fleet-backup, namespace: fleet-management}
---
apiVersion: batch/v1
kind: Job
metadata: {name: hello, namespace: fleet-management}
spec:
  template:
    spec:
      restartPolicy: Never
      serviceAccountName: fleet-backup
      containers:
      - name: hello
        image: registry.example.com/fleet/tools:1
        command: ["printf", "%s|%s|%s|%s|%s\n"]
        args: ["$(GREETING)", "two words", "$(LEVEL)", "$(POD)", "$(PASSWORD_LENGTH)"]
        env:
        - {name: GREETING, value: "hello"}
        - name: LEVEL
          valueFrom: {configMapKeyRef: {name: fleet-config, key: log_level}}
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - {name: PASSWORD_LENGTH, value: "19"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_its_command_and_reports_the_outcome() {
    let c = fleet().await;
    apply(&c, HELLO).await;
    ok(
        &c,
        &[
            "wait",
            "--for=condition=complete",
            "job/hello",
            "--timeout=30s",
        ],
    )
    .await;
    let j = job(&c, "hello");
    assert_eq!(j["status"]["succeeded"], 1);
    assert!(j["status"]["completionTime"].is_string());
    let types: Vec<&str> = j["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(j["status"]["conditions"][1]["reason"], "CompletionsReached");
    let pods = pods_of_job(&c, "hello");
    assert_eq!(pods.len(), 1);
    let pod = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    let logs = ok(&c, &["logs", "job/hello"]).await;
    // The argument vector as given, no shell: "two words" stays one argument.
    assert_eq!(logs, format!("hello|two words|info|{pod}|19\n"));
    let terminated = &pods[0]["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(
        (terminated["exitCode"].clone(), terminated["reason"].clone()),
        (0.into(), "Completed".into())
    );
    let table = ok(&c, &["get", "jobs", "hello", "--no-headers"]).await;
    let cells: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(cells[1..3], ["Complete", "1/1"], "{table}");
    let pods_table = ok(&c, &["get", "pods", "-l", "job-name=hello", "--no-headers"]).await;
    assert!(pods_table.contains("Completed"), "{pods_table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_acts_as_its_service_account() {
    let c = FakeCluster::builder()
        .seed_fleet()
        .rbac()
        .start()
        .await
        .unwrap();
    ok(&c, &["create", "serviceaccount", "fleet-backup"]).await;
    ok(
        &c,
        &[
            "create",
            "role",
            "read-config",
            "--verb=get",
            "--resource=configmaps",
        ],
    )
    .await;
    ok(
        &c,
        &[
            "create",
            "rolebinding",
            "read-config",
            "--role=read-config",
            "--serviceaccount=fleet-management:fleet-backup",
        ],
    )
    .await;
    let yaml = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: whoami, namespace: fleet-management}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      serviceAccountName: fleet-backup
      containers:
      - name: tools
        image: registry.example.com/fleet/tools:1
        command: ["sh", "-c", "kubectl auth whoami -o jsonpath='{.status.userInfo.username}'; echo; kubectl get configmap fleet-config -o jsonpath='{.data.log_level}'; echo; kubectl get secrets 2>&1 | head -n 1"]
"#;
    apply(&c, yaml).await;
    ok(
        &c,
        &[
            "wait",
            "--for=condition=complete",
            "job/whoami",
            "--timeout=60s",
        ],
    )
    .await;
    let logs = ok(&c, &["logs", "job/whoami"]).await;
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(
        lines[0], "system:serviceaccount:fleet-management:fleet-backup",
        "{logs}"
    );
    assert_eq!(lines[1], "info", "{logs}");
    assert!(
        lines[2].contains("cannot list resource \"secrets\""),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_count_against_the_backoff_limit() {
    let c = fleet().await;
    let yaml = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: boom, namespace: fleet-management}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: boom
        image: registry.example.com/fleet/tools:1
        command: ["sh", "-c", "echo about to fail >&2; exit 3"]
---
apiVersion: batch/v1
kind: Job
metadata: {name: missing, namespace: fleet-management}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: missing
        image: registry.example.com/fleet/tools:1
        command: ["no-such-program-anywhere", "--flag"]
"#;
    apply(&c, yaml).await;
    ok(
        &c,
        &[
            "wait",
            "--for=condition=failed",
            "job/boom",
            "job/missing",
            "--timeout=30s",
        ],
    )
    .await;
    let boom = job(&c, "boom");
    assert_eq!(
        boom["status"]["failed"], 2,
        "two pods: the first and one retry"
    );
    let failed = boom["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .cloned()
        .unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    let pods = pods_of_job(&c, "boom");
    assert_eq!(pods.len(), 2);
    for p in &pods {
        let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(
            (t["exitCode"].clone(), t["reason"].clone()),
            (3.into(), "Error".into())
        );
        assert_eq!(p["status"]["phase"], "Failed");
    }
    let name = pods[0]["metadata"]["name"].as_str().unwrap();
    let logs = ok(&c, &["logs", name]).await;
    assert_eq!(logs, "about to fail\n");
    let table = ok(&c, &["get", "pods", "-l", "job-name=boom", "--no-headers"]).await;
    assert!(table.lines().all(|l| l.contains("Error")), "{table}");
    let missing = pods_of_job(&c, "missing");
    let t = &missing[0]["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(t["reason"], "StartError");
    assert_eq!(t["exitCode"], 128);
    assert!(
        t["message"]
            .as_str()
            .unwrap()
            .contains("executable file not found"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_job_stops_its_process() {
    let c = fleet().await;
    let yaml = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: sleeper, namespace: fleet-management}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: sleeper
        image: registry.example.com/fleet/tools:1
        # `$$` is Kubernetes' escape for `$`: the shell sees `echo $$`.
        command: ["sh", "-c", "echo $$$$; exec sleep 60"]
"#;
    apply(&c, yaml).await;
    wait(&c, "the pid in the log", |_| {
        !c.store().list("pods", Some(FLEET_NAMESPACE)).is_empty()
    })
    .await;
    let mut pid = String::new();
    for _ in 0..200 {
        let out = kubectl(&c, &["logs", "job/sleeper"]).await;
        if out.ok && !out.stdout.trim().is_empty() {
            pid = out.stdout.trim().to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pid.is_empty(), "no pid logged");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "{pid}"
    );
    assert_eq!(job(&c, "sleeper")["status"]["active"], 1);
    ok(&c, &["delete", "job", "sleeper"]).await;
    let gone = c
        .wait_until(Duration::from_secs(10), |_| {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        })
        .await;
    assert!(gone, "process {pid} still running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjobs_run_on_schedule_and_when_triggered() {
    let c = fleet().await;
    let yaml = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly-backup, namespace: fleet-management}
spec:
  schedule: "0 2 * * *"
  timeZone: "Etc/UTC"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata:
      labels: {app: nightly-backup}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: backup
            image: registry.example.com/fleet/tools:1
            command: ["echo", "backup done"]
"#;
    apply(&c, yaml).await;
    // Nothing runs before 02:00.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(c.store().list("jobs", Some(FLEET_NAMESPACE)).is_empty());

    // Triggered by hand.
    let manual = c
        .trigger_cronjob(FLEET_NAMESPACE, "nightly-backup")
        .unwrap();
    assert!(manual.starts_with("nightly-backup-manual-"));
    ok(
        &c,
        &[
            "wait",
            "--for=condition=complete",
            &format!("job/{manual}"),
            "--timeout=30s",
        ],
    )
    .await;
    let j = job(&c, &manual);
    assert_eq!(
        j["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(j["metadata"]["labels"]["app"], "nightly-backup");
    assert_eq!(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        ok(&c, &["logs", &format!("job/{manual}")]).await,
        "backup done\n"
    );

    // Start times have whole seconds; the history limit keeps the later run only if the two
    // did not start in the same second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The clock moved to just past the next 02:00 UTC: the scheduled run happens.
    let utc = jiff::tz::TimeZone::UTC;
    let now = jiff::Timestamp::now();
    let today = utc.to_datetime(now).date();
    let at_two =
        |d: jiff::civil::Date| utc.to_zoned_datetime(d.at(2, 0, 0, 0)).unwrap().timestamp();
    let mut next = at_two(today);
    if next <= now {
        next = at_two(today.tomorrow().unwrap());
    }
    let ahead = Duration::try_from(next.duration_since(now)).unwrap() + Duration::from_secs(5);
    c.advance_cron_clock(ahead);
    let scheduled = format!("nightly-backup-{}", next.as_second() / 60);
    wait(&c, "the scheduled job", |s| {
        s.get("jobs", FLEET_NAMESPACE, &scheduled).is_some()
    })
    .await;
    let j = job(&c, &scheduled);
    let stamp = j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        .as_str()
        .unwrap();
    assert!(
        stamp.starts_with(&format!("{}T02:00:00", utc.to_datetime(next).date())),
        "{stamp}"
    );
    ok(
        &c,
        &[
            "wait",
            "--for=condition=complete",
            &format!("job/{scheduled}"),
            "--timeout=30s",
        ],
    )
    .await;
    wait(&c, "lastSuccessfulTime and history limit", |s| {
        let cj = s
            .get("cronjobs", FLEET_NAMESPACE, "nightly-backup")
            .unwrap();
        cj["status"]["lastSuccessfulTime"].is_string()
            && cj["status"]["active"].is_null()
            && s.list("jobs", Some(FLEET_NAMESPACE)).len() == 1
    })
    .await;
    let cj = c
        .store()
        .get("cronjobs", FLEET_NAMESPACE, "nightly-backup")
        .unwrap();
    assert!(
        cj["status"]["lastScheduleTime"]
            .as_str()
            .unwrap()
            .ends_with("T02:00:00Z")
    );
    let table = ok(&c, &["get", "cronjobs", "nightly-backup", "--no-headers"]).await;
    assert!(!table.contains("<none>"), "LAST SCHEDULE set: {table}");

    // A schedule the server cannot parse is refused.
    let bad = kubectl(
        &c,
        &[
            "create",
            "cronjob",
            "bad",
            "--image=x",
            "--schedule=0 25 * * *",
        ],
    )
    .await;
    assert!(!bad.ok);
}
