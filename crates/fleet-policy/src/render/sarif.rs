//! SARIF 2.1.0, as GitHub code scanning reads it.
//!
//! - Every non-passing finding is a result with a `ruleId`, a message, one location (the gate
//!   input, as a whole-artifact region) and a stable partial fingerprint; waived findings carry
//!   `suppressions`; the invocation records the exit code.
//! - `kind` and `level` (SARIF §3.27.9, §3.27.10; GitHub shows `level` and ignores `kind`): a
//!   finding whose outcome blocks this gate is kind `fail`, level `error`; one that does not
//!   block is kind `fail`, level `warning`, except a non-blocking Inconclusive, which is kind
//!   `open` ("not enough information to decide") with level `none`, as the specification
//!   requires of every kind other than `fail`. Waived findings keep the kind and level of their
//!   outcome and are marked suppressed.
//! - Every rule carries the catalogue's text as `shortDescription`, `fullDescription` and
//!   `help`; the tool carries an `informationUri`.
//! - A relative evidence path is a relative reference against `%SRCROOT%` (the repository
//!   root); an absolute one is an absolute `file:` URI without a base.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{RenderOptions, evidence, fingerprint, label, long_message};
use crate::Report;
use crate::finding::{Finding, Outcome, Section};
use crate::rules;

/// The base that relative artifact URIs are resolved against: the repository root.
const SRCROOT: &str = "%SRCROOT%";

/// SARIF `kind` and `level` of a non-passing finding in report `r`.
pub(super) fn kind_and_level(r: &Report, f: &Finding) -> (&'static str, Option<&'static str>) {
    // Whether the finding's own outcome blocks this gate; a waiver does not change the kind or
    // level, it adds a suppression.
    let blocks = r.blocking_outcomes.contains(&f.outcome);
    match (f.outcome, blocks) {
        (Outcome::Inconclusive, false) => ("open", None),
        (_, true) => ("fail", Some("error")),
        (_, false) => ("fail", Some("warning")),
    }
}

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
            let section = rules::rule(id)
                .map(|i| i.section)
                .or_else(|| r.findings.iter().find(|f| f.rule == *id).map(|f| f.section));
            rule_descriptor(id, section)
        })
        .collect();
    let location = artifact_location(&opts.artifact);
    let region = match opts.artifact_lines {
        Some(n) => json!({ "startLine": 1, "endLine": n.max(1) }),
        None => json!({ "startLine": 1 }),
    };
    let results: Vec<Value> = shown
        .iter()
        .map(|f| {
            let (kind, level) = kind_and_level(r, f);
            let mut res = json!({
                "ruleId": f.rule,
                "ruleIndex": index.get(f.rule.as_str()).copied().unwrap_or(0),
                "kind": kind,
                "message": { "text": format!("{} {}: {}", label(f), f.subject, long_message(f)) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": location, "region": region },
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
            if let Some(obj) = res.as_object_mut() {
                if let Some(level) = level {
                    obj.insert("level".into(), Value::from(level));
                }
                if let Some(w) = &f.waiver {
                    obj.insert(
                        "suppressions".into(),
                        json!([{
                            "kind": "external",
                            "status": "accepted",
                            "justification": format!("{} (owner {}, expires {})", w.reason, w.owner, w.expires_at),
                        }]),
                    );
                }
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
                "informationUri": opts.information_uri,
                "rules": rule_objs,
            }},
            "originalUriBaseIds": {
                SRCROOT: { "description": { "text": "The root of the repository the gate runs in; relative evidence paths are relative to it." } },
            },
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

/// A `reportingDescriptor` from the rule catalogue: the summary as short and full
/// description, and help that names the runbook section, where the readings are written
/// down, and how to waive the rule.
fn rule_descriptor(id: &str, section: Option<Section>) -> Value {
    let summary = rules::rule(id).map_or(id, |r| r.summary);
    let title = section.map(Section::title);
    let full = match title {
        Some(t) => format!("{summary} (runbook: {t})."),
        None => format!("{summary}."),
    };
    let mut text = format!("{id}: {summary}.");
    let mut md = format!("**`{id}`**: {summary}.\n\n");
    if let Some(t) = title {
        let _ = write!(text, "\nRunbook section: {t}.");
        let _ = writeln!(md, "- Runbook section: *{t}*.");
    }
    let _ = write!(
        text,
        "\nHow the project reads the runbook's wording for this rule: docs/decisions.md.\nTo accept a finding for a while, add a [[waiver]] with rule = \"{id}\", a reason, an owner and an expiry to the policy file."
    );
    let _ = write!(
        md,
        "- How the project reads the runbook's wording: `docs/decisions.md`.\n- To accept a finding for a while, add a `[[waiver]]` with `rule = \"{id}\"`, a reason, an owner and `expires_at` to the policy file.\n"
    );
    json!({
        "id": id,
        "shortDescription": { "text": summary },
        "fullDescription": { "text": full },
        "help": { "text": text, "markdown": md },
        "properties": {
            "runbookSection": title,
            "runbookAnchor": section.map(Section::anchor),
        },
    })
}

/// The SARIF `artifactLocation` of an evidence path: a relative path is a relative reference
/// against [`SRCROOT`]; an absolute one (`/x`, `C:\x`, `\\server\share\x`) is an absolute
/// `file:` URI without a base. Backslashes are read as separators.
pub(super) fn artifact_location(path: &str) -> Value {
    let p = path.replace('\\', "/");
    let bytes = p.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if let Some(unc) = p.strip_prefix("//") {
        json!({ "uri": format!("file://{}", escape_path(unc)) })
    } else if p.starts_with('/') {
        json!({ "uri": format!("file://{}", escape_path(&p)) })
    } else if drive && (bytes.len() == 2 || bytes[2] == b'/') {
        json!({ "uri": format!("file:///{}", escape_path(&p)) })
    } else {
        let mut rel = p.as_str();
        while let Some(rest) = rel.strip_prefix("./") {
            rel = rest.trim_start_matches('/');
        }
        let mut uri = escape_path(rel);
        // A colon in the first segment would make the reference read as a scheme.
        if uri.split('/').next().is_some_and(|seg| seg.contains(':')) {
            uri.insert_str(0, "./");
        }
        json!({ "uri": uri, "uriBaseId": SRCROOT })
    }
}

/// Percent-encodes what may not appear in a URI path (RFC 3986 `pchar` and `/` stay).
fn escape_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        if keep {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
