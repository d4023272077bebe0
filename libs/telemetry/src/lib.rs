//! `todo-telemetry`: logs, traces and metrics for every Todo Suite process.
//!
//! A service's `main` calls [`init`] first (before config, clients and binding), and
//! [`TelemetryGuard::shutdown`] last, after draining. `dapr-kit`'s app runner mounts
//! [`GrpcTelemetryLayer`] on the gRPC server and serves [`admin_router`] on port 9464. Trace
//! context enters and leaves a process only through [`propagation`]: gRPC metadata on calls, the
//! `traceparent`/`tracestate` attributes on CloudEvents. See ARCHITECTURE.md, "Operations".
//!
//! - [`config`]: `TelemetryConfig::from_env` / `from_lookup` (`RUST_LOG`, `LOG_FORMAT`,
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`); the only module reading the environment.
//! - [`subscriber`]: [`init`] installs the global subscriber (filter, pretty or JSON logs,
//!   OpenTelemetry) and the W3C propagator; [`init_for_tests`] is its quiet, repeatable twin.
//!   `json_log` (private): the JSON line, with Cloud Logging's `severity` beside `level`.
//! - [`otlp`]: the tracer provider with optional OTLP gRPC export, and its flush on shutdown.
//! - [`propagation`]: W3C trace context in and out of gRPC metadata and CloudEvents.
//! - [`metrics`]: the process-global Prometheus recorder and the gRPC metric names.
//! - [`grpc_layer`]: [`GrpcTelemetryLayer`], a span and metrics per gRPC call.
//!   `grpc_status` (private) reads `grpc-status` and names codes for labels.
//! - [`admin`]: `/metrics`, `/healthz`, `/readyz` and [`Readiness`].
//! - [`error_chain()`]: an error and its sources on one line, for logs.
//! - [`TelemetryError`]: the one error type; configuration errors name the variable and value.
//! - `testsuite` (feature `testsuite`): `wait_until`, the one wait for eventual effects that
//!   every crate's tests use.

pub mod admin;
pub mod config;
mod error;
pub mod error_chain;
pub mod grpc_layer;
mod grpc_status;
mod json_log;
pub mod metrics;
pub mod otlp;
pub mod propagation;
pub mod subscriber;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use self::metrics::install_recorder;
pub use admin::{DEFAULT_ADMIN_PORT, Readiness, admin_router};
pub use config::{LogFormat, TelemetryConfig};
pub use error::TelemetryError;
pub use error_chain::error_chain;
pub use grpc_layer::GrpcTelemetryLayer;
pub use otlp::{build_tracer_provider, opentelemetry_layer, shutdown_tracer_provider};
pub use propagation::{
    TraceContextInterceptor, context_from_traceparent, current_traceparent, extract_context,
    inject_context, set_parent, set_parent_from_metadata,
};
pub use subscriber::{TelemetryGuard, init, init_for_tests};
