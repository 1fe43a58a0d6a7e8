//! The SQL behind the reports, chosen per server major version (12 to 17 and later).
//!
//! Every report is a scalar subquery yielding JSON, so any set of reports can be combined into
//! one `SELECT json_build_object(...)`, i.e. one round trip; the JSON is decoded into typed rows.
//! The only values interpolated into the text are numbers computed here and the
//! `pg_stat_statements` schema name, quoted as an identifier.
//!
//! The snapshot's parts read the functions behind the system views (`pg_stat_get_activity`,
//! `pg_lock_status`, `pg_get_replication_slots`, `pg_available_extensions()`) rather than the
//! views: a new session loads and expands each view's stored definition before it can plan, which
//! measured 0.3 ms (`pg_locks`) to 2.3 ms (`pg_stat_activity`) per view in a new session.
//! (`pg_roles` stays: it is the view over `pg_authid` that every role may read.)

/// What the SQL depends on: the server's major version and the report limits.
#[derive(Debug, Clone)]
pub(crate) struct SqlContext {
    pub(crate) major: u32,
    pub(crate) query_text_limit: usize,
    pub(crate) top_statements: u32,
    pub(crate) sequence_used_fraction: f64,
    /// Schema holding the `pg_stat_statements` view, when it is usable.
    pub(crate) statements_schema: Option<String>,
}

/// Quotes an identifier the way `quote_ident` does.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

macro_rules! probe_object {
    () => {
        "json_build_object( \
 'version_num', current_setting('server_version_num')::int, \
 'current_user', current_user, \
 'database', current_database(), \
 'own_pid', pg_backend_pid(), \
 'superuser', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), \
 'read_all_stats', pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'), \
 'use_reserved', CASE WHEN to_regrole('pg_use_reserved_connections') IS NOT NULL \
   THEN pg_has_role(current_user, 'pg_use_reserved_connections', 'USAGE') ELSE false END, \
 'max_connections', current_setting('max_connections')::int, \
 'superuser_reserved', current_setting('superuser_reserved_connections')::int, \
 'reserved', coalesce(current_setting('reserved_connections', true), '0')::int, \
 'preload', CASE WHEN pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') \
   THEN current_setting('shared_preload_libraries') END, \
 'pgss_schema', (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
   WHERE e.extname = 'pg_stat_statements'), \
 'pgss_available', CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') \
   THEN true WHEN pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') \
   THEN strpos(current_setting('shared_preload_libraries'), 'pg_stat_statements') > 0 \
   ELSE EXISTS (SELECT 1 FROM pg_available_extensions() e WHERE e.name = 'pg_stat_statements') END, \
 'pgss_track', current_setting('pg_stat_statements.track', true), \
 'now', now() \
)"
    };
}

/// First round trip: version, identity, privileges, connection settings, and what is known about
/// `pg_stat_statements`. Version-independent (guards keep 16-only names from being evaluated on
/// older servers: `pg_has_role` is stable, so `CASE` is not folded away at plan time).
///
/// Whether the extension's files are present (`pgss_available`) only matters when the library
/// is preloaded but the extension is not installed in this database. A preloaded library was
/// loaded from disk when the server started (a missing one stops the start), so when the preload
/// list is readable the answer is taken from it; when the list names no `pg_stat_statements`
/// the report says "not preloaded" and the value is unused. Only a role that may not read the
/// list pays for `pg_available_extensions`, which reads every extension control file of the
/// server (0.7 ms warm, about 5 ms in a new session, measured at 500 connections).
pub(crate) const PROBE: &str = concat!("SELECT ", probe_object!(), "::text");

/// The probe as a JSON expression, to combine with other parts in one statement.
pub(crate) const PROBE_OBJECT: &str = probe_object!();

/// The name of the shared, materialized read of `pg_stat_get_activity` (see [`combine`]).
pub(crate) const ACTIVITY: &str = "fleet_activity";

/// The activity read every part shares: one call of `pg_stat_get_activity` per statement
/// (each call copies every backend's entry, about 0.7 ms at 500 connections), without the
/// role and database joins of the `pg_stat_activity` view (the names come as small maps).
const ACTIVITY_CTE: &str = "fleet_activity AS MATERIALIZED (SELECT pid, usesysid, datid, \
 application_name, client_addr, state, backend_type, backend_start, xact_start, query_start, \
 state_change, wait_event_type, wait_event, query FROM pg_stat_get_activity(NULL))";

