//! Pub/sub metrics, named as daprd exports them (reference §9) so the suite's dashboards and
//! alerts work against localdapr and Dapr alike. That is why they break the house naming rule:
//! daprd's counters have no `_total` and its latencies are in milliseconds.

use std::time::Duration;

/// Events delivered to apps, by `app_id`, `component`, `topic` and `process_status`
/// (`success`, `retry`, `drop`).
pub const INGRESS_COUNT: &str = "dapr_component_pubsub_ingress_count";
/// Time apps took to process delivered events, in milliseconds.
pub const INGRESS_LATENCIES: &str = "dapr_component_pubsub_ingress_latencies";
/// Publishes, by `app_id`, `component`, `topic` and `success`.
pub const EGRESS_COUNT: &str = "dapr_component_pubsub_egress_count";
/// Time publishes took, in milliseconds.
pub const EGRESS_LATENCIES: &str = "dapr_component_pubsub_egress_latencies";
/// Bulk publishes, by `app_id`, `component`, `topic` and `success`.
pub const EGRESS_BULK_COUNT: &str = "dapr_component_pubsub_egress_bulk_count";
/// Events in bulk publishes, by `app_id`, `component` and `topic`.
pub const EGRESS_BULK_EVENT_COUNT: &str = "dapr_component_pubsub_egress_bulk_event_count";

/// What happened to a delivered event, as daprd's `process_status` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStatus {
    /// Acknowledged after the app processed it.
    Success,
    /// To be delivered again.
    Retry,
    /// Acknowledged without processing (dropped, perhaps to the dead-letter topic).
    Drop,
}

impl ProcessStatus {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retry => "retry",
            Self::Drop => "drop",
        }
    }
}

/// Describes the metrics to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        INGRESS_COUNT,
        "Pub/sub events delivered to apps, by outcome."
    );
    metrics::describe_histogram!(
        INGRESS_LATENCIES,
        metrics::Unit::Milliseconds,
        "Time apps took to process pub/sub events."
    );
    metrics::describe_counter!(EGRESS_COUNT, "Pub/sub publishes, by success.");
    metrics::describe_histogram!(
        EGRESS_LATENCIES,
        metrics::Unit::Milliseconds,
        "Time pub/sub publishes took."
    );
    metrics::describe_counter!(EGRESS_BULK_COUNT, "Pub/sub bulk publishes, by success.");
    metrics::describe_counter!(EGRESS_BULK_EVENT_COUNT, "Events in pub/sub bulk publishes.");
}

/// Records one delivery outcome.
pub fn record_ingress(
    app_id: &str,
    component: &str,
    topic: &str,
    status: ProcessStatus,
    elapsed: Option<Duration>,
) {
    let labels = [
        ("app_id", app_id.to_string()),
        ("component", component.to_string()),
        ("topic", topic.to_string()),
        ("process_status", status.as_str().to_string()),
    ];
    metrics::counter!(INGRESS_COUNT, &labels).increment(1);
    if let Some(elapsed) = elapsed {
        metrics::histogram!(INGRESS_LATENCIES, &labels).record(elapsed.as_secs_f64() * 1000.0);
    }
}

/// Records one publish (or bulk publish of `events` events).
pub fn record_egress(
    app_id: &str,
    component: &str,
    topic: &str,
    success: bool,
    elapsed: Duration,
    bulk_events: Option<usize>,
) {
    let labels = [
        ("app_id", app_id.to_string()),
        ("component", component.to_string()),
        ("topic", topic.to_string()),
        ("success", success.to_string()),
    ];
    match bulk_events {
        None => {
            metrics::counter!(EGRESS_COUNT, &labels).increment(1);
            metrics::histogram!(EGRESS_LATENCIES, &labels).record(elapsed.as_secs_f64() * 1000.0);
        }
        Some(events) => {
            metrics::counter!(EGRESS_BULK_COUNT, &labels).increment(1);
            metrics::counter!(EGRESS_BULK_EVENT_COUNT, &labels[..3])
                .increment(u64::try_from(events).unwrap_or(u64::MAX));
        }
    }
}
