//! [`PgClient`]: the PostgreSQL client behind [`Diagnostics`], [`Security`](crate::Security)
//! and [`Remediation`](crate::Remediation), over a `deadpool-postgres` pool. This file holds
//! the pool, the connection wrapper with its deadlines, and the diagnostics; remediation is in
//! `remediate.rs` and the security reads in `assess.rs`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
    TimeoutType,
};
use fleet_guard::AuditSink;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, NoTls, Row, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::analysis::{self, Probe, RawHealth, RawSessions, RawStatement, RawWaiter};
use crate::diagnostics::Diagnostics;
use crate::error::{CancelOutcome, Error, ReservedSlot};
use crate::options::{DbOptions, TlsMode};
use crate::report::{
    BlockingReport, ConnectionSummary, LeakSuspects, LongRunning, Ping, PoolHealth, ServerHealth,
    Session, Snapshot, SnapshotCost, StatementsReport, StatementsUnavailable,
};
use crate::sql::{self, SqlContext};

/// The client for one PostgreSQL server: diagnostics, security reads and guarded
/// remediation, over a small pool of connections.
///
/// Cheap to clone (clones share the pool). Building it opens no connection; the first call
/// does. `Debug` shows the options with the password redacted.
#[derive(Clone)]
pub struct PgClient {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pool: Pool,
    pub(crate) opts: DbOptions,
    /// The driver configuration the pool connects with (for one-off logins).
    pub(crate) pg_config: tokio_postgres::Config,
    pub(crate) tls: Option<MakeRustlsConnect>,
    too_many_connections: AtomicU64,
    timeouts: AtomicU64,
    /// 0 unknown, 1 eligible, 2 not eligible.
    reserved_slot: AtomicU8,
    /// `host:port/dbname`, for spans and audit targets.
    pub(crate) server: String,
    /// Server major and schema of a readable `pg_stat_statements`, from the last probe.
    statements_at: std::sync::Mutex<Option<(u32, String)>>,
}

impl fmt::Debug for PgClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgClient")
            .field("server", &self.inner.server)
            .field("options", &self.inner.opts)
            .field("pool", &self.inner.pool.status())
            .finish()
    }
}

