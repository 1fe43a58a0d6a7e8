//! Turning the server's rows into reports: pure functions, tested without a server.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use crate::mask::mask_literals;
use crate::options::Thresholds;
use crate::report::{
    BlockNode, BlockingReport, ConnectionSummary, DatabaseInfo, IndexIssue, LeakSuspects,
    LongRunning, Replica, ReplicationSlot, SequenceUsage, ServerHealth, ServerIdentity, Session,
    StateCounts, StatementStats, duration_from_secs,
};

/// The first round trip's answer.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Probe {
    pub(crate) version_num: u32,
    pub(crate) current_user: String,
    pub(crate) database: String,
    pub(crate) own_pid: i32,
    pub(crate) superuser: Option<bool>,
    pub(crate) read_all_stats: bool,
    pub(crate) use_reserved: bool,
    pub(crate) max_connections: u32,
    pub(crate) superuser_reserved: u32,
    pub(crate) reserved: u32,
    /// `None` when the role may not read it (needs `pg_read_all_settings`).
    pub(crate) preload: Option<String>,
    pub(crate) pgss_schema: Option<String>,
    pub(crate) pgss_available: bool,
    pub(crate) pgss_track: Option<String>,
}

impl Probe {
    pub(crate) fn major(&self) -> u32 {
        self.version_num / 10000
    }

    pub(crate) fn identity(&self) -> ServerIdentity {
        let superuser = self.superuser.unwrap_or(false);
        ServerIdentity {
            version_num: self.version_num,
            major: self.major(),
            current_user: self.current_user.clone(),
            database: self.database.clone(),
            superuser,
            can_read_all_stats: superuser || self.read_all_stats,
            can_use_reserved_slots: superuser || self.use_reserved,
            own_pid: self.own_pid,
        }
    }

    /// Why `pg_stat_statements` cannot be read, or `None` when it can be tried.
    pub(crate) fn statements_unavailable(&self) -> Option<crate::report::StatementsUnavailable> {
        use crate::report::StatementsUnavailable as U;
        // When the setting is hidden, go on: reading the view tells (NotReadable on failure).
        let preloaded = self.preload.as_deref().is_none_or(|list| {
            list.split(',')
                .any(|lib| lib.trim().trim_matches('"') == "pg_stat_statements")
        });
        if !preloaded {
            return Some(U::NotPreloaded);
        }
        if self.pgss_schema.is_none() {
            return Some(U::NotInstalled {
                available: self.pgss_available,
            });
        }
        if self
            .pgss_track
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("none"))
        {
            return Some(U::TrackingOff);
        }
        None
    }
}

/// The session list as the SQL returns it: one array per field, all of the same length, and
/// role (name, superuser) and database names by oid. Every array is `None` when there is no
/// session (`json_agg` over no rows).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RawSessions {
    pid: Option<Vec<i32>>,
    user_id: Option<Vec<Option<u32>>>,
    database_id: Option<Vec<Option<u32>>>,
    application: Option<Vec<Option<String>>>,
    client_addr: Option<Vec<Option<String>>>,
    state: Option<Vec<Option<String>>>,
    hidden: Option<Vec<bool>>,
    backend_age: Option<Vec<Option<f64>>>,
    xact_age: Option<Vec<Option<f64>>>,
    query_age: Option<Vec<Option<f64>>>,
    state_age: Option<Vec<Option<f64>>>,
    wait_event_type: Option<Vec<Option<String>>>,
    wait_event: Option<Vec<Option<String>>>,
    query: Option<Vec<Option<String>>>,
    /// Keyed by oid as text (JSON object keys are strings).
    roles: Option<HashMap<String, (String, Option<bool>)>>,
    databases: Option<HashMap<String, String>>,
}

/// A name map keyed by oid text, keyed by oid (a key that is not an oid cannot match a session).
fn by_oid<T>(map: Option<HashMap<String, T>>) -> HashMap<u32, T> {
    map.unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| k.parse().ok().map(|k| (k, v)))
        .collect()
}

/// One field's values, checked to hold one value per session.
fn column<T>(
    values: Option<Vec<T>>,
    len: usize,
    name: &str,
) -> Result<std::vec::IntoIter<T>, String> {
    let values = values.unwrap_or_default();
    if values.len() == len {
        Ok(values.into_iter())
    } else {
        Err(format!(
            "the session field {name} has {} values for {len} sessions",
            values.len()
        ))
    }
}

