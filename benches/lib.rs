//! Inputs and helpers shared by the workspace's benchmarks.

use std::path::PathBuf;

/// The sample release gate input of `examples/data/release.json`.
pub const RELEASE_INPUT: &[u8] = include_bytes!("../examples/data/release.json");

/// Every sample gate input in `examples/data`, by file name.
pub const SAMPLE_INPUTS: &[(&str, &[u8])] = &[
    ("release", include_bytes!("../examples/data/release.json")),
    (
        "deploy-fail",
        include_bytes!("../examples/data/deploy-fail.json"),
    ),
    (
        "rollback-fail",
        include_bytes!("../examples/data/rollback-fail.json"),
    ),
    (
        "backups-pass",
        include_bytes!("../examples/data/backups-pass.json"),
    ),
    (
        "incident-fail",
        include_bytes!("../examples/data/incident-fail.json"),
    ),
];

/// The workspace's target directory (`CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}
