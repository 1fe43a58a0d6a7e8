//! The three patch kinds the API server accepts: JSON patch (RFC 6902) and JSON merge patch
//! (RFC 7396), both applied with the `json-patch` crate, and our own strategic merge patch for
//! the fields kubectl touches (maps merge, lists of containers, env, ports, volumes and the like
//! merge by their key).

use serde_json::{Map, Value};

use super::status::ApiError;

/// Which patch a request carries, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

impl PatchKind {
    /// Reads a `Content-Type` header value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            _ => None,
        }
    }
}

/// Applies `patch` of `kind` to `target`.
pub(crate) fn apply(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Json => json_patch(target, patch),
        PatchKind::Merge => Ok(merge_patch(target, patch)),
        PatchKind::Strategic => Ok(strategic_merge(target, patch, "")),
    }
}

/// RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`), applied with the
/// `json-patch` crate. A body that is not a patch is 400; an operation that cannot be applied
/// (a missing path, a failed `test`) is 422, as on the real server, and nothing is changed.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "json: cannot unmarshal the body into a JSON patch (RFC 6902): {e}"
        ))
    })?;
    // Work on a copy: a failed operation leaves the stored object untouched.
    let mut doc = target.clone();
    json_patch::patch_unsafe(&mut doc, &ops).map_err(|e| {
        ApiError::unprocessable(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })?;
    Ok(doc)
}

/// RFC 7396 JSON merge patch: objects merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut doc = target.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

/// The merge key of a list field, by field name (and, for `ports`, by what the items hold).
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Strategic merge patch. Lists with a known merge key merge item by item (`$patch: delete`
/// removes an item); other lists replace. Directive keys (`$setElementOrder/...`,
/// `$retainKeys`, `$deleteFromPrimitiveList/...`) are accepted and honoured where they change
/// the result (`$patch: replace` / `delete` on maps).
pub fn strategic_merge(target: &Value, patch: &Value, field: &str) -> Value {
    match patch {
        Value::Object(p) => {
            match p.get("$patch").and_then(Value::as_str) {
                Some("replace") => {
                    let mut m = p.clone();
                    m.remove("$patch");
                    return Value::Object(m);
                }
                Some("delete") => return Value::Null,
                _ => {}
            }
            let mut out = match target {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            for (k, v) in p {
                if k.starts_with('$') {
                    if let Some(list_field) = k.strip_prefix("$deleteFromPrimitiveList/")
                        && let (Some(Value::Array(have)), Some(del)) =
                            (out.get_mut(list_field), v.as_array())
                    {
                        have.retain(|x| !del.contains(x));
                    }
                    continue;
                }
                if v.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = strategic_merge(out.get(k).unwrap_or(&Value::Null), v, k);
                if merged.is_null() {
                    out.remove(k);
                } else {
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let key = merge_key(field, items);
            match (key, target) {
                (Some(key), Value::Array(have)) => {
                    let mut out = have.clone();
                    for item in items {
                        let id = item.get(key);
                        let pos = out.iter().position(|h| id.is_some() && h.get(key) == id);
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match (pos, delete) {
                            (Some(i), true) => {
                                out.remove(i);
                            }
                            (None, true) => {}
                            (Some(i), false) => {
                                out[i] = strategic_merge(&out[i], item, "");
                            }
                            (None, false) => out.push(strategic_merge(&Value::Null, item, "")),
                        }
                    }
                    Value::Array(out)
                }
                _ => Value::Array(
                    items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect(),
                ),
            }
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"template": {"spec": {"containers": [
            {"name": "api", "image": "api:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "side:1"}
        ]}}}})
    }

    #[test]
    fn json_patch_ops_and_test_failure() {
        let p = json!([
            {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "api:1"},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "api:2"},
            {"op": "add", "path": "/metadata/annotations/b~1c", "value": "2"},
            {"op": "remove", "path": "/metadata/annotations/a"},
            {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "x"}}
        ]);
        let out = json_patch(&deploy(), &p).unwrap_or_default();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "api:2"
        );
        assert_eq!(out["metadata"]["annotations"], json!({"b/c": "2"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][2]["name"],
            "x"
        );
        let bad = json!([{"op": "test", "path": "/metadata/annotations/a", "value": "9"}]);
        assert_eq!(json_patch(&deploy(), &bad).map_err(|e| e.code), Err(422));
        let missing = json!([{"op": "replace", "path": "/nope/x", "value": 1}]);
        assert!(json_patch(&deploy(), &missing).is_err());
    }

    #[test]
    fn merge_patch_replaces_lists() {
        let p = json!({"metadata": {"annotations": {"a": null, "b": "2"}}, "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:3"}]}}}});
        let out = merge_patch(&deploy(), &p);
        assert_eq!(out["metadata"]["annotations"], json!({"b": "2"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let p = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "api"}, {"name": "side"}],
            "containers": [{"name": "side", "image": "side:2"}]}}}});
        let out = strategic_merge(&deploy(), &p, "");
        let cs = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[0]["image"], "api:1");
        assert_eq!(cs[0]["env"][0]["value"], "1");
        assert_eq!(cs[1]["image"], "side:2");
        let del = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}});
        let out = strategic_merge(&deploy(), &del, "");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
}
