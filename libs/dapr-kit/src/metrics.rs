//! Metrics of event and job handling, shared by every service.

use std::time::Duration;

use crate::callback::EventOutcome;

/// Events handled, by topic and outcome (success, retry, drop).
pub const EVENTS_HANDLED_TOTAL: &str = "todo_events_handled_total";
/// Time spent handling an event, by topic.
pub const EVENT_HANDLING_SECONDS: &str = "todo_event_handling_seconds";
/// Job triggers handled, by outcome (success, retry, drop, unknown).
pub const JOBS_HANDLED_TOTAL: &str = "todo_jobs_handled_total";

/// Registers the help text of this crate's metrics.
pub fn describe() {
    metrics::describe_counter!(
        EVENTS_HANDLED_TOTAL,
        "Pub/sub events handled, by topic and outcome."
    );
    metrics::describe_histogram!(
        EVENT_HANDLING_SECONDS,
        metrics::Unit::Seconds,
        "Time spent handling one pub/sub event."
    );
    metrics::describe_counter!(JOBS_HANDLED_TOTAL, "Job triggers handled, by outcome.");
}

pub(crate) fn record_event(topic: &str, outcome: EventOutcome, elapsed: Option<Duration>) {
    metrics::counter!(EVENTS_HANDLED_TOTAL, "topic" => topic.to_string(), "outcome" => outcome.as_str())
        .increment(1);
    if let Some(elapsed) = elapsed {
        metrics::histogram!(EVENT_HANDLING_SECONDS, "topic" => topic.to_string())
            .record(elapsed.as_secs_f64());
    }
}

pub(crate) fn record_job(outcome: &'static str) {
    metrics::counter!(JOBS_HANDLED_TOTAL, "outcome" => outcome).increment(1);
}
