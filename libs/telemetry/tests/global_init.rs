//! `init` installs process-global state, so it gets a test binary of its own.

use todo_telemetry::{LogFormat, TelemetryConfig, TelemetryError};

#[tokio::test]
async fn init_installs_tracing_with_trace_context_once_and_shuts_down_cleanly() {
    let config = TelemetryConfig {
        // The test's own spans pass the filter; the crate's startup line does not reach stdout.
        log_filter: "warn,global_init=info".to_owned(),
        log_format: LogFormat::Json,
        ..TelemetryConfig::default()
    };
    let guard = todo_telemetry::init("init-test-service", &config).unwrap();

    let span = tracing::info_span!("handling");
    let traceparent = span.in_scope(todo_telemetry::current_traceparent);
    let (traceparent, tracestate) = traceparent.expect("spans carry trace context after init");
    assert!(traceparent.starts_with("00-"), "{traceparent}");
    assert_eq!(tracestate, None);

    let second = todo_telemetry::init("init-test-service", &config);
    assert!(
        matches!(second, Err(TelemetryError::SubscriberAlreadyInstalled(_))),
        "a second init is refused, got {second:?}"
    );
    todo_telemetry::init_for_tests();

    guard.shutdown().await.unwrap();
}
