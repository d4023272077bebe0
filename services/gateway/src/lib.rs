//! `gateway`: the public edge of Todo Suite. One port serves gRPC (HTTP/2), gRPC-web (HTTP/1.1
//! and HTTP/2), `grpc.health.v1`, gRPC reflection (v1 and v1alpha), `/healthz` and the built
//! frontend. It owns accounts and tokens (`todo.v1.AuthService`) and forwards every other RPC,
//! for the user its access token names, to the service that owns it through Dapr
//! (ARCHITECTURE.md, "Edge, identity and trust").
//!
//! - [`config`]: `Config::from_env`, every knob validated.
//! - [`server`]: connects to the sidecar, reads the signing key, serves with dapr-kit's runner.
//! - [`edge`]: the HTTP side of the port — `/healthz`, the frontend, the CORS policy.
//! - [`forwarding`]: `Forwarder`, the Task/Audit/Notification/Sync impls that verify the token
//!   and call the owning service with the user id and the deadline.
//! - [`auth`]: accounts and sessions — `AuthApi` (the `AuthService` impl) over sign up, sign in,
//!   refresh, sign out and `Me`; passwords, access and refresh tokens, the sign-in limit.
//! - [`websocket`]: `/ws`, `WatchTasks` for browsers over a WebSocket (token in the first
//!   message, proto3 JSON frames, close codes that say why).
//! - [`deadline`]: `grpc-timeout` parsing and capping.
//! - `error`: the gateway's errors and their single mapping to gRPC statuses.
//! - [`metrics`]: sign-in, sign-up, token-reuse and token-rejection counters.
//! - `testsuite` (feature `testsuite`): `spawn`, the gateway behind a localdapr sidecar with a
//!   built frontend, for tests.

pub mod auth;
pub mod config;
pub mod deadline;
pub mod edge;
pub mod error;
pub mod forwarding;
pub mod metrics;
pub mod server;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod websocket;

pub use config::Config;
pub use forwarding::Forwarder;
