//! Exec: runs an argument vector in a pod's container and returns stdout, stderr and the exit
//! code. Commands are never built as shell strings.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

use crate::error::{Error, Result};

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ExecOutput {
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Exit code (0 on success).
    pub exit_code: i32,
}

impl ExecOutput {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// Reads the exit code from the `Status` the server sends on the error channel: `Success` is
/// 0; `NonZeroExitCode` carries the code in a cause with reason `ExitCode`.
pub fn exit_code_of(status: &Status) -> Result<i32> {
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        let code = status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse::<i32>().ok());
        return code.ok_or_else(|| {
            Error::unexpected("exec status", "NonZeroExitCode without an ExitCode cause")
        });
    }
    Err(Error::unexpected(
        "exec status",
        format!(
            "{}: {}",
            status.reason.as_deref().unwrap_or("Failure"),
            status.message.as_deref().unwrap_or("")
        ),
    ))
}

/// Checks an argument vector: non-empty, no NUL bytes.
pub fn check_argv(argv: &[String]) -> Result<()> {
    if argv.is_empty() || argv[0].is_empty() {
        return Err(Error::invalid("command", "[]", "name a program to run"));
    }
    if let Some(a) = argv.iter().find(|a| a.contains('\0')) {
        return Err(Error::invalid(
            "command argument",
            a.replace('\0', "\\0"),
            "must not contain NUL",
        ));
    }
    Ok(())
}

/// Running commands in containers.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Exec: Send + Sync {
    /// Runs `argv` in `container` of `pod` (`kubectl exec POD -c CONTAINER -- ARGV...`).
    async fn exec(&self, pod: &str, container: &str, argv: &[String]) -> Result<ExecOutput>;
}

mod kube_impl {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::AttachParams;
    use tokio::io::AsyncReadExt;

    use super::{Exec, ExecOutput, check_argv, exit_code_of};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};
    use crate::validate;

    async fn read_all(r: Option<impl tokio::io::AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            r.read_to_end(&mut buf).await?;
        }
        Ok(buf)
    }

    #[async_trait::async_trait]
    impl Exec for KubeCluster {
        async fn exec(&self, pod: &str, container: &str, argv: &[String]) -> Result<ExecOutput> {
            validate::object_name("pod name", pod)?;
            validate::label_name("container name", container)?;
            check_argv(argv)?;
            let op = format!("exec in pod {pod} container {container}");
            let api = self.api::<Pod>();
            let ap = AttachParams::default()
                .container(container)
                .stdin(false)
                .stdout(true)
                .stderr(true);
            // Not retried: the command may have run.
            let mut proc = api
                .exec(pod, argv.to_vec(), &ap)
                .await
                .map_err(|e| Error::from_kube(op.clone(), e))?;
            let status = proc.take_status();
            let (out, err) = tokio::join!(read_all(proc.stdout()), read_all(proc.stderr()));
            let io = |e: std::io::Error| Error::Transport {
                op: op.clone(),
                source: Box::new(kube::Error::ReadEvents(e)),
            };
            let (out, err) = (out.map_err(io)?, err.map_err(io)?);
            let status = match status {
                Some(s) => s.await,
                None => None,
            };
            proc.join()
                .await
                .map_err(|e| Error::unexpected(op.clone(), e.to_string()))?;
            let status = status
                .ok_or_else(|| Error::unexpected(op.clone(), "the server sent no exit status"))?;
            Ok(ExecOutput {
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
                exit_code: exit_code_of(&status)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(v: serde_json::Value) -> Status {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn exit_codes_from_status() {
        assert_eq!(
            exit_code_of(&status(serde_json::json!({"status": "Success"}))).ok(),
            Some(0)
        );
        let s = status(serde_json::json!({
            "status": "Failure", "reason": "NonZeroExitCode", "message": "command terminated with non-zero exit code: exit status 3",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}
        }));
        assert_eq!(exit_code_of(&s).ok(), Some(3));
        let s = status(
            serde_json::json!({"status": "Failure", "reason": "InternalError", "message": "container not found"}),
        );
        assert!(exit_code_of(&s).is_err());
    }

    #[test]
    fn argv_checks() {
        assert!(check_argv(&[]).is_err());
        assert!(check_argv(&["".into()]).is_err());
        assert!(check_argv(&["psql".into(), "a\0b".into()]).is_err());
        assert!(check_argv(&["psql".into(), "-c".into(), "SELECT 1; DROP TABLE x".into()]).is_ok());
    }
}
