//! [`Security`] for [`PgClient`]: roles, connections by source, large reads, login checks.

use std::time::Instant;

use async_trait::async_trait;
use serde::Deserialize;
use tokio_postgres::NoTls;

use crate::analysis::Probe;
use crate::client::{Conn, PgClient, decode};
use crate::error::Error;
use crate::mask::mask_literals;
use crate::report::StatementsUnavailable;
use crate::secret::Secret;
use crate::security::{
    ConnectionSource, LargeRead, LargeReadsOptions, LargeReadsReport, LoginCheck, ReadOrder,
    RoleInfo, RolesOptions, RolesReport, Security, by_source,
};
use crate::sql::{self, SqlContext};

#[derive(Debug, Deserialize)]
struct RawRead {
    query_id: Option<i64>,
    query: Option<String>,
    user: Option<String>,
    database: Option<String>,
    calls: i64,
    rows: i64,
    shared_blks_read: i64,
    shared_blks_hit: i64,
    temp_blks_read: i64,
}

impl PgClient {
    /// The probe, and the SQL context for the statements view when it can be read.
    async fn probed(&self, conn: &mut Conn<'_>) -> Result<(Probe, SqlContext), Error> {
        let probe: Probe = conn.json(sql::PROBE, "probing the server").await?;
        self.note_probe(&probe);
        let opts = &self.inner().opts;
        let cx = SqlContext {
            major: probe.major(),
            query_text_limit: opts.query_text_limit,
            top_statements: opts.thresholds.top_statements,
            sequence_used_fraction: opts.thresholds.sequence_used_fraction,
            statements_schema: match probe.statements_unavailable() {
                None => probe.pgss_schema.clone(),
                Some(_) => None,
            },
        };
        Ok((probe, cx))
    }

    fn prepare_text(&self, text: Option<String>) -> String {
        let opts = &self.inner().opts;
        let text = text.unwrap_or_default();
        let text = if opts.mask_literals {
            mask_literals(&text)
        } else {
            text
        };
        text.chars().take(opts.query_text_limit).collect()
    }
}

#[async_trait]
impl Security for PgClient {
    #[tracing::instrument(skip_all, fields(server = %self.server()))]
    async fn roles(&self, options: Option<RolesOptions>) -> Result<RolesReport, Error> {
        let options = options.unwrap_or_default();
        let mut conn = self.conn("listing roles").await?;
        let (probe, mut cx) = self.probed(&mut conn).await?;
        let identity = probe.identity();
        let mut unavailable = probe.statements_unavailable();
        let query = |cx: &SqlContext| {
            sql::combine(&[(
                "roles",
                sql::roles(cx, identity.superuser, options.include_system_roles),
            )])
        };
        let mut value: serde_json::Value = match conn.json(&query(&cx), "listing roles").await {
            Ok(v) => v,
            Err(e @ (Error::Query { .. } | Error::PermissionDenied { .. }))
                if cx.statements_schema.is_some() =>
            {
                unavailable = Some(StatementsUnavailable::NotReadable {
                    message: e.to_string(),
                });
                cx.statements_schema = None;
                conn.json(&query(&cx), "listing roles").await?
            }
            Err(e) => return Err(e),
        };
        let roles = value
            .get_mut("roles")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        let roles: Vec<RoleInfo> = decode(roles, "role list")?;
        Ok(RolesReport {
            roles,
            statements_unavailable: unavailable,
            complete: identity.can_read_all_stats,
        })
    }

    #[tracing::instrument(skip_all, fields(server = %self.server()))]
    async fn connections_by_source(&self) -> Result<Vec<ConnectionSource>, Error> {
        let sessions = crate::Diagnostics::sessions(self).await?;
        Ok(by_source(&sessions))
    }

