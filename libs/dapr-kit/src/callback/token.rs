//! The app API token check: when `APP_API_TOKEN` is set, daprd sends it as `dapr-api-token` on
//! every call to the app, and the app refuses calls without it (reference §8.2). Each call let
//! through is marked with its [`CallOrigin`], so caller headers are believed only on calls that
//! carried the token (see [`crate::caller`]).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{BoxFuture, FutureExt};
use secrecy::{ExposeSecret, SecretString};
use tonic::Status;
use tower::{Layer, Service};

use crate::{caller::CallOrigin, client::API_TOKEN_HEADER};

/// Paths that stay open without a token: probes from the kubelet and load balancers, and
/// `ListTopicSubscriptions`, which daprd 1.18.3 calls without the app token (its subscription
/// loader dials the app on a connection of its own); it reveals only topic names.
const OPEN_PATH_PREFIXES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/dapr.proto.runtime.v1.AppCallback/ListTopicSubscriptions",
];

/// Requires the app API token on every gRPC call, when one is configured.
#[derive(Clone, Debug)]
pub struct AppTokenLayer {
    token: Option<Arc<SecretString>>,
    /// Path prefixes that pass without the token.
    open_paths: &'static [&'static str],
}

impl AppTokenLayer {
    /// Requires `token` except on `grpc.health.v1.Health` (probes carry no token); `None`
    /// lets every call through.
    pub fn new(token: Option<SecretString>) -> Self {
        Self {
            token: token.map(Arc::new),
            open_paths: OPEN_PATH_PREFIXES,
        }
    }

    /// Requires `token` on every path, health checks included; `None` lets every call
    /// through. For servers whose health service is not their own: a Dapr sidecar serves
    /// none and proxies unknown services to apps, so an exempt health path would let a
    /// caller without the token reach an app.
    pub fn everywhere(token: Option<SecretString>) -> Self {
        Self {
            token: token.map(Arc::new),
            open_paths: &[],
        }
    }
}

impl<S> Layer<S> for AppTokenLayer {
    type Service = AppTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AppTokenService {
            inner,
            token: self.token.clone(),
            open_paths: self.open_paths,
        }
    }
}

/// The service [`AppTokenLayer`] wraps around the app's router.
#[derive(Clone, Debug)]
pub struct AppTokenService<S> {
    inner: S,
    token: Option<Arc<SecretString>>,
    open_paths: &'static [&'static str],
}

impl<S, B, ResBody> Service<http::Request<B>> for AppTokenService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    ResBody: Default + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(expected) = &self.token else {
            request.extensions_mut().insert(CallOrigin::Unverified);
            return self.inner.call(request).boxed();
        };
        let open = self
            .open_paths
            .iter()
            .any(|p| request.uri().path().starts_with(p));
        let accepted = request
            .headers()
            .get(API_TOKEN_HEADER)
            .is_some_and(|token| {
                constant_time_eq(token.as_bytes(), expected.expose_secret().as_bytes())
            });
        if accepted {
            request.extensions_mut().insert(CallOrigin::Sidecar);
        } else if !open {
            tracing::warn!(
                path = request.uri().path(),
                "call without a valid app api token"
            );
            let response = Status::unauthenticated("missing or invalid dapr-api-token").into_http();
            return futures::future::ready(Ok(response)).boxed();
        }
        self.inner.call(request).boxed()
    }
}

/// Compares without stopping at the first differing byte, so timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::ServiceExt;

    use super::*;

    fn request(path: &str, token: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder().uri(path);
        if let Some(token) = token {
            builder = builder.header(API_TOKEN_HEADER, token);
        }
        builder.body(()).unwrap()
    }

    fn grpc_status(response: &http::Response<tonic::body::Body>) -> Option<String> {
        response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn calls_need_the_configured_token_except_health_probes_and_subscription_lists() {
        let inner = tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
        });
        let service = AppTokenLayer::new(Some(SecretString::from("s3cret"))).layer(inner);
        let cases = [
            (
                "right token",
                "/todo.v1.TaskService/GetTask",
                Some("s3cret"),
                None,
            ),
            ("no token", "/todo.v1.TaskService/GetTask", None, Some("16")),
            (
                "wrong token",
                "/todo.v1.TaskService/GetTask",
                Some("s3cre"),
                Some("16"),
            ),
            ("health probe", "/grpc.health.v1.Health/Check", None, None),
            (
                "daprd's subscription list, sent without the token",
                "/dapr.proto.runtime.v1.AppCallback/ListTopicSubscriptions",
                None,
                None,
            ),
            (
                "an event still needs it",
                "/dapr.proto.runtime.v1.AppCallback/OnTopicEvent",
                None,
                Some("16"),
            ),
        ];
        for (case, path, token, status) in cases {
            let response = service.clone().oneshot(request(path, token)).await.unwrap();
            assert_eq!(grpc_status(&response).as_deref(), status, "case: {case}");
        }
    }

    #[tokio::test]
    async fn everywhere_requires_the_token_on_health_probes_too() {
        let inner = tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
        });
        let service = AppTokenLayer::everywhere(Some(SecretString::from("s3cret"))).layer(inner);
        let cases = [
            (
                "health probe without token",
                "/grpc.health.v1.Health/Check",
                None,
                Some("16"),
            ),
            (
                "health probe with token",
                "/grpc.health.v1.Health/Check",
                Some("s3cret"),
                None,
            ),
            ("other call", "/x.Y/Z", None, Some("16")),
        ];
        for (case, path, token, status) in cases {
            let response = service.clone().oneshot(request(path, token)).await.unwrap();
            assert_eq!(grpc_status(&response).as_deref(), status, "case: {case}");
        }
    }

    #[tokio::test]
    async fn calls_let_through_are_marked_with_what_vouches_for_them() {
        let inner = tower::service_fn(|request: http::Request<()>| async move {
            let origin = format!("{:?}", request.extensions().get::<CallOrigin>());
            let response = http::Response::builder()
                .header("x-origin", origin)
                .body(tonic::body::Body::empty())
                .unwrap();
            Ok::<_, Infallible>(response)
        });
        let guarded = AppTokenLayer::new(Some(SecretString::from("s3cret"))).layer(inner);
        let unguarded = AppTokenLayer::new(None).layer(inner);
        let cases = [
            (
                "right token",
                &guarded,
                "/x.Y/Z",
                Some("s3cret"),
                "Some(Sidecar)",
            ),
            (
                "open path, no token",
                &guarded,
                "/grpc.health.v1.Health/Check",
                None,
                "None",
            ),
            (
                "no token configured",
                &unguarded,
                "/x.Y/Z",
                Some("s3cret"),
                "Some(Unverified)",
            ),
        ];
        for (case, service, path, token, origin) in cases {
            let response = service.clone().oneshot(request(path, token)).await.unwrap();
            let seen = response
                .headers()
                .get("x-origin")
                .map(|v| v.to_str().unwrap());
            assert_eq!(seen, Some(origin), "case: {case}");
        }
    }

    #[tokio::test]
    async fn without_a_configured_token_everything_passes() {
        let inner = tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
        });
        let service = AppTokenLayer::new(None).layer(inner);
        let response = service.oneshot(request("/x.Y/Z", None)).await.unwrap();
        assert_eq!(grpc_status(&response), None);
    }
}
