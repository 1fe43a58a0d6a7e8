//! Small helpers shared by the fake server: timestamps, identifiers, hashing and JSON access.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

/// The current time as the API server writes it (`2026-06-15T04:15:57Z`, whole seconds, UTC).
pub(crate) fn now_rfc3339() -> String {
    format_ts(jiff::Timestamp::now())
}

/// A timestamp in the API server's format.
pub(crate) fn format_ts(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an RFC 3339 timestamp; `None` when it is absent or malformed.
pub(crate) fn parse_ts(v: Option<&Value>) -> Option<jiff::Timestamp> {
    v?.as_str()?.parse().ok()
}

/// A process-wide pseudo-random stream (splitmix64), seeded from the clock. Identifiers only
/// have to be unique and look like the real ones; nothing here is security relevant.
pub(crate) fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut seed = STATE.load(Ordering::Relaxed);
    if seed == 0 {
        let nanos = jiff::Timestamp::now().as_nanosecond();
        seed = (nanos as u64) | 1;
        // A lost race only means two threads started from the same clock reading; the
        // fetch_add below still gives them different values.
        let _ = STATE.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random UID in the 8-4-4-4-12 hex form the API server uses.
pub(crate) fn new_uid() -> String {
    let a = next_random();
    let b = next_random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a & 0x0fff) as u16,
        ((b >> 48) as u16 & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no confusable digits).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random suffix of `n` characters, as `generateName` produces.
pub(crate) fn random_suffix(n: usize) -> String {
    (0..n)
        .map(|_| SAFE_ALPHABET[(next_random() % SAFE_ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// A stable hash of a JSON value (FNV-1a over its canonical serialization), encoded with the
/// safe alphabet: used as the `pod-template-hash` of a ReplicaSet.
pub(crate) fn template_hash(v: &Value) -> String {
    let text = v.to_string();
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let digits = h.to_string();
    digits
        .bytes()
        .map(|d| SAFE_ALPHABET[(d as usize * 7 + 3) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// `v[a][b]...` as a string.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)?.as_str()
}

/// `v[a][b]...`.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    Some(cur)
}

/// `v[a][b]...`, creating objects on the way (replacing non-objects).
pub(crate) fn at_mut<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Value {
    let mut cur = v;
    for p in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        // The line above made `cur` an object.
        let Value::Object(map) = cur else {
            unreachable!("made an object just above")
        };
        cur = map.entry((*p).to_string()).or_insert(Value::Null);
    }
    cur
}

/// Sets `v[a][b]...[last] = new`, creating intermediate objects.
pub(crate) fn set_at(v: &mut Value, path: &[&str], new: Value) {
    *at_mut(v, path) = new;
}

/// An integer at a path, with a default.
pub(crate) fn i64_at(v: &Value, path: &[&str], default: i64) -> i64 {
    at(v, path).and_then(Value::as_i64).unwrap_or(default)
}

/// `metadata.name`.
pub(crate) fn name_of(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or("")
}

/// `metadata.namespace`.
pub(crate) fn namespace_of(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"]).unwrap_or("")
}

/// `metadata.uid`.
pub(crate) fn uid_of(v: &Value) -> &str {
    str_at(v, &["metadata", "uid"]).unwrap_or("")
}

/// Reads a quantity such as `250m`, `1`, `512Mi`, `1G` in base units (cores, bytes).
pub(crate) fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * mult)
}

/// Writes a summed quantity back: CPU in whole cores or millicores, other resources in the
/// largest binary unit that divides them.
pub(crate) fn format_quantity(resource: &str, v: f64) -> String {
    if resource == "cpu" {
        let milli = (v * 1000.0).round() as i64;
        return if milli % 1000 == 0 {
            format!("{}", milli / 1000)
        } else {
            format!("{milli}m")
        };
    }
    let bytes = v.round() as i64;
    for (unit, size) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes != 0 && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Adds up `resources.{requests|limits}` maps of several containers. A resource only one
/// container sets keeps its original spelling.
pub(crate) fn sum_resources(maps: &[&Value]) -> Value {
    let mut out = serde_json::Map::new();
    let mut seen: std::collections::BTreeMap<String, (usize, f64, Value)> = Default::default();
    for m in maps {
        for (k, v) in m.as_object().into_iter().flatten() {
            let q = v.as_str().and_then(parse_quantity).unwrap_or(0.0);
            let e = seen.entry(k.clone()).or_insert((0, 0.0, v.clone()));
            e.0 += 1;
            e.1 += q;
        }
    }
    for (k, (n, total, first)) in seen {
        let v = if n == 1 {
            first
        } else {
            Value::String(format_quantity(&k, total))
        };
        out.insert(k, v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_look_real_and_differ() {
        let a = new_uid();
        let b = new_uid();
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn quantities_parse_and_sum() {
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("1Ki"), Some(1024.0));
        assert_eq!(parse_quantity("x"), None);
        let a = serde_json::json!({"cpu": "250m", "memory": "64Mi"});
        let b = serde_json::json!({"cpu": "750m", "memory": "1Gi", "ephemeral-storage": "1Gi"});
        assert_eq!(
            sum_resources(&[&a, &b]),
            serde_json::json!({"cpu": "1", "memory": "1088Mi", "ephemeral-storage": "1Gi"})
        );
    }

    #[test]
    fn template_hash_is_stable_and_safe() {
        let v = serde_json::json!({"spec": {"containers": [{"name": "a", "image": "b"}]}});
        assert_eq!(template_hash(&v), template_hash(&v.clone()));
        assert!(
            template_hash(&v)
                .bytes()
                .all(|b| SAFE_ALPHABET.contains(&b))
        );
        let w = serde_json::json!({"spec": {"containers": [{"name": "a", "image": "c"}]}});
        assert_ne!(template_hash(&v), template_hash(&w));
    }
}
