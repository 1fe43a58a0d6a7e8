//! GitLab Code Quality: a JSON array of issues with a stable fingerprint each. Fail is
//! `critical` (`blocker` for rollback triggers), Error and Inconclusive `major`, Warn `minor`,
//! waived `info`; passing findings are omitted.

use serde_json::{Value, json};

use super::{RenderOptions, fingerprint, long_message};
use crate::Report;
use crate::finding::Outcome;

pub(super) fn render(r: &Report, opts: &RenderOptions) -> String {
    let issues: Vec<Value> = r
        .findings
        .iter()
        .filter(|f| f.outcome != Outcome::Pass)
        .map(|f| {
            let severity = match (&f.waiver, f.outcome) {
                (Some(_), _) => "info",
                (None, Outcome::Fail) if f.family() == "rollback" => "blocker",
                (None, Outcome::Fail) => "critical",
                (None, Outcome::Error | Outcome::Inconclusive) => "major",
                (None, _) => "minor",
            };
            json!({
                "description": format!("{}: {}", f.subject, long_message(f)),
                "check_name": f.rule,
                "fingerprint": fingerprint(f),
                "severity": severity,
                "location": { "path": opts.artifact, "lines": { "begin": 1 } },
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&issues).unwrap_or_default();
    s.push('\n');
    s
}