/// Session rows split into ours (by pid) and everyone else's, ordered by pid, with names
/// resolved and query texts prepared. An error names a field whose length does not match.
pub(crate) fn sessions(
    raw: RawSessions,
    own_pid: i32,
    limit: usize,
    mask: bool,
) -> Result<(Vec<Session>, usize), String> {
    let pids = raw.pid.unwrap_or_default();
    let n = pids.len();
    let mut user_id = column(raw.user_id, n, "user_id")?;
    let mut database_id = column(raw.database_id, n, "database_id")?;
    let mut application = column(raw.application, n, "application")?;
    let mut client_addr = column(raw.client_addr, n, "client_addr")?;
    let mut state = column(raw.state, n, "state")?;
    let mut hidden = column(raw.hidden, n, "hidden")?;
    let mut backend_age = column(raw.backend_age, n, "backend_age")?;
    let mut xact_age = column(raw.xact_age, n, "xact_age")?;
    let mut query_age = column(raw.query_age, n, "query_age")?;
    let mut state_age = column(raw.state_age, n, "state_age")?;
    let mut wait_event_type = column(raw.wait_event_type, n, "wait_event_type")?;
    let mut wait_event = column(raw.wait_event, n, "wait_event")?;
    let mut query = column(raw.query, n, "query")?;
    let roles = by_oid(raw.roles);
    let databases = by_oid(raw.databases);
    let mut own = 0;
    let mut out = Vec::with_capacity(n);
    for pid in pids {
        // Every iterator holds exactly `n` values (checked above).
        let (
            Some(user_id),
            Some(database_id),
            Some(application),
            Some(client_addr),
            Some(state),
            Some(hidden),
            Some(backend_age),
            Some(xact_age),
            Some(query_age),
            Some(state_age),
            Some(wait_event_type),
            Some(wait_event),
            Some(query),
        ) = (
            user_id.next(),
            database_id.next(),
            application.next(),
            client_addr.next(),
            state.next(),
            hidden.next(),
            backend_age.next(),
            xact_age.next(),
            query_age.next(),
            state_age.next(),
            wait_event_type.next(),
            wait_event.next(),
            query.next(),
        )
        else {
            break;
        };
        if pid == own_pid {
            own += 1;
            continue;
        }
        let (query, query_truncated) = match query {
            Some(q) => {
                let q = if mask { mask_literals(&q) } else { q };
                let truncated = q.chars().count() > limit;
                let q = if truncated {
                    q.chars().take(limit).collect()
                } else {
                    q
                };
                (Some(q), truncated)
            }
            None => (None, false),
        };
        let role = user_id.and_then(|oid| roles.get(&oid));
        out.push(Session {
            pid,
            user: role.map(|(name, _)| name.clone()),
            application,
            client_addr,
            database: database_id.and_then(|oid| databases.get(&oid).cloned()),
            state,
            superuser: role.and_then(|(_, superuser)| *superuser),
            hidden,
            backend_age: backend_age.map(duration_from_secs),
            xact_age: xact_age.map(duration_from_secs),
            query_age: query_age.map(duration_from_secs),
            state_age: state_age.map(duration_from_secs),
            wait_event_type,
            wait_event,
            query,
            query_truncated,
        });
    }
    out.sort_by_key(|s| s.pid);
    Ok((out, own))
}

