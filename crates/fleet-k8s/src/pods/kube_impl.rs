//! [`Pods`] over kube.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret};
use kube::api::ListParams;

use super::diagnosis::config_refs_to_check;
use super::{ConfigKind, PodDiagnosis, PodSummary, Pods, diagnose};
use crate::cluster::KubeCluster;
use crate::error::Result;
use crate::events::{EventRecord, sort_events};
use crate::selector::{FieldSelector, LabelSelector};
use crate::validate;

impl KubeCluster {
    pub(crate) async fn read_pod(&self, name: &str) -> Result<Pod> {
        validate::object_name("pod name", name)?;
        let api = self.api::<Pod>();
        self.call(&format!("get pod {name}"), || api.get(name))
            .await
    }

    /// Events of a pod as `kubectl describe pod` selects them.
    pub(crate) async fn events_of_pod(&self, pod: &Pod) -> Result<Vec<EventRecord>> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let mut fields = FieldSelector::default()
            .with_equals("involvedObject.name", name)
            .with_equals("involvedObject.namespace", self.namespace())
            .with_equals("involvedObject.kind", "Pod");
        if let Some(uid) = &pod.metadata.uid {
            fields = fields.with_equals("involvedObject.uid", uid.as_str());
        }
        let api = self.api::<Event>();
        let lp = ListParams::default().fields(&fields.to_string());
        let events = self
            .list_all(&api, &lp, &format!("list events of pod {name}"))
            .await?;
        let mut v: Vec<EventRecord> = events.iter().map(EventRecord::from_event).collect();
        sort_events(&mut v);
        Ok(v)
    }

    async fn config_exists(&self, kind: ConfigKind, name: &str) -> Result<bool> {
        validate::object_name("config reference", name)?;
        // Metadata only: a Secret's data is never fetched for this check.
        let found = match kind {
            ConfigKind::Secret => {
                let api = self.api::<Secret>();
                self.call(&format!("get secret {name}"), || api.get_metadata_opt(name))
                    .await?
                    .is_some()
            }
            ConfigKind::ConfigMap => {
                let api = self.api::<ConfigMap>();
                self.call(&format!("get configmap {name}"), || {
                    api.get_metadata_opt(name)
                })
                .await?
                .is_some()
            }
        };
        Ok(found)
    }
}

#[async_trait::async_trait]
impl Pods for KubeCluster {
    #[tracing::instrument(skip_all, fields(namespace = %self.namespace()))]
    async fn list_pods(&self) -> Result<Vec<PodSummary>> {
        let api = self.api::<Pod>();
        let pods = self
            .list_all(&api, &ListParams::default(), "list pods")
            .await?;
        Ok(pods.iter().map(PodSummary::from_pod).collect())
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), selector = %selector))]
    async fn list_pods_by_selector(&self, selector: &LabelSelector) -> Result<Vec<PodSummary>> {
        let api = self.api::<Pod>();
        let lp = ListParams::default().labels(&selector.to_string());
        let pods = self
            .list_all(&api, &lp, &format!("list pods -l {selector}"))
            .await?;
        Ok(pods.iter().map(PodSummary::from_pod).collect())
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), pod = name))]
    async fn get_pod(&self, name: &str) -> Result<PodSummary> {
        Ok(PodSummary::from_pod(&self.read_pod(name).await?))
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), pod = name))]
    async fn pod_events(&self, name: &str) -> Result<Vec<EventRecord>> {
        let pod = self.read_pod(name).await?;
        self.events_of_pod(&pod).await
    }

    #[tracing::instrument(skip_all, fields(namespace = %self.namespace(), pod = name))]
    async fn diagnose_pod(&self, name: &str) -> Result<PodDiagnosis> {
        let pod = self.read_pod(name).await?;
        let events = self.events_of_pod(&pod).await?;
        let mut missing = BTreeSet::new();
        for (kind, cfg) in config_refs_to_check(&pod) {
            if !self.config_exists(kind, &cfg).await? {
                missing.insert((kind, cfg));
            }
        }
        let causes = diagnose(&pod, &events, &missing);
        tracing::debug!(causes = causes.len(), "diagnosed");
        Ok(PodDiagnosis {
            pod: PodSummary::from_pod(&pod),
            causes,
            events,
        })
    }
}
