//! Builders for the events a task change publishes, and the field diff audit shows.
//!
//! Every `TaskEvent` carries a fresh UUIDv7 `event_id` (the consumers' idempotency key), the
//! owner, the task id, the task's version after the change, when and by whom it happened, the task
//! after the change, and the task before it for updates, completions and reopenings.
//!
//! A deletion's `version` is the last stored version plus one, so a consumer comparing versions
//! sees the deletion as newer than the last state; its `task` is that last state.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use todo_proto::todo::v1::{self as proto, ActorKind, ReminderDue, Task, TaskEvent, TaskEventType};

use crate::{
    ids::{EventId, UserId},
    wire_time::{timestamp_to_utc, utc_to_timestamp},
};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A signed-in user.
    User(UserId),
    /// A service of the suite, by its Dapr app id.
    Service(String),
}

impl Actor {
    /// Returns a user actor.
    pub fn user(user_id: UserId) -> Self {
        Self::User(user_id)
    }

    /// Returns a service actor, such as `Actor::service("recurring")`.
    pub fn service(app_id: impl Into<String>) -> Self {
        Self::Service(app_id.into())
    }

    /// Returns the wire form.
    pub fn to_proto(&self) -> proto::Actor {
        match self {
            Self::User(user_id) => proto::Actor {
                kind: ActorKind::User as i32,
                id: user_id.to_string(),
            },
            Self::Service(app_id) => proto::Actor {
                kind: ActorKind::Service as i32,
                id: app_id.clone(),
            },
        }
    }
}

