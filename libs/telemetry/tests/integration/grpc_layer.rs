//! `GrpcTelemetryLayer` over real servers, with tonic-health as the service under test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::serve::ListenerExt as _;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use todo_telemetry::{GrpcTelemetryLayer, TraceContextInterceptor, testsuite::wait_until};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::DEADLINE;

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
const UNKNOWN_SERVICE: &str = "todo.v1.NoSuchService";

/// Serialises the tests that count the shared `grpc.health.v1.Health/Check` series.
static HEALTH_CHECK_SERIES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server on `127.0.0.1:0` that stops when dropped via [`TestServer::stop`].
struct TestServer {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), String>>,
}

impl TestServer {
    async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        let served = tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the server stops within the deadline")
            .unwrap();
        assert_eq!(served, Ok(()));
    }
}

async fn spawn_tonic_server() -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_reporter, health_service) = tonic_health::server::health_reporter();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(GrpcTelemetryLayer::new())
            .add_service(health_service)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    stopped.await.ok();
                },
            )
            .await
            .map_err(|error| error.to_string())
    });
    TestServer {
        address,
        stop,
        task,
    }
}

async fn spawn_axum_server() -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_reporter, health_service) = tonic_health::server::health_reporter();
    let router = tonic::service::Routes::new(health_service)
        .into_axum_router()
        .layer(GrpcTelemetryLayer::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        #[expect(
            clippy::disallowed_methods,
            reason = "dapr_kit::net::serve sits above this crate; the accepted sockets get nodelay"
        )]
        axum::serve(
            listener.tap_io(|tcp| tcp.set_nodelay(true).unwrap()),
            router,
        )
        .with_graceful_shutdown(async {
            stopped.await.ok();
        })
        .await
        .map_err(|error| error.to_string())
    });
    TestServer {
        address,
        stop,
        task,
    }
}

fn check_request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// Reads one `todo_grpc_server_handled_total` sample from the rendered metrics; absent is 0.
fn handled_total(rendered: &str, service: &str, method: &str, code: &str) -> u64 {
    let series = format!(
        r#"todo_grpc_server_handled_total{{grpc_service="{service}",grpc_method="{method}",grpc_code="{code}"}} "#
    );
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Calls Check once with a registered service (OK) and once with an unknown one (NotFound),
/// then asserts each was counted once with its code, and that the duration was observed.
async fn assert_ok_and_error_calls_are_counted(server: TestServer) {
    let handle = todo_telemetry::install_recorder().unwrap();
    let _series = HEALTH_CHECK_SERIES.lock().await;
    let count = |code: &str| handled_total(&handle.render(), HEALTH_SERVICE, "Check", code);
    let ok_before = count("OK");
    let not_found_before = count("NotFound");

    let mut client = HealthClient::new(server.channel().await);
    client.check(check_request("")).await.unwrap();
    let error = client
        .check(check_request(UNKNOWN_SERVICE))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);

    wait_until("both calls are counted", DEADLINE, || async {
        count("OK") == ok_before + 1 && count("NotFound") == not_found_before + 1
    })
    .await;
    handle.run_upkeep();
    let rendered = handle.render();
    assert!(
        rendered.contains(
            r#"todo_grpc_server_handling_seconds_count{grpc_service="grpc.health.v1.Health",grpc_method="Check"}"#
        ),
        "{rendered}"
    );
    assert!(
        !rendered.contains(UNKNOWN_SERVICE),
        "request fields never become labels: {rendered}"
    );

    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn tonic_server_layer_counts_ok_and_error_calls_by_code() {
    assert_ok_and_error_calls_are_counted(spawn_tonic_server().await).await;
}

#[tokio::test]
async fn axum_router_layer_counts_ok_and_error_calls_by_code() {
    assert_ok_and_error_calls_are_counted(spawn_axum_server().await).await;
}

/// Keeps every finished span in memory.
#[derive(Debug, Clone, Default)]
struct CollectedSpans(Arc<Mutex<Vec<SpanData>>>);

impl CollectedSpans {
    fn server_spans(&self) -> Vec<SpanData> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|span| span.span_kind == SpanKind::Server)
            .cloned()
            .collect()
    }
}

impl SpanExporter for CollectedSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: name, .. }| name.as_str() == key)
        .map(|attribute| &attribute.value)
}

// The current-thread runtime runs the server's tasks on this thread, so the thread-local
// subscriber below sees the server's spans without a global subscriber.
#[tokio::test(flavor = "current_thread")]
async fn server_spans_are_named_for_the_rpc_and_continue_the_callers_trace() {
    let _series = HEALTH_CHECK_SERIES.lock().await;
    let collected = CollectedSpans::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(collected.clone())
        .build();
    let subscriber =
        tracing_subscriber::registry().with(todo_telemetry::opentelemetry_layer(&provider));
    let _default = tracing::subscriber::set_default(subscriber);

    let server = spawn_tonic_server().await;
    let mut client =
        HealthClient::with_interceptor(server.channel().await, TraceContextInterceptor);

    let caller_span = tracing::info_span!("caller");
    let caller_context = caller_span.context().span().span_context().clone();
    client
        .check(check_request(""))
        .instrument(caller_span)
        .await
        .unwrap();
    let error = client
        .check(check_request(UNKNOWN_SERVICE))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);

    wait_until("both server spans are exported", DEADLINE, || async {
        collected.server_spans().len() == 2
    })
    .await;
    let spans = collected.server_spans();
    let status_code = |span: &SpanData| attribute(span, "rpc.grpc.status_code").cloned();
    let (ok_span, not_found_span) = match status_code(&spans[0]) {
        Some(Value::I64(0)) => (&spans[0], &spans[1]),
        _ => (&spans[1], &spans[0]),
    };

    for span in [ok_span, not_found_span] {
        assert_eq!(span.name, "grpc.health.v1.Health/Check");
        assert_eq!(attribute(span, "rpc.system"), Some(&Value::from("grpc")));
        assert_eq!(
            attribute(span, "rpc.service"),
            Some(&Value::from(HEALTH_SERVICE))
        );
        assert_eq!(attribute(span, "rpc.method"), Some(&Value::from("Check")));
        assert_eq!(
            span.status,
            Status::Unset,
            "OK and NotFound are not server errors"
        );
    }
    assert_eq!(status_code(ok_span), Some(Value::I64(0)));
    assert_eq!(status_code(not_found_span), Some(Value::I64(5)));

    assert_eq!(ok_span.span_context.trace_id(), caller_context.trace_id());
    assert_eq!(ok_span.parent_span_id, caller_context.span_id());
    assert!(ok_span.parent_span_is_remote);
    assert_eq!(
        not_found_span.parent_span_id,
        SpanId::INVALID,
        "a call without traceparent starts a new trace"
    );

    drop(client);
    server.stop().await;
}
