//! audit over real sockets: its store on SQLite and PostgreSQL, events delivered through an
//! in-process localdapr, histories read through the real gateway with todo-api, and the real
//! `audit` binary killed with SIGKILL mid-stream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod test_app;

mod crash;
mod delivery;
mod history;
mod startup;
mod store;
