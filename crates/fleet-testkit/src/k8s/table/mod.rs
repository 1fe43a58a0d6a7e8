//! `meta.k8s.io/v1` `Table` responses, which `kubectl get` asks for: the server chooses the
//! columns and renders the cells, as the real API server's printers do (read from
//! kubernetes `pkg/printers/internalversion/printers.go`, v1.32/1.33). The server prints wide, so
//! every row carries the cells of the priority-1 columns too; kubectl shows those with `-o wide`.
//! Kinds without a printer get the default `Name` / `Created At` columns, as on the real server.

mod apps;
mod core;
mod format;
mod other;

use std::sync::Arc;

use axum::body::Bytes;
use serde_json::{Value, json};

use super::resources::ResourceType;
use super::store::Stored;

pub(crate) use format::human_duration;

/// A column: name, type and priority (1 = only with `-o wide`).
pub(crate) type Col = (&'static str, &'static str, u8);

/// Renders one object's cells.
pub(crate) type RowFn = fn(&Value) -> Vec<Value>;

/// The columns of a kind and the function that renders one object's cells.
pub(crate) struct Printer {
    pub(crate) columns: &'static [Col],
    pub(crate) row: RowFn,
}

/// The printer for a resource type.
fn printer(rt: &ResourceType) -> Printer {
    core::printer(rt)
        .or_else(|| apps::printer(rt))
        .or_else(|| other::printer(rt))
        .unwrap_or(other::DEFAULT)
}

fn column_definitions(cols: &[Col]) -> Value {
    cols.iter()
        .map(|(name, ty, priority)| {
            json!({
                "name": name,
                "type": ty,
                "format": if *name == "Name" { "name" } else { "" },
                "description": "",
                "priority": priority,
            })
        })
        .collect()
}

/// Row conditions: a pod that finished is marked `Completed`, as the pod printer does.
fn row_conditions(rt: &ResourceType, v: &Value) -> Option<Value> {
    if rt.group.is_empty() && rt.plural == "pods" {
        let (reason, message) = match v["status"]["phase"].as_str() {
            Some("Succeeded") => ("Succeeded", "The pod has completed successfully."),
            Some("Failed") => ("Failed", "The pod failed."),
            _ => return None,
        };
        return Some(
            json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]),
        );
    }
    None
}

/// Builds the `Table` for `items`, serialized. `include_object` is the request's
/// `includeObject` (`Metadata` by default, `Object`, or `None`). The rows are written
/// straight from the stored objects, without copying them into a new JSON tree.
pub(crate) fn to_table(
    rt: &ResourceType,
    items: &[Arc<Stored>],
    include_object: Option<&str>,
    rv: u64,
    cont: Option<&str>,
) -> Bytes {
    let p = printer(rt);
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    let head = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": column_definitions(p.columns)});
    // Serializing `Value`s into a `Vec` cannot fail.
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop(); // the closing brace; rows follow
    out.extend_from_slice(b",\"rows\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"cells\":");
        let _ = serde_json::to_writer(&mut out, &(p.row)(&s.value));
        if let Some(c) = row_conditions(rt, &s.value) {
            out.extend_from_slice(b",\"conditions\":");
            let _ = serde_json::to_writer(&mut out, &c);
        }
        out.extend_from_slice(b",\"object\":");
        match include_object.unwrap_or("Metadata") {
            "Object" => out.extend_from_slice(&s.json()),
            "None" => out.extend_from_slice(b"null"),
            _ => {
                out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
                let _ = serde_json::to_writer(&mut out, &s.value["metadata"]);
                out.push(b'}');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::resources::{RESOURCES, resolve};

    #[test]
    fn table_is_valid_json_with_rows() {
        let pod = Stored::new(json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}));
        let rt = resolve("pods").expect("known");
        for include in [None, Some("Object"), Some("None")] {
            let t: Value = serde_json::from_slice(&to_table(
                rt,
                &[pod.clone(), pod.clone()],
                include,
                7,
                Some("c"),
            ))
            .unwrap_or_default();
            assert_eq!(t["kind"], "Table");
            assert_eq!(t["metadata"]["continue"], "c");
            assert_eq!(t["rows"].as_array().map(Vec::len), Some(2));
            assert_eq!(t["rows"][0]["cells"][2], "Pending");
        }
    }

    /// Every row has one cell per column, for every kind served, even for an object with
    /// nothing but a name.
    #[test]
    fn every_stored_kind_has_as_many_cells_as_columns() {
        let bare = json!({"metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        for rt in RESOURCES.iter().filter(|r| !r.computed) {
            let p = printer(rt);
            assert_eq!(
                (p.row)(&bare).len(),
                p.columns.len(),
                "{}",
                rt.group_resource()
            );
            assert_eq!(p.columns[0].0 == "Name", rt.plural != "events");
        }
    }
}
