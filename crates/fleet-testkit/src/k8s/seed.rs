//! The runbook's world: namespace `fleet-management` with the `fleet-api` and `fleet-frontend`
//! deployments, the `fleet-postgres` StatefulSet and its pod `fleet-postgres-0`, their services,
//! the ingress, the HPA, config, secrets and RBAC, on three nodes.

use serde_json::{Value, json};

/// The namespace the seed lives in.
pub const FLEET_NAMESPACE: &str = "fleet-management";
/// Image of `fleet-api` in the seed.
pub const FLEET_API_IMAGE: &str = "registry.example.com/fleet/fleet-api:1.4.2";
/// Image of `fleet-frontend` in the seed.
pub const FLEET_FRONTEND_IMAGE: &str = "registry.example.com/fleet/fleet-frontend:2.1.0";
/// The database role of the seeded world (in Secret `fleet-db-credentials`, key `username`).
pub const FLEET_DB_USER: &str = "fleetadmin";
/// The database of the seeded world.
pub const FLEET_DB_NAME: &str = "fleetdb";
/// Image of `fleet-postgres` in the seed.
pub const FLEET_POSTGRES_IMAGE: &str = "postgres:16.4";

/// Objects every fake cluster has: the `default`, `kube-system` and `kube-public` namespaces,
/// the default service account, and the bootstrap RBAC policy a real server creates (cluster
/// admins, discovery and self-review for every authenticated user, health and version for
/// everyone).
pub(crate) fn base() -> Vec<Value> {
    let mut out: Vec<Value> = ["default", "kube-system", "kube-public"]
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .chain(std::iter::once(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "default"}})))
        .collect();
    out.extend(bootstrap_rbac());
    out
}

fn bootstrap_rbac() -> Vec<Value> {
    let meta = |name: &str| {
        json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
    };
    let role = |name: &str, rules: Value| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name), "rules": rules});
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
            .collect();
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subjects})
    };
    vec![
        role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}
            ]),
        ),
        role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        binding("cluster-admin", &["system:masters"]),
        binding("system:discovery", &["system:authenticated"]),
        binding("system:basic-user", &["system:authenticated"]),
        binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

pub(crate) fn node(name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "Standard_D4s_v5"}},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "capacity": {"cpu": "4", "memory": "16374440Ki", "pods": "110", "ephemeral-storage": "129886128Ki"},
            "allocatable": {"cpu": "3860m", "memory": "12880040Ki", "pods": "110", "ephemeral-storage": "119703055367"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0", "containerRuntimeVersion": "containerd://1.7.22", "operatingSystem": "linux", "architecture": "amd64", "osImage": "Ubuntu 22.04.5 LTS", "kernelVersion": "5.15.0-1073-azure", "machineID": "", "systemUUID": "", "bootID": ""}
        }
    })
}

fn deployment(name: &str, image: &str, replicas: i64, port: i64, env: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": FLEET_NAMESPACE, "labels": {"app": name, "app.kubernetes.io/part-of": "fleet"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": name, "app.kubernetes.io/part-of": "fleet"}},
                "spec": {"containers": [{
                    "name": name,
                    "image": image,
                    "ports": [{"name": "http", "containerPort": port}],
                    "env": env,
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10},
                }]}
            }
        }
    })
}

fn service(name: &str, ty: &str, port: i64, target: i64) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": FLEET_NAMESPACE, "labels": {"app": name}},
        "spec": {"type": ty, "selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": target}]}
    })
}

