//! GitHub Actions workflow commands (`::error`, `::warning`, `::notice`), at most
//! `github_annotation_cap` per level since GitHub drops the rest silently, and a Markdown step
//! summary with every finding.

use std::fmt::Write as _;

use super::{RenderOptions, evidence, label, summary_line};
use crate::Report;
use crate::finding::{Finding, Outcome};

/// Escapes a workflow-command message.
fn esc_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property value.
fn esc_prop(s: &str) -> String {
    esc_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn level(r: &Report, f: &Finding) -> Option<&'static str> {
    if f.waiver.is_some() {
        return Some("notice");
    }
    match f.outcome {
        Outcome::Pass => None,
        _ if r.blocks(f) => Some("error"),
        _ => Some("warning"),
    }
}

pub(super) fn render(r: &Report, opts: &RenderOptions) -> String {
    let mut s = String::new();
    let mut shown = [0usize; 3];
    let mut dropped = 0usize;
    for f in &r.findings {
        let Some(lvl) = level(r, f) else { continue };
        let i = match lvl {
            "error" => 0,
            "warning" => 1,
            _ => 2,
        };
        if shown[i] >= opts.github_annotation_cap {
            dropped += 1;
            continue;
        }
        shown[i] += 1;
        let mut msg = format!("{}: {}", f.subject, f.message);
        if let Some(e) = evidence(f) {
            let _ = write!(msg, "\n{e}");
        }
        if let Some(w) = &f.waiver {
            let _ = write!(
                msg,
                "\nwaived until {} by {}: {}",
                w.expires_at, w.owner, w.reason
            );
        }
        let title = format!("{} [{}]", f.rule, label(f));
        let _ = writeln!(
            s,
            "::{lvl} file={},title={}::{}",
            esc_prop(&opts.artifact),
            esc_prop(&title),
            esc_data(&msg)
        );
    }
    if dropped > 0 {
        let _ = writeln!(
            s,
            "::notice title=fleet-policy::{dropped} more finding(s) are listed in the job summary"
        );
    }
    let _ = writeln!(s, "{}", summary_line(r));
    s
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

/// A Markdown summary of every finding, for `$GITHUB_STEP_SUMMARY` (or any Markdown view).
pub fn github_summary(r: &Report) -> String {
    let mut s = String::new();
    let verdict = if r.blocked { "blocked" } else { "passed" };
    let _ = writeln!(s, "### fleet-policy gate: {verdict}\n");
    let _ = writeln!(s, "{} (evaluated at {})\n", summary_line(r), r.evaluated_at);
    let _ = writeln!(
        s,
        "| outcome | rule | subject | message | next |\n|---|---|---|---|---|"
    );
    let mut rows: Vec<&Finding> = r.findings.iter().collect();
    rows.sort_by_key(|f| std::cmp::Reverse((f.waiver.is_none(), f.outcome)));
    for f in rows {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} |",
            label(f),
            f.rule,
            md_cell(&f.subject),
            md_cell(&f.message),
            md_cell(&f.actions.join("; "))
        );
    }
    s
}
