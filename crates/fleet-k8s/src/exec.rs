//! Exec: runs an argument vector in a pod's container and returns stdout, stderr and the exit
//! code, within a deadline and a byte cap. Commands are never built as shell strings, never
//! logged with their arguments, and never run in a dry run.

use std::time::Duration;

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

/// Options of [`Exec::exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOptions {
    /// The whole exec (connect, run, read, exit status) must finish within this, else
    /// [`Error::Timeout`]; the session is closed, which ends the command on the runtimes that
    /// tie it to the stream. Default 5 minutes.
    pub timeout: Duration,
    /// Most bytes read from stdout and from stderr (each); more is
    /// [`Error::LimitExceeded`]. Default 16 MiB.
    pub max_output_bytes: u64,
    /// Do not run: a command cannot be dry-run, so the call fails with [`Error::DryRun`]
    /// naming the program. A dry-run cluster handle does the same.
    pub dry_run: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            max_output_bytes: 16 * 1024 * 1024,
            dry_run: false,
        }
    }
}

impl ExecOptions {
    /// Sets the deadline.
    #[must_use]
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Sets the output cap (per stream).
    #[must_use]
    pub fn with_max_output_bytes(mut self, n: u64) -> Self {
        self.max_output_bytes = n;
        self
    }
    /// Refuses to run (see [`ExecOptions::dry_run`]).
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Reads the exit code from the `Status` the server sends on the error channel: `Success` is
/// 0; `NonZeroExitCode` carries the code in a cause with reason `ExitCode`.
pub(crate) fn exit_code_of(status: &Status) -> Result<i32> {
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

/// Checks an argument vector: non-empty, no NUL bytes. The arguments may hold secrets (a
/// password in a SQL statement), so errors name positions, never contents.
pub(crate) fn check_argv(argv: &[String]) -> Result<()> {
    if argv.first().is_none_or(String::is_empty) {
        return Err(Error::invalid("command", "[]", "name a program to run"));
    }
    if let Some(i) = argv.iter().position(|a| a.contains('\0')) {
        return Err(Error::invalid(
            "command argument",
            format!("argument {i}"),
            "must not contain NUL",
        ));
    }
    Ok(())
}

/// What a refused exec would have run, without the arguments.
fn describe(argv: &[String]) -> String {
    let program = argv.first().map_or("", String::as_str);
    format!(
        "would run {program:?} with {} argument(s)",
        argv.len().saturating_sub(1)
    )
}

/// Running commands in containers.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Exec: Send + Sync {
    /// Runs `argv` in `container` of `pod` (`kubectl exec POD -c CONTAINER -- ARGV...`).
    /// Not retried (the command may have run); refused in a dry run.
    async fn exec(
        &self,
        pod: &str,
        container: &str,
        argv: &[String],
        options: Option<ExecOptions>,
    ) -> Result<ExecOutput>;
}

mod kube_impl {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::AttachParams;
    use tokio::io::{AsyncRead, AsyncReadExt};

    use super::{Exec, ExecOptions, ExecOutput, check_argv, describe, exit_code_of};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};
    use crate::validate;

