//! Real OTLP export: spans travel over gRPC to a fake collector on `127.0.0.1:0`.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use tracing_subscriber::layer::SubscriberExt as _;

use todo_telemetry::testsuite::wait_until;

use crate::DEADLINE;

/// Records every span batch it receives, as an OpenTelemetry collector would accept it.
#[derive(Debug, Clone, Default)]
struct FakeCollector {
    received: Arc<Mutex<Vec<ResourceSpans>>>,
}

#[tonic::async_trait]
impl TraceService for FakeCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.received
            .lock()
            .unwrap()
            .extend(request.into_inner().resource_spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl FakeCollector {
    /// Lists `(service.name, span name)` for every received span.
    fn received_spans(&self) -> Vec<(String, String)> {
        let received = self.received.lock().unwrap();
        let mut spans = Vec::new();
        for resource_spans in received.iter() {
            let service_name = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
                .map(|value| match value {
                    any_value::Value::StringValue(name) => name.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    spans.push((service_name.clone(), span.name.clone()));
                }
            }
        }
        spans
    }
}

#[tokio::test]
async fn spans_are_exported_over_otlp_grpc_with_the_service_name() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let collector = FakeCollector::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let collector_task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    stopped.await.ok();
                },
            ),
    );

    let provider =
        todo_telemetry::build_tracer_provider("otlp-test-service", Some(&endpoint)).unwrap();
    let subscriber =
        tracing_subscriber::registry().with(todo_telemetry::opentelemetry_layer(&provider));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("export_me", otel.name = "todo.test/ExportMe");
        span.in_scope(|| tracing::info!("inside the exported span"));
    });

    // Shutdown flushes the batch processor, so the span must be sent by the time it returns.
    todo_telemetry::shutdown_tracer_provider(provider)
        .await
        .unwrap();
    wait_until("the collector has the span", DEADLINE, || async {
        !collector.received_spans().is_empty()
    })
    .await;
    assert_eq!(
        collector.received_spans(),
        [(
            "otlp-test-service".to_owned(),
            "todo.test/ExportMe".to_owned()
        )]
    );

    stop.send(()).unwrap();
    tokio::time::timeout(DEADLINE, collector_task)
        .await
        .expect("the collector stops within the deadline")
        .unwrap()
        .unwrap();
}
