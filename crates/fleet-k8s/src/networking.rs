//! Networking: ingress descriptions, services with kubectl's EXTERNAL-IP column, and blocking
//! source CIDRs on an ingress through ingress-nginx's denylist annotation.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

use crate::error::Result;
use crate::validate::Cidr;

/// The ingress-nginx annotation listing denied source ranges (comma-separated CIDRs).
pub(crate) const DENYLIST_ANNOTATION: &str = "nginx.ingress.kubernetes.io/denylist-source-range";

/// One path rule of an ingress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IngressPath {
    /// Host (`*` when the rule has none).
    pub host: String,
    /// Path (`/` when unset).
    pub path: String,
    /// `Prefix`, `Exact` or `ImplementationSpecific`.
    pub path_type: String,
    /// Backend as `kubectl describe` shows it: `service:port` or the resource.
    pub backend: String,
}

/// An ingress as `kubectl describe ingress` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IngressInfo {
    /// Name.
    pub name: String,
    /// Ingress class.
    pub class: Option<String>,
    /// Load balancer addresses (IPs or hostnames).
    pub addresses: Vec<String>,
    /// Default backend.
    pub default_backend: Option<String>,
    /// Hosts covered by TLS, with their secret.
    pub tls: Vec<(Vec<String>, Option<String>)>,
    /// Rules, flattened to paths.
    pub paths: Vec<IngressPath>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

fn backend_string(b: &IngressBackend) -> String {
    if let Some(s) = &b.service {
        let port = s
            .port
            .as_ref()
            .map_or_else(String::new, |p| match (&p.name, p.number) {
                (Some(n), _) if !n.is_empty() => n.clone(),
                (_, Some(num)) => num.to_string(),
                _ => String::new(),
            });
        format!("{}:{port}", s.name)
    } else if let Some(r) = &b.resource {
        format!(
            "APIGroup: {}, Kind: {}, Name: {}",
            r.api_group.clone().unwrap_or_default(),
            r.kind,
            r.name
        )
    } else {
        "<none>".into()
    }
}

impl IngressInfo {
    /// Reads an ingress.
    pub fn from_ingress(i: &Ingress) -> Self {
        let spec = i.spec.clone().unwrap_or_default();
        let addresses = i
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.ip.clone().or_else(|| x.hostname.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut paths = Vec::new();
        for r in spec.rules.as_deref().unwrap_or(&[]) {
            let host = r.host.clone().unwrap_or_else(|| "*".into());
            for p in r.http.as_ref().map(|h| h.paths.as_slice()).unwrap_or(&[]) {
                paths.push(IngressPath {
                    host: host.clone(),
                    path: p.path.clone().unwrap_or_else(|| "/".into()),
                    path_type: p.path_type.clone(),
                    backend: backend_string(&p.backend),
                });
            }
        }
        IngressInfo {
            name: i.metadata.name.clone().unwrap_or_default(),
            class: spec.ingress_class_name.clone(),
            addresses,
            default_backend: spec.default_backend.as_ref().map(backend_string),
            tls: spec
                .tls
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.hosts.unwrap_or_default(), t.secret_name))
                .collect(),
            paths,
            annotations: i.metadata.annotations.clone().unwrap_or_default(),
        }
    }

    /// The CIDRs the denylist annotation holds now, as written.
    pub fn denylist(&self) -> Vec<String> {
        split_list(
            self.annotations
                .get(DENYLIST_ANNOTATION)
                .map(String::as_str),
        )
    }
}

/// A service as `kubectl get svc` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ServiceInfo {
    /// Name.
    pub name: String,
    /// TYPE.
    pub type_: String,
    /// CLUSTER-IP (`None` for headless services, `<none>` when unset).
    pub cluster_ip: String,
    /// EXTERNAL-IP by kubectl's rules (`<none>`, `<pending>`, addresses, external name).
    pub external_ip: String,
    /// PORT(S): `80/TCP`, `80:30080/TCP`, joined by commas.
    pub ports: String,
    /// Pod selector.
    pub selector: BTreeMap<String, String>,
}