/// Client sessions, column by column: one JSON array per field (all the same length, in the same
/// order) rather than one object per session, plus role (name, superuser) and database names by
/// oid. At 500 sessions that is about a third of the bytes and half the server's time of
/// per-session objects, whose cost is per value (measured 8.5 vs 4.0 ms). The client marks its
/// own connection by pid (the probe's `own_pid`) and orders by pid. Sessions hidden from a role
/// without `pg_read_all_stats` have a NULL `backend_type`; they are kept when they have a role
/// and a database, which leaves out the hidden background processes (the logical replication
/// launcher has a role but no database). A hidden logical-replication apply worker would still
/// count.
pub(crate) fn sessions(cx: &SqlContext) -> String {
    // One more character than the limit, so truncation is detectable.
    let take = cx.query_text_limit.saturating_add(1);
    format!(
        "(SELECT json_build_object( \
 'pid', json_agg(a.pid), 'user_id', json_agg(a.usesysid::int8), 'database_id', json_agg(a.datid::int8), \
 'application', json_agg(a.application_name), 'client_addr', json_agg(host(a.client_addr)), \
 'state', json_agg(a.state), 'hidden', json_agg(a.backend_type IS NULL), \
 'backend_age', json_agg(extract(epoch FROM now() - a.backend_start)), \
 'xact_age', json_agg(extract(epoch FROM now() - a.xact_start)), \
 'query_age', json_agg(extract(epoch FROM now() - a.query_start)), \
 'state_age', json_agg(extract(epoch FROM now() - a.state_change)), \
 'wait_event_type', json_agg(a.wait_event_type), 'wait_event', json_agg(a.wait_event), \
 'query', json_agg(CASE WHEN a.backend_type IS NULL THEN NULL ELSE left(a.query, {take}) END), \
 'roles', (SELECT json_object_agg(r.oid, json_build_array(r.rolname, r.rolsuper)) FROM pg_roles r \
   WHERE r.oid IN (SELECT usesysid FROM {ACTIVITY})), \
 'databases', (SELECT json_object_agg(d.oid, d.datname) FROM pg_database d)) \
 FROM {ACTIVITY} a WHERE a.backend_type = 'client backend' \
 OR (a.backend_type IS NULL AND a.usesysid IS NOT NULL AND a.datid IS NOT NULL))"
    )
}

/// Sessions waiting on a heavyweight lock and who blocks them. `pg_blocking_pids` (which takes
/// every lock-manager partition lock) and the lock table read (`pg_lock_status()`, what
/// `pg_locks` shows) run only for backends waiting on a lock, found in the shared activity read.
/// The lock's `waitstart` exists from PostgreSQL 14; it is read through `to_jsonb` so that the
/// same SQL runs on every version (NULL before 14).
pub(crate) fn waiters(_cx: &SqlContext) -> String {
    let waiting = "extract(epoch FROM now() - (SELECT min((to_jsonb(l) ->> 'waitstart')::timestamptz) \
         FROM pg_lock_status() l WHERE l.pid = w.pid AND NOT l.granted))";
    format!(
        "(SELECT coalesce(json_agg(json_build_object( \
 'pid', w.pid, 'blocked_by', pg_blocking_pids(w.pid), 'waiting', {waiting})), '[]'::json) \
 FROM {ACTIVITY} w WHERE w.wait_event_type = 'Lock')"
    )
}

/// Top statements by total time from `pg_stat_statements`, in the current database.
///
/// 12: `total_time`/`mean_time`, `blk_read_time`; 13 to 16: `total_exec_time` +
/// `total_plan_time`, `blk_read_time`; 17+: `shared_blk_read_time` (+ `local_blk_read_time`).
pub(crate) fn statements(cx: &SqlContext) -> Option<String> {
    let schema = quote_ident(cx.statements_schema.as_deref()?);
    let (total, read) = match cx.major {
        0..=12 => ("s.total_time", "s.blk_read_time"),
        13..=16 => ("s.total_exec_time + s.total_plan_time", "s.blk_read_time"),
        _ => (
            "s.total_exec_time + s.total_plan_time",
            "s.shared_blk_read_time + s.local_blk_read_time",
        ),
    };
    let take = cx.query_text_limit.saturating_add(1);
    let top = cx.top_statements;
    Some(format!(
        "(SELECT coalesce(json_agg(x ORDER BY x.total_ms DESC), '[]'::json) FROM ( \
 SELECT s.queryid AS query_id, left(s.query, {take}) AS query, r.rolname AS user, s.calls, \
 ({total}) AS total_ms, ({total}) / nullif(s.calls, 0) AS mean_ms, s.rows, \
 s.shared_blks_hit AS hit, s.shared_blks_read AS read, ({read}) AS read_ms \
 FROM {schema}.pg_stat_statements s \
 JOIN pg_database d ON d.oid = s.dbid AND d.datname = current_database() \
 LEFT JOIN pg_roles r ON r.oid = s.userid \
 ORDER BY {total} DESC LIMIT {top}) x)"
    ))
}

