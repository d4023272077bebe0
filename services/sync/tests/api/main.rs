//! sync end to end, over real sockets: an in-process localdapr with the suite's components,
//! todo-api, one or two sync replicas and the gateway behind their sidecars; watches opened
//! through the gateway over gRPC, gRPC-web and the WebSocket, as clients open them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod grpc_web_watch;
mod suite;
mod websocket_client;

mod reminders;
mod replicas;
mod slow_watch;
mod watches;
mod websocket;
