//! Test harness shared by the fff crates' tests. It depends on no other fff crate.
//!
//! - [`test_database`] / [`test_database_blocking`]: a fresh, empty PostgreSQL database per test.
//!   With `DATABASE_URL` set, databases are created on that server; otherwise a throwaway cluster
//!   is started lazily (`initdb` + `pg_ctl` from the newest `/usr/lib/postgresql/*/bin`, loopback
//!   only, fsync off): one per test process under `cargo test`, one per run under cargo-nextest
//!   (`NEXTEST_RUN_ID`). A watchdog process removes it when its last test process exits, however
//!   that process exits.
//! - [`free_port`]: a loopback TCP port that was free a moment ago.
//! - [`wait_until`], [`wait_for`], [`wait_until_blocking`]: poll a condition with a deadline, so
//!   tests never rely on bare sleeps.

mod net;
mod postgres;
mod wait;

pub use net::free_port;
pub use postgres::{TestDb, cluster_dir, test_database, test_database_blocking};
pub use wait::{wait_for, wait_until, wait_until_blocking};
