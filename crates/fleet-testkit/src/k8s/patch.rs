//! The three patch kinds the API server accepts: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386) and strategic merge patch for the fields kubectl touches (maps merge, lists of
//! containers, env, ports, volumes and the like merge by their key).

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

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn pointer_parts(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| ApiError::unprocessable(format!("invalid JSON pointer \"{path}\"")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn missing(path: &str) -> ApiError {
    ApiError::unprocessable(format!(
        "the server rejected our request due to an error in our request: path {path} does not exist"
    ))
}

/// Resolves the parent of the last token, mutably.
fn parent_mut<'a>(
    doc: &'a mut Value,
    parts: &[String],
    path: &str,
) -> Result<&'a mut Value, ApiError> {
    let mut cur = doc;
    for p in &parts[..parts.len().saturating_sub(1)] {
        cur = match cur {
            Value::Object(m) => m.get_mut(p).ok_or_else(|| missing(path))?,
            Value::Array(a) => {
                let i: usize = p.parse().map_err(|_| missing(path))?;
                a.get_mut(i).ok_or_else(|| missing(path))?
            }
            _ => return Err(missing(path)),
        };
    }
    Ok(cur)
}

fn get_at<'a>(doc: &'a Value, parts: &[String]) -> Option<&'a Value> {
    let mut cur = doc;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get(p)?,
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let parts = pointer_parts(path)?;
    let Some(last) = parts.last().cloned() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, &parts, path)? {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| missing(path))?;
            if i > a.len() {
                return Err(missing(path));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let parts = pointer_parts(path)?;
    let Some(last) = parts.last().cloned() else {
        return Err(missing(path));
    };
    match parent_mut(doc, &parts, path)? {
        Value::Object(m) => m.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing(path))?;
            if i >= a.len() {
                return Err(missing(path));
            }
            Ok(a.remove(i))
        }
        _ => Err(missing(path)),
    }
}

/// RFC 6902 JSON patch: `add`, `remove`, `replace`, `move`, `copy`, `test`.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops = patch.as_array().ok_or_else(|| {
        ApiError::bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    })?;
    let mut doc = target.clone();
    for op in ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"].as_str().unwrap_or("");
        match kind {
            "add" => add_at(&mut doc, path, op["value"].clone())?,
            "remove" => {
                remove_at(&mut doc, path)?;
            }
            "replace" => {
                let parts = pointer_parts(path)?;
                if get_at(&doc, &parts).is_none() {
                    return Err(missing(path));
                }
                remove_at(&mut doc, path).or_else(|e| {
                    if parts.is_empty() {
                        Ok(Value::Null)
                    } else {
                        Err(e)
                    }
                })?;
                add_at(&mut doc, path, op["value"].clone())?;
            }
            "move" | "copy" => {
                let from = op["from"].as_str().unwrap_or("");
                let v = if kind == "move" {
                    remove_at(&mut doc, from)?
                } else {
                    get_at(&doc, &pointer_parts(from)?)
                        .cloned()
                        .ok_or_else(|| missing(from))?
                };
                add_at(&mut doc, path, v)?;
            }
            "test" => {
                let got = get_at(&doc, &pointer_parts(path)?);
                if got != Some(&op["value"]) {
                    return Err(ApiError::unprocessable(format!(
                        "the server rejected our request due to an error in our request: testing value {path} failed"
                    )));
                }
            }
            other => {
                return Err(ApiError::unprocessable(format!(
                    "the server rejected our request due to an error in our request: unexpected kind: {other}"
                )));
            }
        }
    }
    Ok(doc)
}

/// RFC 7386 merge patch: objects merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
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
