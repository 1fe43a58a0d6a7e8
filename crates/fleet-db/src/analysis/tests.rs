//! Unit tests of the report derivations.

use super::*;

fn session(pid: i32, state: Option<&str>, app: &str) -> Session {
    Session {
        pid,
        user: Some("app".into()),
        application: Some(app.into()),
        client_addr: Some("10.0.0.1".into()),
        database: Some("fleet".into()),
        state: state.map(str::to_owned),
        superuser: Some(false),
        hidden: false,
        backend_age: None,
        xact_age: None,
        query_age: None,
        state_age: None,
        wait_event_type: None,
        wait_event: None,
        query: None,
        query_truncated: false,
    }
}

fn probe() -> Probe {
    Probe {
        version_num: 160004,
        current_user: "monitor".into(),
        database: "fleet".into(),
        own_pid: 1,
        superuser: Some(false),
        read_all_stats: true,
        use_reserved: false,
        max_connections: 100,
        superuser_reserved: 3,
        reserved: 2,
        preload: Some("pg_stat_statements".into()),
        pgss_schema: Some("public".into()),
        pgss_available: true,
        pgss_track: Some("top".into()),
    }
}

#[test]
fn usable_slots_subtract_both_reserves() {
    let sessions = vec![
        session(10, Some("active"), "api"),
        session(11, Some("idle"), "api"),
        session(12, Some("idle in transaction"), "worker"),
    ];
    let s = connection_summary(&probe(), &sessions, 1);
    assert_eq!(s.total, 4);
    assert_eq!(s.usable, 95);
    assert_eq!(s.slots_left, 91);
    assert!((s.utilization - 4.0 / 95.0).abs() < 1e-9);
    assert_eq!(s.by_state.active, 2);
    assert_eq!(s.by_state.idle_in_transaction, 1);
    assert_eq!(s.by_application.get("api"), Some(&2));
    assert!(s.complete);
    assert!(s.warnings.iter().any(|w| w.contains("cannot use reserved")));
}

#[test]
fn hidden_sessions_are_counted_and_warned_about() {
    let mut p = probe();
    p.read_all_stats = false;
    let mut hidden = session(20, None, "other");
    hidden.hidden = true;
    let s = connection_summary(&p, &[hidden], 0);
    assert_eq!(s.total, 1);
    assert_eq!(s.by_state.hidden, 1);
    assert!(!s.complete);
    assert!(s.warnings[0].contains("pg_read_all_stats"));
    assert_eq!(s.by_client_addr.get("hidden"), Some(&1));
}

#[test]
fn leak_suspects_group_by_application_over_the_threshold() {
    let mut a = session(1, Some("idle in transaction"), "billing");
    a.state_age = Some(Duration::from_secs(300));
    let mut b = session(2, Some("idle in transaction (aborted)"), "billing");
    b.state_age = Some(Duration::from_secs(900));
    let mut c = session(3, Some("idle in transaction"), "api");
    c.state_age = Some(Duration::from_secs(5));
    let groups = leak_suspects(&[a, b, c], Duration::from_secs(60));
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].application, "billing");
    assert_eq!(groups[0].pids, vec![2, 1]);
    assert_eq!(groups[0].oldest_idle, Duration::from_secs(900));
}

#[test]
fn blocking_tree_finds_roots_chains_and_cycles() {
    let waiters = vec![
        RawWaiter {
            pid: 2,
            blocked_by: vec![1],
            waiting: Some(3.0),
        },
        RawWaiter {
            pid: 3,
            blocked_by: vec![2],
            waiting: Some(1.5),
        },
        RawWaiter {
            pid: 7,
            blocked_by: vec![8],
            waiting: None,
        },
        RawWaiter {
            pid: 8,
            blocked_by: vec![7],
            waiting: None,
        },
    ];
    let r = blocking(&waiters, &[session(1, Some("idle in transaction"), "x")]);
    assert_eq!(r.waiting_sessions, 4);
    assert_eq!(r.roots.len(), 1);
    let root = &r.roots[0];
    assert_eq!(root.pid, 1);
    assert!(root.session.is_some());
    assert_eq!(root.blocked[0].pid, 2);
    assert_eq!(root.blocked[0].waiting, Some(Duration::from_secs(3)));
    assert_eq!(root.blocked[0].blocked[0].pid, 3);
    assert_eq!(r.cycles, vec![7, 8]);
}

#[test]
fn masks_literals_but_not_identifiers() {
    assert_eq!(
        mask_literals("SELECT * FROM \"t1\" WHERE a = 'x''y' AND b = 42 AND c2 = 3.5"),
        "SELECT * FROM \"t1\" WHERE a = ? AND b = ? AND c2 = ?"
    );
    assert_eq!(mask_literals("SELECT $1, col_9"), "SELECT $1, col_9");
    assert_eq!(mask_literals("'unterminated"), "?");
}

