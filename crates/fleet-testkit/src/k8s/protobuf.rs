//! Just enough of the Kubernetes protobuf encoding to read what kubectl sends as protobuf: the
//! HorizontalPodAutoscaler of `kubectl autoscale`, autoscaling/v1 (kubectl up to 1.32) or
//! autoscaling/v2 (newer kubectl), the reviews of `kubectl auth can-i` and `kubectl auth whoami`,
//! and what `kubectl create role|clusterrole|rolebinding|clusterrolebinding|configmap|secret|
//! namespace|serviceaccount` send. Every other protobuf body is refused with 415.
//!
//! The envelope is the magic `k8s\0` followed by a `runtime.Unknown` message (1: type meta
//! {1: apiVersion, 2: kind}, 2: raw object bytes, 3: content encoding, 4: content type).

use serde_json::{Map, Value, json};

use super::status::ApiError;

/// The content type of protobuf bodies.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

/// Splits a message into its fields; `None` when it is malformed.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        let field = match wire {
            0 => Field::Varint(varint(buf, &mut pos)?),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let f = Field::Bytes(&buf[pos..end]);
                pos = end;
                f
            }
            1 => {
                pos = pos.checked_add(8).filter(|e| *e <= buf.len())?;
                continue;
            }
            5 => {
                pos = pos.checked_add(4).filter(|e| *e <= buf.len())?;
                continue;
            }
            _ => return None,
        };
        out.push((number, field));
    }
    Some(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn string_map(entries: &[&[u8]]) -> Option<Value> {
    let mut m = Map::new();
    for e in entries {
        let mut k = String::new();
        let mut v = Value::String(String::new());
        for (n, f) in fields(e)? {
            match (n, f) {
                (1, Field::Bytes(b)) => k = String::from_utf8_lossy(b).into_owned(),
                (2, Field::Bytes(b)) => v = text(b),
                _ => {}
            }
        }
        m.insert(k, v);
    }
    Some(Value::Object(m))
}

/// ObjectMeta: the fields a client sets on create.
fn object_meta(buf: &[u8]) -> Option<Value> {
    let mut meta = json!({});
    let (mut labels, mut annotations, mut finalizers) = (Vec::new(), Vec::new(), Vec::new());
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => meta["name"] = text(b),
            (2, Field::Bytes(b)) => meta["generateName"] = text(b),
            (3, Field::Bytes(b)) => meta["namespace"] = text(b),
            (6, Field::Bytes(b)) => meta["resourceVersion"] = text(b),
            (11, Field::Bytes(b)) => labels.push(b),
            (12, Field::Bytes(b)) => annotations.push(b),
            (14, Field::Bytes(b)) => finalizers.push(text(b)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta["labels"] = string_map(&labels)?;
    }
    if !annotations.is_empty() {
        meta["annotations"] = string_map(&annotations)?;
    }
    if !finalizers.is_empty() {
        meta["finalizers"] = Value::Array(finalizers);
    }
    Some(meta)
}

fn int32(v: u64) -> Value {
    // int32 fields are sign-extended to 64 bits on the wire.
    json!(v as i64 as i32)
}

fn hpa_v1(buf: &[u8]) -> Option<Value> {
    let mut out =
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "spec": {}});
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                for (sn, sf) in fields(b)? {
                    match (sn, sf) {
                        (1, Field::Bytes(r)) => out["spec"]["scaleTargetRef"] = target_ref(r)?,
                        (2, Field::Varint(v)) => out["spec"]["minReplicas"] = int32(v),
                        (3, Field::Varint(v)) => out["spec"]["maxReplicas"] = int32(v),
                        (4, Field::Varint(v)) => {
                            out["spec"]["targetCPUUtilizationPercentage"] = int32(v);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(out)
}

fn target_ref(r: &[u8]) -> Option<Value> {
    let mut target = json!({});
    for (rn, rf) in fields(r)? {
        match (rn, rf) {
            (1, Field::Bytes(x)) => target["kind"] = text(x),
            (2, Field::Bytes(x)) => target["name"] = text(x),
            (3, Field::Bytes(x)) => target["apiVersion"] = text(x),
            _ => {}
        }
    }
    Some(target)
}

/// A `resource.Quantity`: its only field is the string form.
fn quantity(b: &[u8]) -> Option<Value> {
    fields(b)?.into_iter().find_map(|(n, f)| match (n, f) {
        (1, Field::Bytes(s)) => Some(text(s)),
        _ => None,
    })
}

/// autoscaling/v2 `MetricTarget`: type 1, value 2, averageValue 3, averageUtilization 4.
fn metric_target(b: &[u8]) -> Option<Value> {
    let mut t = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => t["type"] = text(x),
            (2, Field::Bytes(x)) => t["value"] = quantity(x)?,
            (3, Field::Bytes(x)) => t["averageValue"] = quantity(x)?,
            (4, Field::Varint(v)) => t["averageUtilization"] = int32(v),
            _ => {}
        }
    }
    Some(t)
}