impl ServiceInfo {
    /// Reads a service, computing the columns as kubectl's printer does.
    pub fn from_service(s: &Service) -> Self {
        let spec = s.spec.clone().unwrap_or_default();
        let type_ = spec.type_.clone().unwrap_or_default();
        let cluster_ip = spec
            .cluster_ip
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "<none>".into());
        let external_ips = spec.external_ips.clone().unwrap_or_default();
        let lb: Vec<String> = s
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.ip.clone().or_else(|| x.hostname.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let external_ip =
            external_ip_column(&type_, &external_ips, &lb, spec.external_name.as_deref());
        let ports = spec
            .ports
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|p| {
                let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                match p.node_port {
                    Some(np) if np != 0 => format!("{}:{np}/{proto}", p.port),
                    _ => format!("{}/{proto}", p.port),
                }
            })
            .collect::<Vec<_>>();
        ServiceInfo {
            name: s.metadata.name.clone().unwrap_or_default(),
            type_,
            cluster_ip,
            external_ip,
            ports: if ports.is_empty() {
                "<none>".into()
            } else {
                ports.join(",")
            },
            selector: spec.selector.unwrap_or_default(),
        }
    }
}

/// kubectl's EXTERNAL-IP: external IPs for ClusterIP/NodePort (else `<none>`); load balancer
/// addresses plus external IPs for LoadBalancer (else `<pending>`); the external name for
/// ExternalName; `<unknown>` otherwise. Long load-balancer lists are cut to 13 characters
/// plus `...`, as without `-o wide` (characters, not bytes: hostnames may be non-ASCII).
pub(crate) fn external_ip_column(
    type_: &str,
    external_ips: &[String],
    lb: &[String],
    external_name: Option<&str>,
) -> String {
    match type_ {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".into()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb_s = lb.join(",");
            if lb_s.chars().count() > 16 {
                lb_s = format!("{}...", lb_s.chars().take(13).collect::<String>());
            }
            if !external_ips.is_empty() {
                let mut all: Vec<String> = if lb_s.is_empty() {
                    Vec::new()
                } else {
                    lb_s.split(',').map(String::from).collect()
                };
                all.extend(external_ips.iter().cloned());
                all.join(",")
            } else if !lb_s.is_empty() {
                lb_s
            } else {
                "<pending>".into()
            }
        }
        "ExternalName" => external_name.unwrap_or_default().to_string(),
        _ => "<unknown>".into(),
    }
}

