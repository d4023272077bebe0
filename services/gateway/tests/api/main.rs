//! The gateway over real sockets: an in-process localdapr, todo-api and a stand-in audit
//! service behind their sidecars, and the real gateway behind its own, called as browsers and
//! `grpcurl` call it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod grpc_web_client;
mod test_app;

mod accounts;
mod edge;
mod forwarding;
mod grpc_web;
mod rate_limits;
mod startup;
mod tasks;
mod tokens;
