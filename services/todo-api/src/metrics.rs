//! todo-api's metrics.

use todo_proto::todo::v1::TaskEventType;

/// Task changes committed, by event type.
pub const TASK_CHANGES_TOTAL: &str = "todo_task_changes_total";
/// Writes that lost a first-write race and were retried.
pub const STATE_ETAG_CONFLICTS_TOTAL: &str = "todo_state_etag_conflicts_total";
/// Attempts a committed change needed (1 when there was no conflict).
pub const TASK_CHANGE_ATTEMPTS: &str = "todo_task_change_attempts";
/// Bucket reads that found a bucket that does not decode; any increase needs an operator.
pub const TASK_BUCKETS_UNREADABLE_TOTAL: &str = "todo_task_buckets_unreadable_total";

/// Registers the help text of these metrics.
pub fn describe() {
    metrics::describe_counter!(TASK_CHANGES_TOTAL, "Task changes committed, by event type.");
    metrics::describe_counter!(
        STATE_ETAG_CONFLICTS_TOTAL,
        "Bucket writes that lost an etag race and were retried."
    );
    metrics::describe_histogram!(
        TASK_CHANGE_ATTEMPTS,
        "Attempts a committed task change needed."
    );
    metrics::describe_counter!(
        TASK_BUCKETS_UNREADABLE_TOTAL,
        "Reads that found a task bucket that does not decode (left out of listings, writes refused)."
    );
}

pub(crate) fn record_change(event_type: TaskEventType, attempts: u32) {
    metrics::counter!(TASK_CHANGES_TOTAL, "type" => event_type.as_str_name()).increment(1);
    metrics::histogram!(TASK_CHANGE_ATTEMPTS).record(f64::from(attempts));
}

pub(crate) fn record_unreadable_bucket() {
    metrics::counter!(TASK_BUCKETS_UNREADABLE_TOTAL).increment(1);
}

pub(crate) fn record_conflict() {
    metrics::counter!(STATE_ETAG_CONFLICTS_TOTAL).increment(1);
}
