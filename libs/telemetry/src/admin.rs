//! The admin HTTP server on port 9464: `/metrics`, `/healthz` and `/readyz`.
//!
//! It runs on its own listener, apart from the gRPC app port, so scrapes and probes never compete
//! with API traffic and metrics are never exposed on the API. (9090 belongs to the Dapr sidecar.)
//! This module builds the router; `dapr-kit`'s `net::serve` serves it, like every other server,
//! with `TCP_NODELAY` on each connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

/// Holds the admin port Kubernetes scrapes and probes.
pub const DEFAULT_ADMIN_PORT: u16 = 9464;
/// Serves the Prometheus text exposition.
pub const METRICS_PATH: &str = "/metrics";
/// Answers the liveness probe: 200 while the process serves HTTP at all.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Answers the readiness probe: 200 once ready, 503 before that and while draining.
pub const READYZ_PATH: &str = "/readyz";

const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Shares whether the service should receive traffic; clones see the same flag.
///
/// Starts not ready. The app runner sets it once the app serves, and clears it when draining.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    is_ready: Arc<AtomicBool>,
}

impl Readiness {
    /// Creates a flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the service ready (`true`) or not ready (`false`).
    pub fn set_ready(&self, is_ready: bool) {
        self.is_ready.store(is_ready, Ordering::Release);
    }

    /// Tells whether the service is ready.
    pub fn is_ready(&self) -> bool {
        self.is_ready.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: PrometheusHandle,
    readiness: Readiness,
}

/// Builds the admin router: `GET /metrics`, `GET /healthz` and `GET /readyz`.
pub fn admin_router(handle: PrometheusHandle, readiness: Readiness) -> Router {
    Router::new()
        .route(METRICS_PATH, get(render_metrics))
        .route(HEALTHZ_PATH, get(healthz))
        .route(READYZ_PATH, get(readyz))
        .with_state(AdminState {
            metrics: handle,
            readiness,
        })
}

async fn render_metrics(State(state): State<AdminState>) -> impl IntoResponse {
    // Rendering does not fold new histogram samples into buckets; upkeep does.
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE)],
        state.metrics.render(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    async fn get_path(router: &Router, path: &str) -> (StatusCode, String) {
        let request = axum::http::Request::get(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn test_router(readiness: Readiness) -> Router {
        admin_router(crate::install_recorder().unwrap(), readiness)
    }

    #[tokio::test]
    async fn metrics_shows_a_counter_that_was_incremented() {
        let router = test_router(Readiness::new());
        metrics::counter!("todo_admin_test_pings_total", "outcome" => "ok").increment(3);
        metrics::histogram!("todo_admin_test_ping_seconds").record(0.02);

        let request = axum::http::Request::get(METRICS_PATH)
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            PROMETHEUS_TEXT_CONTENT_TYPE
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains(r#"todo_admin_test_pings_total{outcome="ok"} 3"#),
            "{body}"
        );
        assert!(
            body.contains("todo_admin_test_ping_seconds_count 1"),
            "histograms are folded in before rendering: {body}"
        );
    }

    #[tokio::test]
    async fn healthz_answers_ok_even_when_not_ready() {
        let router = test_router(Readiness::new());
        assert_eq!(
            get_path(&router, HEALTHZ_PATH).await,
            (StatusCode::OK, "ok".to_owned())
        );
    }

    #[tokio::test]
    async fn readyz_follows_the_readiness_flag() {
        let readiness = Readiness::new();
        let router = test_router(readiness.clone());
        assert_eq!(
            get_path(&router, READYZ_PATH).await,
            (StatusCode::SERVICE_UNAVAILABLE, "not ready".to_owned())
        );

        readiness.set_ready(true);
        assert_eq!(
            get_path(&router, READYZ_PATH).await,
            (StatusCode::OK, "ready".to_owned())
        );

        readiness.set_ready(false);
        assert_eq!(
            get_path(&router, READYZ_PATH).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        let router = test_router(Readiness::new());
        assert_eq!(get_path(&router, "/debug").await.0, StatusCode::NOT_FOUND);
    }
}
