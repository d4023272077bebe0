//! `GrpcTelemetryLayer`: one span and two metrics per gRPC call, for every service we serve.
//!
//! It wraps any `http::Request<B> -> http::Response<B2>` service, so it works both on
//! `tonic::transport::Server::builder().layer(..)` and on the axum router from
//! `tonic::service::Routes::into_axum_router()`. Requests whose `content-type` is not
//! `application/grpc*` pass through untouched.
//!
//! The final status is read where gRPC puts it: in the response headers of a trailers-only
//! response (how tonic answers with an error), otherwise in the trailers after the last message
//! (how tonic answers with OK, and how streams end). So the call is recorded when the response
//! body ends, and its duration covers streaming. A response body dropped before its trailers
//! (the client went away) is recorded as `Canceled`.
//!
//! Labels stay bounded though paths come from clients: a path that is not `/pkg.Service/Method`
//! and any call answered `Unimplemented` (which is what unknown paths get) are labelled
//! `unknown`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Code;

use crate::grpc_status::{
    GRPC_STATUS_HEADER, code_from_grpc_status, code_from_http_status, code_label, is_server_error,
};
use crate::metrics::{
    GRPC_SERVER_HANDLED_TOTAL, GRPC_SERVER_HANDLING_SECONDS, LABEL_GRPC_CODE, LABEL_GRPC_METHOD,
    LABEL_GRPC_SERVICE,
};
use crate::propagation;

/// Stands in for a service or method name a client sent that we will not use as a label.
const UNKNOWN_LABEL: &str = "unknown";
/// Bounds the length of a service or method name we accept from a path.
const MAX_NAME_BYTES: usize = 128;
const GRPC_CONTENT_TYPE_PREFIX: &[u8] = b"application/grpc";

/// Adds tracing and metrics to every gRPC call of the service it wraps.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTelemetryLayer;

impl GrpcTelemetryLayer {
    /// Creates the layer.
    pub const fn new() -> Self {
        Self
    }
}

impl<S> tower::Layer<S> for GrpcTelemetryLayer {
    type Service = GrpcTelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcTelemetryService { inner }
    }
}

/// Wraps a service with the span and metrics of [`GrpcTelemetryLayer`].
#[derive(Debug, Clone)]
pub struct GrpcTelemetryService<S> {
    inner: S,
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>>
    for GrpcTelemetryService<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    ResponseBody: Body,
{
    type Response = http::Response<GrpcTelemetryBody<ResponseBody>>;
    type Error = S::Error;
    type Future = GrpcTelemetryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let call = GrpcCall::start(&request);
        let inner = match &call {
            Some(call) => call.span.in_scope(|| self.inner.call(request)),
            None => self.inner.call(request),
        };
        GrpcTelemetryFuture { inner, call }
    }
}

pin_project! {
    /// Resolves to the inner response, with the call recorded or handed to the body.
    pub struct GrpcTelemetryFuture<F> {
        #[pin]
        inner: F,
        call: Option<GrpcCall>,
    }
}

impl<F, ResponseBody, E> Future for GrpcTelemetryFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody>, E>>,
    ResponseBody: Body,
{
    type Output = Result<http::Response<GrpcTelemetryBody<ResponseBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.call.as_ref().map(|call| call.span.enter());
            ready!(this.inner.poll(cx))
        };
        let Some(call) = this.call.take() else {
            return Poll::Ready(result.map(|response| response.map(GrpcTelemetryBody::untracked)));
        };
        match result {
            Ok(response) => {
                let call = match status_known_from_head(&response) {
                    Some(code) => {
                        call.finish(code);
                        None
                    }
                    None => Some(call),
                };
                Poll::Ready(Ok(response.map(|inner| GrpcTelemetryBody { inner, call })))
            }
            Err(error) => {
                call.finish(Code::Unknown);
                Poll::Ready(Err(error))
            }
        }
    }
}

pin_project! {
    /// Passes the response body through and records the call when its trailers arrive.
    pub struct GrpcTelemetryBody<B> {
        #[pin]
        inner: B,
        call: Option<GrpcCall>,
    }
}

impl<B> GrpcTelemetryBody<B> {
    fn untracked(inner: B) -> Self {
        Self { inner, call: None }
    }
}

