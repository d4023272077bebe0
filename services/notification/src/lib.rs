//! `notification`: reminders on Dapr's Jobs API, and `todo.v1.NotificationService`
//! (ARCHITECTURE.md, "Event consumers").
//!
//! Flow: every `TaskEvent` on `task-events` updates the task's record `reminder-<task_id>`
//! (reminder time, due time, version, user, title) in the state store, and schedules, moves or
//! deletes the one-shot job `reminder-<task_id>` on this app's own sidecar (Dapr sends a job's
//! trigger only to the app that scheduled it). On the trigger (`OnJobEvent`, or
//! `OnJobEventAlpha1` from older daprd), if the record still wants it, the firing and the
//! user's notification are stored together, and `ReminderDue` is published to `reminders`
//! (partition key: the user id). A reminder whose time passed while the suite was down fires
//! once when its job is delivered on recovery, marked late.
//!
//! - [`config`]: `Config::from_env`, every knob validated.
//! - [`server`]: connects to the sidecar and serves with dapr-kit's app runner: the
//!   subscription (dead letters to `task-events-dlq`), the job handler, the API.
//! - `handlers`: `NotificationApi`, the generated-trait impl: caller check, proto in and out.
//! - `notifications`: listing (newest first, paged, unread count) and marking read.
//! - `reminders`: task events → reminder records → jobs, idempotent under redelivery,
//!   reordering and concurrent deliveries (etags, and a job re-sync after each job call).
//! - `firing`: job triggers → notification + `ReminderDue`, once per reminder time.
//! - `reminder_record`, `inbox`: the stored values and their pure rules.
//! - `store`: the Dapr calls (state with etags and transactions, jobs, publish).
//! - `error`: the errors, their gRPC statuses and their event outcomes.
//! - [`metrics`]: reminder lateness (`todo_notification_reminder_lateness_seconds`) and firings.
//! - `testsuite` (feature `testsuite`): `spawn`, notification behind a localdapr sidecar.
//!
//! Only the gateway may call `NotificationService`, for the user it verified: a call without
//! the app API token is `Unauthenticated`, any other app gets `PermissionDenied`, and
//! notification refuses to start without `APP_API_TOKEN` unless
//! `TODO_ALLOW_INSECURE_NO_APP_TOKEN=true` (see [`dapr_kit::caller`]).

pub mod config;
mod error;
mod firing;
mod handlers;
mod inbox;
pub mod metrics;
mod notifications;
mod reminder_record;
mod reminders;
mod retry;
pub mod server;
mod store;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use config::Config;
pub use handlers::NotificationApi;
