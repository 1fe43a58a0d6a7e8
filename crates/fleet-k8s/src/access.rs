//! Whether this client may do something (`kubectl auth can-i`): a SelfSubjectAccessReview,
//! answered by the API server's authorizer for the identity the client authenticates as.

use serde::Serialize;

use crate::error::Result;

/// One question to the authorizer: may I `verb` `resource` (of `group`) in `namespace`?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessCheck {
    /// The verb (`get`, `list`, `watch`, `patch`, `create`...).
    pub verb: String,
    /// The resource (`deployments`, `pods`).
    pub resource: String,
    /// The subresource (`scale`, `log`), when asking about one.
    pub subresource: Option<String>,
    /// The API group (`apps`; empty for the core group).
    pub group: String,
    /// The namespace; `None` asks cluster-wide.
    pub namespace: Option<String>,
}

impl AccessCheck {
    /// `verb` on `resource` of `group` in `namespace`.
    pub fn new(verb: &str, resource: &str, group: &str, namespace: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            resource: resource.to_owned(),
            subresource: None,
            group: group.to_owned(),
            namespace: Some(namespace.to_owned()),
        }
    }

    /// Asks about a subresource (`deployments/scale`).
    #[must_use]
    pub fn with_subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.to_owned());
        self
    }
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessDecision {
    /// The question.
    pub check: AccessCheck,
    /// Whether it is allowed.
    pub allowed: bool,
    /// The authorizer's reason, when it gave one.
    pub reason: Option<String>,
}

/// Access reviews. Needs no permission beyond `create selfsubjectaccessreviews`, which every
/// authenticated identity has (`system:basic-user`).
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Access: Send + Sync {
    /// Asks the API server whether this client may do `check` (one
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`).
    async fn can_i(&self, check: &AccessCheck) -> Result<AccessDecision>;
}

mod kube_impl {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    use kube::Api;
    use kube::api::PostParams;

    use super::{Access, AccessCheck, AccessDecision};
    use crate::cluster::KubeCluster;
    use crate::error::{Error, Result};

    #[async_trait::async_trait]
    impl Access for KubeCluster {
        #[tracing::instrument(skip_all, fields(verb = %check.verb, resource = %check.resource))]
        async fn can_i(&self, check: &AccessCheck) -> Result<AccessDecision> {
            if check.verb.trim().is_empty() || check.resource.trim().is_empty() {
                return Err(Error::invalid(
                    "access check",
                    format!("{} {}", check.verb, check.resource),
                    "verb and resource must not be empty",
                ));
            }
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(check.verb.clone()),
                        resource: Some(check.resource.clone()),
                        subresource: check.subresource.clone(),
                        group: Some(check.group.clone()),
                        namespace: check.namespace.clone(),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let api: Api<SelfSubjectAccessReview> = Api::all(self.client().clone());
            let pp = PostParams::default();
            let answer = self
                .call("create selfsubjectaccessreview", || {
                    api.create(&pp, &review)
                })
                .await?;
            let status = answer.status.unwrap_or_default();
            Ok(AccessDecision {
                check: check.clone(),
                allowed: status.allowed && !status.denied.unwrap_or(false),
                reason: status.reason.filter(|r| !r.is_empty()),
            })
        }
    }
}
