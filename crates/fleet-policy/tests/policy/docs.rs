//! The documents that promise things about this crate keep their shape: every row of
//! `docs/runbook-map.md` has the five cells and a known status, a row marked done names its
//! API and a test, and every catalogued rule id is mapped and has its reading written down.

use fleet_policy::rules::RULES;

const MAP: &str = include_str!("../../../../docs/runbook-map.md");
const DECISIONS: &str = include_str!("../../../../docs/decisions.md");

/// The cells of a Markdown table row (`\|` inside a cell is not a separator).
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            '|' if !escaped => out.push(String::new()),
            _ => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
        escaped = c == '\\';
    }
    out.into_iter().map(|c| c.trim().to_owned()).collect()
}

#[test]
fn runbook_map_rows_have_five_cells_and_a_known_status() {
    let mut rows = 0;
    for (n, line) in MAP.lines().enumerate() {
        if !line.starts_with('|') || line.starts_with("|---") {
            continue;
        }
        let c = cells(line);
        assert_eq!(c.len(), 5, "line {}: {} cells: {line}", n + 1, c.len());
        if c[0] == "runbook item" {
            assert_eq!(c, ["runbook item", "API", "test", "example", "status"]);
            continue;
        }
        rows += 1;
        let status = c[4].as_str();
        assert!(
            ["done", "partial:", "planned:", "out of scope:"]
                .iter()
                .any(|s| status.starts_with(s)),
            "line {}: status `{status}`",
            n + 1
        );
        if status.starts_with("done") {
            assert!(
                c[1] != "-" && c[2] != "-",
                "line {}: done without API or test",
                n + 1
            );
        }
        if status.starts_with("partial") || status.starts_with("planned") {
            assert!(status.contains("issue"), "line {}: say which issue", n + 1);
        }
    }
    assert!(rows > 80, "only {rows} rows");
}

#[test]
fn every_catalogued_rule_is_mapped_and_read() {
    for r in RULES {
        let family = format!("`{}.*`", r.id.split('.').next().unwrap_or_default());
        let id = format!("`{}`", r.id);
        let mapped = MAP.contains(&id) || MAP.contains(&family);
        let read = DECISIONS.contains(&id) || DECISIONS.contains(&family);
        assert!(mapped, "{} is not in docs/runbook-map.md", r.id);
        assert!(read, "{} has no reading in docs/decisions.md", r.id);
    }
}
