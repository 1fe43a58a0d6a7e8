//! Who a request acts as: a user name and groups, as the API server's authenticators report
//! them.

/// A user of the fake cluster: a name and groups. Kubeconfigs for an identity come from
/// [`FakeCluster::kubeconfig_for`](crate::k8s::FakeCluster::kubeconfig_for).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Identity {
    /// The user name (`jane`, `system:serviceaccount:fleet-management:fleet-api`).
    pub name: String,
    /// The groups, as the authenticator lists them (`system:authenticated` is added to every
    /// authenticated request).
    pub groups: Vec<String>,
}

/// The group every cluster administrator is in; RBAC is not consulted for it.
pub const MASTERS: &str = "system:masters";
pub(crate) const AUTHENTICATED: &str = "system:authenticated";
pub(crate) const UNAUTHENTICATED: &str = "system:unauthenticated";
pub(crate) const ANONYMOUS: &str = "system:anonymous";

impl Identity {
    /// A user with no groups.
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            groups: Vec::new(),
        }
    }

    /// The identity of a service account's token:
    /// `system:serviceaccount:<namespace>:<name>` in groups `system:serviceaccounts` and
    /// `system:serviceaccounts:<namespace>`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
            ],
        }
    }

    /// The administrator the cluster's own kubeconfig acts as (group `system:masters`).
    pub fn admin() -> Self {
        Self::user("admin").group(MASTERS)
    }

    /// Adds a group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    /// The anonymous user (`system:anonymous` in `system:unauthenticated`), as a real server
    /// sees requests without credentials.
    pub fn anonymous() -> Self {
        Self::user(ANONYMOUS).group(UNAUTHENTICATED)
    }

    /// Whether the identity is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The same identity as an authenticated request carries it (`system:authenticated`
    /// added once).
    pub(crate) fn authenticated(mut self) -> Self {
        if !self.in_group(AUTHENTICATED) && self.name != ANONYMOUS {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }

    /// The service account this identity is, as (namespace, name).
    pub(crate) fn service_account_parts(&self) -> Option<(&str, &str)> {
        let rest = self.name.strip_prefix("system:serviceaccount:")?;
        rest.split_once(':')
    }
}