fn split_list(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The result of a block or unblock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DenylistChange {
    /// The list before.
    pub before: Vec<String>,
    /// The list after (or as it would be, in a dry run).
    pub after: Vec<String>,
    /// Whether the new list was stored: `false` in a dry run or when nothing changed.
    pub applied: bool,
}

impl DenylistChange {
    /// Whether the list differs (false: the call was a no-op).
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Options of [`Networking::block_cidrs`] and [`Networking::unblock_cidrs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DenylistOptions {
    /// Send the patch with `dryRun=All`.
    pub dry_run: bool,
}

impl DenylistOptions {
    /// As a server-side dry run.
    #[must_use]
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Adds CIDRs to a denylist: entries already there (in any spelling of the same network) are
/// kept as written, new ones appended in canonical form, in the order given.
pub(crate) fn add_to_denylist(existing: &[String], add: &[Cidr]) -> Vec<String> {
    let mut out = existing.to_vec();
    let present: Vec<Option<Cidr>> = existing.iter().map(|e| Cidr::parse(e).ok()).collect();
    for c in add {
        let s = c.to_string();
        if !present.contains(&Some(*c)) && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Removes CIDRs from a denylist (matching any spelling of the same network); other entries,
/// even ones we cannot parse, stay as they are.
pub(crate) fn remove_from_denylist(existing: &[String], remove: &[Cidr]) -> Vec<String> {
    existing
        .iter()
        .filter(|e| Cidr::parse(e).ok().is_none_or(|c| !remove.contains(&c)))
        .cloned()
        .collect()
}

/// Ingresses, services and source blocking.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Networking: Send + Sync {
    /// One ingress (`kubectl describe ingress NAME`).
    async fn describe_ingress(&self, name: &str) -> Result<IngressInfo>;
    /// Every ingress of the namespace (`kubectl describe ingress`).
    async fn list_ingresses(&self) -> Result<Vec<IngressInfo>>;
    /// Every service (`kubectl get svc`).
    async fn list_services(&self) -> Result<Vec<ServiceInfo>>;
    /// Adds source CIDRs to the ingress's denylist. Every CIDR is validated first; entries
    /// already present are kept; nothing is written when nothing changes. The write is
    /// conditional on the ingress's resourceVersion and re-read on a conflict.
    async fn block_cidrs(
        &self,
        ingress: &str,
        cidrs: &[String],
        options: Option<DenylistOptions>,
    ) -> Result<DenylistChange>;
    /// Removes source CIDRs from the ingress's denylist (idempotent, like `block_cidrs`).
    async fn unblock_cidrs(
        &self,
        ingress: &str,
        cidrs: &[String],
        options: Option<DenylistOptions>,
    ) -> Result<DenylistChange>;
}

mod kube_impl {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::networking::v1::Ingress;
    use kube::api::{ListParams, Patch};
    use serde_json::json;

    use super::{
        DENYLIST_ANNOTATION, DenylistChange, DenylistOptions, IngressInfo, Networking, ServiceInfo,
        add_to_denylist, remove_from_denylist, split_list,
    };
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};
    use crate::outcome::verb;
    use crate::validate::{self, Cidr};

    impl KubeCluster {
        async fn edit_denylist(
            &self,
            ingress: &str,
            cidrs: &[String],
            edit: fn(&[String], &[Cidr]) -> Vec<String>,
            dry_run: bool,
        ) -> Result<DenylistChange> {
            validate::object_name("ingress name", ingress)?;
            if cidrs.is_empty() {
                return Err(Error::invalid("CIDR list", "", "name at least one CIDR"));
            }
            let parsed = cidrs
                .iter()
                .map(|c| Cidr::parse(c))
                .collect::<Result<Vec<_>>>()?;
            let api = self.api::<Ingress>();
            let pp = self.patch_params(dry_run);
            let mut conflicts = 0;
            loop {
                let ing = self
                    .call(&format!("get ingress {ingress}"), || api.get(ingress))
                    .await?;
                let before = split_list(
                    ing.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(DENYLIST_ANNOTATION))
                        .map(String::as_str),
                );
                let after = edit(&before, &parsed);
                let mut change = DenylistChange {
                    before,
                    after,
                    applied: false,
                };
                if !change.changed() {
                    return Ok(change);
                }
                let value = if change.after.is_empty() {
                    json!(null)
                } else {
                    json!(change.after.join(","))
                };
                let patch = Patch::Merge(json!({"metadata": {
                    "resourceVersion": ing.metadata.resource_version,
                    "annotations": {DENYLIST_ANNOTATION: value}
                }}));
                match self
                    .call(&format!("patch ingress {ingress}"), || {
                        api.patch(ingress, &pp, &patch)
                    })
                    .await
                {
                    Ok(_) => {
                        change.applied = !dry_run;
                        tracing::info!(
                            ingress,
                            before = ?change.before,
                            after = ?change.after,
                            dry_run,
                            "{}",
                            verb(dry_run, "denylist changed", "would change the denylist")
                        );
                        return Ok(change);
                    }
                    Err(e) if e.is_conflict() && conflicts < 3 => {
                        conflicts += 1;
                        tracing::debug!(ingress, "denylist changed concurrently, reading it again");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    #[async_trait::async_trait]
    impl Networking for KubeCluster {
        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), ingress = name))]
        async fn describe_ingress(&self, name: &str) -> Result<IngressInfo> {
            validate::object_name("ingress name", name)?;
            let api = self.api::<Ingress>();
            let i = self
                .call(&format!("get ingress {name}"), || api.get(name))
                .await?;
            Ok(IngressInfo::from_ingress(&i))
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn list_ingresses(&self) -> Result<Vec<IngressInfo>> {
            let api = self.api::<Ingress>();
            let v = self
                .list_all(&api, &ListParams::default(), "list ingresses")
                .await?;
            Ok(v.iter().map(IngressInfo::from_ingress).collect())
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
        async fn list_services(&self) -> Result<Vec<ServiceInfo>> {
            let api = self.api::<Service>();
            let v = self
                .list_all(&api, &ListParams::default(), "list services")
                .await?;
            Ok(v.iter().map(ServiceInfo::from_service).collect())
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), ingress))]
        async fn block_cidrs(
            &self,
            ingress: &str,
            cidrs: &[String],
            options: Option<DenylistOptions>,
        ) -> Result<DenylistChange> {
            let dry_run = self.dry_run(options.unwrap_or_default().dry_run);
            self.edit_denylist(ingress, cidrs, add_to_denylist, dry_run)
                .await
        }

        #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), ingress))]
        async fn unblock_cidrs(
            &self,
            ingress: &str,
            cidrs: &[String],
            options: Option<DenylistOptions>,
        ) -> Result<DenylistChange> {
            let dry_run = self.dry_run(options.unwrap_or_default().dry_run);
            self.edit_denylist(ingress, cidrs, remove_from_denylist, dry_run)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn denylist_edits_preserve_and_dedupe() {
        let existing = vec![
            "10.0.0.0/8".to_string(),
            "not-a-cidr".to_string(),
            "1.2.3.4".to_string(),
        ];
        let added = add_to_denylist(
            &existing,
            &[c("1.2.3.4/32"), c("192.168.0.0/16"), c("192.168.0.0/16")],
        );
        assert_eq!(
            added,
            vec!["10.0.0.0/8", "not-a-cidr", "1.2.3.4", "192.168.0.0/16"]
        );
        assert_eq!(add_to_denylist(&added, &[c("10.0.0.0/8")]), added);
        let removed = remove_from_denylist(&added, &[c("1.2.3.4/32"), c("172.16.0.0/12")]);
        assert_eq!(removed, vec!["10.0.0.0/8", "not-a-cidr", "192.168.0.0/16"]);
        assert_eq!(
            split_list(Some(" 1.1.1.1/32 , ,2.2.2.0/24")),
            vec!["1.1.1.1/32", "2.2.2.0/24"]
        );
        assert!(split_list(Some("")).is_empty());
    }

    #[test]
    fn external_ip_rules() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(external_ip_column("ClusterIP", &[], &[], None), "<none>");
        assert_eq!(
            external_ip_column("NodePort", &s(&["1.1.1.1"]), &[], None),
            "1.1.1.1"
        );
        assert_eq!(
            external_ip_column("LoadBalancer", &[], &[], None),
            "<pending>"
        );
        assert_eq!(
            external_ip_column("LoadBalancer", &[], &s(&["20.1.2.3"]), None),
            "20.1.2.3"
        );
        assert_eq!(
            external_ip_column("LoadBalancer", &s(&["9.9.9.9"]), &s(&["20.1.2.3"]), None),
            "20.1.2.3,9.9.9.9"
        );
        assert_eq!(
            external_ip_column(
                "LoadBalancer",
                &[],
                &s(&["20.100.200.3", "20.100.200.4"]),
                None
            ),
            "20.100.200.3,..."
        );
        assert_eq!(
            external_ip_column("ExternalName", &[], &[], Some("db.example.com")),
            "db.example.com"
        );
    }

    /// A load balancer hostname with non-ASCII characters around the cut: before, slicing
    /// at byte 13 panicked inside a character.
    #[test]
    fn long_non_ascii_lists_are_cut_at_characters() {
        // Byte 13 falls inside the fifth 'é'.
        let lb = vec!["lb-xéééééééééé.example".to_string()];
        assert_eq!(
            external_ip_column("LoadBalancer", &[], &lb, None),
            "lb-xééééééééé..."
        );
    }
}