#[test]
fn statements_flag_slow_ones() {
    let t = Thresholds::default();
    let raw: Vec<RawStatement> = serde_json::from_str(
        r#"[{"query_id":1,"query":"SELECT pg_sleep($1)","user":"app","calls":150,
             "total_ms":4500.0,"mean_ms":30.0,"rows":150,"hit":90,"read":10,"read_ms":null},
            {"query_id":2,"query":"SELECT 1","user":"app","calls":5000,
             "total_ms":50.0,"mean_ms":0.01,"rows":5000,"hit":0,"read":0,"read_ms":0.0}]"#,
    )
    .expect("rows");
    let s = statements(raw, &t, 100, false);
    assert!(s[0].slow);
    assert_eq!(s[0].cache_hit_ratio, Some(0.9));
    assert_eq!(s[0].mean_time, Duration::from_millis(30));
    assert!(!s[1].slow);
    assert_eq!(s[1].cache_hit_ratio, None);
}

#[test]
fn statements_unavailability_is_precise() {
    use crate::report::StatementsUnavailable as U;
    let mut p = probe();
    assert_eq!(p.statements_unavailable(), None);
    p.pgss_track = Some("none".into());
    assert_eq!(p.statements_unavailable(), Some(U::TrackingOff));
    p.pgss_schema = None;
    assert_eq!(
        p.statements_unavailable(),
        Some(U::NotInstalled { available: true })
    );
    p.preload = Some("auto_explain".into());
    assert_eq!(p.statements_unavailable(), Some(U::NotPreloaded));
}

fn raw_sessions(json: &str) -> RawSessions {
    serde_json::from_str(json).expect("session columns")
}

#[test]
fn session_columns_become_sessions_ordered_by_pid_with_names_resolved() {
    let raw = raw_sessions(
        r#"{"pid": [30, 10, 20], "user_id": [7, 7, 99], "database_id": [5, null, 5],
            "application": ["api", "psql", null], "client_addr": ["10.0.0.1", null, null],
            "state": ["active", "idle", null], "hidden": [false, false, true],
            "backend_age": [2.5, 1.0, null], "xact_age": [1.5, null, null],
            "query_age": [1.0, 9.0, null], "state_age": [1.0, 9.0, null],
            "wait_event_type": ["Lock", "Client", null], "wait_event": ["relation", null, null],
            "query": ["SELECT * FROM t WHERE id = 42", "SELECT 1", null],
            "roles": {"7": ["app", false], "8": ["admin", true]}, "databases": {"5": "fleet"}}"#,
    );
    let (sessions, own) = sessions(raw, 10, 100, true).expect("decoded");
    assert_eq!(own, 1, "pid 10 is the asking connection");
    assert_eq!(sessions.iter().map(|s| s.pid).collect::<Vec<_>>(), [20, 30]);
    let (hidden, active) = (&sessions[0], &sessions[1]);
    assert!(hidden.hidden);
    assert_eq!(hidden.user, None, "a role missing from the map has no name");
    assert_eq!(hidden.database.as_deref(), Some("fleet"));
    assert_eq!(active.user.as_deref(), Some("app"));
    assert_eq!(active.superuser, Some(false));
    assert_eq!(active.client_addr.as_deref(), Some("10.0.0.1"));
    assert_eq!(active.xact_age, Some(Duration::from_millis(1500)));
    assert_eq!(active.wait_event.as_deref(), Some("relation"));
    assert_eq!(
        active.query.as_deref(),
        Some("SELECT * FROM t WHERE id = ?"),
        "literals are masked"
    );
}

#[test]
fn no_sessions_is_an_empty_list() {
    // json_agg over no rows gives NULL for every column; the maps are NULL too.
    let raw = raw_sessions(
        r#"{"pid": null, "user_id": null, "database_id": null, "application": null,
            "client_addr": null, "state": null, "hidden": null, "backend_age": null,
            "xact_age": null, "query_age": null, "state_age": null, "wait_event_type": null,
            "wait_event": null, "query": null, "roles": null, "databases": null}"#,
    );
    assert_eq!(sessions(raw, 1, 100, true).expect("decoded"), (vec![], 0));
}

#[test]
fn session_columns_of_different_lengths_are_a_decode_error() {
    let raw = raw_sessions(
        r#"{"pid": [1, 2], "user_id": [null, null], "database_id": [null, null],
            "application": [null], "client_addr": [null, null], "state": [null, null],
            "hidden": [false, false], "backend_age": [null, null], "xact_age": [null, null],
            "query_age": [null, null], "state_age": [null, null],
            "wait_event_type": [null, null], "wait_event": [null, null], "query": [null, null]}"#,
    );
    let err = sessions(raw, 0, 100, true).expect_err("mismatch");
    assert!(
        err.contains("application") && err.contains("1 values for 2"),
        "{err}"
    );
}
