//! Integration tests over real sockets: the gRPC layer on tonic and axum servers, and OTLP export
//! to a fake collector. One binary, so the process-global metrics recorder is shared knowingly.

// `allow-unwrap-in-tests` covers only `#[test]` functions; the fixtures here are test code too.
#![allow(clippy::unwrap_used)]

mod grpc_layer;
mod otlp_export;

use std::time::Duration;

/// Bounds every wait on another task; generous because the build machine is shared.
pub const DEADLINE: Duration = Duration::from_secs(10);