/// Counts against slots. `own` is the number of our own connections in the listing (counted in
/// the total, since they hold slots too).
pub(crate) fn connection_summary(
    probe: &Probe,
    sessions: &[Session],
    own: usize,
) -> ConnectionSummary {
    let mut by_state = StateCounts::default();
    let mut by_user = BTreeMap::new();
    let mut by_application = BTreeMap::new();
    let mut by_client_addr = BTreeMap::new();
    for s in sessions {
        match (s.hidden, s.state.as_deref()) {
            (true, _) | (false, None) => by_state.hidden += 1,
            (false, Some("active")) => by_state.active += 1,
            (false, Some("idle")) => by_state.idle += 1,
            (false, Some("idle in transaction")) => by_state.idle_in_transaction += 1,
            (false, Some("idle in transaction (aborted)")) => {
                by_state.idle_in_transaction_aborted += 1;
            }
            (false, Some(_)) => by_state.other += 1,
        }
        *by_user
            .entry(s.user.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
        *by_application
            .entry(s.application.clone().unwrap_or_default())
            .or_insert(0) += 1;
        let addr = if s.hidden {
            "hidden".to_owned()
        } else {
            s.client_addr.clone().unwrap_or_else(|| "local".into())
        };
        *by_client_addr.entry(addr).or_insert(0) += 1;
    }
    let own = u32::try_from(own).unwrap_or(u32::MAX);
    // Our own session is active while it runs the report.
    by_state.active += own;
    let total = u32::try_from(sessions.len())
        .unwrap_or(u32::MAX)
        .saturating_add(own);
    let usable = probe
        .max_connections
        .saturating_sub(probe.superuser_reserved)
        .saturating_sub(probe.reserved);
    let utilization = if usable == 0 {
        f64::INFINITY
    } else {
        f64::from(total) / f64::from(usable)
    };
    let slots_left = i64::from(usable) - i64::from(total);
    let identity = probe.identity();
    let mut warnings = Vec::new();
    let complete = identity.can_read_all_stats;
    if !complete {
        warnings.push(format!(
            "role {} lacks pg_read_all_stats (grant pg_monitor): {} session(s) of other roles \
             are counted but their state, client and query are hidden",
            identity.current_user, by_state.hidden
        ));
    }
    if slots_left < 0 {
        warnings.push(format!(
            "{} connection(s) are using reserved slots: ordinary roles cannot connect",
            -slots_left
        ));
    } else if slots_left == 0 {
        warnings.push("no usable connection slots left: ordinary roles cannot connect".into());
    }
    if !identity.can_use_reserved_slots {
        warnings.push(format!(
            "role {} cannot use reserved slots, so these diagnostics will fail too when the \
             server is full",
            identity.current_user
        ));
    }
    ConnectionSummary {
        total,
        by_state,
        by_user,
        by_application,
        by_client_addr,
        max_connections: probe.max_connections,
        superuser_reserved: probe.superuser_reserved,
        reserved: probe.reserved,
        usable,
        utilization,
        slots_left,
        complete,
        warnings,
    }
}

/// Active queries, longest running first.
pub(crate) fn active_queries(sessions: &[Session]) -> Vec<Session> {
    let mut out: Vec<Session> = sessions
        .iter()
        .filter(|s| s.state.as_deref() == Some("active"))
        .cloned()
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.query_age));
    out
}

/// Queries and transactions over the thresholds.
pub(crate) fn long_running(sessions: &[Session], t: &Thresholds) -> LongRunning {
    let mut queries: Vec<Session> = sessions
        .iter()
        .filter(|s| {
            s.state.as_deref() == Some("active") && s.query_age.is_some_and(|a| a >= t.long_query)
        })
        .cloned()
        .collect();
    queries.sort_by_key(|s| std::cmp::Reverse(s.query_age));
    let mut transactions: Vec<Session> = sessions
        .iter()
        .filter(|s| s.xact_age.is_some_and(|a| a >= t.long_transaction))
        .cloned()
        .collect();
    transactions.sort_by_key(|s| std::cmp::Reverse(s.xact_age));
    LongRunning {
        queries,
        transactions,
    }
}

