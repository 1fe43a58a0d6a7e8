//! The post-mortem draft: a Markdown document generated from the record (timeline, actions
//! with their audit entries, evidence, recommendations) with the root-cause and action-item
//! sections left for people, due 48 hours (the policy's `post_mortem_within`) after
//! resolution.

use std::fmt::Write as _;

use fleet_guard::{AuditPhase, AuditRecord};
use fleet_policy::Policy;
use jiff::Timestamp;

use super::record::IncidentRecord;

/// When the post-mortem is due: `post_mortem_within` after resolution; `None` while open.
pub fn post_mortem_due(policy: &Policy, record: &IncidentRecord) -> Option<Timestamp> {
    record
        .resolved_at
        .and_then(|r| r.checked_add(policy.incident.post_mortem_within).ok())
}

fn minutes(from: Timestamp, to: Timestamp) -> String {
    let m = to.duration_since(from).as_secs() / 60;
    format!("T+{m} min")
}

/// The post-mortem draft. `audit` is the audit log (any records: those of the incident's
/// runs are picked by run id).
pub fn post_mortem_markdown(
    policy: &Policy,
    record: &IncidentRecord,
    audit: &[AuditRecord],
) -> String {
    let mut md = String::new();
    let t0 = record.declared_at;
    let sev = record.effective_severity().map_or_else(
        || "unclassified".to_owned(),
        |s| format!("{s} ({})", s.description()),
    );
    let _ = writeln!(md, "# Post-mortem: {} {}\n", record.id, record.title);
    let _ = writeln!(md, "- Service: {}", record.service);
    let _ = writeln!(md, "- Severity: {sev}");
    let _ = writeln!(md, "- Declared: {t0}");
    if let Some(r) = record.resolved_at {
        let _ = writeln!(md, "- Resolved: {r} ({} after declaration)", minutes(t0, r));
    }
    match post_mortem_due(policy, record) {
        Some(due) => {
            let _ = writeln!(md, "- Post-mortem due: {due}");
        }
        None => {
            let _ = writeln!(
                md,
                "- Post-mortem due: 48 h after resolution (not resolved yet)"
            );
        }
    }

    let mut timeline: Vec<(Timestamp, String)> = vec![(t0, "incident declared".into())];
    let mut push = |at: Option<Timestamp>, what: &str| {
        if let Some(at) = at {
            timeline.push((at, what.to_owned()));
        }
    };
    push(record.acknowledged_at, "acknowledged");
    push(record.assessed_at, "assessed");
    push(record.mitigated_at, "impact mitigated");
    push(record.fixed_at, "fix deployed; monitoring started");
    push(record.resolved_at, "resolved");
    for u in &record.status_updates {
        timeline.push((
            u.at,
            format!("status update ({}): {}", u.status.as_str(), u.message),
        ));
    }
    for e in &record.escalations {
        timeline.push((
            e.at,
            format!("escalated to level {} ({}): {}", e.level, e.role, e.reason),
        ));
    }
    for a in &record.actions {
        timeline.push((
            a.at,
            format!("{} {} on {}: {}", a.step, a.outcome, a.target, a.summary),
        ));
    }
    timeline.sort_by_key(|(at, _)| *at);
    let _ = writeln!(
        md,
        "\n## Timeline\n\n| Time | Since declared | What |\n|---|---|---|"
    );
    for (at, what) in &timeline {
        let _ = writeln!(
            md,
            "| {at} | {} | {} |",
            minutes(t0, *at),
            what.replace('|', "\\|")
        );
    }

    let _ = writeln!(md, "\n## Actions and their audit entries\n");
    if record.actions.is_empty() {
        let _ = writeln!(md, "No changes were made.");
    }
    for a in &record.actions {
        let _ = writeln!(
            md,
            "- {} `{}` on `{}` by {} ({}), run `{}`",
            a.at, a.step, a.target, a.actor, a.outcome, a.run_id
        );
        for r in audit
            .iter()
            .filter(|r| r.run_id == a.run_id && r.step == a.step && r.target == a.target)
        {
            let phase = match r.phase {
                AuditPhase::Intent => "intent",
                AuditPhase::Outcome => "outcome",
            };
            let outcome = r
                .outcome
                .as_ref()
                .and_then(|o| serde_json::to_value(o).ok())
                .map(|v| v.to_string())
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "  - audit {phase} at {} by {}: {} {outcome}",
                r.time, r.actor, r.reason
            );
        }
    }

    let _ = writeln!(md, "\n## Evidence\n");
    for (n, e) in record.evidence.iter().enumerate() {
        let _ = writeln!(md, "- Bundle {} collected at {}:", n + 1, e.at);
        for line in &e.summary {
            let _ = writeln!(md, "  - {line}");
        }
    }
    if !record.recommendations.is_empty() {
        let _ = writeln!(md, "\n## Recommendations made\n");
        for r in &record.recommendations {
            let _ = writeln!(md, "- {} (because: {})", r.explanation, r.cites.join("; "));
        }
    }
    let _ = writeln!(
        md,
        "\n## Root cause\n\n_To be written: what failed, why, and why it was not caught earlier._\n"
    );
    let _ = writeln!(
        md,
        "## Action items\n\n| Action | Owner | Due |\n|---|---|---|\n| _to be filled in_ | | |"
    );
    md
}