/// The database StatefulSet: one pod with a 10 GiB claim. Without controllers (nothing would
/// create them) its pod and claim are seeded as they would have been created, with the status
/// a running set reports.
fn postgres_set(controllers: bool) -> Value {
    let ns = FLEET_NAMESPACE;
    let mut set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "fleet-postgres", "namespace": ns, "labels": {"app": "fleet-postgres"}},
        "spec": {"replicas": 1, "serviceName": "fleet-postgres", "selector": {"matchLabels": {"app": "fleet-postgres"}},
            "template": {"metadata": {"labels": {"app": "fleet-postgres"}},
                "spec": {"containers": [{"name": "postgres", "image": FLEET_POSTGRES_IMAGE, "ports": [{"name": "postgres", "containerPort": 5432}],
                    "env": [{"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "fleet-db-credentials", "key": "password"}}}],
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}]}});
    if !controllers {
        set["status"] = json!({"replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1});
    }
    set
}

/// What the StatefulSet controller would have made of [`postgres_set`]: its pod and claim.
fn postgres_pod_and_claim() -> Vec<Value> {
    let ns = FLEET_NAMESPACE;
    let set = postgres_set(false);
    let template = &set["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    labels["statefulset.kubernetes.io/pod-name"] = json!("fleet-postgres-0");
    labels["apps.kubernetes.io/pod-index"] = json!("0");
    let mut spec = template["spec"].clone();
    spec["hostname"] = json!("fleet-postgres-0");
    spec["subdomain"] = json!("fleet-postgres");
    spec["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-fleet-postgres-0"}}]);
    vec![
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-fleet-postgres-0", "namespace": ns, "labels": {"app": "fleet-postgres"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}, "volumeName": "pvc-data-fleet-postgres-0"},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}}),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "fleet-postgres-0", "namespace": ns, "labels": labels},
            "spec": spec}),
    ]
}

/// The fleet world, in creation order (namespaces before their contents). With `controllers`
/// the database pod comes from its StatefulSet; without, it is seeded as it would be.
pub(crate) fn fleet(controllers: bool) -> Vec<Value> {
    let ns = FLEET_NAMESPACE;
    let api_env = json!([
        {"name": "DATABASE_HOST", "value": "fleet-postgres"},
        {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "fleet-db-credentials", "key": "password"}}},
        {"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "fleet-config", "key": "log_level"}}}
    ]);
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"app.kubernetes.io/part-of": "fleet"}}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "fleet-api", "namespace": ns}}),
        node("aks-nodepool1-0", "10.224.0.4"),
        node("aks-nodepool1-1", "10.224.0.5"),
        node("aks-nodepool1-2", "10.224.0.6"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fleet-config", "namespace": ns},
            "data": {"log_level": "info", "feature_flags": "gps-tracking,work-orders"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fleet-db-credentials", "namespace": ns},
            "type": "Opaque", "data": {"username": "ZmxlZXRhZG1pbg==", "password": "bm90LWEtcmVhbC1wYXNzd29yZA=="}}),
        deployment("fleet-api", FLEET_API_IMAGE, 3, 8080, api_env),
        deployment(
            "fleet-frontend",
            FLEET_FRONTEND_IMAGE,
            2,
            3000,
            json!([{"name": "API_URL", "value": "http://fleet-api"}]),
        ),
        postgres_set(controllers),
        service("fleet-api", "ClusterIP", 80, 8080),
        {
            let mut s = service("fleet-frontend", "LoadBalancer", 80, 3000);
            s["status"] =
                json!({"loadBalancer": {"ingress": [{"ip": "20.62.0.11", "ipMode": "VIP"}]}});
            s
        },
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "fleet-postgres", "namespace": ns, "labels": {"app": "fleet-postgres"}},
            "spec": {"clusterIP": "None", "selector": {"app": "fleet-postgres"}, "ports": [{"name": "postgres", "port": 5432}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "fleet-ingress", "namespace": ns, "annotations": {"nginx.ingress.kubernetes.io/denylist-source-range": ""}},
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["fleet.example.com"], "secretName": "fleet-tls"}],
                "rules": [{"host": "fleet.example.com", "http": {"paths": [
                    {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "fleet-api", "port": {"number": 80}}}},
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "fleet-frontend", "port": {"number": 80}}}}
                ]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "20.62.0.10"}]}}}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "fleet-api", "namespace": ns},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fleet-api"},
                "minReplicas": 3, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
            "status": {"currentReplicas": 3, "desiredReplicas": 3,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35, "averageValue": "88m"}}}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "fleet-postgres-ingress", "namespace": ns},
            "spec": {"podSelector": {"matchLabels": {"app": "fleet-postgres"}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "fleet-api"}}}], "ports": [{"protocol": "TCP", "port": 5432}]}]}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "fleet-deployer", "namespace": ns},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "list", "watch", "patch", "update"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "fleet-deployer", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fleet-deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "fleet-api", "namespace": ns}]}),
    ];
    if !controllers {
        objects.extend(postgres_pod_and_claim());
    }
    objects
}