fn task_event(
    event_type: TaskEventType,
    task: &Task,
    previous: Option<&Task>,
    version: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> TaskEvent {
    TaskEvent {
        event_id: EventId::new_v7(now).to_string(),
        r#type: event_type as i32,
        user_id: task.user_id.clone(),
        task_id: task.id.clone(),
        version,
        occur_time: Some(utc_to_timestamp(now)),
        actor: Some(actor.to_proto()),
        task: Some(task.clone()),
        previous: previous.cloned(),
    }
}

/// Returns the event of a created task.
pub fn created(task: &Task, actor: &Actor, now: DateTime<Utc>) -> TaskEvent {
    task_event(TaskEventType::Created, task, None, task.version, actor, now)
}

/// Returns the event of an update from `previous` to `task`.
pub fn updated(previous: &Task, task: &Task, actor: &Actor, now: DateTime<Utc>) -> TaskEvent {
    task_event(
        TaskEventType::Updated,
        task,
        Some(previous),
        task.version,
        actor,
        now,
    )
}

/// Returns the event of a completion from `previous` to `task`.
pub fn completed(previous: &Task, task: &Task, actor: &Actor, now: DateTime<Utc>) -> TaskEvent {
    task_event(
        TaskEventType::Completed,
        task,
        Some(previous),
        task.version,
        actor,
        now,
    )
}

/// Returns the event of a reopening from `previous` to `task`.
pub fn reopened(previous: &Task, task: &Task, actor: &Actor, now: DateTime<Utc>) -> TaskEvent {
    task_event(
        TaskEventType::Reopened,
        task,
        Some(previous),
        task.version,
        actor,
        now,
    )
}

/// Returns the event of deleting `last`, the task as it was; its version is one past `last`'s.
pub fn deleted(last: &Task, actor: &Actor, now: DateTime<Utc>) -> TaskEvent {
    task_event(
        TaskEventType::Deleted,
        last,
        None,
        last.version.saturating_add(1),
        actor,
        now,
    )
}

/// Returns the event of `task`'s reminder firing at `fire_time`, meant for `remind_time`; not
/// marked late (whether a firing counts as late is the notification service's policy).
pub fn reminder_due(
    task: &Task,
    remind_time: DateTime<Utc>,
    fire_time: DateTime<Utc>,
) -> ReminderDue {
    ReminderDue {
        event_id: EventId::new_v7(fire_time).to_string(),
        user_id: task.user_id.clone(),
        task_id: task.id.clone(),
        task_version: task.version,
        title: task.title.clone(),
        due_time: task.due_time,
        remind_time: Some(utc_to_timestamp(remind_time)),
        fire_time: Some(utc_to_timestamp(fire_time)),
        late: false,
    }
}

/// The type of a delivered `event`, unless it is unset or one this build does not know: a
/// consumer cannot tell what such an event changed, so it is poison (dead-lettered, to replay
/// once the consumer knows the type), never guessed at.
pub fn known_type(event: &TaskEvent) -> Option<TaskEventType> {
    match TaskEventType::try_from(event.r#type) {
        Ok(TaskEventType::Unspecified) | Err(_) => None,
        Ok(known) => Some(known),
    }
}

/// The task fields a history shows changes of, by their `Task` field names.
pub const AUDITED_FIELDS: [&str; 9] = [
    "title",
    "description",
    "status",
    "priority",
    "tags",
    "due_time",
    "time_zone",
    "recurrence",
    "reminder",
];

/// Returns the audited fields that differ between `before` and `after`, in [`AUDITED_FIELDS`]
/// order, with each value as proto3 JSON (`null` when unset; enums by name).
pub fn changed_fields(before: &Task, after: &Task) -> Vec<(&'static str, Value, Value)> {
    AUDITED_FIELDS
        .into_iter()
        .filter_map(|field| {
            let (old, new) = (field_json(before, field), field_json(after, field));
            (old != new).then_some((field, old, new))
        })
        .collect()
}

fn field_json(task: &Task, field: &str) -> Value {
    match field {
        "title" => Value::from(task.title.clone()),
        "description" => Value::from(task.description.clone()),
        "status" => proto::TaskStatus::try_from(task.status).map_or_else(
            |_| Value::from(task.status),
            |status| Value::from(status.as_str_name()),
        ),
        "priority" => proto::Priority::try_from(task.priority).map_or_else(
            |_| Value::from(task.priority),
            |priority| Value::from(priority.as_str_name()),
        ),
        "tags" => Value::from(task.tags.clone()),
        "due_time" => task.due_time.as_ref().map_or(Value::Null, |timestamp| {
            timestamp_to_utc(timestamp).map_or(Value::Null, |instant| {
                Value::from(instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            })
        }),
        "time_zone" if task.time_zone.is_empty() => Value::Null,
        "time_zone" => Value::from(task.time_zone.clone()),
        "recurrence" => task.recurrence.as_ref().map_or(Value::Null, message_json),
        "reminder" => task.reminder.as_ref().map_or(Value::Null, message_json),
        _ => Value::Null,
    }
}

/// Returns a `todo.v1` message as canonical proto3 JSON; every such message has a descriptor,
/// so the `Null` fallback is unreachable.
fn message_json<M: prost::Message + prost::Name>(message: &M) -> Value {
    todo_proto::json::to_json(message)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{ids::TaskId, task};

    #[test]
    fn only_a_set_and_known_type_is_known() {
        let cases = [
            ("unset", TaskEventType::Unspecified as i32, None),
            (
                "created",
                TaskEventType::Created as i32,
                Some(TaskEventType::Created),
            ),
            (
                "deleted",
                TaskEventType::Deleted as i32,
                Some(TaskEventType::Deleted),
            ),
            ("from a newer producer", 99, None),
            ("negative", -1, None),
        ];
        for (case, r#type, known) in cases {
            let event = TaskEvent {
                r#type,
                ..Default::default()
            };
            assert_eq!(known_type(&event), known, "case: {case}");
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn stored_task() -> Task {
        Task {
            id: "0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d".into(),
            user_id: "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a".into(),
            title: "water plants".into(),
            status: proto::TaskStatus::Open as i32,
            priority: proto::Priority::None as i32,
            version: 3,
            ..Task::default()
        }
    }

    #[test]
    fn task_events_carry_ids_versions_actor_and_snapshots() {
        let now = utc("2026-03-29T07:00:00Z");
        let before = stored_task();
        let after = task::complete(&before, now).unwrap();
        let user = UserId::parse(&before.user_id).unwrap();
        let cases = [
            (
                "created",
                created(&before, &Actor::user(user), now),
                TaskEventType::Created,
                3,
                false,
            ),
            (
                "updated",
                updated(&before, &after, &Actor::user(user), now),
                TaskEventType::Updated,
                4,
                true,
            ),
            (
                "completed",
                completed(&before, &after, &Actor::service("recurring"), now),
                TaskEventType::Completed,
                4,
                true,
            ),
            (
                "reopened",
                reopened(&before, &after, &Actor::user(user), now),
                TaskEventType::Reopened,
                4,
                true,
            ),
            (
                "deleted",
                deleted(&before, &Actor::user(user), now),
                TaskEventType::Deleted,
                4,
                false,
            ),
        ];
        for (case, event, event_type, version, has_previous) in cases {
            assert_eq!(event.r#type, event_type as i32, "case: {case}");
            assert_eq!(event.version, version, "case: {case}");
            assert_eq!(event.previous.is_some(), has_previous, "case: {case}");
            assert_eq!(event.user_id, before.user_id, "case: {case}");
            assert_eq!(event.task_id, before.id, "case: {case}");
            assert_eq!(
                event.occur_time,
                Some(utc_to_timestamp(now)),
                "case: {case}"
            );
            let event_id = EventId::parse(&event.event_id).unwrap();
            assert_eq!(event_id.as_uuid().get_version_num(), 7, "case: {case}");
        }
    }

    #[test]
    fn a_deletion_event_holds_the_last_state() {
        let last = stored_task();
        let event = deleted(
            &last,
            &Actor::user(UserId::parse(&last.user_id).unwrap()),
            utc("2026-03-29T07:00:00Z"),
        );
        assert_eq!(event.task, Some(last));
    }

    #[test]
    fn actors_name_users_and_services() {
        let user = UserId::parse("5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a").unwrap();
        assert_eq!(
            Actor::user(user).to_proto(),
            proto::Actor {
                kind: ActorKind::User as i32,
                id: user.to_string()
            }
        );
        let service = Actor::service("recurring").to_proto();
        assert_eq!(
            service,
            proto::Actor {
                kind: ActorKind::Service as i32,
                id: "recurring".into()
            }
        );
    }

    #[test]
    fn reminder_due_events_describe_the_task_at_its_version() {
        let task = Task {
            due_time: Some(utc_to_timestamp(utc("2026-03-29T09:00:00Z"))),
            ..stored_task()
        };
        let event = reminder_due(
            &task,
            utc("2026-03-29T08:30:00Z"),
            utc("2026-03-29T08:30:02Z"),
        );
        assert_eq!(
            (event.task_version, event.title.as_str(), event.due_time),
            (3, "water plants", task.due_time)
        );
        assert_eq!(
            event.remind_time,
            Some(utc_to_timestamp(utc("2026-03-29T08:30:00Z")))
        );
        assert!(EventId::parse(&event.event_id).is_ok());
    }

    #[test]
    fn changed_fields_lists_only_the_audited_fields_that_differ() {
        let before = stored_task();
        let after = Task {
            title: "water the plants".into(),
            status: proto::TaskStatus::Completed as i32,
            tags: vec!["home".into()],
            due_time: Some(utc_to_timestamp(utc("2026-03-29T09:00:00.5Z"))),
            time_zone: "Europe/Paris".into(),
            reminder: Some(proto::Reminder {
                trigger: Some(proto::reminder::Trigger::BeforeDue(prost_types::Duration {
                    seconds: 1_800,
                    nanos: 0,
                })),
            }),
            version: 9,
            ..before.clone()
        };
        let changes = changed_fields(&before, &after);
        let expected = vec![
            ("title", json!("water plants"), json!("water the plants")),
            (
                "status",
                json!("TASK_STATUS_OPEN"),
                json!("TASK_STATUS_COMPLETED"),
            ),
            ("tags", json!([]), json!(["home"])),
            ("due_time", Value::Null, json!("2026-03-29T09:00:00.500Z")),
            ("time_zone", Value::Null, json!("Europe/Paris")),
            ("reminder", Value::Null, json!({"beforeDue": "1800s"})),
        ];
        assert_eq!(changes, expected);
    }

    #[test]
    fn an_unchanged_task_has_no_changed_fields() {
        let task = stored_task();
        let bumped = Task {
            version: 4,
            id: TaskId::new_v4().to_string(),
            ..task.clone()
        };
        assert_eq!(changed_fields(&task, &bumped), vec![]);
    }
}
