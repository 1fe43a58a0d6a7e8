//! Inside Kubernetes: the runbook's scheduled work as CronJobs (a Kubernetes scheduler, not
//! one of ours), with the ServiceAccount, the least-privilege Roles of [`crate::permissions`]
//! and their RoleBindings, generated from one source. `deploy/fleet-runbook.yaml` is this
//! function's output for the defaults (a test keeps it current).
//!
//! The containers run the example binaries of the image built by `deploy/Dockerfile`; they
//! find their configuration in the pod (kube's in-cluster inference: the service account's
//! token and the API server's address), so no kubeconfig or secret is mounted. Azure access,
//! where a job needs it, comes from workload identity: the ServiceAccount carries the
//! `azure.workload.identity/client-id` annotation and the pods the
//! `azure.workload.identity/use` label when [`ScheduleOptions::azure_client_id`] is set.

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::rbac::{permissions, role};

/// Plain-data options of the in-cluster objects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleOptions {
    /// Namespace of everything (the application's).
    pub namespace: String,
    /// The image built from `deploy/Dockerfile`.
    pub image: String,
    /// Where the binaries are inside the image.
    pub binary_dir: String,
    /// The configuration backup's schedule (five-field cron): the runbook's 02:00.
    pub backup_schedule: String,
    /// The health check's schedule.
    pub health_schedule: String,
    /// The time zone both schedules are read in (the runbook gives UTC).
    pub time_zone: String,
    /// Finished Jobs kept per CronJob (successful and failed each).
    pub jobs_kept: i32,
    /// Longest a run may take before Kubernetes stops it.
    pub deadline_seconds: i64,
    /// The Azure workload identity's client id, for jobs that reach Azure.
    pub azure_client_id: Option<String>,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        Self {
            namespace: "fleet-management".into(),
            image: "registry.example.com/fleet/fleet-runbook:latest".into(),
            binary_dir: "/usr/local/bin".into(),
            backup_schedule: "0 2 * * *".into(),
            health_schedule: "*/15 * * * *".into(),
            time_zone: "Etc/UTC".into(),
            jobs_kept: 7,
            deadline_seconds: 1800,
            azure_client_id: None,
        }
    }
}

impl ScheduleOptions {
    /// Sets the namespace.
    #[must_use]
    pub fn with_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }
    /// Sets the image.
    #[must_use]
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = image.into();
        self
    }
    /// Sets where the binaries are inside the image.
    #[must_use]
    pub fn with_binary_dir(mut self, dir: impl Into<String>) -> Self {
        self.binary_dir = dir.into();
        self
    }
    /// Sets the Azure workload identity's client id.
    #[must_use]
    pub fn with_azure_client_id(mut self, id: impl Into<String>) -> Self {
        self.azure_client_id = Some(id.into());
        self
    }
}

/// The objects that run the runbook's schedule in a cluster.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InClusterObjects {
    /// The identity every job runs as.
    pub service_account: ServiceAccount,
    /// One Role per scheduled procedure (`fleet-backup-config`, `fleet-triage`).
    pub roles: Vec<Role>,
    /// Each Role bound to the ServiceAccount.
    pub role_bindings: Vec<RoleBinding>,
    /// `fleet-backup-config` (the configuration export) and `fleet-health` (the triage
    /// checks).
    pub cron_jobs: Vec<CronJob>,
}

impl InClusterObjects {
    /// Every object as one `v1` `List`, for `kubectl apply -f`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if an object does not serialise (it always does).
    pub fn to_list(&self) -> Result<Value> {
        let mut items = vec![to_value(&self.service_account)?];
        for r in &self.roles {
            items.push(to_value(r)?);
        }
        for b in &self.role_bindings {
            items.push(to_value(b)?);
        }
        for c in &self.cron_jobs {
            items.push(to_value(c)?);
        }
        Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}))
    }
}

impl InClusterObjects {
    /// Every object as one document of a YAML stream (`---` between documents, each document
    /// JSON, which YAML reads as it is), for `kubectl apply -f`. This is
    /// `deploy/fleet-runbook.yaml` for the default options.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if an object does not serialise (it always does).
    pub fn to_documents(&self) -> Result<String> {
        let list = self.to_list()?;
        let mut out = String::from(
            "# Generated by fleet_runbook::in_cluster_objects (ScheduleOptions::default()); do not edit.\n",
        );
        for item in list["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            out.push_str("---\n");
            let text = serde_json::to_string_pretty(item)
                .map_err(|e| Error::invalid("in-cluster object", e.to_string()))?;
            out.push_str(&text);
            out.push('\n');
        }
        Ok(out)
    }
}

/// The resources the configuration backup exports: those its `backup-config` permission set
/// may `list`, as `resource` or `resource.group` (the export's include list), so the CronJob
/// never asks for a kind its Role does not grant.
fn backup_kinds() -> Vec<String> {
    permissions("backup-config")
        .unwrap_or_default()
        .iter()
        .filter(|p| p.subresource.is_none() && p.verbs.contains(&"list"))
        .map(|p| {
            if p.group.is_empty() {
                p.resource.to_string()
            } else {
                format!("{}.{}", p.resource, p.group)
            }
        })
        .collect()
}

