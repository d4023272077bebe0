//! `recurring`: continues recurring series. It subscribes to `task-events` (dead letter
//! `task-events-dlq`); on the completion of a task with a recurrence rule it computes the next
//! occurrence with `todo-core` and creates it through todo-api's `TaskService.CreateTask`,
//! called through its own sidecar for the task's owner (ARCHITECTURE.md, "Event consumers").
//!
//! - [`config`]: `Config::from_env`, every knob validated.
//! - [`server`]: connects to the sidecar, subscribes, and serves with dapr-kit's app runner.
//! - `occurrences`: the logic — a completion event in, at most one `CreateTask` out.
//! - `error`: why an event was not handled, and its single mapping to RETRY or DROP.
//! - [`metrics`]: occurrences created, and series that ended.
//! - `testsuite` (feature `testsuite`): `spawn`, recurring behind a localdapr sidecar.
//!
//! Exactly one occurrence per completed occurrence, however often the event arrives: the next
//! task's id is UUIDv5(series id, occurrence index), and todo-api answers a create of an id it
//! already holds with that task (ARCHITECTURE.md, "Task storage"). So a redelivered event, and
//! a task reopened and completed again, find the occurrence already there.
//!
//! Events name the user recurring acts for, so it believes them only from its sidecar: it
//! refuses to start without `APP_API_TOKEN`, unless `TODO_ALLOW_INSECURE_NO_APP_TOKEN=true`.

pub mod config;
mod error;
pub mod metrics;
mod occurrences;
pub mod server;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use config::Config;