/// autoscaling/v2 `MetricSpec`: type 1 and the `resource` source 4 (name 1, target 2), the only
/// source `kubectl autoscale` sets; other sources make the body unsupported.
fn metric_spec(b: &[u8]) -> Option<Value> {
    let mut m = json!({});
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => m["type"] = text(x),
            (4, Field::Bytes(r)) => {
                let mut res = json!({});
                for (rn, rf) in fields(r)? {
                    match (rn, rf) {
                        (1, Field::Bytes(x)) => res["name"] = text(x),
                        (2, Field::Bytes(x)) => res["target"] = metric_target(x)?,
                        _ => {}
                    }
                }
                m["resource"] = res;
            }
            (2 | 3 | 5 | 7, _) => return None,
            _ => {}
        }
    }
    Some(m)
}

fn hpa_v2(buf: &[u8]) -> Option<Value> {
    let mut out =
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "spec": {}});
    let mut metrics = Vec::new();
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                for (sn, sf) in fields(b)? {
                    match (sn, sf) {
                        (1, Field::Bytes(r)) => out["spec"]["scaleTargetRef"] = target_ref(r)?,
                        (2, Field::Varint(v)) => out["spec"]["minReplicas"] = int32(v),
                        (3, Field::Varint(v)) => out["spec"]["maxReplicas"] = int32(v),
                        (4, Field::Bytes(m)) => metrics.push(metric_spec(m)?),
                        // behavior (5) is not something kubectl autoscale sets.
                        (5, _) => return None,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if !metrics.is_empty() {
        out["spec"]["metrics"] = Value::Array(metrics);
    }
    Some(out)
}

/// The string fields of a message, by field number, as JSON under the given names.
fn strings(buf: &[u8], names: &[(u64, &str)]) -> Option<Value> {
    let mut out = json!({});
    for (n, f) in fields(buf)? {
        if let (Some((_, name)), Field::Bytes(b)) = (names.iter().find(|(k, _)| *k == n), f) {
            out[*name] = text(b);
        }
    }
    Some(out)
}

/// authorization/v1 `SelfSubjectAccessReview`: metadata 1, spec 2 (resourceAttributes 1,
/// nonResourceAttributes 2).
fn access_review(buf: &[u8]) -> Option<Value> {
    let mut out = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}});
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) => {
                for (sn, sf) in fields(b)? {
                    match (sn, sf) {
                        (1, Field::Bytes(r)) => {
                            out["spec"]["resourceAttributes"] = strings(
                                r,
                                &[
                                    (1, "namespace"),
                                    (2, "verb"),
                                    (3, "group"),
                                    (4, "version"),
                                    (5, "resource"),
                                    (6, "subresource"),
                                    (7, "name"),
                                ],
                            )?;
                        }
                        (2, Field::Bytes(r)) => {
                            out["spec"]["nonResourceAttributes"] =
                                strings(r, &[(1, "path"), (2, "verb")])?;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// authorization/v1 `SelfSubjectRulesReview` (spec 2: namespace 1) and authentication/v1
/// `SelfSubjectReview` (metadata only).
fn self_review(buf: &[u8], api_version: &str, kind: &str) -> Option<Value> {
    let mut out = json!({"apiVersion": api_version, "kind": kind});
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b)) if kind == "SelfSubjectRulesReview" => {
                out["spec"] = strings(b, &[(1, "namespace")])?;
            }
            _ => {}
        }
    }
    Some(out)
}

