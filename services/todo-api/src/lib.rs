//! `todo-api`: serves `todo.v1.TaskService`. Tasks live in per-user bucket documents in the
//! Dapr state store; every change is one state transaction that also publishes its `TaskEvent`
//! through Dapr's outbox (ARCHITECTURE.md, "Task storage").
//!
//! - [`config`]: `Config::from_env`, every knob validated.
//! - [`server`]: connects to the sidecar and serves with dapr-kit's app runner.
//! - `handlers`: `TaskApi`, the generated-trait impl: caller check, proto in, proto out.
//! - `tasks`: the operations — read, apply a `todo-core` transition, commit, retry on conflict.
//! - `store`: the bucket documents and the transaction with the outbox projection; a bucket
//!   that does not decode is left out of listings and never overwritten.
//! - `error`: the errors and their single mapping to gRPC statuses.
//! - [`metrics`]: change, conflict and unreadable-bucket counters.
//! - `testsuite` (feature `testsuite`): `spawn`, todo-api behind a localdapr sidecar, for its
//!   own tests and its callers'.
//!
//! Only the gateway (for users) and recurring (for a series' owner) may call it, through the
//! sidecar: a call without the app API token is `Unauthenticated`, any other app gets
//! `PermissionDenied`, and todo-api refuses to start without `APP_API_TOKEN` unless
//! `TODO_ALLOW_INSECURE_NO_APP_TOKEN=true` (development only; see [`dapr_kit::caller`]).

pub mod config;
mod error;
mod handlers;
pub mod metrics;
pub mod server;
mod store;
mod tasks;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use config::Config;
pub use handlers::TaskApi;
