//! `audit`: writes every `TaskEvent` once into the append-only `audit_logs` table and serves
//! `todo.v1.AuditService` (a task's history, to its owner). Event flow: ARCHITECTURE.md,
//! "Event consumers".
//!
//! - [`config`]: `Config::from_env`, every knob validated.
//! - [`server`]: reads the database URL (`audit-database-url`) and the page-token key from the
//!   secret store, opens the pool, migrates, and serves with dapr-kit's app runner.
//! - [`recorder`]: the `task-events` subscription (dead letter `task-events-dlq`): SUCCESS once
//!   the row exists, RETRY while the database is unavailable, DROP for an undecodable event.
//! - [`audit_record`]: a `TaskEvent` as one row, or why it cannot be one.
//! - `handlers`: `AuditApi`, the generated-trait impl: caller check, then `history`.
//! - [`history`]: one page of a task's history with the changed fields, for its owner only.
//! - [`store`]: `AuditLog`, `audit_logs` on PostgreSQL or SQLite through a sqlx pool, with the
//!   migrations in `migrations/{postgres,sqlite}` (UPDATE and DELETE refused by triggers).
//! - [`database_url`]: the connection string, parsed and never printed.
//! - `error`: the errors and their single mapping to gRPC statuses.
//! - [`metrics`]: recorded and duplicate event counters.
//! - `testsuite` (feature `testsuite`): `spawn`, audit behind a localdapr sidecar on a fresh
//!   database, and `TestDatabase` (SQLite, and PostgreSQL from `TODO_TEST_POSTGRES_URL`).
//!
//! Only the gateway may call `AuditService`, for the user it verified: a call without the app
//! API token is `Unauthenticated`, any other app gets `PermissionDenied` (see
//! [`dapr_kit::caller`]).

pub mod audit_record;
pub mod config;
pub mod database_url;
pub mod error;
mod handlers;
pub mod history;
pub mod metrics;
pub mod recorder;
pub mod server;
pub mod store;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use config::Config;
pub use handlers::AuditApi;
