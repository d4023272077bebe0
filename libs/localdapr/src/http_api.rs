//! The sidecar's HTTP port (`DAPR_HTTP_PORT`, reference §8.2). Every official Dapr SDK polls
//! `GET /v1.0/healthz/outbound` there before its first call, so localdapr serves daprd's two
//! health endpoints (`pkg/api/http/healthz.go`) and answers everything else `501 Not
//! Implemented`, naming the gRPC port that serves the API.
//!
//! - `GET /v1.0/healthz/outbound`: `204` while the sidecar serves (daprd's outbound target is
//!   ready before it waits for the app).
//! - `GET /v1.0/healthz`: `204` once the app is connected (daprd's runtime target is ready once
//!   init, which waits for the app port, completes); before, `500` with
//!   `ERR_HEALTH_NOT_READY`. An `appid` query naming another app is `500`
//!   `ERR_HEALTH_APPID_NOT_MATCH`.
//! - With an API token, every request needs `dapr-api-token` (`401`, "invalid api token")
//!   except `GET` on the two health paths, as daprd's `APITokenAuthMiddleware` exempts them.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{Query, Request, State},
    http::{HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{app::AppInstanceHandle, runtime::Runtime};

/// daprd's HTTP API version prefix (`apiVersionV1`).
const API_VERSION: &str = "v1.0";
/// The token header, the same name as on the gRPC port.
const API_TOKEN_HEADER: &str = "dapr-api-token";

/// What the HTTP port of one sidecar answers with.
#[derive(Clone, Debug)]
struct HttpApi {
    app: Arc<AppInstanceHandle>,
    api_token: Option<Arc<SecretString>>,
    /// The sidecar's gRPC port, named in the answer to paths localdapr does not serve.
    grpc_port: u16,
}

/// Spawns the HTTP server of `app`'s sidecar on `listener` until `stop` is cancelled.
pub(crate) fn serve(
    runtime: &Runtime,
    app: Arc<AppInstanceHandle>,
    api_token: Option<SecretString>,
    grpc_port: u16,
    listener: TcpListener,
    stop: CancellationToken,
) {
    let app_id = app.app_id().to_string();
    let router = router(HttpApi {
        app,
        api_token: api_token.map(Arc::new),
        grpc_port,
    });
    runtime.tasks.spawn(async move {
        let served = dapr_kit::net::serve(listener, router, stop.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(app_id, %error, "sidecar http server failed");
        }
    });
}

fn router(api: HttpApi) -> Router {
    Router::new().fallback(handle).with_state(api)
}

/// One handler for every path, so the token check and routing match daprd's exactly
/// (slashes trimmed, `GET` only on the health paths).
async fn handle(State(api): State<HttpApi>, request: Request) -> Response {
    let path = request.uri().path().trim_matches('/');
    let health = if path == format!("{API_VERSION}/healthz") {
        Some(Health::Inbound)
    } else if path == format!("{API_VERSION}/healthz/outbound") {
        Some(Health::Outbound)
    } else {
        None
    };
    let is_get = request.method() == Method::GET;
    let exempt = is_get && health.is_some();
    if !exempt && !api.token_accepted(&request) {
        tracing::warn!(
            app_id = api.app.app_id(),
            path = request.uri().path(),
            "http call without a valid api token"
        );
        return text(StatusCode::UNAUTHORIZED, "invalid api token\n");
    }
    match health {
        Some(Health::Outbound) if is_get => StatusCode::NO_CONTENT.into_response(),
        Some(Health::Inbound) if is_get => api.inbound_health(request.uri()),
        _ => error(
            StatusCode::NOT_IMPLEMENTED,
            "ERR_LOCALDAPR_HTTP_NOT_SUPPORTED",
            &format!(
                "localdapr serves the dapr api over grpc on port {}; over http it serves only \
                 GET /{API_VERSION}/healthz and /{API_VERSION}/healthz/outbound",
                api.grpc_port
            ),
        ),
    }
}

/// daprd's two health endpoints.
#[derive(Clone, Copy)]
enum Health {
    Inbound,
    Outbound,
}

impl HttpApi {
    fn token_accepted(&self, request: &Request) -> bool {
        let Some(expected) = &self.api_token else {
            return true;
        };
        request
            .headers()
            .get(API_TOKEN_HEADER)
            .is_some_and(|presented| {
                constant_time_eq(presented.as_bytes(), expected.expose_secret().as_bytes())
            })
    }

    fn inbound_health(&self, uri: &Uri) -> Response {
        if !self.app.is_connected() {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ERR_HEALTH_NOT_READY",
                "dapr is not ready: [runtime]",
            );
        }
        // Consul's name resolver asks with `appid` to detect a replaced app.
        let asked_app_id = Query::<HashMap<String, String>>::try_from_uri(uri)
            .ok()
            .and_then(|Query(mut query)| query.remove("appid"));
        if asked_app_id.is_some_and(|asked| asked != self.app.app_id()) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ERR_HEALTH_APPID_NOT_MATCH",
                "dapr app-id does not match",
            );
        }
        StatusCode::NO_CONTENT.into_response()
    }
}

