//! The `task-events` subscription: each delivered `TaskEvent` becomes one `audit_logs` row.
//! Delivery is at-least-once and unordered; the event id is the primary key, so a redelivery
//! writes nothing and order does not matter. An event that does not decode, or lacks what a row
//! needs, is DROPped to `task-events-dlq`; a database that is down or busy answers RETRY.

use chrono::Utc;
use dapr_kit::{HandlerError, Subscription, Subscriptions, TopicEvent};
use todo_proto::todo::v1::TaskEvent;

use crate::{
    audit_record::AuditRecord,
    store::{AuditLog, Recorded},
};

/// The topic of task changes.
pub const TASK_EVENTS_TOPIC: &str = "task-events";
/// Where events audit cannot record go.
pub const TASK_EVENTS_DEAD_LETTER_TOPIC: &str = "task-events-dlq";

/// audit's subscriptions: `task-events` on `pubsub_name`, recorded into `log`.
pub fn subscriptions(log: AuditLog, pubsub_name: &str) -> Subscriptions {
    let on_event = move |event: TopicEvent| {
        let log = log.clone();
        async move { record_event(&log, &event).await }
    };
    Subscriptions::new().subscribe(
        Subscription::new(pubsub_name, TASK_EVENTS_TOPIC)
            .dead_letter_topic(TASK_EVENTS_DEAD_LETTER_TOPIC)
            .default_route(on_event),
    )
}

#[tracing::instrument(skip_all, fields(event_id, task_id, version))]
async fn record_event(log: &AuditLog, delivered: &TopicEvent) -> Result<(), HandlerError> {
    let event: TaskEvent = delivered.json()?;
    let span = tracing::Span::current();
    span.record("event_id", event.event_id.as_str());
    span.record("task_id", event.task_id.as_str());
    span.record("version", event.version);
    let record = AuditRecord::from_event(&event, delivered.trace_parent(), Utc::now()).map_err(
        |invalid| {
            tracing::error!(error = %invalid, "task event cannot be recorded");
            HandlerError::poison(invalid)
        },
    )?;
    match log.record(&record).await {
        Ok(Recorded::Inserted) => {
            crate::metrics::record_inserted();
            Ok(())
        }
        Ok(Recorded::Duplicate) => {
            tracing::debug!("task event already recorded");
            crate::metrics::record_duplicate();
            Ok(())
        }
        Err(error) if error.is_transient() => {
            tracing::warn!(error = %todo_telemetry::error_chain(&error), "cannot record task event yet");
            Err(HandlerError::transient(error))
        }
        Err(error) => {
            tracing::error!(error = %todo_telemetry::error_chain(&error), "task event refused by the audit database");
            Err(HandlerError::poison(error))
        }
    }
}
