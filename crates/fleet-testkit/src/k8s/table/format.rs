//! Cell formats shared by the printers: ages, label sets and selectors, container lists, and
//! the "first three, then `+ N more...`" lists.

use serde_json::Value;

use crate::k8s::util::{at, parse_ts};

/// Renders an age as the API server's printers do (`5s`, `3m20s`, `2d4h`, `90d`).
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        let y = d / 365;
        if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

/// The time since the timestamp at `path`, or `<unknown>` when there is none.
pub(crate) fn since(v: &Value, path: &[&str]) -> String {
    match parse_ts(at(v, path)) {
        Some(t) => human_duration(jiff::Timestamp::now().as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

/// The `Age` cell.
pub(crate) fn age(v: &Value) -> Value {
    Value::String(since(v, &["metadata", "creationTimestamp"]))
}

/// The `Name` cell.
pub(crate) fn name(v: &Value) -> Value {
    v["metadata"]["name"].clone()
}

/// A label map as `k=v,k2=v2` sorted by key, or `<none>`.
pub(crate) fn labels(m: Option<&Value>) -> String {
    let mut pairs: Vec<String> = m
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// A structured label selector in the string syntax (requirements sorted by key, set values
/// sorted), or `""` when it selects everything.
pub(crate) fn selector(sel: Option<&Value>) -> String {
    let mut reqs: Vec<(String, String)> = Vec::new();
    let Some(sel) = sel else {
        return String::new();
    };
    for (k, v) in sel["matchLabels"].as_object().into_iter().flatten() {
        reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or("").to_string();
        let mut values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        reqs.push((key, text));
    }
    reqs.sort();
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// A selector as `FormatLabelSelector` shows it: `<none>` when it selects everything.
pub(crate) fn selector_or_none(sel: Option<&Value>) -> String {
    let s = selector(sel);
    if s.is_empty() { "<none>".into() } else { s }
}

/// The `Containers` and `Images` cells of a pod template spec.
pub(crate) fn containers_images(template_spec: Option<&Value>) -> (String, String) {
    let cs: Vec<&Value> = template_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let names: Vec<&str> = cs
        .iter()
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .map(|c| c["image"].as_str().unwrap_or(""))
        .collect();
    (names.join(","), images.join(","))
}

/// The first `max` items joined with `,`, then ` + N more...`; `<unset>` when empty.
pub(crate) fn list_with_more(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<unset>".into();
    }
    let shown = items[..items.len().min(max)].join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

/// Number of entries of the map at `key` (absent counts 0).
pub(crate) fn count_keys(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_object).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ages_render_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(3 * 365 * 86400 + 86400), "3y1d");
        assert_eq!(human_duration(9 * 365 * 86400), "9y");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn selectors_and_lists() {
        let sel = json!({"matchLabels": {"tier": "web", "app": "a"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}, {"key": "legacy", "operator": "DoesNotExist"}]});
        assert_eq!(
            selector(Some(&sel)),
            "app=a,env in (dev,prod),!legacy,tier=web"
        );
        assert_eq!(selector_or_none(Some(&json!({}))), "<none>");
        assert_eq!(labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        let four: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list_with_more(&four, 3), "a,b,c + 1 more...");
        assert_eq!(list_with_more(&[], 3), "<unset>");
    }
}
