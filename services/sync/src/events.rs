//! The subscriptions: `task-events` and `reminders` on sync's own pub/sub component (one
//! consumer group per instance, so every replica sees every event), each with its dead-letter
//! topic. Handing an event to the hub cannot fail, so a decodable event is SUCCESS and an
//! undecodable or ownerless one is DROP (to the dead-letter topic); there is no RETRY.

use std::sync::Arc;

use dapr_kit::{HandlerError, Subscription, Subscriptions, TopicEvent};
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
                if event.user_id.is_empty() || event.task_id.is_empty() {
                    return Err(HandlerError::poison("task event without user or task id"));
                }
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
                if reminder.user_id.is_empty() {
                    return Err(HandlerError::poison("reminder without user id"));
                }
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