impl<B: Body> Body for GrpcTelemetryBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if this.call.is_some() {
            let final_code = match &frame {
                Some(Ok(frame)) => match frame.trailers_ref() {
                    Some(trailers) => Some(code_from_grpc_status(trailers)),
                    // A body that ends without trailers is a protocol error: gRPC says `Unknown`.
                    None if this.inner.is_end_stream() => Some(Code::Unknown),
                    None => None,
                },
                Some(Err(_)) => Some(Code::Unknown),
                None => Some(Code::Unknown),
            };
            if let Some(code) = final_code
                && let Some(call) = this.call.take()
            {
                call.finish(code);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One gRPC call in flight: its span, its labels and when it started.
///
/// Dropping it unfinished records `Canceled`: the response was abandoned before its status.
struct GrpcCall {
    span: tracing::Span,
    service: String,
    method: String,
    started: Instant,
    is_recorded: bool,
}

impl GrpcCall {
    fn start<B>(request: &http::Request<B>) -> Option<Self> {
        let is_grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(GRPC_CONTENT_TYPE_PREFIX));
        if !is_grpc {
            return None;
        }
        let (service, method) =
            parse_grpc_path(request.uri().path()).unwrap_or((UNKNOWN_LABEL, UNKNOWN_LABEL));
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        propagation::set_parent(
            &span,
            propagation::extract_context_from_headers(request.headers()),
        );
        Some(Self {
            span,
            service: service.to_owned(),
            method: method.to_owned(),
            started: Instant::now(),
            is_recorded: false,
        })
    }

    fn finish(mut self, code: Code) {
        self.record(code);
    }

    fn record(&mut self, code: Code) {
        if self.is_recorded {
            return;
        }
        self.is_recorded = true;
        let elapsed_seconds = self.started.elapsed().as_secs_f64();

        self.span.record("rpc.grpc.status_code", code as i64);
        if is_server_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }

        let (service, method) = if code == Code::Unimplemented {
            (UNKNOWN_LABEL.to_owned(), UNKNOWN_LABEL.to_owned())
        } else {
            (
                std::mem::take(&mut self.service),
                std::mem::take(&mut self.method),
            )
        };
        metrics::counter!(
            GRPC_SERVER_HANDLED_TOTAL,
            LABEL_GRPC_SERVICE => service.clone(),
            LABEL_GRPC_METHOD => method.clone(),
            LABEL_GRPC_CODE => code_label(code),
        )
        .increment(1);
        metrics::histogram!(
            GRPC_SERVER_HANDLING_SECONDS,
            LABEL_GRPC_SERVICE => service,
            LABEL_GRPC_METHOD => method,
        )
        .record(elapsed_seconds);
    }
}

impl Drop for GrpcCall {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

/// Splits `/pkg.Service/Method` into its two names, if it has that shape.
fn parse_grpc_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let is_name = |name: &str, extra: char| {
        !name.is_empty()
            && name.len() <= MAX_NAME_BYTES
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == extra)
    };
    (is_name(service, '.') && is_name(method, '_')).then_some((service, method))
}

