//! The plain-HTTP side of the public port: `GET /healthz`, the built frontend (any other path,
//! with a single-page-app fallback to `index.html`), and the CORS policy for browsers on other
//! origins. gRPC and gRPC-web requests never reach these routes: the app runner sends them to
//! the gRPC services by content type.

use std::{path::PathBuf, time::Duration};

use axum::{
    Router,
    extract::{Request, State},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tower::ServiceExt;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    services::{ServeDir, ServeFile},
};

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(2 * 3600);

/// Shown instead of the app while `frontend/dist` does not exist.
const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Todo Suite: frontend not built</title></head>
<body>
<h1>The frontend is not built</h1>
<p>The gateway is running, and its gRPC and gRPC-web API is served on this port, but there is
no built web app to show.</p>
<p>Build it with <code>npm --prefix frontend ci &amp;&amp; npm --prefix frontend run build</code>
(it lands in <code>frontend/dist</code>), or point <code>TODO_FRONTEND_DIR</code> at a built
copy. No restart is needed.</p>
</body>
</html>
"#;

/// The HTTP routes of the public port, serving the frontend from `frontend_dir`.
pub fn routes(frontend_dir: PathBuf) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback(frontend)
        .with_state(frontend_dir)
}

/// Serves a file of the built frontend; unknown paths get `index.html`, so the app's own
/// routes survive a reload. Checked per request, so building the frontend needs no restart.
async fn frontend(State(dir): State<PathBuf>, request: Request) -> Response {
    let index = dir.join("index.html");
    if !tokio::fs::try_exists(&index).await.unwrap_or(false) {
        return (StatusCode::SERVICE_UNAVAILABLE, Html(NOT_BUILT_PAGE)).into_response();
    }
    let files = ServeDir::new(&dir).fallback(ServeFile::new(index));
    match files.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(infallible) => match infallible {},
    }
}

/// The CORS policy: only `origins` get CORS headers, with what gRPC-web needs to send
/// (`content-type`, `authorization`, `x-grpc-web`, `x-user-agent`, `grpc-timeout`) and to read
/// (`grpc-status`, `grpc-message`, `grpc-status-details-bin`). `None` without origins, so no
/// CORS headers are sent at all.
pub fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-grpc-web"),
                HeaderName::from_static("x-user-agent"),
                HeaderName::from_static("grpc-timeout"),
            ])
            .expose_headers([
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt;

    use super::*;

    async fn get_page(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn files_are_served_with_a_single_page_app_fallback() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>app</h1>").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/app.js"), "console.log(1)").unwrap();
        let cases = [
            ("root", "/", "<h1>app</h1>"),
            ("asset", "/assets/app.js", "console.log(1)"),
            ("app route", "/tasks/today", "<h1>app</h1>"),
        ];
        for (case, path, body) in cases {
            let page = get_page(routes(dir.path().to_path_buf()), path).await;
            assert_eq!(page, (StatusCode::OK, body.to_string()), "case: {case}");
        }
    }

    #[tokio::test]
    async fn a_missing_build_gets_a_page_that_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let (status, body) = get_page(routes(dir.path().join("dist")), "/").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.contains("frontend is not built") && body.contains("npm --prefix frontend"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn healthz_answers_ok() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            get_page(routes(dir.path().to_path_buf()), "/healthz").await,
            (StatusCode::OK, "ok".to_string())
        );
    }

    #[test]
    fn no_origins_means_no_cors_layer() {
        assert!(cors(&[]).is_none());
        assert!(cors(&[HeaderValue::from_static("https://app.example")]).is_some());
    }
}
