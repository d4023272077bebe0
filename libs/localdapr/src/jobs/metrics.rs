//! Job metrics, named as daprd and its Scheduler name them (reference §9) so dashboards built
//! for Dapr work unchanged: OpenCensus-style names, counts without `_total` where daprd has
//! none, and latencies in milliseconds. These follow Dapr, not our `todo_` conventions.
//! The names come from reference §9; the `operation` and `outcome` label values are ours
//! (daprd's were not read).

use std::time::Duration;

use chrono::TimeDelta;

/// Job API calls that succeeded, by `operation`.
pub const JOB_SUCCESS_COUNT: &str = "dapr_component_job_success_count";
/// Job API calls and triggers that failed, by `operation`.
pub const JOB_FAILURE_COUNT: &str = "dapr_component_job_failure_count";
/// How long job API calls and triggers took, in milliseconds, by `operation`.
pub const JOB_LATENCIES: &str = "dapr_component_job_latencies";
/// Jobs scheduled.
pub const JOBS_CREATED_TOTAL: &str = "dapr_scheduler_jobs_created_total";
/// Triggers sent to an app, by `app_id` and `outcome`.
pub const JOBS_TRIGGERED_TOTAL: &str = "dapr_scheduler_jobs_triggered_total";
/// Triggers that failed (the failure policy decides what follows).
pub const JOBS_FAILED_TOTAL: &str = "dapr_scheduler_jobs_failed_total";
/// Triggers staged because no instance of the app was connected.
pub const JOBS_UNDELIVERED_TOTAL: &str = "dapr_scheduler_jobs_undelivered_total";
/// How late a trigger was sent after its due time, in milliseconds.
pub const TRIGGER_LATENCY: &str = "dapr_scheduler_trigger_latency";

/// The `operation` label of a trigger.
pub const TRIGGER_OPERATION: &str = "trigger_job";

/// Describes the metrics (once, at start).
pub fn describe() {
    metrics::describe_counter!(JOB_SUCCESS_COUNT, "Successful job API calls and triggers.");
    metrics::describe_counter!(JOB_FAILURE_COUNT, "Failed job API calls and triggers.");
    metrics::describe_histogram!(
        JOB_LATENCIES,
        metrics::Unit::Milliseconds,
        "Latency of job API calls and triggers."
    );
    metrics::describe_counter!(JOBS_CREATED_TOTAL, "Jobs scheduled.");
    metrics::describe_counter!(JOBS_TRIGGERED_TOTAL, "Job triggers sent to apps.");
    metrics::describe_counter!(JOBS_FAILED_TOTAL, "Job triggers that failed.");
    metrics::describe_counter!(
        JOBS_UNDELIVERED_TOTAL,
        "Job triggers staged until an instance of the app connects."
    );
    metrics::describe_histogram!(
        TRIGGER_LATENCY,
        metrics::Unit::Milliseconds,
        "How late job triggers were sent after their due time."
    );
}

/// Records one job API call or trigger.
pub fn record_operation(operation: &'static str, is_success: bool, elapsed: Duration) {
    let counter = if is_success {
        JOB_SUCCESS_COUNT
    } else {
        JOB_FAILURE_COUNT
    };
    metrics::counter!(counter, "operation" => operation).increment(1);
    metrics::histogram!(JOB_LATENCIES, "operation" => operation)
        .record(elapsed.as_secs_f64() * 1000.0);
}

/// Records a scheduled job.
pub fn record_created(app_id: &str) {
    metrics::counter!(JOBS_CREATED_TOTAL, "app_id" => app_id.to_string()).increment(1);
}

/// Records a trigger's outcome and how late it was sent.
pub fn record_trigger(app_id: &str, outcome: &'static str, lateness: TimeDelta) {
    let app_id = app_id.to_string();
    metrics::counter!(JOBS_TRIGGERED_TOTAL, "app_id" => app_id.clone(), "outcome" => outcome)
        .increment(1);
    match outcome {
        "failed" => metrics::counter!(JOBS_FAILED_TOTAL, "app_id" => app_id.clone()).increment(1),
        "undeliverable" => {
            metrics::counter!(JOBS_UNDELIVERED_TOTAL, "app_id" => app_id.clone()).increment(1);
        }
        _ => {}
    }
    let lateness_ms = lateness.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0;
    metrics::histogram!(TRIGGER_LATENCY, "app_id" => app_id).record(lateness_ms);
}