/// A repeated string field's values.
fn repeated(buf: &[u8], number: u64) -> Option<Vec<Value>> {
    Some(
        fields(buf)?
            .into_iter()
            .filter_map(|(n, f)| match (n, f) {
                (k, Field::Bytes(b)) if k == number => Some(text(b)),
                _ => None,
            })
            .collect(),
    )
}

/// rbac/v1 `PolicyRule`: verbs 1, apiGroups 2, resources 3, resourceNames 4, nonResourceURLs 5.
fn policy_rule(buf: &[u8]) -> Option<Value> {
    let mut rule = json!({});
    for (n, key) in [
        (1, "verbs"),
        (2, "apiGroups"),
        (3, "resources"),
        (4, "resourceNames"),
        (5, "nonResourceURLs"),
    ] {
        let values = repeated(buf, n)?;
        if !values.is_empty() || n == 1 {
            rule[key] = Value::Array(values);
        }
    }
    Some(rule)
}

/// rbac/v1 Role / ClusterRole (metadata 1, rules 2) and RoleBinding / ClusterRoleBinding
/// (metadata 1, subjects 2 {kind 1, apiGroup 2, name 3, namespace 4}, roleRef 3 {apiGroup 1,
/// kind 2, name 3}).
fn rbac(buf: &[u8], kind: &str) -> Option<Value> {
    let mut out = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind});
    let binding = kind.ends_with("Binding");
    let (mut rules, mut subjects) = (Vec::new(), Vec::new());
    for (n, f) in fields(buf)? {
        match (n, f, binding) {
            (1, Field::Bytes(b), _) => out["metadata"] = object_meta(b)?,
            (2, Field::Bytes(b), false) => rules.push(policy_rule(b)?),
            (2, Field::Bytes(b), true) => {
                let mut s = strings(
                    b,
                    &[(1, "kind"), (2, "apiGroup"), (3, "name"), (4, "namespace")],
                )?;
                if let Some(m) = s.as_object_mut() {
                    m.retain(|_, v| v.as_str().is_some_and(|x| !x.is_empty()));
                }
                subjects.push(s);
            }
            (3, Field::Bytes(b), true) => {
                out["roleRef"] = strings(b, &[(1, "apiGroup"), (2, "kind"), (3, "name")])?;
            }
            _ => {}
        }
    }
    if binding {
        out["subjects"] = Value::Array(subjects);
    } else {
        out["rules"] = Value::Array(rules);
    }
    Some(out)
}

/// A `map<string, bytes>` as base64 values (Secret data).
fn bytes_map(entries: &[&[u8]]) -> Option<Value> {
    let mut m = Map::new();
    for e in entries {
        let mut k = String::new();
        let mut v = Vec::new();
        for (n, f) in fields(e)? {
            match (n, f) {
                (1, Field::Bytes(b)) => k = String::from_utf8_lossy(b).into_owned(),
                (2, Field::Bytes(b)) => v = b.to_vec(),
                _ => {}
            }
        }
        m.insert(k, Value::String(super::defaults::base64(&v)));
    }
    Some(Value::Object(m))
}

/// core/v1 ConfigMap (metadata 1, data 2, binaryData 3, immutable 4), Secret (metadata 1,
/// data 2, type 3, stringData 4, immutable 5), Namespace and ServiceAccount (metadata 1).
fn core(buf: &[u8], kind: &str) -> Option<Value> {
    let mut out = json!({"apiVersion": "v1", "kind": kind});
    let (mut data, mut binary, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for (n, f) in fields(buf)? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(b)) => out["metadata"] = object_meta(b)?,
            ("ConfigMap" | "Secret", 2, Field::Bytes(b)) => data.push(b),
            ("ConfigMap", 3, Field::Bytes(b)) => binary.push(b),
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                out["immutable"] = json!(v != 0);
            }
            ("Secret", 3, Field::Bytes(b)) => out["type"] = text(b),
            ("Secret", 4, Field::Bytes(b)) => plain.push(b),
            _ => {}
        }
    }
    match kind {
        "ConfigMap" => {
            if !data.is_empty() {
                out["data"] = string_map(&data)?;
            }
            if !binary.is_empty() {
                out["binaryData"] = bytes_map(&binary)?;
            }
        }
        "Secret" => {
            if !data.is_empty() {
                out["data"] = bytes_map(&data)?;
            }
            if !plain.is_empty() {
                out["stringData"] = string_map(&plain)?;
            }
        }
        _ => {}
    }
    Some(out)
}

