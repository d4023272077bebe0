//! The OpenTelemetry tracer provider: OTLP gRPC export when configured, and its shutdown.
//!
//! `init` uses these functions, and so can a test that wants real export without installing a
//! global subscriber.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;

use crate::TelemetryError;

/// Names the instrumentation scope of the spans this crate's layer creates.
pub const INSTRUMENTATION_SCOPE: &str = env!("CARGO_PKG_NAME");

/// Builds the tracer provider for `service_name`, exporting over OTLP gRPC when an endpoint is given.
///
/// Without an endpoint the provider still creates spans, so incoming trace context is continued
/// and propagated, but nothing leaves the process. With one, a batch processor (on its own
/// thread) sends spans to the collector. The resource carries only `service.name` and the SDK's
/// `telemetry.sdk.*` attributes; it does not read `OTEL_RESOURCE_ATTRIBUTES`.
///
/// # Errors
///
/// With an endpoint: [`TelemetryError::NoTokioRuntime`] outside a Tokio runtime (tonic spawns
/// its channel worker on it), or [`TelemetryError::OtlpExporter`] if the exporter rejects it.
pub fn build_tracer_provider(
    service_name: &str,
    otlp_endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_service_name(service_name.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = otlp_endpoint else {
        return Ok(builder.build());
    };

    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoTokioRuntime {
            endpoint: endpoint.to_owned(),
        });
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|source| TelemetryError::OtlpExporter {
            endpoint: endpoint.to_owned(),
            source,
        })?;
    Ok(builder.with_batch_exporter(exporter).build())
}

/// Builds the `tracing` layer that turns spans into OpenTelemetry spans of `tracer_provider`.
pub fn opentelemetry_layer<S>(
    tracer_provider: &SdkTracerProvider,
) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer(INSTRUMENTATION_SCOPE))
}

/// Flushes pending spans and shuts `tracer_provider` down, off the async runtime.
///
/// The batch processor blocks until the exporter finishes, and the tonic exporter needs the
/// runtime to make progress, so the blocking part runs on `spawn_blocking`. That keeps it from
/// stalling even on a single-threaded runtime.
///
/// # Errors
///
/// [`TelemetryError::TracerShutdown`] if export or shutdown fails (including a second shutdown),
/// [`TelemetryError::TracerShutdownTask`] if the blocking task panics.
pub async fn shutdown_tracer_provider(
    tracer_provider: SdkTracerProvider,
) -> Result<(), TelemetryError> {
    tokio::task::spawn_blocking(move || tracer_provider.shutdown())
        .await
        .map_err(TelemetryError::TracerShutdownTask)?
        .map_err(TelemetryError::TracerShutdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exporting_provider_needs_a_tokio_runtime() {
        let error = build_tracer_provider("task-service", Some("http://127.0.0.1:4317"))
            .expect_err("no runtime here");
        assert_eq!(
            error.to_string(),
            "the otlp exporter for http://127.0.0.1:4317 must be built inside a tokio runtime"
        );
    }

    #[test]
    fn a_provider_without_endpoint_needs_no_runtime_and_shuts_down_cleanly() {
        let provider = build_tracer_provider("task-service", None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(shutdown_tracer_provider(provider.clone()))
            .unwrap();
        let second = runtime.block_on(shutdown_tracer_provider(provider));
        assert!(
            matches!(second, Err(TelemetryError::TracerShutdown(_))),
            "a second shutdown reports an error, got {second:?}"
        );
    }
}
