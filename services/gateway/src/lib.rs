//! `gateway`: the public edge of Todo Suite. One port serves gRPC (HTTP/2), gRPC-web (HTTP/1.1
//! and HTTP/2), `grpc.health.v1`, gRPC reflection (v1 and v1alpha), `/healthz` and the built
//! frontend. It owns accounts and tokens (`todo.v1.AuthService`) and forwards every other RPC,
//! for the user its access token names, to the service that owns it through Dapr
//! (ARCHITECTURE.md, "Edge, identity and trust").
//!
//! - [`config`]: `Config::from_env`, every knob validated.
//! - [`server`]: connects to the sidecar, reads the signing key, serves with dapr-kit's runner.
//! - [`edge`]: the HTTP side of the port — `/healthz`, the frontend, the CORS policy.
//! - `auth_api`: `AuthApi`, the `AuthService` impl: proto in, [`auth`] call, proto out.
//! - [`forwarding`]: `Forwarder`, the Task/Audit/Notification/Sync impls that verify the token
//!   and call the owning service with the user id and the deadline.
//! - [`auth`]: sign up, sign in, refresh, sign out, `Me`, composed from:
//!   - [`credentials`]: email, password and display name rules;
//!   - [`passwords`]: argon2id off the runtime, with a dummy hash for unknown emails;
//!   - [`accounts`]: the account records in the state store;
//!   - [`access_tokens`]: HS256 JWTs;
//!   - [`refresh_tokens`]: rotating refresh tokens, families and reuse detection;
//!   - [`sign_in_limiter`]: failed sign-ins per email and per address (per replica);
//!   - [`client_address`]: the peer, or `X-Forwarded-For` when trusted.
//! - [`deadline`]: `grpc-timeout` parsing and capping.
//! - `error`: the gateway's errors and their single mapping to gRPC statuses.
//! - [`metrics`]: sign-in, sign-up, token-reuse and token-rejection counters.
//! - `testsuite` (feature `testsuite`): `spawn`, the gateway behind a localdapr sidecar with a
//!   built frontend, for tests.

pub mod access_tokens;
pub mod accounts;
pub mod auth;
mod auth_api;
pub mod client_address;
pub mod config;
pub mod credentials;
pub mod deadline;
pub mod edge;
pub mod error;
pub mod forwarding;
pub mod metrics;
pub mod passwords;
pub mod refresh_tokens;
pub mod server;
pub mod sign_in_limiter;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use auth_api::AuthApi;
pub use config::Config;
pub use forwarding::Forwarder;
