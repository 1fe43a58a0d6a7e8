//! The runbook's procedures, each a module of its own, written on one shape (see the crate
//! docs): read state and build a [`fleet_guard::Plan`], run it through a
//! [`fleet_guard::Executor`], let fleet-policy judge, tell people, return a
//! [`crate::Report`]. Their clients come in the small dependency structs of [`deps`].

pub(crate) mod access;
pub(crate) mod common;
pub(crate) mod db_rollback;
pub(crate) mod deploy;
pub(crate) mod deps;
pub(crate) mod dr;
#[cfg(feature = "drill")]
pub(crate) mod drill;
pub(crate) mod incident;
pub(crate) mod lock;
pub(crate) mod page;
pub(crate) mod preflight;
pub(crate) mod rollback;
pub(crate) mod security;
pub(crate) mod triage;
pub(crate) mod validate;
