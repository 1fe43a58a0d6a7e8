//! Human text: a header, one line per finding with evidence and next steps indented, a
//! summary line.

use std::fmt::Write as _;

use super::{evidence, label, summary_line};
use crate::Report;

pub(super) fn render(r: &Report) -> String {
    let mut s = String::new();
    let verdict = if r.blocked { "BLOCKED" } else { "OK" };
    let _ = writeln!(
        s,
        "fleet-policy gate at {}: {verdict} (worst outcome {}, exit {})",
        r.evaluated_at, r.outcome, r.exit_code
    );
    let width = r.findings.iter().map(|f| f.rule.len()).max().unwrap_or(0);
    for f in &r.findings {
        let blocking = if r.blocks(f) { "!" } else { " " };
        let _ = writeln!(
            s,
            "{blocking}{:<12} {:<width$}  {}: {}",
            label(f),
            f.rule,
            f.subject,
            f.message
        );
        if let Some(e) = evidence(f) {
            let _ = writeln!(s, "{:14}{e}", "");
        }
        for a in &f.actions {
            let _ = writeln!(s, "{:14}next: {a}", "");
        }
        if let Some(w) = &f.waiver {
            let _ = writeln!(
                s,
                "{:14}waived ({} would be reported) until {} by {}: {}",
                "", f.outcome, w.expires_at, w.owner, w.reason
            );
        }
    }
    let _ = writeln!(s, "{}", summary_line(r));
    s
}
