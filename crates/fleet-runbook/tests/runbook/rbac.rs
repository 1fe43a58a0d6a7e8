//! The generated least-privilege artefacts stay current: the table in `docs/rbac.md` and the
//! in-cluster manifests in `deploy/` (each procedure running under its Role is tested in
//! `least_privilege.rs`).

use fleet_runbook::rbac_table;

/// `docs/rbac.md` carries the generated table; `FLEET_UPDATE_DOCS=1` rewrites it.
#[test]
fn docs_rbac_md_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rbac.md");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (begin, end) = ("<!-- rbac-table:begin -->\n", "<!-- rbac-table:end -->");
    let table = rbac_table();
    let current = match (text.find(begin), text.find(end)) {
        (Some(b), Some(e)) if b < e => text[b + begin.len()..e] == table,
        _ => false,
    };
    if !current && std::env::var_os("FLEET_UPDATE_DOCS").is_some() {
        let (b, e) = (
            text.find(begin).expect("begin marker"),
            text.find(end).expect("end marker"),
        );
        let updated = format!("{}{begin}{table}{}", &text[..b], &text[e..]);
        std::fs::write(path, updated).expect("write docs/rbac.md");
        return;
    }
    assert!(
        current,
        "docs/rbac.md is stale: run FLEET_UPDATE_DOCS=1 cargo test -p fleet-runbook --test runbook docs_rbac"
    );
}

/// `deploy/fleet-runbook.yaml` is `in_cluster_objects` for the defaults; `FLEET_UPDATE_DOCS=1`
/// rewrites it.
#[test]
fn deploy_manifests_are_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/fleet-runbook.yaml"
    );
    let objects = fleet_runbook::in_cluster_objects(&fleet_runbook::ScheduleOptions::default())
        .expect("objects");
    let want = objects.to_documents().expect("documents");
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have != want && std::env::var_os("FLEET_UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).expect("write deploy/fleet-runbook.yaml");
        return;
    }
    assert!(
        have == want,
        "deploy/fleet-runbook.yaml is stale: run FLEET_UPDATE_DOCS=1 cargo test -p fleet-runbook --test runbook deploy_manifests"
    );
}