/// Server health: version, uptime, databases, cache, deadlocks, temp files, sequences, indexes,
/// replication.
///
/// A new session plans this part longest (4.4 of the snapshot's 6.4 ms of planning, measured
/// before the changes below): every join among catalogs costs catalog look-ups for the planner's
/// estimates, and a new session's caches are empty. So it reads the catalogs and statistics functions rather than the views over them
/// (`pg_stat_database`, `pg_sequences`, `pg_stat_progress_create_index`, `pg_stat_replication`),
/// and names the few objects it reports through `pg_identify_object_as_address` (schema and
/// name, unquoted) and `pg_identify_object` (a column's `schema.table.column`, quoted as
/// `format('%I.%I.%I')` quotes) instead of joining `pg_class` and `pg_namespace` for every
/// candidate: those calls run only for the rows reported. (The session's own temporary schema
/// is named `pg_temp` that way.) The replicas' names come from the shared activity read.
pub(crate) fn health(cx: &SqlContext) -> String {
    let fraction = if cx.sequence_used_fraction.is_finite() {
        cx.sequence_used_fraction.clamp(0.0, 1.0)
    } else {
        0.9
    };
    format!(
        "json_build_object( \
 'version', version(), \
 'started_at', pg_postmaster_start_time(), \
 'uptime', extract(epoch FROM now() - pg_postmaster_start_time()), \
 'in_recovery', pg_is_in_recovery(), \
 'databases', (SELECT coalesce(json_agg(json_build_object('name', d.datname, \
   'size_bytes', CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END, \
   'xid_age', age(d.datfrozenxid)) ORDER BY d.datname), '[]'::json) FROM pg_database d), \
 'stats', (SELECT json_build_object('blks_hit', pg_stat_get_db_blocks_hit(d.oid), \
   'blks_read', pg_stat_get_db_blocks_fetched(d.oid) - pg_stat_get_db_blocks_hit(d.oid), \
   'deadlocks', pg_stat_get_db_deadlocks(d.oid), 'temp_files', pg_stat_get_db_temp_files(d.oid), \
   'temp_bytes', pg_stat_get_db_temp_bytes(d.oid)) \
   FROM pg_database d WHERE d.datname = current_database()), \
 'sequences', (SELECT coalesce(json_agg(json_build_object('schema', x.object_names[1], \
   'name', x.object_names[2], 'last_value', q.last_value, 'max_value', q.max_value, \
   'column', (pg_identify_object('pg_class'::regclass, q.refobjid, q.refobjsubid)).identity)), \
   '[]'::json) FROM ( \
   SELECT s.seqrelid, v.last_value, least(s.seqmax, coalesce(col.type_max, s.seqmax)) AS max_value, \
     col.refobjid, col.refobjsubid \
   FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
   CROSS JOIN LATERAL (SELECT CASE WHEN NOT pg_is_other_temp_schema(c.relnamespace) \
     AND has_sequence_privilege(s.seqrelid, 'SELECT,USAGE') \
     THEN pg_sequence_last_value(s.seqrelid) END AS last_value) v \
   LEFT JOIN LATERAL (SELECT dep.refobjid, dep.refobjsubid, \
       CASE (SELECT a.atttypid FROM pg_attribute a \
         WHERE a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid) \
       WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647 \
       ELSE 9223372036854775807 END AS type_max \
     FROM pg_depend dep \
     WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass \
       AND dep.objid = s.seqrelid AND dep.deptype IN ('a', 'i') LIMIT 1) col ON true \
   WHERE s.seqincrement > 0 AND v.last_value IS NOT NULL) q \
   CROSS JOIN LATERAL pg_identify_object_as_address('pg_class'::regclass, q.seqrelid, 0) x \
   WHERE q.last_value::numeric >= q.max_value::numeric * {fraction}), \
 'invalid_indexes', (SELECT coalesce(json_agg(json_build_object('schema', x.object_names[1], \
   'table', (pg_identify_object_as_address('pg_class'::regclass, i.indrelid, 0)).object_names[2], \
   'index', x.object_names[2], 'being_built', EXISTS (SELECT 1 FROM \
   pg_stat_get_progress_info('CREATE INDEX') p WHERE p.param7 = i.indexrelid::bigint))), '[]'::json) \
   FROM pg_index i CROSS JOIN LATERAL pg_identify_object_as_address('pg_class'::regclass, i.indexrelid, 0) x \
   WHERE NOT i.indisvalid), \
 'duplicate_indexes', (SELECT coalesce(json_agg(json_build_object('schema', t.object_names[1], \
   'table', t.object_names[2], 'index', ca.relname, 'covered_by', cb.relname)), '[]'::json) \
   FROM pg_index a JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid \
   JOIN pg_class ca ON ca.oid = a.indexrelid JOIN pg_class cb ON cb.oid = b.indexrelid \
   CROSS JOIN LATERAL pg_identify_object_as_address('pg_class'::regclass, a.indrelid, 0) t \
   WHERE a.indisvalid AND b.indisvalid AND NOT a.indisunique AND ca.relam = cb.relam \
     AND a.indexprs IS NULL AND b.indexprs IS NULL AND a.indpred IS NULL AND b.indpred IS NULL \
     AND (b.indkey::text LIKE a.indkey::text || ' %' \
       OR (b.indkey::text = a.indkey::text AND (b.indisunique OR a.indexrelid > b.indexrelid))) \
     AND t.object_names[1] NOT IN ('pg_catalog', 'information_schema') \
     AND t.object_names[1] !~ '^pg_toast'), \
 'replay_lag', CASE WHEN pg_is_in_recovery() THEN CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() \
   THEN 0 ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END END, \
 'slots', (SELECT coalesce(json_agg(json_build_object('name', slot_name, 'slot_type', slot_type, \
   'active', active, 'retained_bytes', CASE WHEN pg_is_in_recovery() THEN NULL \
   ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END)), '[]'::json) \
   FROM pg_get_replication_slots()), \
 'replicas', (SELECT coalesce(json_agg(json_build_object('application', a.application_name, \
   'client_addr', host(a.client_addr), 'state', w.state, \
   'replay_lag', extract(epoch FROM w.replay_lag))), '[]'::json) \
   FROM pg_stat_get_wal_senders() w JOIN {ACTIVITY} a ON a.pid = w.pid) \
)"
    )
}

