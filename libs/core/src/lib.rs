//! `todo-core`: the pure domain of tasks. No I/O, no async, no clock: `now` is always a parameter.
//!
//! Every service shares these rules, so a task is validated, changed, recurred and listed the
//! same way everywhere. Handlers turn wire messages into these types at the edge, call the pure
//! functions here, and turn the results back into wire messages.
//!
//! ## Modules
//! - Identity: [`ids`] (`UserId`, `TaskId`, `SeriesId`, `EventId`, `RequestId`, and the
//!   deterministic task ids of request-id creates and recurring occurrences).
//! - Fields, parse-don't-validate: [`task_title`], [`task_description`], [`tags`], [`priority`],
//!   [`time_zone`], [`due`], [`reminder`]; failures are [`violation`]s.
//! - Recurrence: [`recurrence`] (presets, RFC 5545 RRULEs laid out by the `rrule` crate, the
//!   stored time of day, [`recurrence::next_occurrence`]).
//! - Tasks: [`new_task`] (a validated create), [`task`] (`create`, `complete`, `reopen`, version
//!   checks), [`update_mask`] and [`task_patch`] (a validated update, `apply_patch`),
//!   [`occurrence`] (`next_occurrence_of`, for the recurring service).
//! - Events: [`events`] (`TaskEvent` and `ReminderDue` builders, `changed_fields` for audit).
//! - Reading: [`listing`] (filter, search, sort, page) and [`page_token`] (tamper-proof tokens).
//! - Storage layout: [`limits`] (the per-user task limit, buckets and their keys).
//! - Wire time: [`wire_time`] (`Timestamp` and `Duration` to and from `chrono`).
//!
//! ## Place in the flow
//! todo-api validates requests with [`NewTask::from_request`] and [`TaskPatch::from_request`],
//! applies a transition, stores the resulting `todo.v1.Task` in the bucket named by
//! [`limits::bucket_key`] and publishes the event built by [`events`]. recurring calls
//! [`next_occurrence_of`] on a completion event and sends the draft's
//! [`NewTask::to_create_request`] back to todo-api. notification uses [`Reminder::fire_time`]
//! and [`events::reminder_due`]; audit uses [`events::changed_fields`].
//!
//! ## Field paths (a contract)
//! A validation failure is a [`ValidationError`] holding one [`FieldViolation`] per problem, all
//! reported at once. The gateway turns each into a `google.rpc.BadRequest` field violation and
//! the frontend shows the description next to the input with that path, so these paths must not
//! change. Descriptions are lower case, without a trailing period.
//!
//! | path | when |
//! |---|---|
//! | `title` | blank, over 200 characters, or a control character |
//! | `description` | over 4,000 characters, or a control character other than `\n` `\r` `\t` |
//! | `tags` | more than 20 distinct tags |
//! | `tags[i]` | tag `i` (request index): blank, over 32 characters, whitespace or control chars |
//! | `priority` | not a `Priority` value |
//! | `due_time` | outside years 1 to 9999 |
//! | `time_zone` | not an IANA name; missing with a due time; present without one |
//! | `recurrence` | no rule set; recurring without a due time |
//! | `recurrence.preset` | unspecified or unknown preset |
//! | `recurrence.rrule` | an unsupported or invalid part (the description names it); a rule that never occurs (after the due time, before the year 10000) |
//! | `recurrence.time_of_day` | not `HH:MM:SS`; not the due time's local time of day |
//! | `recurrence.anchor` | unknown anchor |
//! | `reminder` | no trigger set; "reminder time is in the past" |
//! | `reminder.before_due` | negative or over 365 days; no due time to count from |
//! | `reminder.remind_time` | outside years 1 to 9999 |
//! | `request_id` | not 1 to 128 printable ASCII characters without whitespace |
//! | `series_id`, `occurrence_index` | a malformed series continuation (recurring service only) |
//! | `update_mask` | empty; an unknown or immutable path (one violation per bad path) |
//! | `task`, `id`, `expected_version` | update: no `task`, `task.id` not a UUID, negative version |
//! | `page_size`, `page_token` | listing: size below 0 or above 200; "invalid page token" |
//! | `query`, `sort_by`, `filter.tag_match` | listing: query over 1,000 characters; unknown enums |
//! | `filter.due_after`, `filter.due_before` | listing: outside years 1 to 9999 |
//!
//! Update paths are relative to `task`, like the update mask's (`title`, not `task.title`), so a
//! create form and an edit form show messages under the same names.
//!
//! ## Departures from ARCHITECTURE.md
//! Bucket keys are `tasks-<user_id>-<b>`, not `tasks||<user_id>||<b>`: Dapr rejects state keys
//! containing `||`, which it uses to separate the app id from the key (reference §5.2; see
//! [`limits`]).

pub mod due;
pub mod events;
pub mod ids;
pub mod limits;
pub mod listing;
pub mod new_task;
pub mod occurrence;
pub mod page_token;
pub mod priority;
pub mod recurrence;
pub mod reminder;
pub mod tags;
pub mod task;
pub mod task_description;
pub mod task_patch;
pub mod task_title;
pub mod time_zone;
pub mod update_mask;
pub mod violation;
pub mod wire_time;

pub use due::Due;
pub use events::{Actor, changed_fields};
pub use ids::{EventId, IdError, RequestId, SeriesId, TaskId, UserId};
pub use limits::{BUCKET_COUNT, MAX_TASKS_PER_USER, bucket_index, bucket_key};
pub use listing::list_tasks;
pub use new_task::NewTask;
pub use occurrence::next_occurrence_of;
pub use page_token::{InvalidPageToken, PageTokenKey};
pub use priority::Priority;
pub use recurrence::{Anchor, Preset, Recurrence, RecurrenceRule, Rrule, next_occurrence};
pub use reminder::Reminder;
pub use tags::Tags;
pub use task::{
    TransitionError, VersionMismatch, check_expected_version, complete, create, reopen,
};
pub use task_description::TaskDescription;
pub use task_patch::{TaskPatch, apply_patch};
pub use task_title::TaskTitle;
pub use time_zone::TimeZone;
pub use update_mask::PatchField;
pub use violation::{FieldViolation, ValidationError};
