//! Integration tests of fleet-runbook, one module per concern; real servers where they run
//! here (Debian's `prometheus`, a git repository made by the test), local receivers for the
//! vendors' HTTP APIs.

mod app_insights;
mod changes;
mod common;
mod common_issues;
mod db_rollback;
#[cfg(feature = "drill")]
mod dr;
mod evidence;
mod fleet;
mod incident;
mod least_privilege;
mod notify;
mod preflight;
mod prometheus;
mod rbac;
mod release;
mod report;
mod rotation;
mod smoke;
mod triage;
mod world;
