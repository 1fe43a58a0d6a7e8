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

/// One rule of what this client may do (a `ResourceRule` of a `SelfSubjectRulesReview`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessRule {
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// API groups (`""` for core, `*` for all).
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource` for a subresource (`*`, `*/scale`, `pods/*` match as
    /// RBAC matches them).
    pub resources: Vec<String>,
    /// Object names the rule is limited to (empty: every object).
    pub resource_names: Vec<String>,
}

impl AccessRule {
    /// A rule of `verbs` on `resources` of `api_groups`, for every object.
    pub fn new(verbs: &[&str], api_groups: &[&str], resources: &[&str]) -> Self {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            verbs: own(verbs),
            api_groups: own(api_groups),
            resources: own(resources),
            resource_names: Vec::new(),
        }
    }

    /// Whether this rule grants `check` on every object (a rule limited to names does not
    /// answer a name-less question). Matching as RBAC's authorizer does: `*` in verbs, groups
    /// or resources; `resource/subresource`, `*/subresource` and `resource/*` for
    /// subresources.
    pub fn grants(&self, check: &AccessCheck) -> bool {
        if !self.resource_names.is_empty() {
            return false;
        }
        let any = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
        let resource = match &check.subresource {
            Some(sub) => self.resources.iter().any(|r| {
                r == "*"
                    || *r == format!("{}/{sub}", check.resource)
                    || *r == format!("*/{sub}")
                    || *r == format!("{}/*", check.resource)
            }),
            None => any(&self.resources, &check.resource),
        };
        resource && any(&self.verbs, &check.verb) && any(&self.api_groups, &check.group)
    }
}

/// What a `SelfSubjectRulesReview` says this client may do in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessRules {
    /// The namespace asked about.
    pub namespace: String,
    /// The rules.
    pub rules: Vec<AccessRule>,
    /// The list may be missing rules (an authorizer that cannot list, such as a webhook):
    /// a check no rule grants must then be asked with [`Access::can_i`].
    pub incomplete: bool,
}

impl AccessRules {
    /// Whether `check` is granted: `Some(true)` when a rule grants it, `Some(false)` when the
    /// list is complete and none does, `None` when only [`Access::can_i`] can tell.
    pub fn allows(&self, check: &AccessCheck) -> Option<bool> {
        if self.rules.iter().any(|r| r.grants(check)) {
            Some(true)
        } else if self.incomplete {
            None
        } else {
            Some(false)
        }
    }
}

/// Access reviews. Needs no permission beyond `create selfsubjectaccessreviews` and
/// `selfsubjectrulesreviews`, which every authenticated identity has (`system:basic-user`).
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait::async_trait]
pub trait Access: Send + Sync {
    /// Asks the API server whether this client may do `check` (one
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`).
    async fn can_i(&self, check: &AccessCheck) -> Result<AccessDecision>;

    /// Everything this client may do in `namespace`, in one request (one
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`, what `kubectl auth can-i
    /// --list` sends). Many checks are answered by one call; see [`AccessRules::allows`] for
    /// when [`Access::can_i`] must still be asked.
    async fn rules(&self, namespace: &str) -> Result<AccessRules>;
}

mod kube_impl {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
    };
    use kube::Api;
    use kube::api::PostParams;

    use super::{Access, AccessCheck, AccessDecision, AccessRule, AccessRules};
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

        #[tracing::instrument(skip_all, fields(namespace))]
        async fn rules(&self, namespace: &str) -> Result<AccessRules> {
            if namespace.trim().is_empty() {
                return Err(Error::invalid(
                    "rules review",
                    namespace,
                    "the namespace must not be empty",
                ));
            }
            let review = SelfSubjectRulesReview {
                spec: SelfSubjectRulesReviewSpec {
                    namespace: Some(namespace.to_owned()),
                },
                ..SelfSubjectRulesReview::default()
            };
            let api: Api<SelfSubjectRulesReview> = Api::all(self.client().clone());
            let pp = PostParams::default();
            let answer = self
                .call("create selfsubjectrulesreview", || api.create(&pp, &review))
                .await?;
            let status = answer.status.unwrap_or_default();
            Ok(AccessRules {
                namespace: namespace.to_owned(),
                rules: status
                    .resource_rules
                    .into_iter()
                    .map(|r| AccessRule {
                        verbs: r.verbs,
                        api_groups: r.api_groups.unwrap_or_default(),
                        resources: r.resources.unwrap_or_default(),
                        resource_names: r.resource_names.unwrap_or_default(),
                    })
                    .collect(),
                // An evaluation error means some rules could not be listed.
                incomplete: status.incomplete || status.evaluation_error.is_some(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AccessCheck, AccessRule, AccessRules};

    fn rules(rules: Vec<AccessRule>, incomplete: bool) -> AccessRules {
        AccessRules {
            namespace: "ns".into(),
            rules,
            incomplete,
        }
    }

    #[test]
    fn a_rule_grants_as_rbac_matches() {
        let patch = AccessCheck::new("patch", "deployments", "apps", "ns");
        let scale = patch.clone().with_subresource("scale");
        let exact = AccessRule::new(&["get", "patch"], &["apps"], &["deployments"]);
        assert!(exact.grants(&patch));
        // The resource does not grant its subresources, nor the other way round.
        assert!(!exact.grants(&scale));
        assert!(AccessRule::new(&["patch"], &["apps"], &["deployments/scale"]).grants(&scale));
        assert!(!AccessRule::new(&["patch"], &["apps"], &["deployments/scale"]).grants(&patch));
        assert!(AccessRule::new(&["patch"], &["apps"], &["*/scale"]).grants(&scale));
        assert!(AccessRule::new(&["patch"], &["apps"], &["deployments/*"]).grants(&scale));
        assert!(AccessRule::new(&["*"], &["*"], &["*"]).grants(&scale));
        // Wrong verb, wrong group, the core group.
        assert!(!AccessRule::new(&["get"], &["apps"], &["deployments"]).grants(&patch));
        assert!(!AccessRule::new(&["patch"], &[""], &["deployments"]).grants(&patch));
        let pods = AccessCheck::new("list", "pods", "", "ns");
        assert!(AccessRule::new(&["list"], &[""], &["pods"]).grants(&pods));
        // A rule limited to names does not answer a question about every object.
        let mut named = AccessRule::new(&["patch"], &["apps"], &["deployments"]);
        named.resource_names = vec!["fleet-api".into()];
        assert!(!named.grants(&patch));
    }

    #[test]
    fn an_incomplete_list_leaves_the_ungranted_to_a_review() {
        let patch = AccessCheck::new("patch", "deployments", "apps", "ns");
        let get = AccessRule::new(&["get"], &["apps"], &["deployments"]);
        assert_eq!(rules(vec![get.clone()], false).allows(&patch), Some(false));
        assert_eq!(rules(vec![get], true).allows(&patch), None);
        let all = AccessRule::new(&["*"], &["apps"], &["deployments"]);
        assert_eq!(rules(vec![all], true).allows(&patch), Some(true));
    }
}
