//! fleet-policy's integration tests, one binary (one link) with a module per area:
//!
//! - `config`: the policy file (defaults, typed errors with positions, round trip);
//! - `properties`: property tests of the invariants the rules promise;
//! - `renderers`: every output format over one report (snapshots, schemas, CI readers);
//! - `robustness`: bad input never panics and errors name the field.

mod config;
mod properties;
mod renderers;
mod robustness;
