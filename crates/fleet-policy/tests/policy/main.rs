//! fleet-policy's integration tests, one binary (one link) with a module per area:
//!
//! - `config`: the policy file (defaults, typed errors with positions, round trip);
//! - `docs`: the runbook map and the readings keep their shape and cover every rule;
//! - `properties`: property tests of the invariants the rules promise;
//! - `renderers`: every output format over one report (snapshots, schemas, CI readers);
//! - `robustness`: bad input never panics and errors name the field.

mod config;
mod docs;
mod properties;
mod renderers;
mod robustness;