    /// Reads a stream to its end, failing once it has more than `max` bytes.
    async fn read_capped(
        r: Option<impl AsyncRead + Unpin>,
        max: u64,
        op: &str,
        stream: &'static str,
    ) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        if let Some(r) = r {
            // One byte past the cap tells "exactly at the cap" from "over it".
            let mut limited = r.take(max.saturating_add(1));
            limited
                .read_to_end(&mut buf)
                .await
                .map_err(|e| Error::Transport {
                    op: op.to_string(),
                    source: Box::new(kube::Error::ReadEvents(e)),
                })?;
            if u64::try_from(buf.len()).unwrap_or(u64::MAX) > max {
                return Err(Error::LimitExceeded {
                    op: format!("{op} ({stream})"),
                    limit: max,
                    unit: "bytes of output",
                });
            }
        }
        Ok(buf)
    }

    /// The session ended without the server's closing handshake (a dropped connection).
    fn dropped(op: &str, e: &impl std::fmt::Display) -> Error {
        Error::Transport {
            op: op.to_string(),
            source: Box::new(kube::Error::ReadEvents(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                format!("the exec session ended abruptly: {e}"),
            ))),
        }
    }

    impl KubeCluster {
        async fn run_exec(
            &self,
            pod: &str,
            container: &str,
            argv: &[String],
            options: &ExecOptions,
            op: &str,
        ) -> Result<ExecOutput> {
            let api = self.api::<Pod>();
            let ap = AttachParams::default()
                .container(container)
                .stdin(false)
                .stdout(true)
                .stderr(true);
            let mut proc = api
                .exec(pod, argv.to_vec(), &ap)
                .await
                .map_err(|e| Error::from_kube(op, e))?;
            let status = proc
                .take_status()
                .ok_or_else(|| Error::unexpected(op, "the exit status was already taken"))?;
            let max = options.max_output_bytes;
            let (stdout, stderr) = (proc.stdout(), proc.stderr());
            // Either stream over its cap ends the exec at once (the other is not drained).
            let reads = async {
                tokio::try_join!(
                    read_capped(stdout, max, op, "stdout"),
                    read_capped(stderr, max, op, "stderr")
                )
            };
            // The status resolves when the server sends it (then the output streams close) or
            // when the session ends without one: after a dropped connection the output
            // streams are never closed, so waiting for them alone would hang. Dropping `proc`
            // (an early return, the deadline) aborts the session.
            tokio::pin!(reads, status);
            let (out, err, status) = tokio::select! {
                r = &mut reads => {
                    let (out, err) = r?;
                    (out, err, status.await)
                }
                s = &mut status => match s {
                    Some(s) => {
                        let (out, err) = reads.await?;
                        (out, err, Some(s))
                    }
                    None => {
                        return Err(match proc.join().await {
                            Err(e) => dropped(op, &e),
                            Ok(()) => Error::unexpected(op, "the session ended without an exit status"),
                        });
                    }
                },
            };
            proc.join().await.map_err(|e| dropped(op, &e))?;
            let status =
                status.ok_or_else(|| Error::unexpected(op, "the server sent no exit status"))?;
            Ok(ExecOutput {
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
                exit_code: exit_code_of(&status)?,
            })
        }
    }

    #[async_trait::async_trait]
    impl Exec for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), pod, container, program = argv.first().map(String::as_str)))]
        async fn exec(
            &self,
            pod: &str,
            container: &str,
            argv: &[String],
            options: Option<ExecOptions>,
        ) -> Result<ExecOutput> {
            let options = options.unwrap_or_default();
            validate::object_name("pod name", pod)?;
            validate::label_name("container name", container)?;
            check_argv(argv)?;
            let op = format!("exec in pod {pod} container {container}");
            if self.dry_run(options.dry_run) {
                let detail = describe(argv);
                tracing::info!(pod, container, "not run in a dry run: {detail}");
                return Err(Error::DryRun { op, detail });
            }
            // Not retried: the command may have run. Dropping the session on the deadline
            // closes the connection.
            match tokio::time::timeout(
                options.timeout,
                self.run_exec(pod, container, argv, &options, &op),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout {
                    op,
                    after: options.timeout,
                }),
            }
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
    fn argv_checks_never_echo_arguments() {
        assert!(check_argv(&[]).is_err());
        assert!(check_argv(&["".into()]).is_err());
        let e = check_argv(&["psql".into(), "PASSWORD 'hunter2'\0".into()])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("argument 1") && !e.contains("hunter2"), "{e}");
        assert!(check_argv(&["psql".into(), "-c".into(), "SELECT 1; DROP TABLE x".into()]).is_ok());
        let d = describe(&[
            "psql".into(),
            "-c".into(),
            "ALTER ROLE x PASSWORD 'hunter2'".into(),
        ]);
        assert_eq!(d, "would run \"psql\" with 2 argument(s)");
    }
}
