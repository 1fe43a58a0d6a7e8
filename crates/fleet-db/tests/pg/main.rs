//! fleet-db against real PostgreSQL servers (fleet-testkit's TempPostgres): situations are
//! created on the server, then diagnosed or remediated, and the result checked on the server.

mod common;
mod faults;
mod remediation;
mod security;
mod suite;
