//! Runs the `fake_cluster` example as a process, end to end: it writes its kubeconfig and says
//! so, the real kubectl works against it (pods, the ingress backends, the runbook's
//! `kubectl exec ... psql` against the attached PostgreSQL), and Ctrl-C stops it cleanly.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn kubectl(kubeconfig: &str, args: &[&str]) -> Output {
    Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs (is it on PATH?)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the example if the test fails half way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_the_world_until_ctrl_c() {
    let exe = support::examples_dir().join("fake_cluster");
    assert!(exe.exists(), "{} not built", exe.display());
    let dir = tempfile_dir();
    let kubeconfig_arg = dir.join("fleet.kubeconfig");
    let mut child = Running(
        Command::new(&exe)
            .args(["--postgres", "--pod-ready-ms", "0", "--kubeconfig"])
            .arg(&kubeconfig_arg)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("example starts"),
    );
    // Read what it prints on a thread, until it says how to stop it.
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut printed = Vec::new();
    while !printed
        .iter()
        .any(|l: &String| l.starts_with("Ctrl-C stops"))
    {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the example says how to stop it");
        printed.push(line);
    }
    let kubeconfig = printed
        .iter()
        .find_map(|l| l.strip_prefix("kubeconfig: "))
        .expect("kubeconfig line")
        .to_string();
    assert_eq!(
        PathBuf::from(&kubeconfig),
        std::fs::canonicalize(&kubeconfig_arg).expect("written")
    );
    let all = printed.join("\n");
    for hint in [
        "kubectl get pods",
        "kubectl describe ingress",
        "--example k8s_triage",
        "--example k8s_export",
        "psql -U fleetadmin -d fleetdb",
    ] {
        assert!(all.contains(hint), "{hint} in\n{all}");
    }

    let pods = kubectl(&kubeconfig, &["get", "pods"]);
    assert!(pods.status.success(), "{}", text(&pods.stderr));
    let pods = text(&pods.stdout);
    assert!(
        pods.contains("fleet-postgres-0") && pods.matches("fleet-api-").count() == 3,
        "{pods}"
    );
    let ingress = text(&kubectl(&kubeconfig, &["describe", "ingress", "fleet-ingress"]).stdout);
    assert!(
        ingress.contains("fleet-api:80 (") && ingress.contains(":8080"),
        "{ingress}"
    );
    // The runbook's own line.
    let psql = kubectl(
        &kubeconfig,
        &[
            "exec",
            "fleet-postgres-0",
            "-n",
            "fleet-management",
            "--",
            "psql",
            "-U",
            "fleetadmin",
            "-d",
            "fleetdb",
            "-c",
            "SELECT COUNT(*) FROM pg_stat_activity;",
        ],
    );
    assert!(psql.status.success(), "{}", text(&psql.stderr));
    assert!(
        text(&psql.stdout).contains("(1 row)"),
        "{}",
        text(&psql.stdout)
    );
    #[cfg(feature = "k8s")]
    {
        let triage = Command::new(support::examples_dir().join("k8s_triage"))
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("k8s_triage runs");
        assert_eq!(
            triage.status.code(),
            Some(0),
            "{}\n{}",
            text(&triage.stdout),
            text(&triage.stderr)
        );
    }

    // Ctrl-C: a clean stop, and the kubeconfig is gone.
    let pid = child.0.id().to_string();
    // The shell's own `kill`: no procps needed.
    assert!(
        Command::new("sh")
            .args(["-c", &format!("kill -INT {pid}")])
            .status()
            .expect("sh")
            .success()
    );
    let mut rest = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        rest.push(line);
    }
    let status = child.0.wait().expect("exit");
    assert!(status.success(), "{status:?}");
    assert_eq!(rest, ["stopping"]);
    assert!(!PathBuf::from(&kubeconfig).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("fleet-fake-cluster-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
