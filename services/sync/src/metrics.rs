//! sync's metrics.

/// Watches open now.
pub const ACTIVE_WATCHERS: &str = "todo_sync_active_watchers";
/// Items sent to watches, by kind (`task_event`, `reminder_due`, `heartbeat`, `resync_required`).
pub const ITEMS_SENT_TOTAL: &str = "todo_sync_items_sent_total";
/// Events not fanned out because a newer version of their task had been (duplicates included).
pub const STALE_EVENTS_TOTAL: &str = "todo_sync_stale_events_total";

/// Registers the help text of these metrics.
pub fn describe() {
    metrics::describe_gauge!(ACTIVE_WATCHERS, "WatchTasks streams open now.");
    metrics::describe_counter!(
        ITEMS_SENT_TOTAL,
        "Items sent on WatchTasks streams, by kind; resync_required counts watches dropped for falling behind."
    );
    metrics::describe_counter!(
        STALE_EVENTS_TOTAL,
        "Task events not fanned out because their task's version had been seen (duplicates, late deliveries)."
    );
}

pub(crate) fn watcher_opened() {
    metrics::gauge!(ACTIVE_WATCHERS).increment(1.0);
}

pub(crate) fn watcher_closed() {
    metrics::gauge!(ACTIVE_WATCHERS).decrement(1.0);
}

pub(crate) fn item_sent(kind: &'static str) {
    metrics::counter!(ITEMS_SENT_TOTAL, "kind" => kind).increment(1);
}

pub(crate) fn stale_event() {
    metrics::counter!(STALE_EVENTS_TOTAL).increment(1);
}