/// Idle-in-transaction sessions idle longer than `older_than`, grouped by application, worst
/// group first.
pub(crate) fn leak_suspects(sessions: &[Session], older_than: Duration) -> Vec<LeakSuspects> {
    let mut groups: BTreeMap<String, Vec<&Session>> = BTreeMap::new();
    for s in sessions {
        let idle_in_tx = matches!(
            s.state.as_deref(),
            Some("idle in transaction" | "idle in transaction (aborted)")
        );
        if idle_in_tx && s.state_age.is_some_and(|a| a >= older_than) {
            groups
                .entry(s.application.clone().unwrap_or_default())
                .or_default()
                .push(s);
        }
    }
    let mut out: Vec<LeakSuspects> = groups
        .into_iter()
        .map(|(application, mut list)| {
            list.sort_by_key(|s| std::cmp::Reverse(s.state_age));
            let users: BTreeSet<String> = list.iter().filter_map(|s| s.user.clone()).collect();
            LeakSuspects {
                application,
                sessions: u32::try_from(list.len()).unwrap_or(u32::MAX),
                oldest_idle: list.first().and_then(|s| s.state_age).unwrap_or_default(),
                pids: list.iter().map(|s| s.pid).collect(),
                users: users.into_iter().collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then(b.oldest_idle.cmp(&a.oldest_idle))
    });
    out
}

/// A waiter row as the SQL returns it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawWaiter {
    pub(crate) pid: i32,
    pub(crate) blocked_by: Vec<i32>,
    pub(crate) waiting: Option<f64>,
}

/// The blocking forest: roots are blockers that do not wait themselves.
pub(crate) fn blocking(waiters: &[RawWaiter], sessions: &[Session]) -> BlockingReport {
    let waiting: HashMap<i32, &RawWaiter> = waiters
        .iter()
        .filter(|w| !w.blocked_by.is_empty())
        .map(|w| (w.pid, w))
        .collect();
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for w in waiting.values() {
        for b in &w.blocked_by {
            children.entry(*b).or_default().push(w.pid);
        }
    }
    for list in children.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    let by_pid: HashMap<i32, &Session> = sessions.iter().map(|s| (s.pid, s)).collect();
    let mut roots: Vec<i32> = children
        .keys()
        .copied()
        .filter(|pid| !waiting.contains_key(pid))
        .collect();
    roots.sort_unstable();
    let mut seen = HashSet::new();
    fn build(
        pid: i32,
        children: &BTreeMap<i32, Vec<i32>>,
        waiting: &HashMap<i32, &RawWaiter>,
        by_pid: &HashMap<i32, &Session>,
        seen: &mut HashSet<i32>,
    ) -> BlockNode {
        seen.insert(pid);
        let blocked = children
            .get(&pid)
            .into_iter()
            .flatten()
            .filter(|c| !seen.contains(*c))
            .copied()
            .collect::<Vec<_>>()
            .into_iter()
            .map(|c| build(c, children, waiting, by_pid, seen))
            .collect();
        BlockNode {
            pid,
            session: by_pid.get(&pid).map(|s| (*s).clone()),
            waiting: waiting
                .get(&pid)
                .and_then(|w| w.waiting)
                .map(duration_from_secs),
            blocked,
        }
    }
    let trees: Vec<BlockNode> = roots
        .into_iter()
        .map(|r| build(r, &children, &waiting, &by_pid, &mut seen))
        .collect();
    // Waiters never reached from a root wait on each other: a cycle.
    let mut cycles: Vec<i32> = waiting
        .keys()
        .copied()
        .filter(|p| !seen.contains(p))
        .collect();
    cycles.sort_unstable();
    BlockingReport {
        roots: trees,
        waiting_sessions: u32::try_from(waiting.len()).unwrap_or(u32::MAX),
        cycles,
    }
}

/// A statement row as the SQL returns it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawStatement {
    query_id: Option<i64>,
    query: Option<String>,
    user: Option<String>,
    calls: i64,
    total_ms: Option<f64>,
    mean_ms: Option<f64>,
    rows: i64,
    hit: i64,
    read: i64,
    read_ms: Option<f64>,
}

