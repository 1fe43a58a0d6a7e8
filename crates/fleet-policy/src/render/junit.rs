//! JUnit XML in the subset GitLab and Azure DevOps both read, valid under the Jenkins/Ant
//! schema (`junit-10.xsd`): one `testsuites` (name, tests, failures, errors, time), a
//! `testsuite` per rule family (with its own `skipped` count), a `testcase` per finding with a
//! unique `classname` + `name`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::long_message;
use crate::Report;
use crate::finding::{Finding, Outcome};

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

enum Kind {
    Passed,
    Failure,
    Error,
    Skipped,
}

fn kind(r: &Report, f: &Finding) -> Kind {
    if f.waiver.is_some() {
        return Kind::Skipped;
    }
    match f.outcome {
        Outcome::Pass => Kind::Passed,
        Outcome::Fail => Kind::Failure,
        Outcome::Error | Outcome::Inconclusive => Kind::Error,
        Outcome::Warn if r.blocks(f) => Kind::Failure,
        Outcome::Warn => Kind::Passed,
    }
}

pub(super) fn render(r: &Report) -> String {
    let mut families: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &r.findings {
        families.entry(f.family()).or_default().push(f);
    }
    let count =
        |fs: &[&Finding], want: fn(&Kind) -> bool| fs.iter().filter(|f| want(&kind(r, f))).count();
    let all: Vec<&Finding> = r.findings.iter().collect();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // The root carries no `skipped`: the Jenkins/Ant schema rejects it there (the suites
    // carry their own).
    let _ = writeln!(
        s,
        "<testsuites name=\"fleet-policy\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"0\">",
        all.len(),
        count(&all, |k| matches!(k, Kind::Failure)),
        count(&all, |k| matches!(k, Kind::Error)),
    );
    for (family, fs) in &families {
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"0\" timestamp=\"{}\">",
            xml_escape(family),
            fs.len(),
            count(fs, |k| matches!(k, Kind::Failure)),
            count(fs, |k| matches!(k, Kind::Error)),
            count(fs, |k| matches!(k, Kind::Skipped)),
            r.evaluated_at.strftime("%Y-%m-%dT%H:%M:%S"),
        );
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for f in fs {
            // GitLab keeps only the first of duplicate classname+name pairs: number repeats.
            let base = format!("{} {}", f.rule, f.subject);
            let n = seen
                .entry(base.clone())
                .and_modify(|n| *n += 1)
                .or_insert(1);
            let name = if *n > 1 { format!("{base} #{n}") } else { base };
            let _ = write!(
                s,
                "    <testcase classname=\"fleet-policy.{}\" name=\"{}\" time=\"0\"",
                xml_escape(family),
                xml_escape(&name)
            );
            let msg = xml_escape(&f.message);
            let body = xml_escape(&long_message(f));
            let rule = xml_escape(&f.rule);
            match kind(r, f) {
                Kind::Passed if f.outcome == Outcome::Warn => {
                    let _ = writeln!(
                        s,
                        ">\n      <system-out>WARN: {body}</system-out>\n    </testcase>"
                    );
                }
                Kind::Passed => {
                    let _ = writeln!(s, "/>");
                }
                Kind::Failure => {
                    let _ = writeln!(
                        s,
                        ">\n      <failure message=\"{msg}\" type=\"{rule}\">{body}</failure>\n    </testcase>"
                    );
                }
                Kind::Error => {
                    let _ = writeln!(
                        s,
                        ">\n      <error message=\"{}: {msg}\" type=\"{rule}\">{body}</error>\n    </testcase>",
                        f.outcome
                    );
                }
                Kind::Skipped => {
                    let _ = writeln!(
                        s,
                        ">\n      <skipped message=\"waived: {msg}\"/>\n      <system-out>{body}</system-out>\n    </testcase>"
                    );
                }
            }
        }
        let _ = writeln!(s, "  </testsuite>");
    }
    s.push_str("</testsuites>\n");
    s
}
