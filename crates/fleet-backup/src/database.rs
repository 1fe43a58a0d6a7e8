//! Logical database backups and restores: `pg_dump` in custom format, streamed through the
//! pipeline into the store, with row counts taken in the dump's own snapshot; and the restore
//! into a new database through `pg_restore`, validated against those counts.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use fleet_guard::{ConfirmWord, Executor, Step};
use serde::Serialize;
use tokio::io::AsyncReadExt as _;

use crate::error::{Error, Result};
use crate::keys::Identities;
use crate::manifest::{Artifact, ArtifactKind, DatabaseInfo, Manifest};
use crate::pg::{self, PgTarget, PgTools, ServerFacts, ToolVersion};
use crate::pipeline::{Destination, read_artifact};
use crate::store::BackupStore;

/// What is known before dumping: the server and the tool that will dump it.
#[derive(Debug, Clone)]
pub(crate) struct DumpCheck {
    pub facts: ServerFacts,
    pub pg_dump: ToolVersion,
    pub server: String,
}

/// Reads the server's version and database size and checks that `pg_dump` is new enough.
pub(crate) async fn check(target: &PgTarget, tools: &PgTools) -> Result<DumpCheck> {
    let conn = pg::connect(target, None).await?;
    let facts = pg::server_facts(&conn).await?;
    let pg_dump = tools
        .require("pg_dump", facts.major, "a PostgreSQL server")
        .await?;
    Ok(DumpCheck {
        facts,
        pg_dump,
        server: target.server_label()?,
    })
}

/// Dumps the database into `backup` and returns its manifest section and artifact.
pub(crate) async fn dump(
    executor: &Executor,
    step: &str,
    check: &DumpCheck,
    target: &PgTarget,
    tools: &PgTools,
    destination: Destination<'_>,
) -> Result<(DatabaseInfo, Artifact)> {
    // The snapshot the dump and the counts share: exported from a repeatable-read transaction
    // that stays open until the dump is over.
    let conn = pg::connect(target, None).await?;
    conn.client
        .batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL statement_timeout = 0",
        )
        .await
        .map_err(|e| Error::db("begin the snapshot transaction", e))?;
    let snapshot: String = conn
        .client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| Error::db("export a snapshot", e))?
        .get(0);

    let file = ArtifactKind::DatabaseDump.file_name();
    let mut writer = destination.writer(file).await?;
    let (args, env) = pg::tool_connection(target, &check.facts.database)?;
    let mut cmd = tools.command("pg_dump");
    cmd.args(["--format=custom", "--compress=0"])
        .arg(format!("--snapshot={snapshot}"))
        .args(&args)
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            writer.abort().await;
            return Err(Error::Tool {
                tool: "pg_dump",
                detail: format!("cannot start: {e}"),
            });
        }
    };
    let stderr = child
        .stderr
        .take()
        .map(|e| tokio::spawn(pg::tail(e, 16 << 10)));
    let Some(mut stdout) = child.stdout.take() else {
        writer.abort().await;
        return Err(Error::Tool {
            tool: "pg_dump",
            detail: "no output pipe".into(),
        });
    };

    let total = Some(check.facts.size);
    let stream = async {
        let mut done = 0u64;
        let mut last = Instant::now();
        loop {
            let mut buf = BytesMut::with_capacity(256 << 10);
            let n = stdout
                .read_buf(&mut buf)
                .await
                .map_err(|e| Error::io("reading pg_dump's output", e))?;
            if n == 0 {
                break;
            }
            done += n as u64;
            writer.write_bytes(buf.freeze()).await?;
            if last.elapsed() >= Duration::from_millis(500) {
                last = Instant::now();
                executor.advance(step, done, total, "bytes", "dumping");
            }
        }
        Ok::<u64, Error>(done)
    };
    let counts = pg::count_rows(&conn);
    let (streamed, counted) = tokio::join!(stream, counts);
    if streamed.is_err() {
        // Nobody reads its output any more: stop it rather than wait on a full pipe.
        let _ = child.start_kill();
    }
    let status = tokio::time::timeout(tools.timeout(), child.wait()).await;
    let stderr = match stderr {
        Some(t) => t.await.unwrap_or_default(),
        None => String::new(),
    };
    let _ = conn.client.batch_execute("ROLLBACK").await;
    let failure = match (&streamed, &status) {
        (Err(_), _) => None,
        (_, Err(_)) => Some(format!("did not finish within {:?}", tools.timeout())),
        (_, Ok(Err(e))) => Some(format!("could not be waited for: {e}")),
        (_, Ok(Ok(s))) if !s.success() => Some(format!("exited with {s}: {stderr}")),
        _ => None,
    };
    if let Some(detail) = failure {
        writer.abort().await;
        return Err(Error::Tool {
            tool: "pg_dump",
            detail,
        });
    }
    let tables = match (streamed, counted) {
        (Err(e), _) | (_, Err(e)) => {
            writer.abort().await;
            return Err(e);
        }
        (Ok(bytes), Ok(tables)) => {
            executor.advance(step, bytes, Some(bytes), "bytes", "dumped");
            tables
        }
    };
    let written = writer.finish().await?;
    Ok((
        DatabaseInfo {
            server: check.server.clone(),
            server_version: check.facts.version.clone(),
            server_major: check.facts.major,
            database: check.facts.database.clone(),
            system_identifier: check.facts.system_identifier.clone(),
            pg_dump_version: check.pg_dump.version.clone(),
            snapshot,
            tables,
        },
        Artifact {
            name: file.into(),
            kind: ArtifactKind::DatabaseDump,
            size: written.size,
            sha256: written.sha256,
            content_size: written.content_size,
        },
    ))
}

