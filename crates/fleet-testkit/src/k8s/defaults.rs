//! Server-side defaulting and validation for the types the fake cluster simulates, so that
//! stored objects carry the fields a real server adds and bad objects get a 422.

use serde_json::{Value, json};

use super::resources::ResourceType;
use super::selector::LabelSelector;
use super::util::{at, next_random, set_at};

fn default_field(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(v);
    }
}

fn default_container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or("").to_string();
    let tag = image.rsplit('/').next().unwrap_or("");
    let pull = if !tag.contains(':') && !image.contains('@') || tag.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    default_field(c, "imagePullPolicy", json!(pull));
    default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_field(c, "terminationMessagePolicy", json!("File"));
    default_field(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            default_field(p, "protocol", json!("TCP"));
        }
    }
}

fn default_pod_spec(spec: &mut Value, is_pod: bool, mirror: bool) {
    if !spec.is_object() {
        return;
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }
    default_field(spec, "restartPolicy", json!("Always"));
    default_field(spec, "terminationGracePeriodSeconds", json!(30));
    default_field(spec, "dnsPolicy", json!("ClusterFirst"));
    default_field(spec, "securityContext", json!({}));
    default_field(spec, "schedulerName", json!("default-scheduler"));
    if is_pod && !mirror {
        default_field(spec, "serviceAccountName", json!("default"));
        let sa = spec["serviceAccountName"].clone();
        default_field(spec, "serviceAccount", sa);
        default_field(spec, "enableServiceLinks", json!(true));
    }
    if is_pod {
        // The DefaultTolerationSeconds admission plugin.
        let tolerations = spec
            .as_object_mut()
            .map(|m| m.entry("tolerations").or_insert_with(|| json!([])));
        if let Some(Value::Array(ts)) = tolerations {
            for key in [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
            ] {
                if !ts.iter().any(|t| t["key"] == key) {
                    ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                }
            }
        }
        default_field(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        default_field(spec, "priority", json!(0));
    }
}

/// StatefulSet defaults: ordered pod management, rolling updates from partition 0, claims
/// retained, and claim templates in their full form.
fn default_statefulset(spec: &mut Value) {
    default_field(spec, "podManagementPolicy", json!("OrderedReady"));
    default_field(spec, "revisionHistoryLimit", json!(10));
    default_field(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    );
    if spec["updateStrategy"]["type"] == "RollingUpdate" {
        let ru = &mut spec["updateStrategy"]["rollingUpdate"];
        if !ru.is_object() {
            *ru = json!({});
        }
        default_field(ru, "partition", json!(0));
    }
    default_field(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    if let Some(templates) = spec
        .get_mut("volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    {
        for t in templates {
            default_field(t, "apiVersion", json!("v1"));
            default_field(t, "kind", json!("PersistentVolumeClaim"));
            default_field(&mut t["spec"], "volumeMode", json!("Filesystem"));
            default_field(t, "status", json!({"phase": "Pending"}));
        }
    }
}

/// Drops `null` members, as decoding into the server's typed structs does (clients written
/// in Go send `"creationTimestamp": null` inside templates, for instance).
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Fills in the defaults the real server would.
pub(crate) fn apply(rt: &ResourceType, obj: &mut Value) {
    for part in ["metadata", "spec"] {
        if let Some(p) = obj.get_mut(part) {
            drop_nulls(p);
        }
    }
    match (rt.group, rt.plural) {
        ("", "pods") => {
            let mirror = at(
                obj,
                &["metadata", "annotations", "kubernetes.io/config.mirror"],
            )
            .is_some();
            default_pod_spec(&mut obj["spec"], true, mirror);
            if !obj.get("status").is_some_and(Value::is_object) {
                obj["status"] = json!({"phase": "Pending", "qosClass": qos_class(&obj["spec"])});
            }
        }
        ("apps", "deployments") => {
            let spec = &mut obj["spec"];
            default_field(spec, "replicas", json!(1));
            default_field(spec, "revisionHistoryLimit", json!(10));
            default_field(spec, "progressDeadlineSeconds", json!(600));
            default_field(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            if spec["strategy"]["type"] == "RollingUpdate" {
                let ru = &mut spec["strategy"]["rollingUpdate"];
                if !ru.is_object() {
                    *ru = json!({});
                }
                default_field(ru, "maxUnavailable", json!("25%"));
                default_field(ru, "maxSurge", json!("25%"));
            }
            default_pod_spec(&mut spec["template"]["spec"], false, false);
        }
        ("apps", "replicasets" | "statefulsets" | "daemonsets") => {
            if rt.plural != "daemonsets" {
                default_field(&mut obj["spec"], "replicas", json!(1));
            }
            default_pod_spec(&mut obj["spec"]["template"]["spec"], false, false);
            if rt.plural == "statefulsets" {
                default_statefulset(&mut obj["spec"]);
            }
        }
        ("batch", "jobs") => {
            let spec = &mut obj["spec"];
            default_field(spec, "parallelism", json!(1));
            default_field(spec, "completions", json!(1));
            default_field(spec, "backoffLimit", json!(6));
            default_field(spec, "completionMode", json!("NonIndexed"));
            default_field(spec, "suspend", json!(false));
            default_field(spec, "manualSelector", json!(false));
            default_field(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            default_pod_spec(&mut spec["template"]["spec"], false, false);
        }
        ("batch", "cronjobs") => {
            let spec = &mut obj["spec"];
            default_field(spec, "suspend", json!(false));
            default_field(spec, "concurrencyPolicy", json!("Allow"));
            default_field(spec, "successfulJobsHistoryLimit", json!(3));
            default_field(spec, "failedJobsHistoryLimit", json!(1));
            default_pod_spec(
                &mut spec["jobTemplate"]["spec"]["template"]["spec"],
                false,
                false,
            );
        }
        ("", "services") => {
            let spec = &mut obj["spec"];
            if !spec.is_object() {
                *spec = json!({});
            }
            default_field(spec, "type", json!("ClusterIP"));
            if spec["type"] != "ExternalName" {
                let ip = format!(
                    "10.96.{}.{}",
                    next_random() % 250 + 1,
                    next_random() % 250 + 1
                );
                default_field(spec, "clusterIP", json!(ip));
                let cip = spec["clusterIP"].clone();
                default_field(spec, "clusterIPs", json!([cip]));
                default_field(spec, "ipFamilies", json!(["IPv4"]));
                default_field(spec, "ipFamilyPolicy", json!("SingleStack"));
                default_field(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            default_field(spec, "sessionAffinity", json!("None"));
            let node_ports = matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    default_field(p, "protocol", json!("TCP"));
                    let port = p["port"].clone();
                    default_field(p, "targetPort", port);
                    if node_ports {
                        default_field(p, "nodePort", json!(30000 + next_random() % 2768));
                    }
                }
            }
            if spec["type"] == "LoadBalancer" {
                default_field(spec, "externalTrafficPolicy", json!("Cluster"));
                default_field(spec, "allocateLoadBalancerNodePorts", json!(true));
            }
            default_field(obj, "status", json!({"loadBalancer": {}}));
        }
        ("", "namespaces") => {
            let name = obj["metadata"]["name"].clone();
            set_at(
                obj,
                &["metadata", "labels", "kubernetes.io/metadata.name"],
                name,
            );
            default_field(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
            default_field(obj, "status", json!({"phase": "Active"}));
        }
        ("", "persistentvolumeclaims") => {
            default_field(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            if !obj["status"].get("phase").is_some_and(Value::is_string) {
                obj["status"]["phase"] = json!("Pending");
            }
        }
        ("autoscaling", "horizontalpodautoscalers") => {
            default_field(&mut obj["spec"], "minReplicas", json!(1));
        }
        ("", "secrets") => {
            // `stringData` is write-only: it lands base64-encoded in `data`.
            if let Some(Value::Object(plain)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                for (k, v) in plain {
                    let text = v.as_str().unwrap_or("").to_string();
                    obj["data"][k] = json!(base64(text.as_bytes()));
                }
            }
            default_field(obj, "type", json!("Opaque"));
        }
        _ => {}
    }
    if rt.status_subresource && !obj.get("status").is_some_and(Value::is_object) {
        obj["status"] = json!({});
    }
}

/// Defaults that need the server-assigned `uid` (a Job's selector and labels).
pub(crate) fn after_uid(rt: &ResourceType, obj: &mut Value) {
    if (rt.group, rt.plural) != ("batch", "jobs") || at(obj, &["spec", "selector"]).is_some() {
        return;
    }
    let uid = obj["metadata"]["uid"].clone();
    let name = obj["metadata"]["name"].clone();
    let labels = json!({
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    });
    obj["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    for path in [
        &["metadata", "labels"][..],
        &["spec", "template", "metadata", "labels"][..],
    ] {
        let target = super::util::at_mut(obj, path);
        if !target.is_object() {
            *target = json!({});
        }
        if let (Some(t), Some(l)) = (target.as_object_mut(), labels.as_object()) {
            for (k, v) in l {
                t.entry(k.clone()).or_insert(v.clone());
            }
        }
    }
}

/// The QoS class of a pod spec: Guaranteed when every container's requests equal its cpu and
/// memory limits, BestEffort when nothing is set, Burstable otherwise.
pub(crate) fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| c["resources"][k].as_object().is_some_and(|m| !m.is_empty()))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = c["resources"]["limits"].get(*r);
            let request = c["resources"]["requests"].get(*r).or(limit);
            limit.is_some() && request == limit
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional, whitespace ignored); `None` when malformed.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body: &[u8] = match clean.iter().position(|b| *b == b'=') {
        Some(p) => {
            if clean[p..].iter().any(|b| *b != b'=') {
                return None;
            }
            &clean[..p]
        }
        None => &clean,
    };
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

fn validate_containers(spec: Option<&Value>, prefix: &str, out: &mut Vec<(String, String)>) {
    let cs = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match cs {
        None => out.push((format!("{prefix}.containers"), "Required value".into())),
        Some(cs) if cs.is_empty() => {
            out.push((format!("{prefix}.containers"), "Required value".into()));
        }
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c["name"].as_str().is_none_or(str::is_empty) {
                    out.push((
                        format!("{prefix}.containers[{i}].name"),
                        "Required value".into(),
                    ));
                }
                if c["image"].as_str().is_none_or(str::is_empty) {
                    out.push((
                        format!("{prefix}.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
    }
}

fn validate_replicas(obj: &Value, out: &mut Vec<(String, String)>) {
    if let Some(r) = at(obj, &["spec", "replicas"]) {
        match r.as_i64() {
            Some(n) if n >= 0 => {}
            _ => out.push((
                "spec.replicas".into(),
                format!("Invalid value: {r}: must be greater than or equal to 0"),
            )),
        }
    }
}

fn validate_selector_matches(obj: &Value, out: &mut Vec<(String, String)>) {
    let Some(sel) = at(obj, &["spec", "selector"]).filter(|s| s.is_object()) else {
        out.push(("spec.selector".into(), "Required value".into()));
        return;
    };
    let selector = LabelSelector::from_spec(sel);
    if selector.is_empty() {
        out.push((
            "spec.selector".into(),
            "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment".into(),
        ));
        return;
    }
    let labels = at(obj, &["spec", "template", "metadata", "labels"]);
    if !selector.matches_labels(labels) {
        out.push((
            "spec.template.metadata.labels".into(),
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                labels.cloned().unwrap_or(Value::Null)
            ),
        ));
    }
}

/// Returns `(field, message)` for every problem found; empty when the object is valid.
pub(crate) fn validate(rt: &ResourceType, obj: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if name.is_empty() {
        out.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else if rt.group == "rbac.authorization.k8s.io" {
        // RBAC names are path segments (`system:discovery` is valid).
        if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            out.push((
                "metadata.name".into(),
                format!("Invalid value: \"{name}\": may not be '.' or '..' and may not contain '/' or '%'"),
            ));
        }
    } else if !is_dns_subdomain(name) {
        out.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ));
    }
    match (rt.group, rt.plural) {
        ("", "pods") => validate_containers(obj.get("spec"), "spec", &mut out),
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets") => {
            validate_replicas(obj, &mut out);
            validate_selector_matches(obj, &mut out);
            validate_containers(
                at(obj, &["spec", "template", "spec"]),
                "spec.template.spec",
                &mut out,
            );
        }
        ("batch", "cronjobs") => {
            match at(obj, &["spec", "schedule"]).and_then(Value::as_str) {
                None | Some("") => out.push(("spec.schedule".into(), "Required value".into())),
                Some(s) => {
                    if let Err(e) = super::cron::Schedule::parse(s) {
                        out.push((
                            "spec.schedule".into(),
                            format!("Invalid value: \"{s}\": {e}"),
                        ));
                    }
                }
            }
            if let Some(tz) = at(obj, &["spec", "timeZone"]).and_then(Value::as_str)
                && jiff::tz::TimeZone::get(tz).is_err()
            {
                out.push((
                    "spec.timeZone".into(),
                    format!("Invalid value: \"{tz}\": unknown time zone {tz}"),
                ));
            }
        }
        ("coordination.k8s.io", "leases") => {
            let spec = &obj["spec"];
            if let Some(d) = spec.get("leaseDurationSeconds").and_then(Value::as_i64)
                && d <= 0
            {
                out.push((
                    "spec.leaseDurationSeconds".into(),
                    format!("Invalid value: {d}: must be greater than 0"),
                ));
            }
            if let Some(t) = spec.get("leaseTransitions").and_then(Value::as_i64)
                && t < 0
            {
                out.push((
                    "spec.leaseTransitions".into(),
                    format!("Invalid value: {t}: must be greater than or equal to 0"),
                ));
            }
            if spec.get("preferredHolder").is_some() && spec.get("strategy").is_none() {
                out.push((
                    "spec.strategy".into(),
                    "Required value: must be specified when preferredHolder is set".into(),
                ));
            }
        }
        ("autoscaling", "horizontalpodautoscalers") => {
            let max = at(obj, &["spec", "maxReplicas"]).and_then(Value::as_i64);
            let min = at(obj, &["spec", "minReplicas"])
                .and_then(Value::as_i64)
                .unwrap_or(1);
            match max {
                None => out.push(("spec.maxReplicas".into(), "Required value".into())),
                Some(m) if m < 1 => out.push((
                    "spec.maxReplicas".into(),
                    format!("Invalid value: {m}: must be greater than or equal to 1"),
                )),
                Some(m) if m < min => out.push((
                    "spec.maxReplicas".into(),
                    format!("Invalid value: {m}: must be greater than or equal to `minReplicas`"),
                )),
                _ => {}
            }
            if at(obj, &["spec", "scaleTargetRef", "name"])
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                out.push(("spec.scaleTargetRef.name".into(), "Required value".into()));
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for text in [&b""[..], b"f", b"fo", b"foo", b"not-a-real-password"] {
            assert_eq!(base64_decode(&base64(text)).as_deref(), Some(text));
        }
        assert_eq!(base64_decode("Zm9v\n").as_deref(), Some(&b"foo"[..]));
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zm=v"), None);
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"not-a-real-password"),
            "bm90LWEtcmVhbC1wYXNzd29yZA=="
        );
    }

    #[test]
    fn qos_classes() {
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]});
        let b = json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]});
        let e = json!({"containers": [{"resources": {}}]});
        assert_eq!(
            (qos_class(&g), qos_class(&b), qos_class(&e)),
            ("Guaranteed", "Burstable", "BestEffort")
        );
    }
}
