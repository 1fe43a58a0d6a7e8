//! SARIF 2.1.0, as GitHub code scanning reads it: every result has a `ruleId`, a message and a
//! physical location (the gate input file); waived findings carry `suppressions`; the
//! invocation records the exit code.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{RenderOptions, evidence, fingerprint, long_message};
use crate::Report;
use crate::finding::Outcome;
use crate::rules;

pub(super) fn render(r: &Report, opts: &RenderOptions) -> String {
    let shown: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.outcome != Outcome::Pass)
        .collect();
    // Rules: every rule that appears in the report, in catalogue order where known.
    let mut rule_ids: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    rule_ids.sort_by_key(|id| {
        (
            rules::RULES
                .iter()
                .position(|x| x.id == *id)
                .unwrap_or(usize::MAX),
            *id,
        )
    });
    rule_ids.dedup();
    let index: BTreeMap<&str, usize> = rule_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let rule_objs: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            let info = rules::rule(id);
            let section = info
                .map(|i| i.section)
                .or_else(|| r.findings.iter().find(|f| f.rule == *id).map(|f| f.section));
            json!({
                "id": id,
                "shortDescription": { "text": info.map_or(*id, |i| i.summary) },
                "properties": {
                    "runbookSection": section.map(|s| s.title()),
                    "runbookAnchor": section.map(|s| s.anchor()),
                },
            })
        })
        .collect();
    let results: Vec<Value> = shown
        .iter()
        .map(|f| {
            let level = match f.outcome {
                Outcome::Fail | Outcome::Error => "error",
                Outcome::Warn | Outcome::Inconclusive => "warning",
                Outcome::Pass => "none",
            };
            let mut res = json!({
                "ruleId": f.rule,
                "ruleIndex": index.get(f.rule.as_str()).copied().unwrap_or(0),
                "kind": if f.outcome == Outcome::Fail { "fail" } else { "review" },
                "level": level,
                "message": { "text": format!("{}: {}", f.subject, long_message(f)) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": opts.artifact } },
                    "message": { "text": f.subject },
                }],
                "partialFingerprints": { "fleetPolicyFinding/v1": fingerprint(f) },
                "properties": {
                    "outcome": f.outcome,
                    "subject": f.subject,
                    "blocking": r.blocks(f),
                    "evidence": evidence(f),
                    "observed": f.observed,
                    "operator": f.operator,
                    "threshold": f.threshold,
                    "baseline": f.baseline,
                    "ratio": f.ratio,
                    "deadline": f.deadline,
                },
            });
            if let (Some(w), Some(obj)) = (&f.waiver, res.as_object_mut()) {
                obj.insert(
                    "suppressions".into(),
                    json!([{
                        "kind": "external",
                        "status": "accepted",
                        "justification": format!("{} (owner {}, expires {})", w.reason, w.owner, w.expires_at),
                    }]),
                );
            }
            res
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "fleet-policy",
                "version": opts.tool_version,
                "rules": rule_objs,
            }},
            "automationDetails": { "id": format!("fleet-policy/{}", r.evaluated_at) },
            "invocations": [{
                "executionSuccessful": true,
                "exitCode": r.exit_code,
                "exitCodeDescription": if r.blocked { "blocked: a finding blocks the gate" } else { "passed" },
                "endTimeUtc": r.evaluated_at.to_string(),
            }],
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