/// Decodes a protobuf request body into the JSON the rest of the server works with.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let malformed = || {
        ApiError::bad_request("the body of the request is not a valid Kubernetes protobuf message")
    };
    let rest = body.strip_prefix(b"k8s\0").ok_or_else(malformed)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest).ok_or_else(malformed)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm).ok_or_else(malformed)? {
                    match (tn, tf) {
                        (1, Field::Bytes(b)) => {
                            api_version = String::from_utf8_lossy(b).into_owned();
                        }
                        (2, Field::Bytes(b)) => kind = String::from_utf8_lossy(b).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    match (api_version.as_str(), kind.as_str()) {
        ("autoscaling/v1", "HorizontalPodAutoscaler") => hpa_v1(raw).ok_or_else(malformed),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            hpa_v2(raw).ok_or_else(|| ApiError::unsupported_media_type(CONTENT_TYPE))
        }
        (
            "rbac.authorization.k8s.io/v1",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        ) => rbac(raw, &kind).ok_or_else(malformed),
        ("v1", "ConfigMap" | "Secret" | "Namespace" | "ServiceAccount") => {
            core(raw, &kind).ok_or_else(malformed)
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            access_review(raw).ok_or_else(malformed)
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview")
        | ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            self_review(raw, &api_version, &kind).ok_or_else(malformed)
        }
        _ => Err(ApiError::unsupported_media_type(CONTENT_TYPE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u64, wire: u64) -> u8 {
        u8::try_from((n << 3) | wire).unwrap_or(0)
    }

    fn bytes_field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut v = vec![tag(n, 2), u8::try_from(b.len()).unwrap_or(0)];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn decodes_an_hpa_v1() {
        let target = [
            bytes_field(1, b"Deployment"),
            bytes_field(2, b"web"),
            bytes_field(3, b"apps/v1"),
        ]
        .concat();
        let spec = [
            bytes_field(1, &target),
            vec![tag(2, 0), 2, tag(3, 0), 5, tag(4, 0), 80],
        ]
        .concat();
        let meta = bytes_field(1, b"web");
        let hpa = [bytes_field(1, &meta), bytes_field(2, &spec)].concat();
        let type_meta = [
            bytes_field(1, b"autoscaling/v1"),
            bytes_field(2, b"HorizontalPodAutoscaler"),
        ]
        .concat();
        let unknown = [bytes_field(1, &type_meta), bytes_field(2, &hpa)].concat();
        let body = [b"k8s\0".to_vec(), unknown].concat();
        let v = decode(&body).unwrap_or_default();
        assert_eq!(v["metadata"]["name"], "web");
        assert_eq!(v["spec"]["scaleTargetRef"]["apiVersion"], "apps/v1");
        assert_eq!(v["spec"]["minReplicas"], 2);
        assert_eq!(v["spec"]["maxReplicas"], 5);
        assert_eq!(v["spec"]["targetCPUUtilizationPercentage"], 80);
        assert!(decode(b"nope").is_err());

        let attrs = [
            bytes_field(1, b"fleet-management"),
            bytes_field(2, b"patch"),
            bytes_field(3, b"apps"),
            bytes_field(5, b"deployments"),
            bytes_field(6, b"scale"),
        ]
        .concat();
        let review = bytes_field(2, &bytes_field(1, &attrs));
        let type_meta = [
            bytes_field(1, b"authorization.k8s.io/v1"),
            bytes_field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [
            b"k8s\0".to_vec(),
            bytes_field(1, &type_meta),
            bytes_field(2, &review),
        ]
        .concat();
        let v = decode(&body).unwrap_or_default();
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "fleet-management", "verb": "patch", "group": "apps", "resource": "deployments", "subresource": "scale"})
        );
        assert!(decode(&[b"k8s\0".as_slice(), &[0xff]].concat()).is_err());
    }
}
