//! fleet-backup against real components: a local directory and Azurite as stores, FakeCluster
//! (with the real kubectl where it matters), TempPostgres with pg_dump/pg_restore, and the
//! age and zstd command-line tools.

mod catalog;
mod common;
mod config;
mod database;
mod format;
mod interop;
mod managed;
mod store;
mod verify;
