//! One row of `audit_logs`, made from a delivered `TaskEvent`. An event that lacks what a row
//! needs (ids, type, time) can never be recorded: it is poison, dropped to the dead-letter topic.

use chrono::{DateTime, Utc};
use todo_core::{EventId, TaskId, UserId, events::known_type, wire_time::timestamp_to_utc};
use todo_proto::todo::v1::{ActorKind, TaskEvent};

/// A row of `audit_logs`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// The event id: the primary key, so a redelivered event is recorded once.
    pub event_id: EventId,
    /// The task.
    pub task_id: TaskId,
    /// The task's owner.
    pub user_id: UserId,
    /// The event type's proto name, e.g. `TASK_EVENT_TYPE_UPDATED`.
    pub event_type: &'static str,
    /// The task's version after the change.
    pub task_version: i64,
    /// `user:<user id>` or `service:<app id>`.
    pub actor: String,
    /// When the change happened (the event's `occur_time`).
    pub occurred_at: DateTime<Utc>,
    /// When audit recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The W3C trace id of the write that caused the event, when it was traced.
    pub trace_id: Option<String>,
    /// The event as canonical proto3 JSON.
    pub event_json: String,
}

/// Why an event cannot become a row.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidEvent {
    /// A field is missing or malformed.
    #[error("task event field {field} is missing or malformed")]
    Field {
        /// The `TaskEvent` field.
        field: &'static str,
    },
    /// The event does not encode as JSON (cannot happen for a decoded message).
    #[error("task event does not encode as JSON")]
    Json,
}

impl AuditRecord {
    /// The row for `event`, recorded at `recorded_at`, continuing the trace `trace_parent`
    /// (a W3C `traceparent`) if any.
    ///
    /// # Errors
    /// [`InvalidEvent`] naming the first field a row cannot do without.
    pub fn from_event(
        event: &TaskEvent,
        trace_parent: Option<&str>,
        recorded_at: DateTime<Utc>,
    ) -> Result<Self, InvalidEvent> {
        let field = |field| InvalidEvent::Field { field };
        let event_id = EventId::parse(&event.event_id).map_err(|_| field("event_id"))?;
        let task_id = TaskId::parse(&event.task_id).map_err(|_| field("task_id"))?;
        let user_id = UserId::parse(&event.user_id).map_err(|_| field("user_id"))?;
        let event_type = known_type(event)
            .ok_or_else(|| field("type"))?
            .as_str_name();
        if event.version < 1 {
            return Err(field("version"));
        }
        let occurred_at = event
            .occur_time
            .as_ref()
            .and_then(timestamp_to_utc)
            .ok_or_else(|| field("occur_time"))?;
        let actor = event.actor.as_ref().ok_or_else(|| field("actor"))?;
        let actor = match ActorKind::try_from(actor.kind) {
            Ok(ActorKind::User) => format!("user:{}", actor.id),
            Ok(ActorKind::Service) => format!("service:{}", actor.id),
            Ok(ActorKind::Unspecified) | Err(_) => return Err(field("actor")),
        };
        let event_json = todo_proto::json::to_json(event)
            .ok()
            .and_then(|json| String::from_utf8(json).ok())
            .ok_or(InvalidEvent::Json)?;
        Ok(Self {
            event_id,
            task_id,
            user_id,
            event_type,
            task_version: event.version,
            actor,
            occurred_at,
            recorded_at,
            trace_id: trace_parent.and_then(trace_id_of),
            event_json,
        })
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), unless it is invalid.
fn trace_id_of(trace_parent: &str) -> Option<String> {
    let mut parts = trace_parent.split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    let is_valid = trace_id.len() == 32
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && trace_id.bytes().any(|b| b != b'0');
    is_valid.then(|| trace_id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use todo_core::wire_time::utc_to_timestamp;
    use todo_proto::todo::v1::{Actor, Task, TaskEventType};

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn event() -> TaskEvent {
        let user_id = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a".to_string();
        TaskEvent {
            event_id: EventId::new_v7(now()).to_string(),
            r#type: TaskEventType::Updated as i32,
            user_id: user_id.clone(),
            task_id: "0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d".into(),
            version: 2,
            occur_time: Some(utc_to_timestamp(now())),
            actor: Some(Actor {
                kind: ActorKind::User as i32,
                id: user_id,
            }),
            task: Some(Task::default()),
            previous: None,
        }
    }

    #[test]
    fn a_valid_event_becomes_a_row_with_its_trace_id() {
        let parent = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        let event = event();
        let record = AuditRecord::from_event(&event, Some(parent), now()).unwrap();
        assert_eq!(record.event_type, "TASK_EVENT_TYPE_UPDATED");
        assert_eq!(record.task_version, 2);
        assert_eq!(record.actor, "user:5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a");
        assert_eq!(record.occurred_at, now());
        assert_eq!(
            record.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let json: serde_json::Value = serde_json::from_str(&record.event_json).unwrap();
        assert_eq!(json["eventId"], event.event_id);
    }

    #[test]
    fn bad_trace_parents_leave_no_trace_id() {
        for parent in [
            "",
            "00",
            "00-xyz-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            let record = AuditRecord::from_event(&event(), Some(parent), now()).unwrap();
            assert_eq!(record.trace_id, None, "case: {parent:?}");
        }
    }

    #[test]
    fn events_missing_what_a_row_needs_are_refused_by_field() {
        type Spoil = fn(&mut TaskEvent);
        let cases: [(&str, Spoil); 7] = [
            ("event_id", |e| e.event_id = "not-a-uuid".into()),
            ("task_id", |e| e.task_id.clear()),
            ("user_id", |e| e.user_id = "x".into()),
            ("type", |e| e.r#type = 0),
            ("version", |e| e.version = 0),
            ("occur_time", |e| e.occur_time = None),
            ("actor", |e| e.actor = None),
        ];
        for (field, spoil) in cases {
            let mut event = event();
            spoil(&mut event);
            assert_eq!(
                AuditRecord::from_event(&event, None, now()),
                Err(InvalidEvent::Field { field }),
                "case: {field}"
            );
        }
    }
}
