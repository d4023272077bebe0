//! State metrics, named as daprd names them (reference §9: `dapr_component_state_count` and
//! `_latencies`, milliseconds, no `_total`) so Dapr's dashboards read them.

use std::{future::Future, time::Instant};

use tonic::Status;

use crate::runtime::Runtime;

/// State calls, by `app_id`, `component`, `operation` and `success`.
pub const STATE_COUNT: &str = "dapr_component_state_count";
/// How long state calls took, in milliseconds.
pub const STATE_LATENCIES: &str = "dapr_component_state_latencies";

/// Runs one state call and records it. An unknown store name is labelled `unknown`, so a
/// client cannot grow the label set.
pub(crate) async fn measured<T>(
    runtime: &Runtime,
    app_id: &str,
    store: &str,
    operation: &'static str,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let started = Instant::now();
    let result = call.await;
    let component = runtime
        .resources
        .component_for(app_id, store)
        .map_or_else(|| "unknown".to_string(), |c| c.name.clone());
    let success = if result.is_ok() { "true" } else { "false" };
    metrics::counter!(
        STATE_COUNT,
        "app_id" => app_id.to_string(),
        "component" => component.clone(),
        "operation" => operation,
        "success" => success
    )
    .increment(1);
    metrics::histogram!(
        STATE_LATENCIES,
        "app_id" => app_id.to_string(),
        "component" => component,
        "operation" => operation
    )
    .record(started.elapsed().as_secs_f64() * 1000.0);
    result
}
