//! Fuzzes event decoding: the payload of a delivered `task-events` or `reminders` CloudEvent,
//! read as proto3 JSON through `TopicEvent::json` exactly as every consumer reads it, then the
//! domain reads the consumers make of a decoded `TaskEvent` (recurring's `next_occurrence_of`,
//! audit's `changed_fields`).
//!
//! Asserts, beyond "no panic":
//! - a payload that does not decode is a poison event (DROP), never a transient one (RETRY);
//! - a decoded message re-encodes to canonical JSON that decodes to the same message, and that
//!   JSON is a fixed point (encoding the re-decoded message gives the same bytes);
//! - a task compared with itself has no changed fields; a task compared with its `previous`
//!   lists only audited fields, each once, in order, with old and new values that differ;
//! - the next occurrence of a recurring task is due after its completion, in years 1 to 9999,
//!   and its create request is one todo-api accepts.
#![no_main]

use std::fmt::Debug;

use chrono::{DateTime, Datelike};
use dapr_kit::{HandlerError, TopicEvent};
use libfuzzer_sys::fuzz_target;
use prost::{Message, Name};
use todo_core::{
    NewTask,
    events::{AUDITED_FIELDS, changed_fields},
    next_occurrence_of,
    wire_time::timestamp_to_utc,
};
use todo_proto::{
    json::{from_json, to_json},
    todo::v1::{ReminderDue, TaskEvent},
};

/// The completion time used when an event carries no readable `occur_time`.
const FALLBACK_COMPLETION_SECONDS: i64 = 1_774_774_800; // 2026-03-29T09:00:00Z

fuzz_target!(|payload: &[u8]| {
    let delivered = TopicEvent {
        id: "fuzz".into(),
        source: "todo-api".into(),
        event_type: "com.dapr.event.sent".into(),
        data_content_type: "application/json".into(),
        data: payload.to_vec(),
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        ..TopicEvent::default()
    };
    if let Some(event) = decoded::<TaskEvent>(&delivered) {
        check_consumers_of(&event);
    }
    decoded::<ReminderDue>(&delivered);
});

/// Decodes the payload as `M` and checks the JSON round trip; `None` when it is poison.
fn decoded<M>(delivered: &TopicEvent) -> Option<M>
where
    M: Message + Name + Default + PartialEq + Debug,
{
    let message = match delivered.json::<M>() {
        Ok(message) => message,
        Err(HandlerError::Poison(_)) => return None,
        Err(HandlerError::Transient(error)) => {
            panic!("an undecodable payload must be poison, not transient: {error}")
        }
    };
    let canonical = to_json(&message).expect("every todo.v1 message encodes to JSON");
    let again: M = from_json(&canonical).unwrap_or_else(|error| {
        panic!(
            "canonical JSON must decode: {error:?}\n{}",
            String::from_utf8_lossy(&canonical)
        )
    });
    assert_eq!(again, message, "canonical JSON decodes to the same message");
    let canonical_again = to_json(&again).expect("every todo.v1 message encodes to JSON");
    assert_eq!(
        String::from_utf8_lossy(&canonical_again),
        String::from_utf8_lossy(&canonical),
        "canonical JSON is a fixed point"
    );
    Some(message)
}

/// Runs what audit and recurring do with a decoded task event.
fn check_consumers_of(event: &TaskEvent) {
    let Some(task) = &event.task else {
        return;
    };
    assert_eq!(changed_fields(task, task), vec![], "a task equals itself");
    if let Some(previous) = &event.previous {
        let changes = changed_fields(previous, task);
        let mut audited = AUDITED_FIELDS.iter();
        for (field, old, new) in &changes {
            assert!(
                audited.any(|name| name == field),
                "{field} is audited, once, in order"
            );
            assert_ne!(old, new, "{field} is listed only when it changed");
        }
    }
    let completed_at = event
        .occur_time
        .as_ref()
        .and_then(timestamp_to_utc)
        .or_else(|| DateTime::from_timestamp(FALLBACK_COMPLETION_SECONDS, 0))
        .expect("the fallback completion time is valid");
    let Ok(Some(next)) = next_occurrence_of(task, completed_at) else {
        return;
    };
    let due = next
        .due()
        .expect("an occurrence of a recurring task has a due time");
    assert!(
        due.time > completed_at,
        "the next occurrence ({}) is due after the completion ({completed_at})",
        due.time
    );
    assert!((1..=9999).contains(&due.time.year()), "{}", due.time);
    // recurring sends this request to todo-api, which validates it as any create.
    let request = next.to_create_request();
    if let Err(refused) = NewTask::from_request(&request, next.user_id(), completed_at) {
        panic!("todo-api must accept the next occurrence: {refused:?}\n{request:?}");
    }
}