/// Runs `pg_restore --list` over a dump artifact (everything is still decrypted and
/// decompressed, and the object's SHA-256 checked). Returns the number of archive entries.
pub(crate) async fn list_archive(
    store: &BackupStore,
    manifest: &Manifest,
    artifact: &Artifact,
    identities: &Identities,
    tools: &PgTools,
    progress: Arc<AtomicU64>,
) -> Result<usize> {
    let restore = restore_tool(manifest, tools).await?;
    let mut cmd = std::process::Command::new(restore_path(tools));
    if let Some(lib) = &tools.libdir {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    cmd.arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let _ = restore;
    let (entries, _) = read_artifact(
        store,
        &manifest.id,
        artifact,
        identities,
        progress,
        move |r| {
            run_with_input(cmd, r, "pg_restore", false).map(|out| {
                out.lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
                    .count()
            })
        },
    )
    .await?;
    Ok(entries)
}

fn restore_path(tools: &PgTools) -> std::path::PathBuf {
    match &tools.bindir {
        Some(d) => d.join("pg_restore"),
        None => "pg_restore".into(),
    }
}

/// Checks that `pg_restore` can read archives of the `pg_dump` that wrote this backup.
async fn restore_tool(manifest: &Manifest, tools: &PgTools) -> Result<ToolVersion> {
    let needed = manifest
        .database
        .as_ref()
        .and_then(|d| pg::parse_version(&format!("pg_dump (PostgreSQL) {}", d.pg_dump_version)))
        .map_or(0, |v| v.major);
    tools
        .require("pg_restore", needed, "an archive written by pg_dump")
        .await
}

/// The one statement of a `pg_restore` 17+ script that an older server rejects: it is emitted
/// whatever the target's version, and `transaction_timeout` only exists from PostgreSQL 17 on.
const TOLERABLE_COMMAND: &str = "Command was: SET transaction_timeout = 0;";

/// Runs a tool with `input` as its standard input, collecting its output. A tool that stops
/// reading early (`pg_restore --list` reads only the table of contents) is not an error; the
/// caller reads the rest of the input.
///
/// With `tolerate`, a `pg_restore` run without `--exit-on-error` that failed only on
/// [`TOLERABLE_COMMAND`] (every error it reported is that statement) counts as a success.
fn run_with_input(
    mut cmd: std::process::Command,
    input: &mut dyn std::io::Read,
    tool: &'static str,
    tolerate: bool,
) -> Result<String> {
    use std::io::{BufRead as _, Write as _};
    let mut child = cmd.spawn().map_err(|e| Error::Tool {
        tool,
        detail: format!("cannot start: {e}"),
    })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stdout {
            let _ = std::io::Read::read_to_string(&mut o, &mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let (mut errors, mut tolerated) = (0u64, 0u64);
        let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let mut after_error = false;
        if let Some(e) = stderr {
            for line in std::io::BufReader::new(e).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(&format!("{tool}: error:")) {
                    errors += 1;
                    after_error = true;
                } else if after_error && line.trim_end() == TOLERABLE_COMMAND {
                    tolerated += 1;
                    after_error = false;
                } else if line.starts_with(&format!("{tool}:")) {
                    after_error = false;
                }
                tail.push_back(line);
                if tail.len() > 40 {
                    tail.pop_front();
                }
            }
        }
        (errors, tolerated, Vec::from(tail).join("\n"))
    });
    let mut feed_error = None;
    if let Some(mut stdin) = child.stdin.take() {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    feed_error = Some(e);
                    break;
                }
            };
            if let Err(e) = stdin.write_all(&buf[..n]) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    feed_error = Some(e);
                }
                break;
            }
        }
    }
    let status = child.wait().map_err(|e| Error::Tool {
        tool,
        detail: format!("could not be waited for: {e}"),
    })?;
    let stdout = out.join().unwrap_or_default();
    let (errors, tolerated, stderr) = err.join().unwrap_or_default();
    if let Some(e) = feed_error {
        // The reader's error (corruption, a failed download) is the cause.
        return Err(Error::io(format!("feeding {tool}"), e));
    }
    let only_tolerable = tolerate && errors > 0 && errors == tolerated;
    if !status.success() && !only_tolerable {
        return Err(Error::Tool {
            tool,
            detail: format!("exited with {status}: {}", stderr.trim()),
        });
    }
    if only_tolerable {
        tracing::info!(
            tool,
            errors,
            "the target server predates transaction_timeout; its SET was the only statement refused"
        );
    }
    Ok(stdout)
}

