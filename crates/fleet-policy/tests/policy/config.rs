//! The policy file: defaults are the runbook's numbers, unknown keys and bad values are typed
//! errors with line and column, and a printed policy parses back to itself.

use fleet_policy::config::Zone;
use fleet_policy::{Error, Outcome, Policy};

fn err(toml: &str) -> (String, usize, usize) {
    match Policy::from_toml_str(toml) {
        Err(Error::Config {
            message,
            line,
            column,
        }) => (message, line, column),
        other => panic!("expected a config error for {toml:?}, got {other:?}"),
    }
}

#[test]
fn defaults_are_the_runbook_as_read_in_docs_decisions_md() {
    let p = Policy::default();
    let m = &p.metrics;
    let bands = [
        (m.response_time_ms, 500.0, 1000.0),
        (m.error_rate_percent, 0.1, 1.0),
        (m.cpu_percent, 70.0, 85.0),
        (m.memory_percent, 80.0, 90.0),
        (m.db_connections, 50.0, 80.0),
        (m.disk_percent, 70.0, 85.0),
    ];
    for (band, low, high) in bands {
        assert_eq!((band.low(), band.high()), (low, high));
    }
    assert_eq!(
        (
            p.rollback.error_rate_percent,
            p.rollback.min_requests,
            p.rollback.degradation_ratio
        ),
        (5.0, 100, 0.5)
    );
    assert_eq!(p.rollback.critical_paths.len(), 4);
    assert_eq!(p.deploy.zone.name(), "America/New_York");
    assert_eq!(p.deploy.start.to_string(), "22:00:00");
    assert_eq!(p.deploy.duration.as_secs(), 7200);
    assert_eq!(
        (
            p.scaling.replicas.min(),
            p.scaling.replicas.max(),
            p.scaling.hpa_cpu_target_percent
        ),
        (3, 10, 70)
    );
    assert_eq!(
        (
            p.backup.retention_days,
            p.backup.rpo.as_secs(),
            p.backup.rto.as_secs()
        ),
        (7, 86_400, 14_400)
    );
    assert_eq!(
        p.incident.escalation.roles,
        [
            "on-call engineer",
            "technical lead",
            "engineering manager",
            "CTO"
        ]
    );
    assert!(p.gate.inconclusive_blocks && !p.gate.warn_blocks);
    // The plain values that callers hand to the client crates (which keep no copies).
    let hpa = p.default_hpa();
    assert_eq!(
        (hpa.cpu_target_percent, hpa.min_replicas, hpa.max_replicas),
        (70, 3, 10)
    );
    let v = p.vertical_step();
    assert_eq!(
        [
            &v.requests_memory,
            &v.requests_cpu,
            &v.limits_memory,
            &v.limits_cpu
        ],
        ["512Mi", "500m", "1Gi", "1000m"]
    );
    let now: jiff::Timestamp = "2025-11-24T10:00:00Z".parse().expect("ts");
    assert_eq!(p.on_demand_backup_name(now, []), "manual-backup-20251124");
    assert_eq!(
        p.restore_window(now, None).earliest.to_string(),
        "2025-11-17T10:00:00Z"
    );
    assert_eq!(Policy::from_toml_str("").expect("empty file"), p);
}

#[test]
fn unknown_keys_are_rejected_with_their_position() {
    let (msg, line, col) = err("[rollback]\nerror_rate_percent = 5\nerorr_rate = 3\n");
    assert!(msg.contains("unknown field `erorr_rate`"), "{msg}");
    assert_eq!((line, col), (3, 1));
    let (msg, line, _) = err("[rollbak]\n");
    assert!(msg.contains("unknown field `rollbak`"), "{msg}");
    assert_eq!(line, 1);
}

#[test]
fn bad_values_are_rejected_with_their_position() {
    let cases = [
        (
            "[metrics.cpu_percent]\nlow = 90\nhigh = 80\n",
            "low (90) is above high (80)",
            1,
        ),
        (
            "[metrics.cpu_percent]\nlow = -1\nhigh = 80\n",
            "finite and >= 0",
            1,
        ),
        (
            "[deploy]\nzone = \"Mars/Olympus\"\n",
            "unknown time zone `Mars/Olympus`",
            2,
        ),
        ("[deploy]\nduration = \"-2h\"\n", "must be positive", 2),
        ("[deploy]\nduration = \"soon\"\n", "", 2),
        ("[deploy]\nweekday = \"thursdai\"\n", "unknown variant", 2),
        (
            "[scaling]\nreplicas = { min = 5, max = 3 }\n",
            "min replicas (5) is above max (3)",
            2,
        ),
        ("[rollback]\nmin_requests = -5\n", "", 2),
        // Found by fuzzing (fuzz/seeds/policy_toml/nan-threshold.toml): a NaN threshold made
        // every comparison false, so the rollback rule could never trigger.
        (
            "[rollback]\nerror_rate_percent = nan\n",
            "must be a finite number, 0 or more (got NaN)",
            2,
        ),
        (
            "[scaling]\ncpu_percent = -inf\n",
            "must be a finite number, 0 or more",
            2,
        ),
        ("[backup]\nrto_warn_ratio = -0.5\n", "got -0.5", 2),
        ("[rollback]\ndegradation_ratio = inf\n", "got inf", 2),
        (
            "[deploy.business_hours]\nhours = { start = \"17:00\", end = \"09:00\" }\n",
            "must be before end",
            2,
        ),
        (
            "[[waiver]]\nrule = \"deploy.window\"\nreason = \"\"\nowner = \"o\"\nexpires_at = \"2026-01-01T00:00:00Z\"\n",
            "non-empty reason",
            1,
        ),
        (
            "[[waiver]]\nrule = \"deploy.window\"\nreason = \"r\"\nowner = \"o\"\n",
            "missing field `expires_at`",
            1,
        ),
    ];
    for (toml, want, want_line) in cases {
        let (msg, line, col) = err(toml);
        assert!(msg.contains(want), "{toml:?}: {msg}");
        assert_eq!(line, want_line, "{toml:?}: {msg}");
        assert!(col >= 1, "{toml:?}");
    }
}

#[test]
fn invalid_utf8_is_a_config_error_with_position() {
    match Policy::from_toml_bytes(b"[gate]\nwarn_blocks = \xff\n") {
        Err(Error::Config { line, column, .. }) => assert_eq!((line, column), (2, 15)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn printed_policy_round_trips() {
    let mut p = Policy::from_toml_str(include_str!("../../../../examples/data/policy.toml"))
        .expect("example policy");
    p.deploy.zone = Zone::new("-05:00").expect("offset");
    let text = p.to_toml_string();
    assert_eq!(
        Policy::from_toml_str(&text).expect("printed policy parses"),
        p,
        "{text}"
    );
}

#[test]
fn abbreviated_zones_are_linted() {
    let p = Policy::from_toml_str("[deploy]\nzone = \"EST\"\n").expect("EST is a valid zone");
    let lint = fleet_policy::lint(&p);
    assert_eq!(lint.len(), 1);
    assert_eq!(
        (lint[0].rule.as_str(), lint[0].outcome),
        ("config.zone-abbreviation", Outcome::Warn)
    );
    assert!(fleet_policy::lint(&Policy::default()).is_empty());
    let offset = Policy::from_toml_str("[deploy]\nzone = \"-05:00\"\n").expect("offset");
    assert!(
        fleet_policy::lint(&offset).is_empty(),
        "an explicit offset is deliberate"
    );
}
