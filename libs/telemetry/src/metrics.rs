//! The process-global Prometheus recorder and the metrics this crate records.
//!
//! Services record through the `metrics` macros anywhere; the admin server renders the recorder
//! on `/metrics`. Every histogram whose name ends in `_seconds` gets [`LATENCY_BUCKETS_SECONDS`].

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::TelemetryError;

/// Counts finished gRPC calls, labelled `grpc_service`, `grpc_method` and `grpc_code`.
pub const GRPC_SERVER_HANDLED_TOTAL: &str = "todo_grpc_server_handled_total";
/// Measures gRPC call duration until the last response frame, labelled `grpc_service`, `grpc_method`.
pub const GRPC_SERVER_HANDLING_SECONDS: &str = "todo_grpc_server_handling_seconds";

/// Names the label holding the fully qualified gRPC service (`todo.v1.TaskService`).
pub const LABEL_GRPC_SERVICE: &str = "grpc_service";
/// Names the label holding the gRPC method (`CreateTask`).
pub const LABEL_GRPC_METHOD: &str = "grpc_method";
/// Names the label holding the gRPC status code name (`OK`, `NotFound`, ...).
pub const LABEL_GRPC_CODE: &str = "grpc_code";

/// Lists the histogram bucket bounds, in seconds, for every `*_seconds` histogram: 1 ms to 10 s.
pub const LATENCY_BUCKETS_SECONDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into buckets when nobody scrapes, bounding memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// `None` records that another crate's recorder won the global slot.
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the global `metrics` recorder, once per process.
///
/// Later calls return a handle to the same recorder, so tests may call it freely. The first call
/// describes this crate's metrics and starts a background thread that runs the recorder's upkeep
/// for the life of the process (the recorder is process-global, so nothing else could own it).
///
/// # Errors
///
/// [`TelemetryError::MetricsRecorderAlreadyInstalled`] when some other global recorder was
/// installed first.
pub fn install_recorder() -> Result<PrometheusHandle, TelemetryError> {
    RECORDER
        .get_or_init(install_prometheus_recorder)
        .clone()
        .ok_or(TelemetryError::MetricsRecorderAlreadyInstalled)
}

fn install_prometheus_recorder() -> Option<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".to_owned()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .expect("LATENCY_BUCKETS_SECONDS is not empty")
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        return None;
    }
    describe_metrics();
    spawn_upkeep(handle.clone());
    Some(handle)
}

fn describe_metrics() {
    describe_counter!(
        GRPC_SERVER_HANDLED_TOTAL,
        Unit::Count,
        "gRPC calls completed on the server, by service, method and status code."
    );
    describe_histogram!(
        GRPC_SERVER_HANDLING_SECONDS,
        Unit::Seconds,
        "Time from receiving a gRPC request to sending its final status, by service and method."
    );
}

fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        // `/metrics` still runs upkeep before each render; only unscraped processes grow.
        tracing::warn!(%error, "failed to start the metrics upkeep thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_recorder_is_idempotent_and_shares_one_recorder() {
        let first = install_recorder().unwrap();
        let second = install_recorder().unwrap();
        metrics::counter!("todo_test_idempotent_recorder_total").increment(2);
        for handle in [first, second] {
            assert!(
                handle
                    .render()
                    .contains("todo_test_idempotent_recorder_total 2"),
                "both handles see the same counter"
            );
        }
    }

    #[test]
    fn seconds_histograms_use_the_latency_buckets() {
        let handle = install_recorder().unwrap();
        metrics::histogram!("todo_test_bucketed_seconds").record(0.003);
        handle.run_upkeep();
        let rendered = handle.render();
        assert!(
            rendered.contains(r#"todo_test_bucketed_seconds_bucket{le="0.0025"} 0"#),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"todo_test_bucketed_seconds_bucket{le="0.005"} 1"#),
            "{rendered}"
        );
    }

    #[test]
    fn grpc_metrics_are_described() {
        let handle = install_recorder().unwrap();
        metrics::counter!(GRPC_SERVER_HANDLED_TOTAL, LABEL_GRPC_SERVICE => "test.v1.Described",
            LABEL_GRPC_METHOD => "Get", LABEL_GRPC_CODE => "OK")
        .increment(1);
        let rendered = handle.render();
        assert!(
            rendered.contains("# HELP todo_grpc_server_handled_total gRPC calls completed"),
            "{rendered}"
        );
    }
}
