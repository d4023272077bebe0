//! The process-wide `tracing` subscriber: `init` for services, `init_for_tests` for tests.
//!
//! Stack, outermost first: the `RUST_LOG` filter, one fmt layer (pretty, or JSON with Cloud
//! Logging's `severity`, on stdout), and the OpenTelemetry layer. The OpenTelemetry layer is
//! always present so trace context is continued and propagated; spans leave the process only
//! when an OTLP endpoint is configured.

use std::sync::Once;

use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{self, ENV_RUST_LOG, LogFormat, TelemetryConfig};
use crate::{TelemetryError, json_log, otlp};

/// Installs the global subscriber, the W3C propagator and the tracer provider for this process.
///
/// Call it once, first thing in `main`, inside the Tokio runtime. The service name is
/// `OTEL_SERVICE_NAME` when set, else `service_name`. Keep the returned guard alive until the
/// end of `main` and call [`TelemetryGuard::shutdown`] there to flush spans.
///
/// # Errors
///
/// Returns [`TelemetryError::SubscriberAlreadyInstalled`] on a second call, and the errors of
/// [`otlp::build_tracer_provider`] when the exporter cannot be built.
pub fn init(
    service_name: &str,
    config: &TelemetryConfig,
) -> Result<TelemetryGuard, TelemetryError> {
    let service_name = config
        .service_name_override
        .as_deref()
        .unwrap_or(service_name);
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|source| {
        TelemetryError::InvalidLogFilter {
            variable: ENV_RUST_LOG,
            value: config.log_filter.clone(),
            source,
        }
    })?;
    let tracer_provider =
        otlp::build_tracer_provider(service_name, config.otlp_endpoint.as_deref())?;

    let (pretty_layer, json_layer) = match config.log_format {
        LogFormat::Pretty => (Some(fmt::layer().pretty()), None),
        LogFormat::Json => (
            None,
            Some(
                fmt::layer()
                    .fmt_fields(json_log::json_fields())
                    .event_format(json_log::JsonWithSeverity::new()),
            ),
        ),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(pretty_layer)
        .with(json_layer)
        .with(otlp::opentelemetry_layer(&tracer_provider))
        .try_init()
        .map_err(TelemetryError::SubscriberAlreadyInstalled)?;

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());

    tracing::info!(
        service_name,
        log_format = %config.log_format,
        log_filter = %config.log_filter,
        otlp_endpoint = config.otlp_endpoint.as_deref().unwrap_or("none"),
        "telemetry started"
    );
    Ok(TelemetryGuard {
        tracer_provider: Some(tracer_provider),
    })
}

/// Owns the tracer provider that `init` installed, so spans are flushed at exit.
#[derive(Debug)]
#[must_use = "dropping the guard shuts the tracer provider down at once"]
pub struct TelemetryGuard {
    /// `None` once shut down, so `Drop` does not shut it down twice.
    tracer_provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes pending spans to the collector and shuts the tracer provider down.
    ///
    /// # Errors
    ///
    /// As [`otlp::shutdown_tracer_provider`]; spans may have been lost, which is worth a log line
    /// but not a failed exit.
    pub async fn shutdown(mut self) -> Result<(), TelemetryError> {
        match self.tracer_provider.take() {
            Some(tracer_provider) => otlp::shutdown_tracer_provider(tracer_provider).await,
            None => Ok(()),
        }
    }
}

impl Drop for TelemetryGuard {
    /// Shuts down synchronously when `shutdown` was not awaited (e.g. on an early return).
    ///
    /// This blocks the current thread while the batch processor flushes. On a single-threaded
    /// runtime the exporter cannot progress meanwhile, so the flush waits for its timeout:
    /// prefer `shutdown().await`.
    fn drop(&mut self) {
        if let Some(tracer_provider) = self.tracer_provider.take()
            && let Err(error) = tracer_provider.shutdown()
        {
            tracing::warn!(%error, "failed to flush spans at exit");
        }
    }
}

/// Installs a quiet global subscriber for tests, once per process; later calls do nothing.
///
/// Logs are printed (to the test harness, filtered by `RUST_LOG`, default `debug`) only when
/// `TEST_LOG` is set. Spans always get OpenTelemetry contexts, so propagation works in tests,
/// but they are never exported. If another subscriber is already installed, it stays.
pub fn init_for_tests() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let lookup = config::read_env;
        let (filter, fmt_layer) = if config::is_test_log_enabled(lookup) {
            let directives = lookup(ENV_RUST_LOG).unwrap_or_else(|| "debug".to_owned());
            let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("debug"));
            (filter, Some(fmt::layer().with_test_writer()))
        } else {
            (EnvFilter::new(config::DEFAULT_RUST_LOG), None)
        };
        let tracer_provider = SdkTracerProvider::builder().build();
        let installed = tracing_subscriber::registry()
            .with(filter)
            .with(fmt_layer)
            .with(otlp::opentelemetry_layer(&tracer_provider))
            .try_init();
        if installed.is_ok() {
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        }
    });
}