impl PgClient {
    /// Builds the pool from `options` (validated first). No connection is opened yet.
    pub fn new(options: DbOptions) -> Result<Self, Error> {
        options.validate()?;
        let pg_config = options.pg_config()?;
        let server = options.server_label();
        // Verified: a connection the network silently dropped is caught on checkout.
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        };
        let (manager, tls) = match options.tls.mode {
            TlsMode::Disable => (
                Manager::from_config(pg_config.clone(), NoTls, manager_config),
                None,
            ),
            TlsMode::Prefer | TlsMode::Require => {
                let tls = MakeRustlsConnect::new(options.rustls_config()?);
                (
                    Manager::from_config(pg_config.clone(), tls.clone(), manager_config),
                    Some(tls),
                )
            }
        };
        let mut builder = Pool::builder(manager);
        if options.tls.mode == TlsMode::Prefer {
            // Prefer may silently fall back to plain TCP: check each new connection once and
            // say so loudly when it is not encrypted.
            let label = server.clone();
            builder = builder.post_create(Hook::async_fn(move |client, _| {
                let label = label.clone();
                Box::pin(async move {
                    let row = client
                        .query_opt(
                            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                            &[],
                        )
                        .await
                        .map_err(HookError::Backend)?;
                    let encrypted = row.is_some_and(|r| r.get::<_, bool>(0));
                    if !encrypted {
                        tracing::warn!(
                            server = %label,
                            "TLS was preferred but the server did not offer it: this connection \
                             is NOT encrypted (use TlsMode::Require to refuse plain connections)"
                        );
                    }
                    Ok(())
                })
            }));
        }
        let pool = builder
            .max_size(options.pool.max_size)
            .wait_timeout(Some(options.pool.wait_timeout))
            .create_timeout(Some(options.pool.create_timeout))
            .recycle_timeout(Some(options.pool.recycle_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| Error::InvalidInput {
                field: "pool",
                reason: e.to_string(),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                opts: options,
                pg_config,
                tls,
                too_many_connections: AtomicU64::new(0),
                timeouts: AtomicU64::new(0),
                reserved_slot: AtomicU8::new(0),
                server,
                statements_at: std::sync::Mutex::new(None),
            }),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// `host:port/dbname` of the server (no credentials), as spans and audit records name it.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// The options in use.
    pub fn options(&self) -> &DbOptions {
        &self.inner.opts
    }

    /// Closes the pool: later calls fail with [`Error::PoolClosed`].
    pub fn close(&self) {
        self.inner.pool.close();
    }

    /// The audit sink, when one is configured.
    pub(crate) fn audit_sink(&self) -> Option<&Arc<dyn AuditSink>> {
        self.inner.opts.audit.as_ref()
    }

    fn reserved_slot(&self) -> ReservedSlot {
        match self.inner.reserved_slot.load(Ordering::Relaxed) {
            1 => ReservedSlot::Eligible,
            2 => ReservedSlot::NotEligible,
            _ => ReservedSlot::Unknown,
        }
    }

    pub(crate) fn note_probe(&self, probe: &Probe) {
        let id = probe.identity();
        let v = if id.can_use_reserved_slots { 1 } else { 2 };
        self.inner.reserved_slot.store(v, Ordering::Relaxed);
    }

    pub(crate) fn classify(&self, e: tokio_postgres::Error, operation: &str) -> Error {
        let err = Error::from_pg(e, operation, self.reserved_slot());
        match &err {
            Error::TooManyConnections { .. } => {
                self.inner
                    .too_many_connections
                    .fetch_add(1, Ordering::Relaxed);
            }
            Error::Timeout { .. } => {
                self.inner.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        err
    }

    /// A pooled connection wrapped with deadlines.
    pub(crate) async fn conn(&self, operation: &str) -> Result<Conn<'_>, Error> {
        let pool = &self.inner.opts.pool;
        match self.inner.pool.get().await {
            Ok(obj) => Ok(Conn {
                db: self,
                obj: Some(obj),
                round_trips: 0,
            }),
            Err(PoolError::Timeout(kind)) => {
                self.inner.timeouts.fetch_add(1, Ordering::Relaxed);
                let (what, after) = match kind {
                    TimeoutType::Wait => ("waiting for a pooled connection", pool.wait_timeout),
                    TimeoutType::Create => ("opening a connection", pool.create_timeout),
                    TimeoutType::Recycle => ("checking a pooled connection", pool.recycle_timeout),
                };
                Err(Error::Timeout {
                    operation: format!("{operation}: {what}"),
                    after: Some(after),
                    cancel: CancelOutcome::NotNeeded,
                    source: None,
                })
            }
            Err(PoolError::Backend(e)) => {
                let err = self.classify(e, &format!("{operation}: connecting"));
                tracing::warn!(error = %err, sqlstate = ?err.sqlstate(), "connection failed");
                Err(err)
            }
            Err(PoolError::Closed) => Err(Error::PoolClosed),
            Err(other) => Err(Error::Unreachable {
                operation: operation.to_owned(),
                source: Box::new(other),
            }),
        }
    }

    async fn cancel(&self, token: &CancelToken) -> CancelOutcome {
        let send = async {
            match &self.inner.tls {
                Some(tls) => token.cancel_query(tls.clone()).await,
                None => token.cancel_query(NoTls).await,
            }
        };
        let limit = self
            .inner
            .opts
            .connect_timeout
            .saturating_add(Duration::from_secs(1));
        match tokio::time::timeout(limit, send).await {
            Ok(Ok(())) => CancelOutcome::Sent,
            Ok(Err(e)) => CancelOutcome::Failed(e.to_string()),
            Err(_) => CancelOutcome::Failed(format!("no answer within {limit:?}")),
        }
    }

    /// The requested parts and the probe in one statement, on one connection; the
    /// `pg_stat_statements` part, whose SQL depends on the server's version and on where the
    /// extension lives, joins that statement when an earlier probe of this client said it is
    /// readable, and otherwise follows in a second round trip only if the probe says so.
    async fn gather(&self, want: Want) -> Result<Gathered, Error> {
        let started = Instant::now();
        let mut conn = self.conn("collecting diagnostics").await?;
        let opts = &self.inner.opts;
        let cx = |major: u32, schema: Option<String>| SqlContext {
            major,
            query_text_limit: opts.query_text_limit,
            top_statements: opts.thresholds.top_statements,
            sequence_used_fraction: opts.thresholds.sequence_used_fraction,
            statements_schema: schema,
        };
        // Everything but the statements part is the same SQL on every supported version.
        let mut parts: Vec<(&str, String)> = vec![("probe", sql::PROBE_OBJECT.to_owned())];
        let base = cx(0, None);
        if want.sessions {
            parts.push(("sessions", sql::sessions(&base)));
        }
        if want.waiters {
            parts.push(("waiters", sql::waiters(&base)));
        }
        if want.health {
            parts.push(("health", sql::health(&base)));
        }
        let known = if want.statements {
            self.statements_context()
        } else {
            None
        };
        let mut statements_sql = None;
        if let Some((major, schema)) = &known
            && let Some(sql) = sql::statements(&cx(*major, Some(schema.clone())))
        {
            parts.push(("statements", sql.clone()));
            statements_sql = Some(sql);
        }
        let mut value: serde_json::Value = match conn
            .json_cached(&sql::combine(&parts), "collecting diagnostics")
            .await
        {
            Ok(v) => v,
            Err(Error::Query { .. } | Error::PermissionDenied { .. })
                if statements_sql.is_some() =>
            {
                // The extension changed since it was last seen: forget it, ask the probe.
                self.forget_statements_context();
                parts.retain(|(n, _)| *n != "statements");
                statements_sql = None;
                conn.json_cached(&sql::combine(&parts), "collecting diagnostics")
                    .await?
            }
            Err(e) => return Err(e),
        };
        let take =
            |v: &mut serde_json::Value, name: &str| v.get_mut(name).map(serde_json::Value::take);
        let probe: Probe = decode(
            take(&mut value, "probe").unwrap_or_default(),
            "server probe",
        )?;
        self.note_probe(&probe);
        let mut unavailable = if want.statements {
            probe.statements_unavailable()
        } else {
            None
        };
        let mut statements = take(&mut value, "statements");
        if want.statements && unavailable.is_none() {
            let schema = probe.pgss_schema.clone();
            let fresh = cx(probe.major(), schema.clone());
            let current = schema.as_ref().and_then(|_| sql::statements(&fresh));
            if current.is_some() && current != statements_sql {
                // Not collected above (first look, or the server changed): a second trip.
                match conn
                    .json_cached::<serde_json::Value>(
                        &sql::combine(&[("statements", current.clone().unwrap_or_default())]),
                        "reading pg_stat_statements",
                    )
                    .await
                {
                    Ok(mut v) => {
                        statements = take(&mut v, "statements");
                        self.remember_statements_context(probe.major(), schema);
                    }
                    Err(e @ (Error::Query { .. } | Error::PermissionDenied { .. })) => {
                        // The view exists but cannot be read (revoked privileges, a library
                        // loaded under another name): report that, keep the rest.
                        unavailable = Some(StatementsUnavailable::NotReadable {
                            message: e.to_string(),
                        });
                        statements = None;
                    }
                    Err(e) => return Err(e),
                }
            }
        } else if unavailable.is_some() {
            self.forget_statements_context();
            statements = None;
        }
        let sessions = take(&mut value, "sessions")
            .map(|v| decode::<RawSessions>(v, "session list"))
            .transpose()?;
        let waiters = take(&mut value, "waiters")
            .map(|v| decode::<Vec<RawWaiter>>(v, "lock waits"))
            .transpose()?;
        let health = take(&mut value, "health")
            .map(|v| decode::<RawHealth>(v, "server health"))
            .transpose()?;
        let statements = statements
            .map(|v| decode::<Vec<RawStatement>>(v, "pg_stat_statements"))
            .transpose()?;
        let now = take(&mut value, "now")
            .map(|v| decode::<jiff::Timestamp>(v, "server time"))
            .transpose()?
            .unwrap_or_else(jiff::Timestamp::now);
        Ok(Gathered {
            probe,
            sessions,
            waiters,
            health,
            statements,
            unavailable,
            now,
            cost: SnapshotCost {
                round_trips: conn.round_trips,
                connections_used: 1,
                elapsed: started.elapsed(),
            },
        })
    }

    /// Where `pg_stat_statements` was last read from (server major and schema).
    fn statements_context(&self) -> Option<(u32, String)> {
        self.inner.statements_at.lock().ok().and_then(|g| g.clone())
    }

    fn remember_statements_context(&self, major: u32, schema: Option<String>) {
        if let (Ok(mut g), Some(schema)) = (self.inner.statements_at.lock(), schema) {
            *g = Some((major, schema));
        }
    }

    fn forget_statements_context(&self) {
        if let Ok(mut g) = self.inner.statements_at.lock() {
            *g = None;
        }
    }

    fn sessions_of(&self, g: &mut Gathered) -> Result<(Vec<Session>, usize), Error> {
        let opts = &self.inner.opts;
        analysis::sessions(
            g.sessions.take().unwrap_or_default(),
            g.probe.own_pid,
            opts.query_text_limit,
            opts.mask_literals,
        )
        .map_err(|reason| Error::Decode {
            operation: "reading the session list".into(),
            reason,
        })
    }

    fn statements_of(&self, g: &mut Gathered) -> StatementsReport {
        let opts = &self.inner.opts;
        match (g.unavailable.take(), g.statements.take()) {
            (Some(reason), _) => StatementsReport::Unavailable { reason },
            (None, Some(rows)) => StatementsReport::Available {
                top: analysis::statements(
                    rows,
                    &opts.thresholds,
                    opts.query_text_limit,
                    opts.mask_literals,
                ),
            },
            (None, None) => StatementsReport::Unavailable {
                reason: StatementsUnavailable::NotReadable {
                    message: "not collected".into(),
                },
            },
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(v: serde_json::Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| Error::Decode {
        operation: format!("reading the {what}"),
        reason: e.to_string(),
    })
}

#[derive(Debug, Clone, Copy, Default)]
struct Want {
    sessions: bool,
    waiters: bool,
    health: bool,
    statements: bool,
}

struct Gathered {
    probe: Probe,
    sessions: Option<RawSessions>,
    waiters: Option<Vec<RawWaiter>>,
    health: Option<RawHealth>,
    statements: Option<Vec<RawStatement>>,
    unavailable: Option<StatementsUnavailable>,
    now: jiff::Timestamp,
    cost: SnapshotCost,
}

impl Gathered {
    fn missing(what: &str) -> Error {
        Error::Decode {
            operation: "collecting diagnostics".into(),
            reason: format!("{what} missing from the answer"),
        }
    }
}

/// One pooled connection; every statement runs under the client deadline and is cancelled on
/// the server when it passes (the connection is then discarded).
pub(crate) struct Conn<'a> {
    db: &'a PgClient,
    obj: Option<Object>,
    pub(crate) round_trips: u32,
}

impl Conn<'_> {
    fn client(&self, operation: &str) -> Result<(&Object, CancelToken, Duration), Error> {
        let obj = self.obj.as_ref().ok_or_else(|| Error::Unreachable {
            operation: operation.to_owned(),
            source: "connection discarded after an earlier deadline".into(),
        })?;
        Ok((obj, obj.cancel_token(), self.db.inner.opts.query_deadline))
    }

    async fn finish<T>(
        &mut self,
        operation: &str,
        token: CancelToken,
        deadline: Duration,
        outcome: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, Error> {
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.db.classify(e, operation)),
            Err(_) => {
                self.db.inner.timeouts.fetch_add(1, Ordering::Relaxed);
                let cancel = self.db.cancel(&token).await;
                // The socket may still carry the abandoned statement's answer: never reuse it.
                if let Some(obj) = self.obj.take() {
                    drop(Object::take(obj));
                }
                tracing::warn!(operation, ?deadline, ?cancel, "statement deadline passed");
                Err(Error::Timeout {
                    operation: operation.to_owned(),
                    after: Some(deadline),
                    cancel,
                    source: None,
                })
            }
        }
    }

    /// Runs a parameterless statement returning one JSON text cell (one round trip).
    pub(crate) async fn json<T: DeserializeOwned>(
        &mut self,
        sql: &str,
        operation: &str,
    ) -> Result<T, Error> {
        let (obj, token, deadline) = self.client(operation)?;
        let outcome = tokio::time::timeout(deadline, obj.simple_query(sql)).await;
        let messages = self.finish(operation, token, deadline, outcome).await?;
        self.round_trips += 1;
        let text = messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .ok_or_else(|| Error::Decode {
                operation: operation.to_owned(),
                reason: "no row returned".into(),
            })?;
        serde_json::from_str(&text).map_err(|e| Error::Decode {
            operation: operation.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Runs a parameterless statement returning one JSON text cell. On a connection's first
    /// use it goes as a simple query (one round trip, with the planner's join search limited:
    /// the catalog views join many small tables, and searching join orders cost more than it
    /// saved); on a reused connection it is prepared once and its plan kept, so repeated
    /// snapshots skip parsing and planning (one round trip each).
    pub(crate) async fn json_cached<T: DeserializeOwned>(
        &mut self,
        sql: &str,
        operation: &str,
    ) -> Result<T, Error> {
        let (obj, token, deadline) = self.client(operation)?;
        let reused = Object::metrics(obj).recycle_count > 0;
        if !reused {
            let batch = format!(
                "SET LOCAL join_collapse_limit = 1; SET LOCAL from_collapse_limit = 1; {sql}"
            );
            return self.json(&batch, operation).await;
        }
        let cached = obj.statement_cache.size();
        let run = async {
            let statement = obj.prepare_cached(sql).await?;
            obj.query_one(&statement, &[]).await
        };
        let outcome = tokio::time::timeout(deadline, run).await;
        let prepared_now = obj.statement_cache.size() > cached;
        let row = self.finish(operation, token, deadline, outcome).await?;
        // Parse and describe once per connection, then bind and execute each time.
        self.round_trips += if prepared_now { 2 } else { 1 };
        let text: &str = row.try_get(0).map_err(|e| Error::Decode {
            operation: operation.to_owned(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(text).map_err(|e| Error::Decode {
            operation: operation.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Runs a statement with bound parameters.
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        operation: &str,
    ) -> Result<Vec<Row>, Error> {
        let (obj, token, deadline) = self.client(operation)?;
        let outcome = tokio::time::timeout(deadline, obj.query(sql, params)).await;
        let rows = self.finish(operation, token, deadline, outcome).await?;
        // Parse/describe, then bind/execute.
        self.round_trips += 2;
        Ok(rows)
    }

    /// Runs a utility statement without parameters (`ALTER ROLE` accepts none).
    pub(crate) async fn batch(&mut self, sql: &str, operation: &str) -> Result<(), Error> {
        let (obj, token, deadline) = self.client(operation)?;
        let outcome = tokio::time::timeout(deadline, obj.batch_execute(sql)).await;
        self.finish(operation, token, deadline, outcome).await?;
        self.round_trips += 1;
        Ok(())
    }
}

#[async_trait]
impl Diagnostics for PgClient {
    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn ping(&self) -> Result<Ping, Error> {
        let started = Instant::now();
        let mut conn = self.conn("ping").await?;
        let version_num: u32 = conn
            .json("SELECT current_setting('server_version_num')", "ping")
            .await?;
        Ok(Ping {
            server: self.inner.server.clone(),
            version_num,
            elapsed: started.elapsed(),
        })
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn snapshot(&self) -> Result<Snapshot, Error> {
        let mut g = self
            .gather(Want {
                sessions: true,
                waiters: true,
                health: true,
                statements: true,
            })
            .await?;
        let (sessions, own) = self.sessions_of(&mut g)?;
        let t = self.inner.opts.thresholds;
        let connections = analysis::connection_summary(&g.probe, &sessions, own);
        let blocking = analysis::blocking(g.waiters.as_deref().unwrap_or_default(), &sessions);
        let statements = self.statements_of(&mut g);
        let health = g
            .health
            .take()
            .map(analysis::health)
            .ok_or_else(|| Gathered::missing("health"))?;
        let cost = g.cost;
        Ok(Snapshot {
            taken_at: g.now,
            identity: g.probe.identity(),
            active_queries: analysis::active_queries(&sessions),
            long_running: analysis::long_running(&sessions, &t),
            leak_suspects: analysis::leak_suspects(&sessions, t.idle_in_transaction),
            connections,
            blocking,
            statements,
            health,
            pool: self.pool_health(),
            cost,
            sessions,
        })
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn connection_summary(&self) -> Result<ConnectionSummary, Error> {
        let mut g = self
            .gather(Want {
                sessions: true,
                ..Want::default()
            })
            .await?;
        let (sessions, own) = self.sessions_of(&mut g)?;
        Ok(analysis::connection_summary(&g.probe, &sessions, own))
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn sessions(&self) -> Result<Vec<Session>, Error> {
        let mut g = self
            .gather(Want {
                sessions: true,
                ..Want::default()
            })
            .await?;
        Ok(self.sessions_of(&mut g)?.0)
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn active_queries(&self) -> Result<Vec<Session>, Error> {
        Ok(analysis::active_queries(&self.sessions().await?))
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn long_running(&self) -> Result<LongRunning, Error> {
        let t = self.inner.opts.thresholds;
        Ok(analysis::long_running(&self.sessions().await?, &t))
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn leak_suspects(&self, idle_longer_than: Duration) -> Result<Vec<LeakSuspects>, Error> {
        Ok(analysis::leak_suspects(
            &self.sessions().await?,
            idle_longer_than,
        ))
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn blocking(&self) -> Result<BlockingReport, Error> {
        let mut g = self
            .gather(Want {
                sessions: true,
                waiters: true,
                ..Want::default()
            })
            .await?;
        let (sessions, _) = self.sessions_of(&mut g)?;
        Ok(analysis::blocking(
            g.waiters.as_deref().unwrap_or_default(),
            &sessions,
        ))
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn slow_queries(&self) -> Result<StatementsReport, Error> {
        let mut g = self
            .gather(Want {
                statements: true,
                ..Want::default()
            })
            .await?;
        Ok(self.statements_of(&mut g))
    }

    #[tracing::instrument(skip_all, fields(server = %self.inner.server))]
    async fn server_health(&self) -> Result<ServerHealth, Error> {
        let mut g = self
            .gather(Want {
                health: true,
                ..Want::default()
            })
            .await?;
        g.health
            .take()
            .map(analysis::health)
            .ok_or_else(|| Gathered::missing("health"))
    }

    fn pool_health(&self) -> PoolHealth {
        let s = self.inner.pool.status();
        PoolHealth {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
            too_many_connections: self.inner.too_many_connections.load(Ordering::Relaxed),
            timeouts: self.inner.timeouts.load(Ordering::Relaxed),
        }
    }
}