/// Returns the final code when the response head already settles it, else `None` (trailers).
fn status_known_from_head<B: Body>(response: &http::Response<B>) -> Option<Code> {
    if response.headers().contains_key(GRPC_STATUS_HEADER) {
        return Some(code_from_grpc_status(response.headers()));
    }
    if response.status() != http::StatusCode::OK {
        return Some(code_from_http_status(response.status()));
    }
    response.body().is_end_stream().then_some(Code::Unknown)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Empty, StreamBody};
    use tower::{Layer as _, ServiceExt as _};

    use super::*;

    #[test]
    fn grpc_paths_are_split_into_service_and_method() {
        let cases = [
            (
                "ordinary",
                "/todo.v1.TaskService/CreateTask",
                Some(("todo.v1.TaskService", "CreateTask")),
            ),
            (
                "no package",
                "/Greeter/SayHello",
                Some(("Greeter", "SayHello")),
            ),
            ("no leading slash", "todo.v1.TaskService/CreateTask", None),
            ("no method", "/todo.v1.TaskService", None),
            ("empty method", "/todo.v1.TaskService/", None),
            ("extra segment", "/todo.v1.TaskService/CreateTask/1", None),
            ("an id in the path", "/tasks/0190c0de-1234", None),
            (
                "too long",
                &format!("/{}/Get", "a".repeat(MAX_NAME_BYTES + 1)),
                None,
            ),
        ];
        for (case, path, expected) in cases {
            assert_eq!(parse_grpc_path(path), expected, "case: {case}");
        }
    }

    fn grpc_request(path: &str) -> http::Request<Empty<Bytes>> {
        http::Request::builder()
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .body(Empty::new())
            .unwrap()
    }

    fn handled_line(service: &str, code: &str) -> String {
        format!(
            r#"todo_grpc_server_handled_total{{grpc_service="{service}",grpc_method="Get",grpc_code="{code}"}} 1"#
        )
    }

    #[tokio::test]
    async fn the_status_in_trailers_is_recorded_when_the_body_ends() {
        let handle = crate::install_recorder().unwrap();
        let service = GrpcTelemetryLayer::new().layer(tower::service_fn(
            |_request: http::Request<Empty<Bytes>>| async {
                let mut trailers = http::HeaderMap::new();
                trailers.insert(GRPC_STATUS_HEADER, http::HeaderValue::from_static("5"));
                let frames = [
                    Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"message"))),
                    Ok(Frame::trailers(trailers)),
                ];
                let body = StreamBody::new(tokio_stream::iter(frames));
                Ok::<_, Infallible>(http::Response::new(body))
            },
        ));

        let response = service
            .oneshot(grpc_request("/test.v1.TrailerService/Get"))
            .await
            .unwrap();
        let expected = handled_line("test.v1.TrailerService", "NotFound");
        assert!(
            !handle.render().contains(&expected),
            "not recorded before the body ends"
        );

        let collected = response.into_body().collect().await.unwrap();
        assert!(collected.trailers().is_some());
        assert!(handle.render().contains(&expected), "{}", handle.render());
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_trailers_is_recorded_as_canceled() {
        let handle = crate::install_recorder().unwrap();
        let service = GrpcTelemetryLayer::new().layer(tower::service_fn(
            |_request: http::Request<Empty<Bytes>>| async {
                let body =
                    StreamBody::new(tokio_stream::pending::<Result<Frame<Bytes>, Infallible>>());
                Ok::<_, Infallible>(http::Response::new(body))
            },
        ));

        let response = service
            .oneshot(grpc_request("/test.v1.AbandonedService/Get"))
            .await
            .unwrap();
        drop(response);
        let rendered = handle.render();
        assert!(
            rendered.contains(&handled_line("test.v1.AbandonedService", "Canceled")),
            "{rendered}"
        );
    }

    #[tokio::test]
    async fn unimplemented_calls_are_labelled_unknown_so_client_paths_stay_out_of_labels() {
        let handle = crate::install_recorder().unwrap();
        let service = GrpcTelemetryLayer::new().layer(tower::service_fn(
            |_request: http::Request<Empty<Bytes>>| async {
                let response = http::Response::builder()
                    .header(GRPC_STATUS_HEADER, "12")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                Ok::<_, Infallible>(response)
            },
        ));

        service
            .oneshot(grpc_request("/probe.v1.Random4711/Anything"))
            .await
            .unwrap();
        let rendered = handle.render();
        assert!(
            rendered.contains(
                r#"todo_grpc_server_handled_total{grpc_service="unknown",grpc_method="unknown",grpc_code="Unimplemented"}"#
            ),
            "{rendered}"
        );
        assert!(!rendered.contains("Random4711"), "{rendered}");
    }

    #[tokio::test]
    async fn requests_that_are_not_grpc_pass_through_unrecorded() {
        let handle = crate::install_recorder().unwrap();
        let service = GrpcTelemetryLayer::new().layer(tower::service_fn(
            |_request: http::Request<Empty<Bytes>>| async {
                Ok::<_, Infallible>(http::Response::new(Empty::<Bytes>::new()))
            },
        ));
        let request = http::Request::builder()
            .uri("/test.v1.PlainHttpService/Get")
            .body(Empty::new())
            .unwrap();

        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert!(!handle.render().contains("test.v1.PlainHttpService"));
    }
}