fn to_value<T: serde::Serialize>(t: &T) -> Result<Value> {
    serde_json::to_value(t).map_err(|e| Error::invalid("in-cluster object", e.to_string()))
}

fn from_value<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::invalid(what.to_string(), e.to_string()))
}

const SERVICE_ACCOUNT: &str = "fleet-runbook";

/// The ServiceAccount, Roles, RoleBindings and CronJobs of the runbook's schedule.
///
/// # Errors
/// [`Error::InvalidInput`] for an empty namespace, image or schedule, or a Role that cannot be
/// built.
pub fn in_cluster_objects(options: &ScheduleOptions) -> Result<InClusterObjects> {
    for (field, value) in [
        ("namespace", &options.namespace),
        ("image", &options.image),
        ("backup_schedule", &options.backup_schedule),
        ("health_schedule", &options.health_schedule),
        ("time_zone", &options.time_zone),
    ] {
        if value.trim().is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
    }
    let ns = options.namespace.as_str();
    let labels = json!({"app.kubernetes.io/part-of": "fleet-runbook"});
    let mut sa = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns, "labels": labels},
    });
    if let Some(id) = &options.azure_client_id {
        sa["metadata"]["annotations"] = json!({"azure.workload.identity/client-id": id});
    }
    let service_account = from_value("service account", sa)?;

    // (CronJob name, procedure whose Role it runs under, schedule, command)
    let jobs = [
        (
            "fleet-backup-config",
            "backup-config",
            &options.backup_schedule,
            vec![
                format!("{}/k8s_export", options.binary_dir),
                "--namespace".into(),
                ns.to_string(),
                "--output".into(),
                "json".into(),
                // Exactly the kinds its Role may list, from the same permission set.
                "--include".into(),
                backup_kinds().join(","),
            ],
        ),
        (
            "fleet-health",
            "triage",
            &options.health_schedule,
            vec![
                format!("{}/k8s_triage", options.binary_dir),
                "--namespace".into(),
                ns.to_string(),
            ],
        ),
    ];
    let mut roles = Vec::new();
    let mut role_bindings = Vec::new();
    let mut cron_jobs = Vec::new();
    for (name, procedure, schedule, command) in jobs {
        let perms = permissions(procedure).ok_or_else(|| {
            Error::invalid("procedure", format!("{procedure} has no permissions"))
        })?;
        let r = role(procedure, ns, perms)?;
        let role_name = r.metadata.name.clone().unwrap_or_default();
        roles.push(r);
        role_bindings.push(from_value(
            "role binding",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": role_name, "namespace": ns, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}],
            }),
        )?);
        let mut pod_labels =
            json!({"app.kubernetes.io/part-of": "fleet-runbook", "fleet-runbook/job": name});
        if options.azure_client_id.is_some() {
            pod_labels["azure.workload.identity/use"] = json!("true");
        }
        cron_jobs.push(from_value(
            "cron job",
            json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {
                    "schedule": schedule,
                    "timeZone": options.time_zone,
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": 600,
                    "successfulJobsHistoryLimit": options.jobs_kept,
                    "failedJobsHistoryLimit": options.jobs_kept,
                    "jobTemplate": {"spec": {
                        "backoffLimit": 1,
                        "activeDeadlineSeconds": options.deadline_seconds,
                        "template": {
                            "metadata": {"labels": pod_labels},
                            "spec": {
                                "serviceAccountName": SERVICE_ACCOUNT,
                                "restartPolicy": "Never",
                                "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                                "containers": [{
                                    "name": "run",
                                    "image": options.image,
                                    "command": command,
                                    "env": [{"name": "RUST_LOG", "value": "info"}],
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "64Mi"},
                                        "limits": {"memory": "256Mi"},
                                    },
                                    "securityContext": {"allowPrivilegeEscalation": false,
                                        "readOnlyRootFilesystem": true,
                                        "capabilities": {"drop": ["ALL"]}},
                                }],
                            },
                        },
                    }},
                },
            }),
        )?);
    }
    Ok(InClusterObjects {
        service_account,
        roles,
        role_bindings,
        cron_jobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_runbooks() {
        let objects = in_cluster_objects(&ScheduleOptions::default()).expect("objects");
        let list = objects.to_list().expect("list");
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 7);
        let backup = items
            .iter()
            .find(|i| i["metadata"]["name"] == "fleet-backup-config" && i["kind"] == "CronJob")
            .expect("backup cron job");
        assert_eq!(backup["spec"]["schedule"], "0 2 * * *");
        assert_eq!(backup["spec"]["timeZone"], "Etc/UTC");
        assert_eq!(
            backup["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"],
            "fleet-runbook"
        );
        let with_azure = in_cluster_objects(
            &ScheduleOptions::default()
                .with_azure_client_id("00000000-0000-0000-0000-000000000001"),
        )
        .expect("objects");
        assert!(
            with_azure
                .service_account
                .metadata
                .annotations
                .is_some_and(|a| a.contains_key("azure.workload.identity/client-id"))
        );
        assert!(
            in_cluster_objects(&ScheduleOptions::default().with_image(" "))
                .is_err_and(|e| e.is_invalid_input())
        );
    }
}