/// Roles with attributes, memberships and current activity. `superuser` decides whether
/// `pg_authid` (password set or not) can be read.
pub(crate) fn roles(cx: &SqlContext, superuser: bool, include_system: bool) -> String {
    let password = if superuser {
        "(SELECT p.rolpassword IS NOT NULL FROM pg_authid p WHERE p.oid = r.oid)"
    } else {
        "NULL::boolean"
    };
    let system = if include_system {
        "true"
    } else {
        "r.rolname !~ '^pg_'"
    };
    let totals = match cx.statements_schema.as_deref() {
        Some(schema) => format!(
            "(SELECT json_build_object('calls', coalesce(sum(s.calls), 0)::bigint,              'rows', coalesce(sum(s.rows), 0)::bigint,              'shared_blks_read', coalesce(sum(s.shared_blks_read), 0)::bigint)              FROM {}.pg_stat_statements s WHERE s.userid = r.oid)",
            quote_ident(schema)
        ),
        None => "NULL::json".into(),
    };
    format!(
        "(WITH a AS (SELECT usesysid, coalesce(host(client_addr), 'local') AS addr,    backend_start, greatest(state_change, query_start) AS last    FROM pg_stat_activity WHERE usesysid IS NOT NULL AND backend_type = 'client backend')  SELECT coalesce(json_agg(json_build_object(  'name', r.rolname, 'superuser', r.rolsuper, 'create_role', r.rolcreaterole,  'create_db', r.rolcreatedb, 'can_login', r.rolcanlogin, 'replication', r.rolreplication,  'bypass_rls', r.rolbypassrls, 'connection_limit', r.rolconnlimit,  'valid_until', CASE WHEN isfinite(r.rolvaliduntil) THEN r.rolvaliduntil END,  'member_of', (SELECT coalesce(json_agg(g.rolname ORDER BY g.rolname), '[]'::json)    FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid),  'password_set', {password},  'sessions', (SELECT count(*) FROM a WHERE a.usesysid = r.oid),  'client_addrs', (SELECT coalesce(json_agg(DISTINCT a.addr), '[]'::json) FROM a    WHERE a.usesysid = r.oid),  'first_connected', (SELECT min(a.backend_start) FROM a WHERE a.usesysid = r.oid),  'last_active', (SELECT max(a.last) FROM a WHERE a.usesysid = r.oid),  'statements', {totals} ) ORDER BY r.rolname), '[]'::json) FROM pg_roles r WHERE {system})"
    )
}

