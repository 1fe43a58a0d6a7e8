//! End-to-end tests across the workspace's crates, one module per area.

mod db_policy;
