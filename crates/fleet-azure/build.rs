//! Declares `--cfg fuzzing` (set by `cargo fuzz`), which exposes `fleet_azure::fuzzing`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}
