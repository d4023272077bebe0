//! `sync`: serves `todo.v1.SyncService`. Every replica reads every task event and due reminder
//! (through a pub/sub component with a consumer group per instance) and streams each one to the
//! open watches of its user (ARCHITECTURE.md, "Event consumers").
//!
//! - [`config`]: `Config::from_env`, every knob validated.
//! - [`server`]: connects to the sidecar and serves with dapr-kit's app runner.
//! - `events`: the subscriptions to `task-events` and `reminders`: decode, then hand to the hub.
//! - `hub`: the fan-out — a bounded broadcast per user with watchers, the stale-event filter.
//! - `watch`: one watch as a stream: a heartbeat first and while idle, the user's items, and
//!   `ResyncRequired` (then the end) for a watch that fell behind.
//! - `handlers`: `SyncApi`, the generated-trait impl: caller check, then a watch.
//! - [`metrics`]: active watchers, items sent, watches dropped for falling behind.
//! - `testsuite` (feature `testsuite`): `spawn`, sync behind a localdapr sidecar.
//!
//! Only the gateway may watch, for the user it names, through the sidecar: a call without the
//! app API token is `Unauthenticated`, any other app gets `PermissionDenied`, and sync refuses
//! to start without `APP_API_TOKEN` unless `TODO_ALLOW_INSECURE_NO_APP_TOKEN=true`.

pub mod config;
mod events;
mod handlers;
mod hub;
pub mod metrics;
pub mod server;
#[cfg(feature = "testsuite")]
pub mod testsuite;
mod watch;

pub use config::Config;
pub use handlers::SyncApi;
