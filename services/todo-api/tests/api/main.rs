//! todo-api over real sockets: an in-process localdapr, the real server, and callers reaching
//! it through their own sidecars, as the gateway and recurring do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod test_app;

mod caller_identity;
mod concurrency;
mod corrupt_bucket;
mod events;
mod isolation;
mod listing;
mod recurrence;
mod startup;
mod tasks;
mod validation;