/// Options of a database restore.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseRestoreOptions {
    /// The database to create and restore into. It must not exist, unless it is the backup's
    /// own source and `force_over_source` is set.
    pub target_database: String,
    /// Restore over the source database itself (`pg_restore --clean --if-exists`): destroys
    /// what is there now. Needs the database's name as confirmation like any restore.
    pub force_over_source: bool,
    /// Leave out ownership and privileges (`--no-owner --no-acl`): for a server that lacks
    /// the source's roles.
    pub no_owner: bool,
    /// Keep a newly created database when the restore fails (default: drop it).
    pub keep_failed: bool,
    /// Where `pg_restore` is.
    pub tools: PgTools,
}

impl DatabaseRestoreOptions {
    /// A restore into a new database called `target_database`.
    pub fn new(target_database: impl Into<String>) -> Self {
        Self {
            target_database: target_database.into(),
            force_over_source: false,
            no_owner: false,
            keep_failed: false,
            tools: PgTools::default(),
        }
    }

    /// Uses these tools.
    #[must_use]
    pub fn with_tools(mut self, tools: PgTools) -> Self {
        self.tools = tools;
        self
    }

    /// Allows restoring over the backup's own source database.
    #[must_use]
    pub fn with_force_over_source(mut self, force: bool) -> Self {
        self.force_over_source = force;
        self
    }

    /// Leaves out ownership and privileges.
    #[must_use]
    pub fn with_no_owner(mut self, no_owner: bool) -> Self {
        self.no_owner = no_owner;
        self
    }

    /// Keeps a failed restore's new database.
    #[must_use]
    pub fn with_keep_failed(mut self, keep: bool) -> Self {
        self.keep_failed = keep;
        self
    }
}

