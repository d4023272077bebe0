//! notification end to end over real sockets: an in-process localdapr with the suite's
//! components; todo-api, notification and the gateway behind their sidecars (each through its
//! `testsuite` feature); and a subscriber of `reminders`. Users call the gateway as clients do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod test_app;

mod access;
mod events;
mod notifications;
mod reminders;