    #[tracing::instrument(skip_all, fields(server = %self.server()))]
    async fn large_reads(
        &self,
        options: Option<LargeReadsOptions>,
    ) -> Result<LargeReadsReport, Error> {
        let options = options.unwrap_or_default();
        if !(1..=10_000).contains(&options.limit) {
            return Err(Error::InvalidInput {
                field: "limit",
                reason: "must be between 1 and 10000".into(),
            });
        }
        let mut conn = self.conn("listing large reads").await?;
        let (probe, cx) = self.probed(&mut conn).await?;
        if let Some(reason) = probe.statements_unavailable() {
            return Ok(LargeReadsReport::Unavailable { reason });
        }
        let Some(reads) = sql::large_reads(
            &cx,
            options.order_by == ReadOrder::BlocksRead,
            options.limit,
            options.min_rows,
            options.all_databases,
        ) else {
            return Ok(LargeReadsReport::Unavailable {
                reason: StatementsUnavailable::NotInstalled {
                    available: probe.pgss_available,
                },
            });
        };
        let query = sql::combine(&[
            ("reads", reads),
            ("block_size", "current_setting('block_size')::bigint".into()),
        ]);
        let mut value: serde_json::Value = match conn.json(&query, "listing large reads").await {
            Ok(v) => v,
            Err(e @ (Error::Query { .. } | Error::PermissionDenied { .. })) => {
                return Ok(LargeReadsReport::Unavailable {
                    reason: StatementsUnavailable::NotReadable {
                        message: e.to_string(),
                    },
                });
            }
            Err(e) => return Err(e),
        };
        let block_size = value
            .get("block_size")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(8192);
        let raw: Vec<RawRead> = decode(
            value
                .get_mut("reads")
                .map(serde_json::Value::take)
                .unwrap_or_default(),
            "pg_stat_statements",
        )?;
        let top = raw
            .into_iter()
            .map(|r| LargeRead {
                query_id: r.query_id,
                query: self.prepare_text(r.query),
                user: r.user,
                database: r.database,
                calls: r.calls,
                rows: r.rows,
                rows_per_call: if r.calls > 0 {
                    r.rows as f64 / r.calls as f64
                } else {
                    0.0
                },
                shared_blks_read: r.shared_blks_read,
                shared_blks_hit: r.shared_blks_hit,
                temp_blks_read: r.temp_blks_read,
                bytes_read: r.shared_blks_read.saturating_mul(block_size),
            })
            .collect();
        Ok(LargeReadsReport::Available {
            top,
            complete: probe.identity().can_read_all_stats,
        })
    }

    #[tracing::instrument(skip_all, fields(server = %self.server(), user = %user))]
    async fn check_login(&self, user: &str, password: &Secret) -> Result<LoginCheck, Error> {
        if user.is_empty() || user.len() > 63 || user.contains('\0') {
            return Err(Error::InvalidInput {
                field: "user",
                reason: "a role name has 1 to 63 bytes and no NUL".into(),
            });
        }
        let inner = self.inner();
        let mut cfg = inner.pg_config.clone();
        cfg.user(user).password(password.expose());
        let operation = format!("logging in as {user:?}");
        let started = Instant::now();
        let limit = inner.opts.pool.create_timeout;
        let connected = match &inner.tls {
            Some(tls) => {
                tokio::time::timeout(limit, async {
                    let (client, connection) = cfg.connect(tls.clone()).await?;
                    drop(client);
                    let _ = connection.await;
                    Ok::<(), tokio_postgres::Error>(())
                })
                .await
            }
            None => {
                tokio::time::timeout(limit, async {
                    let (client, connection) = cfg.connect(NoTls).await?;
                    drop(client);
                    let _ = connection.await;
                    Ok::<(), tokio_postgres::Error>(())
                })
                .await
            }
        };
        match connected {
            Ok(Ok(())) => Ok(LoginCheck {
                user: user.to_owned(),
                server: inner.server.clone(),
                elapsed: started.elapsed(),
            }),
            Ok(Err(e)) => Err(self.classify(e, &operation)),
            Err(_) => Err(Error::Timeout {
                operation,
                after: Some(limit),
                cancel: crate::error::CancelOutcome::NotNeeded,
                source: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis;

    #[test]
    fn grouping_by_source() {
        let raw: analysis::RawSessions = serde_json::from_str(
            r#"{
            "pid": [3, 1, 2, 9],
            "user_id": [20, 10, 10, 10],
            "database_id": [5, 5, 5, 5],
            "application": [null, "api", "worker", "fleet-db"],
            "client_addr": [null, "10.0.0.5", "10.0.0.5", null],
            "state": [null, "idle", "active", "active"],
            "hidden": [true, false, false, false],
            "backend_age": [null, 30.0, 90.0, 1.0],
            "xact_age": [null, null, null, null],
            "query_age": [null, null, null, null],
            "state_age": [null, null, null, null],
            "wait_event_type": [null, null, null, null],
            "wait_event": [null, null, null, null],
            "query": [null, null, null, "SELECT 1"],
            "roles": {"10": ["app", false], "20": ["etl", false]},
            "databases": {"5": "d"}
        }"#,
        )
        .expect("rows");
        // pid 9 is the asking connection: counted apart, not listed.
        let (sessions, own) = analysis::sessions(raw, 9, 100, true).expect("columns");
        assert_eq!(own, 1);
        assert_eq!(
            sessions.iter().map(|s| s.pid).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(sessions[2].user.as_deref(), Some("etl"));
        assert_eq!(sessions[0].database.as_deref(), Some("d"));
        let groups = by_source(&sessions);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].client_addr.as_str(), groups[0].user.as_str()),
            ("10.0.0.5", "app")
        );
        assert_eq!(groups[0].sessions, 2);
        assert_eq!(groups[0].applications, vec!["api", "worker"]);
        assert_eq!(
            groups[0].oldest_connection,
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(
            (groups[1].client_addr.as_str(), groups[1].by_state.hidden),
            ("hidden", 1)
        );
    }
}
