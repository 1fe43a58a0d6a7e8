//! Field access that compiles against both k8s-openapi field shapes this crate supports:
//! Kubernetes 1.36 (`Deployment.spec`, `ReplicaSet.spec` optional; condition `type`/`status`
//! required) and 1.37 (the reverse). The library enables no version feature; the final
//! build picks one, and these helpers hide the difference.

// Each helper has one `return` per version branch; only one branch exists after expansion.
#![allow(clippy::needless_return)]

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, ReplicaSet, ReplicaSetSpec,
};

/// The deployment's spec, if it has one.
pub(crate) fn deployment_spec(d: &Deployment) -> Option<&DeploymentSpec> {
    k8s_openapi::k8s_if_ge_1_37! {
        return Some(&d.spec);
    }
    k8s_openapi::k8s_if_le_1_36! {
        return d.spec.as_ref();
    }
}

/// The replica set's spec, if it has one.
pub(crate) fn replica_set_spec(rs: &ReplicaSet) -> Option<&ReplicaSetSpec> {
    k8s_openapi::k8s_if_ge_1_37! {
        return Some(&rs.spec);
    }
    k8s_openapi::k8s_if_le_1_36! {
        return rs.spec.as_ref();
    }
}

/// A deployment condition's `type`.
pub(crate) fn condition_type(c: &DeploymentCondition) -> Option<&str> {
    k8s_openapi::k8s_if_ge_1_37! {
        return c.type_.as_deref();
    }
    k8s_openapi::k8s_if_le_1_36! {
        return Some(c.type_.as_str());
    }
}

/// A deployment condition's `status` (`True`, `False`, `Unknown`).
pub(crate) fn condition_status(c: &DeploymentCondition) -> Option<&str> {
    k8s_openapi::k8s_if_ge_1_37! {
        return c.status.as_deref();
    }
    k8s_openapi::k8s_if_le_1_36! {
        return Some(c.status.as_str());
    }
}