/// What a database restore did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseRestoreReport {
    /// The backup.
    pub backup: String,
    /// The server restored to.
    pub server: String,
    /// The database restored into.
    pub database: String,
    /// Whether it was restored (false for a dry run).
    pub applied: bool,
    /// Tables whose rows were counted and matched the manifest.
    pub tables_checked: usize,
    /// Rows counted.
    pub rows_checked: u64,
    /// Archive bytes fed to `pg_restore`.
    pub restored_bytes: u64,
    /// Seconds from the start of the restore step to the end of validation.
    pub elapsed_seconds: f64,
}

/// Restores the database part of a backup (see [`crate::restore_database`]).
pub(crate) async fn restore(
    executor: &Executor,
    store: &BackupStore,
    manifest: &Manifest,
    identities: &Identities,
    target: &PgTarget,
    options: &DatabaseRestoreOptions,
) -> Result<DatabaseRestoreReport> {
    let Some(info) = &manifest.database else {
        return Err(Error::NotFound {
            what: "database dump",
            detail: format!("backup {} has none", manifest.id),
        });
    };
    let Some(artifact) = manifest.artifact(ArtifactKind::DatabaseDump).cloned() else {
        return Err(Error::corrupt(
            &manifest.id,
            "manifest.json",
            "the database artifact is not listed",
        ));
    };
    let db = options.target_database.clone();
    if db.is_empty() || db.len() > 63 || db.contains('\0') {
        return Err(Error::invalid("target database", "1 to 63 bytes, no NUL"));
    }
    if !identities.matches_any(&manifest.encryption.recipients) {
        return Err(Error::Decrypt {
            backup: manifest.id.clone(),
            artifact: artifact.name.clone(),
            reason: format!(
                "none of the identities given is one of the recipients {}",
                manifest.encryption.recipients.join(", ")
            ),
        });
    }
    let server = target.server_label()?;
    let target_label = format!("postgres/{server}/{db}");
    let started = Instant::now();

    let (exists, over_source, pg_restore, target_major) = executor
        .read(
            Step::read(
                "check-target",
                &target_label,
                "the target database and pg_restore",
            ),
            async {
                let conn = pg::connect(target, None).await?;
                let facts = pg::server_facts(&conn).await?;
                let exists: bool = conn
                    .client
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                        &[&db],
                    )
                    .await
                    .map_err(|e| Error::db("look up the target database", e))?
                    .get(0);
                let same_server = match (&facts.system_identifier, &info.system_identifier) {
                    (Some(a), Some(b)) => a == b,
                    _ => server == info.server,
                };
                let tool = restore_tool(manifest, &options.tools).await?;
                Ok::<_, Error>((
                    exists,
                    same_server && db == info.database,
                    tool,
                    facts.major,
                ))
            },
        )
        .await
        .map_err(Error::from_step)?;
    if over_source && !options.force_over_source {
        return Err(Error::Refused {
            reason: format!(
                "{db} on {server} is the backup's own source database; restore into a new database, or force it explicitly"
            ),
        });
    }
    if exists && !over_source {
        return Err(Error::Conflict {
            what: "database",
            detail: format!("{db} on {server}: restore into a database that does not exist"),
        });
    }
    let summary = if over_source {
        format!(
            "restore backup {} OVER the existing source database {db} (its current contents are dropped)",
            manifest.id
        )
    } else {
        format!(
            "create database {db} and restore backup {} into it with pg_restore {}",
            manifest.id, pg_restore.version
        )
    };
    let word = ConfirmWord::new(db.clone()).map_err(|e| Error::Guard {
        op: "confirmation word".into(),
        source: e,
    })?;
    let step = Step::change("restore-database", &target_label, summary)
        .with_after(
            serde_json::json!({"backup": manifest.id, "database": db, "over_source": over_source}),
        )
        .with_confirm(word);
    let progress = Arc::new(AtomicU64::new(0));
    let applied = executor
        .change(step, || async {
            if !exists {
                let conn = pg::connect(target, None).await?;
                conn.client
                    .batch_execute(&format!(
                        "CREATE DATABASE {} TEMPLATE template0",
                        pg::quote_ident(&db)
                    ))
                    .await
                    .map_err(|e| Error::db(format!("create database {db}"), e))?;
            }
            let job = RestoreJob {
                store,
                manifest,
                artifact: &artifact,
                identities,
                target,
                db: &db,
                over_source,
                target_major,
                options,
            };
            let r = feed_pg_restore(job, progress.clone(), executor).await;
            if r.is_err()
                && !exists
                && !options.keep_failed
                && let Ok(conn) = pg::connect(target, None).await
            {
                let _ = conn
                    .client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {}", pg::quote_ident(&db)))
                    .await;
            }
            r
        })
        .await
        .map_err(Error::from_step)?;
    let Some(restored_bytes) = applied.done() else {
        return Ok(DatabaseRestoreReport {
            backup: manifest.id.clone(),
            server,
            database: db,
            applied: false,
            tables_checked: 0,
            rows_checked: 0,
            restored_bytes: 0,
            elapsed_seconds: started.elapsed().as_secs_f64(),
        });
    };
    let tables = info.tables.clone();
    executor
        .read(
            Step::read(
                "validate-rows",
                &target_label,
                format!(
                    "count the rows of {} tables against the manifest",
                    tables.len()
                ),
            ),
            async {
                let conn = pg::connect(target, Some(&db)).await?;
                let mismatches = pg::compare_rows(&conn, &tables).await?;
                if mismatches.is_empty() {
                    Ok(())
                } else {
                    Err(Error::Validation {
                        backup: manifest.id.clone(),
                        target: format!("{server}/{db}"),
                        mismatches,
                    })
                }
            },
        )
        .await
        .map_err(Error::from_step)?;
    Ok(DatabaseRestoreReport {
        backup: manifest.id.clone(),
        server,
        database: db,
        applied: true,
        tables_checked: tables.len(),
        rows_checked: tables.iter().map(|t| t.rows).sum(),
        restored_bytes,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// One `pg_restore` run: what to read and where it goes.
struct RestoreJob<'a> {
    store: &'a BackupStore,
    manifest: &'a Manifest,
    artifact: &'a Artifact,
    identities: &'a Identities,
    target: &'a PgTarget,
    db: &'a str,
    over_source: bool,
    target_major: u32,
    options: &'a DatabaseRestoreOptions,
}

async fn feed_pg_restore(
    job: RestoreJob<'_>,
    progress: Arc<AtomicU64>,
    executor: &Executor,
) -> Result<u64> {
    let RestoreJob {
        store,
        manifest,
        artifact,
        identities,
        target,
        db,
        over_source,
        target_major,
        options,
    } = job;
    let (args, env) = pg::tool_connection(target, db)?;
    let mut cmd = std::process::Command::new(restore_path(&options.tools));
    if let Some(lib) = &options.tools.libdir {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    // A pg_restore of 17 or later sends `SET transaction_timeout` to any server; one older
    // than 17 refuses it. For those, run without --exit-on-error and accept that one refusal.
    let tolerate = target_major < 17;
    if !tolerate {
        cmd.arg("--exit-on-error");
    }
    cmd.args(&args).envs(env);
    if over_source {
        cmd.args(["--clean", "--if-exists"]);
    }
    if options.no_owner {
        cmd.args(["--no-owner", "--no-acl"]);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let total = artifact.size;
    let counter = progress.clone();
    let reading = read_artifact(
        store,
        &manifest.id,
        artifact,
        identities,
        progress,
        move |r| run_with_input(cmd, r, "pg_restore", tolerate).map(|_| ()),
    );
    tokio::pin!(reading);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let result = loop {
        tokio::select! {
            r = &mut reading => break r,
            _ = tick.tick() => executor.advance("restore-database", counter.load(Ordering::Relaxed), Some(total), "bytes", "restoring"),
        }
    };
    let (_, stats) = result?;
    executor.advance("restore-database", total, Some(total), "bytes", "restored");
    Ok(stats.content)
}
