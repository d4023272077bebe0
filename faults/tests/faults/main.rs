//! Fault tests of the whole suite (issue #12): the real binaries under `localdapr run`, as
//! `just up` runs them, from the outside.
//! - [`kill_9`]: each consumer, then localdapr itself, killed with `kill -9` in the middle of a
//!   2,000-event run; after each restart every event is processed exactly once.
//! - [`poison`]: poison events go to the dead-letter topic and block nothing behind them.
//! - [`stall`]: a stalled consumer does not slow the API, and catches up.
//!
//! [`suite`] starts, kills and restarts runs; [`users`] calls the gateway as clients do;
//! [`inspect`] reads what the runs left in SQLite. The suites run one at a time ([`SERIAL`]):
//! they share two cores, and [`stall`] measures latency.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod inspect;
mod suite;
mod users;
mod wait;

mod kill_9;
mod poison;
mod stall;

/// Held by each test for as long as its suite runs.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
