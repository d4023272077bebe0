//! audit's metrics. (Deliveries and their outcomes are dapr-kit's `todo_events_handled_total`.)

/// Task events written to `audit_logs`.
pub const EVENTS_RECORDED_TOTAL: &str = "todo_audit_events_recorded_total";
/// Task events delivered again whose row already existed, so nothing was written.
pub const DUPLICATE_EVENTS_TOTAL: &str = "todo_audit_duplicate_events_total";

/// Registers the help text of these metrics.
pub fn describe() {
    metrics::describe_counter!(EVENTS_RECORDED_TOTAL, "Task events written to audit_logs.");
    metrics::describe_counter!(
        DUPLICATE_EVENTS_TOTAL,
        "Task events delivered again whose audit_logs row already existed."
    );
}

pub(crate) fn record_inserted() {
    metrics::counter!(EVENTS_RECORDED_TOTAL).increment(1);
}

pub(crate) fn record_duplicate() {
    metrics::counter!(DUPLICATE_EVENTS_TOTAL).increment(1);
}
