//! recurring end to end over real sockets: an in-process localdapr, todo-api and the gateway
//! through their `testsuite` features, recurring through its own, and users acting through the
//! gateway as a browser would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod test_app;

mod delivery;
mod series;