pub(crate) fn statements(
    raw: Vec<RawStatement>,
    t: &Thresholds,
    limit: usize,
    mask: bool,
) -> Vec<StatementStats> {
    raw.into_iter()
        .map(|r| {
            let mean_time = duration_from_secs(r.mean_ms.unwrap_or(0.0) / 1000.0);
            let query = r.query.unwrap_or_default();
            let query = if mask { mask_literals(&query) } else { query };
            let query = query.chars().take(limit).collect();
            let touched = r.hit.saturating_add(r.read);
            StatementStats {
                query_id: r.query_id,
                query,
                user: r.user,
                calls: r.calls,
                total_time: duration_from_secs(r.total_ms.unwrap_or(0.0) / 1000.0),
                mean_time,
                rows: r.rows,
                cache_hit_ratio: (touched > 0).then(|| r.hit as f64 / touched as f64),
                read_time: duration_from_secs(r.read_ms.unwrap_or(0.0) / 1000.0),
                slow: mean_time >= t.slow_query_mean
                    && u64::try_from(r.calls).unwrap_or(0) >= t.slow_query_calls,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
struct RawDatabase {
    name: String,
    size_bytes: Option<i64>,
    xid_age: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct RawStats {
    blks_hit: i64,
    blks_read: i64,
    deadlocks: i64,
    temp_files: i64,
    temp_bytes: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct RawSequence {
    schema: String,
    name: String,
    column: Option<String>,
    last_value: i64,
    max_value: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct RawIndex {
    schema: String,
    table: String,
    index: String,
    #[serde(default)]
    covered_by: Option<String>,
    #[serde(default)]
    being_built: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct RawSlot {
    name: String,
    slot_type: String,
    active: bool,
    retained_bytes: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawReplica {
    application: Option<String>,
    client_addr: Option<String>,
    state: Option<String>,
    replay_lag: Option<f64>,
}

/// The health row as the SQL returns it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawHealth {
    version: String,
    started_at: Timestamp,
    uptime: f64,
    in_recovery: bool,
    databases: Vec<RawDatabase>,
    stats: Option<RawStats>,
    sequences: Vec<RawSequence>,
    invalid_indexes: Vec<RawIndex>,
    duplicate_indexes: Vec<RawIndex>,
    replay_lag: Option<f64>,
    slots: Vec<RawSlot>,
    replicas: Vec<RawReplica>,
}

/// Transaction ids available before wraparound protection stops the server.
const XID_LIMIT: i64 = 2_147_483_647;

pub(crate) fn health(raw: RawHealth) -> ServerHealth {
    let databases: Vec<DatabaseInfo> = raw
        .databases
        .into_iter()
        .map(|d| DatabaseInfo {
            name: d.name,
            size_bytes: d.size_bytes,
            xid_age: d.xid_age,
            xids_left: XID_LIMIT - d.xid_age,
        })
        .collect();
    let min_xids_left = databases
        .iter()
        .map(|d| d.xids_left)
        .min()
        .unwrap_or(XID_LIMIT);
    let index = |i: RawIndex| IndexIssue {
        schema: i.schema,
        table: i.table,
        index: i.index,
        covered_by: i.covered_by,
        being_built: i.being_built,
    };
    let stats = raw.stats;
    ServerHealth {
        version: raw.version,
        started_at: raw.started_at,
        uptime: duration_from_secs(raw.uptime),
        in_recovery: raw.in_recovery,
        databases,
        cache_hit_ratio: stats.as_ref().and_then(|s| {
            let total = s.blks_hit.saturating_add(s.blks_read);
            (total > 0).then(|| s.blks_hit as f64 / total as f64)
        }),
        deadlocks: stats.as_ref().map_or(0, |s| s.deadlocks),
        temp_files: stats.as_ref().map_or(0, |s| s.temp_files),
        temp_bytes: stats.as_ref().map_or(0, |s| s.temp_bytes),
        min_xids_left,
        sequences_near_exhaustion: raw
            .sequences
            .into_iter()
            .map(|s| SequenceUsage {
                used_fraction: if s.max_value > 0 {
                    s.last_value as f64 / s.max_value as f64
                } else {
                    1.0
                },
                schema: s.schema,
                name: s.name,
                column: s.column,
                last_value: s.last_value,
                max_value: s.max_value,
            })
            .collect(),
        invalid_indexes: raw.invalid_indexes.into_iter().map(index).collect(),
        duplicate_indexes: raw.duplicate_indexes.into_iter().map(index).collect(),
        replay_lag: raw.replay_lag.map(duration_from_secs),
        replication_slots: raw
            .slots
            .into_iter()
            .map(|s| ReplicationSlot {
                name: s.name,
                slot_type: s.slot_type,
                active: s.active,
                retained_bytes: s.retained_bytes,
            })
            .collect(),
        replicas: raw
            .replicas
            .into_iter()
            .map(|r| Replica {
                application: r.application,
                client_addr: r.client_addr,
                state: r.state,
                replay_lag: r.replay_lag.map(duration_from_secs),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
