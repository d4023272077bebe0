//! The subscriptions: `task-events` and `reminders` on sync's own pub/sub component (one
//! consumer group per instance, so every replica sees every event), each with its dead-letter
//! topic. Handing an event to the hub cannot fail, so a decodable event is SUCCESS and an
//! undecodable one, an ownerless one or one of an unknown type is DROP (to the dead-letter
//! topic); there is no RETRY.

use std::sync::Arc;

use dapr_kit::{HandlerError, Subscription, Subscriptions, TopicEvent};
use todo_core::{TaskId, UserId, events::known_type};
use todo_proto::todo::v1::{ReminderDue, TaskEvent};

use crate::hub::Hub;

/// Every change of a task, published by todo-api's outbox.
pub const TASK_EVENTS_TOPIC: &str = "task-events";
/// Where task events sync drops go.
pub const TASK_EVENTS_DEAD_LETTER_TOPIC: &str = "task-events-dlq";
/// Reminders that came due, published by notification.
pub const REMINDERS_TOPIC: &str = "reminders";
/// Where reminders sync drops go.
pub const REMINDERS_DEAD_LETTER_TOPIC: &str = "reminders-dlq";

/// sync's subscriptions on the component `pubsub`, feeding `hub`.
pub(crate) fn subscriptions(pubsub: &str, hub: &Arc<Hub>) -> Subscriptions {
    let task_events = {
        let hub = hub.clone();
        move |event: TopicEvent| {
            let hub = hub.clone();
            async move {
                let event: TaskEvent = event.json()?;
                check_task_event(&event)?;
                let fanout = hub.task_event(event);
                tracing::debug!(?fanout, "task event handled");
                Ok(())
            }
        }
    };
    let reminders = {
        let hub = hub.clone();
        move |event: TopicEvent| {
            let hub = hub.clone();
            async move {
                let reminder: ReminderDue = event.json()?;
                check_reminder(&reminder)?;
                let fanout = hub.reminder_due(reminder);
                tracing::debug!(?fanout, "reminder handled");
                Ok(())
            }
        }
    };
    Subscriptions::new()
        .subscribe(
            Subscription::new(pubsub, TASK_EVENTS_TOPIC)
                .default_route(task_events)
                .dead_letter_topic(TASK_EVENTS_DEAD_LETTER_TOPIC),
        )
        .subscribe(
            Subscription::new(pubsub, REMINDERS_TOPIC)
                .default_route(reminders)
                .dead_letter_topic(REMINDERS_DEAD_LETTER_TOPIC),
        )
}

/// Refuses a task event watchers cannot be given: one of an unknown type (they could not
/// apply it), or without a valid owner or task (nobody to send it to).
fn check_task_event(event: &TaskEvent) -> Result<(), HandlerError> {
    if known_type(event).is_none() {
        return Err(HandlerError::poison("task event of an unknown type"));
    }
    if UserId::parse(&event.user_id).is_err() || TaskId::parse(&event.task_id).is_err() {
        return Err(HandlerError::poison(
            "task event without a valid user or task id",
        ));
    }
    Ok(())
}

/// Refuses a reminder without a valid owner: nobody to send it to.
fn check_reminder(reminder: &ReminderDue) -> Result<(), HandlerError> {
    if UserId::parse(&reminder.user_id).is_err() {
        return Err(HandlerError::poison("reminder without a valid user id"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dapr_kit::EventOutcome;
    use todo_proto::todo::v1::TaskEventType;

    use super::*;

    const USER: &str = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a";
    const TASK: &str = "0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d";

    #[test]
    fn task_events_without_a_known_type_owner_or_task_are_dropped() {
        let valid = TaskEvent {
            r#type: TaskEventType::Updated as i32,
            user_id: USER.into(),
            task_id: TASK.into(),
            ..Default::default()
        };
        let cases = [
            ("valid", valid.clone(), EventOutcome::Success),
            (
                "unknown type",
                TaskEvent {
                    r#type: 99,
                    ..valid.clone()
                },
                EventOutcome::Drop,
            ),
            (
                "unset type",
                TaskEvent {
                    r#type: TaskEventType::Unspecified as i32,
                    ..valid.clone()
                },
                EventOutcome::Drop,
            ),
            (
                "no user",
                TaskEvent {
                    user_id: String::new(),
                    ..valid.clone()
                },
                EventOutcome::Drop,
            ),
            (
                "not a user id",
                TaskEvent {
                    user_id: "nobody".into(),
                    ..valid.clone()
                },
                EventOutcome::Drop,
            ),
            (
                "not a task id",
                TaskEvent {
                    task_id: "a||b".into(),
                    ..valid
                },
                EventOutcome::Drop,
            ),
        ];
        for (case, event, expected) in cases {
            assert_eq!(
                EventOutcome::of(&check_task_event(&event)),
                expected,
                "case: {case}"
            );
        }
    }

    #[test]
    fn reminders_without_a_valid_owner_are_dropped() {
        let cases = [
            ("valid", USER, EventOutcome::Success),
            ("no user", "", EventOutcome::Drop),
            ("not a user id", "nobody", EventOutcome::Drop),
        ];
        for (case, user_id, expected) in cases {
            let reminder = ReminderDue {
                user_id: user_id.into(),
                ..Default::default()
            };
            assert_eq!(
                EventOutcome::of(&check_reminder(&reminder)),
                expected,
                "case: {case}"
            );
        }
    }
}
