//! notification's metrics.

use chrono::TimeDelta;

/// How late reminders fired: fire time minus reminder time, in seconds.
pub const REMINDER_LATENESS_SECONDS: &str = "todo_notification_reminder_lateness_seconds";
/// Reminders fired, by whether they were late.
pub const REMINDERS_FIRED_TOTAL: &str = "todo_notification_reminders_fired_total";

/// Registers the help text of these metrics.
pub fn describe() {
    metrics::describe_histogram!(
        REMINDER_LATENESS_SECONDS,
        metrics::Unit::Seconds,
        "How late reminders fired: fire time minus reminder time."
    );
    metrics::describe_counter!(
        REMINDERS_FIRED_TOTAL,
        "Reminders fired (each once), by whether they were marked late."
    );
}

pub(crate) fn record_firing(lateness: TimeDelta, late: bool) {
    let seconds = lateness.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    metrics::histogram!(REMINDER_LATENESS_SECONDS).record(seconds);
    metrics::counter!(REMINDERS_FIRED_TOTAL, "late" => if late { "true" } else { "false" })
        .increment(1);
}
