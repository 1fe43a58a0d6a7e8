//! Renderers: one [`Report`], seven formats.
//!
//! | [`Format`] | for | notes |
//! |---|---|---|
//! | `text` | people | one line per finding, evidence and next steps indented |
//! | `json` | programs | the [`Report`] itself, schema `fleet-policy/report` version 1 |
//! | `junit` | GitLab `artifacts:reports:junit`, Azure `PublishTestResults@2` | a suite per rule family, a case per finding; Fail is `failure`, Error and Inconclusive `error`, waived `skipped` |
//! | `sarif` | GitHub code scanning and other SARIF viewers | SARIF 2.1.0; `level` error for what blocks the gate, warning for what does not (a non-blocking Inconclusive is kind `open`, level `none`); waivers as `suppressions`; passing findings omitted |
//! | `github` | GitHub Actions workflow commands | capped per level; [`github_summary`] holds the full list for `$GITHUB_STEP_SUMMARY` |
//! | `azure` | Azure Pipelines logging commands | `task.logissue` per finding, then `task.complete` |
//! | `gitlab` | GitLab Code Quality (`artifacts:reports:codequality`) | passing findings omitted; stable fingerprints |
//!
//! Every renderer shows waived findings as waived, never hides them. All output is
//! deterministic for a given report.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::Report;
use crate::finding::{Finding, Outcome};

mod azure;
mod github;
mod gitlab;
mod junit;
mod sarif;
mod text;

pub use github::github_summary;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Human text.
    Text,
    /// The JSON report.
    Json,
    /// JUnit XML.
    Junit,
    /// SARIF 2.1.0.
    Sarif,
    /// GitHub Actions annotations.
    Github,
    /// Azure Pipelines logging commands.
    Azure,
    /// GitLab Code Quality JSON.
    Gitlab,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 7] = [
        Format::Text,
        Format::Json,
        Format::Junit,
        Format::Sarif,
        Format::Github,
        Format::Azure,
        Format::Gitlab,
    ];

    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Sarif => "sarif",
            Format::Github => "github",
            Format::Azure => "azure",
            Format::Gitlab => "gitlab",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format `{s}` (expected one of text, json, junit, sarif, github, azure, gitlab)"))
    }
}

/// Options shared by the renderers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Path of the evidence file (the gate input), used as the location of findings in SARIF,
    /// GitHub, Azure and GitLab output: `gate-input.json` by default. Give it relative to the
    /// repository root where possible; SARIF writes an absolute path as a `file:` URI.
    pub artifact: String,
    /// How many lines the evidence file has, when known: SARIF regions then cover the whole
    /// file (lines 1 to this) instead of its first line.
    pub artifact_lines: Option<usize>,
    /// The tool version written into SARIF.
    pub tool_version: String,
    /// Where people learn about the tool (SARIF `informationUri`): the crate's repository.
    pub information_uri: String,
    /// At most this many GitHub annotations per level (GitHub shows 10 per step).
    pub github_annotation_cap: usize,
}

impl RenderOptions {
    /// Options for an evidence file at `path` with contents `bytes` (for its line count).
    pub fn for_artifact(path: impl Into<String>, bytes: &[u8]) -> RenderOptions {
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
        let lines = if bytes.last().is_some_and(|&b| b != b'\n') {
            newlines + 1
        } else {
            newlines
        };
        RenderOptions {
            artifact: path.into(),
            artifact_lines: Some(lines.max(1)),
            ..RenderOptions::default()
        }
    }
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            artifact: "gate-input.json".into(),
            artifact_lines: None,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            information_uri: env!("CARGO_PKG_REPOSITORY").into(),
            github_annotation_cap: 10,
        }
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format, opts: &RenderOptions) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Json => {
            // A report is plain data with string keys; serialization cannot fail.
            let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Junit => junit::render(report),
        Format::Sarif => sarif::render(report, opts),
        Format::Github => github::render(report, opts),
        Format::Azure => azure::render(report, opts),
        Format::Gitlab => gitlab::render(report, opts),
    }
}

/// Evidence of a finding in one line: `observed 640 ms; baseline 410 ms; ratio 0.561; threshold ratio > 0.5`.
pub(crate) fn evidence(f: &Finding) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(o) = f.observed {
        parts.push(format!("observed {o}"));
    }
    if let Some(b) = f.baseline {
        parts.push(format!("baseline {b}"));
    }
    if let Some(r) = f.ratio {
        parts.push(format!("ratio {r:.3}"));
    }
    if let (Some(op), Some(t)) = (f.operator, f.threshold) {
        let what = if f.ratio.is_some() {
            "threshold ratio"
        } else {
            "threshold"
        };
        parts.push(format!("{what} {op} {t}"));
    }
    if let Some(d) = f.deadline {
        parts.push(format!("deadline {d}"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The full message of a finding: message, evidence, next steps, waiver.
pub(crate) fn long_message(f: &Finding) -> String {
    let mut s = f.message.clone();
    if let Some(e) = evidence(f) {
        let _ = write!(s, "\n{e}");
    }
    if !f.actions.is_empty() {
        let _ = write!(s, "\nnext: {}", f.actions.join("; then "));
    }
    if let Some(w) = &f.waiver {
        let _ = write!(
            s,
            "\nwaived until {} by {}: {}",
            w.expires_at, w.owner, w.reason
        );
    }
    let _ = write!(s, "\nrunbook: {}", f.section.title());
    s
}

/// A stable 64-bit FNV-1a fingerprint of a finding's identity (rule and subject), in hex.
pub(crate) fn fingerprint(f: &Finding) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in f.rule.bytes().chain([0u8]).chain(f.subject.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Outcome label as printed in text and summaries.
pub(crate) fn label(f: &Finding) -> &'static str {
    if f.waiver.is_some() {
        return "WAIVED";
    }
    match f.outcome {
        Outcome::Pass => "PASS",
        Outcome::Warn => "WARN",
        Outcome::Inconclusive => "INCONCLUSIVE",
        Outcome::Error => "ERROR",
        Outcome::Fail => "FAIL",
    }
}

/// The summary line shared by text and Markdown output.
pub(crate) fn summary_line(r: &Report) -> String {
    let s = r.summary;
    format!(
        "{} pass, {} warn, {} inconclusive, {} error, {} fail, {} waived",
        s.pass, s.warn, s.inconclusive, s.error, s.fail, s.waived
    )
}

#[cfg(test)]
mod tests;