/// A daprd API error: `{"errorCode": .., "message": ..}` as JSON (`APIError.JSONErrorValue`).
fn error(status: StatusCode, error_code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorCode": error_code, "message": message }).to_string();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A plain-text answer as Go's `http.Error` writes it.
fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Compares without stopping at the first differing byte, so timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;
    use crate::components::AppInstance;

    fn api(token: Option<&str>, connected: bool) -> Router {
        let app = AppInstanceHandle::new(
            AppInstance {
                app_id: "todo-api".into(),
                pod_name: "todo-api-0".into(),
            },
            None,
            None,
        )
        .unwrap();
        app.set_connected(connected);
        router(HttpApi {
            app: Arc::new(app),
            api_token: token.map(|t| Arc::new(SecretString::from(t))),
            grpc_port: 50001,
        })
    }

    async fn call(router: Router, method: Method, path: &str, token: Option<&str>) -> StatusCode {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(API_TOKEN_HEADER, token);
        }
        router
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn answers_follow_daprds_health_handlers_and_token_middleware() {
        let cases = [
            ("outbound", Method::GET, "/v1.0/healthz/outbound", None, 204),
            ("healthz", Method::GET, "/v1.0/healthz", None, 204),
            ("trailing slash", Method::GET, "/v1.0/healthz/", None, 204),
            (
                "matching appid",
                Method::GET,
                "/v1.0/healthz?appid=todo%2Dapi",
                None,
                204,
            ),
            (
                "other appid",
                Method::GET,
                "/v1.0/healthz?appid=gateway",
                None,
                500,
            ),
            (
                "post needs the token",
                Method::POST,
                "/v1.0/healthz",
                None,
                401,
            ),
            (
                "post with it",
                Method::POST,
                "/v1.0/healthz",
                Some("t"),
                501,
            ),
            (
                "state without token",
                Method::GET,
                "/v1.0/state/s/k",
                None,
                401,
            ),
            (
                "wrong token",
                Method::GET,
                "/v1.0/state/s/k",
                Some("x"),
                401,
            ),
            (
                "state with token",
                Method::GET,
                "/v1.0/state/s/k",
                Some("t"),
                501,
            ),
        ];
        for (case, method, path, token, expected) in cases {
            let status = call(api(Some("t"), true), method, path, token).await;
            assert_eq!(status.as_u16(), expected, "case: {case}");
        }
    }

    #[tokio::test]
    async fn healthz_is_not_ready_until_the_app_connects_but_outbound_is() {
        let not_connected = api(None, false);
        assert_eq!(
            call(not_connected.clone(), Method::GET, "/v1.0/healthz", None).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            call(not_connected, Method::GET, "/v1.0/healthz/outbound", None).await,
            StatusCode::NO_CONTENT
        );
    }
}
