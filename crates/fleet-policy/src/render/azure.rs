//! Azure Pipelines logging commands: a `task.logissue` per non-passing finding, with source
//! path and rule code, then `task.complete` with the gate's result.

use std::fmt::Write as _;

use super::{RenderOptions, label, summary_line};
use crate::Report;
use crate::finding::Outcome;

/// Escapes a logging-command property value.
fn esc_prop(s: &str) -> String {
    s.replace('%', "%AZP25")
        .replace(';', "%3B")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
        .replace(']', "%5D")
}

/// Escapes a logging-command message.
fn esc_msg(s: &str) -> String {
    s.replace('%', "%AZP25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub(super) fn render(r: &Report, opts: &RenderOptions) -> String {
    let mut s = String::new();
    for f in &r.findings {
        if f.outcome == Outcome::Pass {
            continue;
        }
        if f.waiver.is_some() {
            let _ = writeln!(
                s,
                "[{}] {} {}: {}",
                label(f),
                f.rule,
                f.subject,
                esc_msg(&f.message)
            );
            continue;
        }
        let ty = if r.blocks(f) { "error" } else { "warning" };
        let _ = writeln!(
            s,
            "##vso[task.logissue type={ty};sourcepath={};code={}]{} [{}] {}: {}",
            esc_prop(&opts.artifact),
            esc_prop(&f.rule),
            f.rule,
            label(f),
            esc_msg(&f.subject),
            esc_msg(&f.message)
        );
    }
    let result = if r.blocked {
        "Failed"
    } else if r
        .findings
        .iter()
        .any(|f| f.effective_outcome() != Outcome::Pass)
    {
        "SucceededWithIssues"
    } else {
        "Succeeded"
    };
    let _ = writeln!(
        s,
        "##vso[task.complete result={result};]{}",
        summary_line(r)
    );
    s
}
