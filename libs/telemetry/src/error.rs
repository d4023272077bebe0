//! The one error type of this crate.
//!
//! Configuration errors name the variable and the value, so `main` can print them and exit 64
//! before binding anything. Setup errors keep their `#[source]` so the cause chain survives.

/// Reports what went wrong while configuring, starting or stopping telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `LOG_FORMAT` holds something other than `pretty` or `json`.
    #[error("invalid {variable}={value:?}: expected `pretty` or `json`")]
    InvalidLogFormat {
        /// The environment variable that was read.
        variable: &'static str,
        /// The rejected value.
        value: String,
    },

    /// `RUST_LOG` is not a valid `EnvFilter` directive list.
    #[error("invalid {variable}={value:?}: not a valid tracing filter")]
    InvalidLogFilter {
        /// The environment variable that was read.
        variable: &'static str,
        /// The rejected value.
        value: String,
        /// Why `tracing-subscriber` rejected it.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is not an absolute `http://` or `https://` URL.
    #[error("invalid {variable}={value:?}: {reason}")]
    InvalidOtlpEndpoint {
        /// The environment variable that was read.
        variable: &'static str,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The OTLP exporter needs a Tokio runtime (tonic spawns its channel worker on it).
    #[error("the otlp exporter for {endpoint} must be built inside a tokio runtime")]
    NoTokioRuntime {
        /// The collector the exporter would have sent to.
        endpoint: String,
    },

    /// The OTLP span exporter could not be built.
    #[error("failed to build the otlp span exporter for {endpoint}")]
    OtlpExporter {
        /// The collector the exporter would have sent to.
        endpoint: String,
        /// The exporter's own error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },

    /// Another global `tracing` subscriber was installed first.
    #[error("failed to install the global tracing subscriber")]
    SubscriberAlreadyInstalled(#[source] tracing_subscriber::util::TryInitError),

    /// Another global `metrics` recorder was installed first, so ours cannot be.
    #[error("failed to install the prometheus recorder: another metrics recorder is installed")]
    MetricsRecorderAlreadyInstalled,

    /// Flushing or shutting down the tracer provider failed (spans may be lost).
    #[error("failed to flush and shut down the tracer provider")]
    TracerShutdown(#[source] opentelemetry_sdk::error::OTelSdkError),

    /// The blocking task that shuts the tracer provider down panicked or was cancelled.
    #[error("the tracer provider shutdown task did not complete")]
    TracerShutdownTask(#[source] tokio::task::JoinError),
}
