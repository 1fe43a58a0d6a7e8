//! Unit-test helpers: the recorded fixtures under `tests/fixtures` (see its README).

use serde_json::Value;

/// A fixture file as JSON.
pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The response body of exchange `i` of a replay.
pub(crate) fn replay_body(name: &str, i: usize) -> Value {
    let r = fixture(name);
    let body = r[i]["response_body"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}[{i}]"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{name}[{i}]: {e}"))
}

/// A k8s-openapi object from JSON.
pub(crate) fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
}