/// Statements ranked by rows or blocks read, per statement and role.
pub(crate) fn large_reads(
    cx: &SqlContext,
    order_by_blocks: bool,
    limit: u32,
    min_rows: i64,
    all_databases: bool,
) -> Option<String> {
    let schema = quote_ident(cx.statements_schema.as_deref()?);
    let take = cx.query_text_limit.saturating_add(1);
    let order = if order_by_blocks {
        "s.shared_blks_read"
    } else {
        "s.rows"
    };
    let database = if all_databases {
        ""
    } else {
        " AND d.datname = current_database()"
    };
    Some(format!(
        "(SELECT coalesce(json_agg(x), '[]'::json) FROM (  SELECT s.queryid AS query_id, left(s.query, {take}) AS query, r.rolname AS user,  d.datname AS database, s.calls, s.rows, s.shared_blks_read, s.shared_blks_hit,  s.temp_blks_read FROM {schema}.pg_stat_statements s  LEFT JOIN pg_roles r ON r.oid = s.userid LEFT JOIN pg_database d ON d.oid = s.dbid  WHERE s.rows >= {min_rows}{database} ORDER BY {order} DESC, s.queryid LIMIT {limit}) x)"
    ))
}

/// Combines named parts into one statement returning one JSON text. When a part reads the shared
/// activity ([`ACTIVITY`]), the statement starts with it, materialized once for all parts.
pub(crate) fn combine(parts: &[(&str, String)]) -> String {
    let mut sql = String::new();
    if parts.iter().any(|(_, expr)| expr.contains(ACTIVITY)) {
        sql.push_str("WITH ");
        sql.push_str(ACTIVITY_CTE);
        sql.push(' ');
    }
    sql.push_str("SELECT json_build_object(");
    for (name, expr) in parts {
        sql.push('\'');
        sql.push_str(name);
        sql.push_str("', ");
        sql.push_str(expr);
        sql.push_str(", ");
    }
    sql.push_str("'now', now())::text");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(major: u32) -> SqlContext {
        SqlContext {
            major,
            query_text_limit: 100,
            top_statements: 5,
            sequence_used_fraction: 0.9,
            statements_schema: Some("public".into()),
        }
    }

    #[test]
    fn statement_columns_follow_the_version() {
        let s12 = statements(&cx(12)).expect("sql");
        assert!(s12.contains("s.total_time") && !s12.contains("total_exec_time"));
        let s13 = statements(&cx(13)).expect("sql");
        assert!(s13.contains("total_exec_time + s.total_plan_time"));
        assert!(s13.contains("s.blk_read_time"));
        let s17 = statements(&cx(17)).expect("sql");
        assert!(s17.contains("shared_blk_read_time") && !s17.contains("s.blk_read_time"));
        let mut none = cx(15);
        none.statements_schema = None;
        assert!(statements(&none).is_none());
    }

    #[test]
    fn waiters_are_the_same_sql_on_every_version() {
        assert_eq!(waiters(&cx(12)), waiters(&cx(17)));
        assert!(waiters(&cx(12)).contains("to_jsonb(l) ->> 'waitstart'"));
        assert_eq!(PROBE, format!("SELECT {PROBE_OBJECT}::text"));
    }

    #[test]
    fn combine_handles_no_parts() {
        assert_eq!(combine(&[]), "SELECT json_build_object('now', now())::text");
        assert_eq!(
            combine(&[("a", "1".into())]),
            "SELECT json_build_object('a', 1, 'now', now())::text"
        );
    }

    #[test]
    fn the_activity_is_read_once_and_only_when_a_part_needs_it() {
        let c = cx(15);
        let all = combine(&[
            ("probe", PROBE_OBJECT.to_owned()),
            ("sessions", sessions(&c)),
            ("waiters", waiters(&c)),
            ("health", health(&c)),
        ]);
        assert!(all.starts_with("WITH fleet_activity AS MATERIALIZED ("));
        assert_eq!(all.matches("pg_stat_get_activity(").count(), 1);
        assert!(!all.contains("pg_stat_activity") && !all.contains("pg_stat_replication"));
        // pg_blocking_pids runs only for sessions waiting on a lock.
        assert!(waiters(&c).contains("WHERE w.wait_event_type = 'Lock'"));
        let probe_only = combine(&[("probe", PROBE_OBJECT.to_owned())]);
        assert!(probe_only.starts_with("SELECT json_build_object("));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        let mut c = cx(16);
        c.statements_schema = Some("a\"b".into());
        assert!(
            statements(&c)
                .expect("sql")
                .contains("\"a\"\"b\".pg_stat_statements")
        );
    }
}
