//! The app runner over real sockets: what it serves, and how it drains.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::{net::SocketAddr, sync::Arc, time::Duration};

use dapr_kit::{AppCallbackService, AppListeners, AppServer, JobHandlers, Subscriptions};
use secrecy::SecretString;
use todo_proto::todo::v1::{self as todo, task_service_server};
use todo_telemetry::testsuite::wait_until;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{Notify, oneshot},
};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// Answers GetTask after a pause, so a test can shut down while a call is in flight; `started`
/// is notified when a call reaches the handler.
#[derive(Clone, Default)]
struct SlowTasks {
    started: Arc<Notify>,
}

#[tonic::async_trait]
impl task_service_server::TaskService for SlowTasks {
    async fn get_task(
        &self,
        request: Request<todo::GetTaskRequest>,
    ) -> Result<Response<todo::GetTaskResponse>, Status> {
        self.started.notify_one();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let task = todo::Task {
            id: request.into_inner().task_id,
            ..Default::default()
        };
        Ok(Response::new(todo::GetTaskResponse { task: Some(task) }))
    }
}

struct Running {
    app: SocketAddr,
    admin: SocketAddr,
    stop: oneshot::Sender<()>,
    finished: tokio::task::JoinHandle<Result<(), dapr_kit::RunError>>,
    slow: SlowTasks,
    shutting_down: CancellationToken,
}

async fn start(app_token: Option<&str>) -> Running {
    start_with(app_token, Duration::ZERO).await
}

async fn start_with(app_token: Option<&str>, shutdown_delay: Duration) -> Running {
    let listeners = AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let (app, admin) = (
        listeners.app_address().unwrap(),
        listeners.admin_address().unwrap(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let slow = SlowTasks::default();
    let shutting_down = CancellationToken::new();
    let server = AppServer::new()
        .grpc_service(task_service_server::TaskServiceServer::new(slow.clone()))
        .app_callback(AppCallbackService::new(
            Subscriptions::new(),
            JobHandlers::new(),
        ))
        .reflection(todo_proto::TODO_FILE_DESCRIPTOR_SET)
        .app_token(app_token.map(SecretString::from))
        .shutdown_grace(Duration::from_secs(5))
        .shutdown_delay(shutdown_delay)
        .notify_shutdown(shutting_down.clone());
    let finished = tokio::spawn(server.run(listeners, async {
        let _ = stopped.await;
    }));
    Running {
        app,
        admin,
        stop,
        finished,
        slow,
        shutting_down,
    }
}

async fn channel(address: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A minimal HTTP/1.1 GET, enough for the admin endpoints.
async fn http_get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    (status, response)
}

#[tokio::test]
async fn health_reports_serving_for_the_app_and_each_service() {
    let running = start(None).await;
    let mut health = HealthClient::new(channel(running.app).await);
    for service in ["", "todo.v1.TaskService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.status(),
            ServingStatus::Serving,
            "service {service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.Service".into(),
        })
        .await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_registered_services() {
    let running = start(None).await;
    let mut reflection = ServerReflectionClient::new(channel(running.app).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"todo.v1.TaskService"), "{names:?}");
}

#[tokio::test]
async fn the_admin_port_serves_probes_and_grpc_metrics() {
    let running = start(None).await;
    let mut tasks = todo::task_service_client::TaskServiceClient::new(channel(running.app).await);
    tasks
        .get_task(todo::GetTaskRequest {
            task_id: "t".into(),
        })
        .await
        .unwrap();
    assert_eq!(http_get(running.admin, "/healthz").await.0, 200);
    assert_eq!(http_get(running.admin, "/readyz").await.0, 200);
    let (status, metrics) = http_get(running.admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"grpc_method="GetTask""#)
            && metrics.contains("todo_grpc_server_handled_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_app_token_guards_the_api_but_not_health() {
    let running = start(Some("t0k")).await;
    let channel = channel(running.app).await;
    let mut tasks = todo::task_service_client::TaskServiceClient::new(channel.clone());
    let refused = tasks
        .get_task(todo::GetTaskRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let mut health = HealthClient::new(channel);
    health.check(HealthCheckRequest::default()).await.unwrap();
}

#[tokio::test]
async fn shutdown_finishes_calls_in_flight_then_stops_serving() {
    let running = start(None).await;
    let mut tasks = todo::task_service_client::TaskServiceClient::new(channel(running.app).await);
    let in_flight = tokio::spawn(async move {
        tasks
            .get_task(todo::GetTaskRequest {
                task_id: "slow".into(),
            })
            .await
    });
    running.slow.started.notified().await;
    running.stop.send(()).unwrap();
    let answered = in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert_eq!(answered.into_inner().task.unwrap().id, "slow");
    running
        .finished
        .await
        .unwrap()
        .expect("the runner stops cleanly");
    assert!(
        running.shutting_down.is_cancelled(),
        "the shutdown notice went out"
    );
}

#[tokio::test]
async fn during_the_shutdown_delay_the_app_is_unready_but_still_serving() {
    let running = start_with(None, Duration::from_secs(30)).await;
    let mut tasks = todo::task_service_client::TaskServiceClient::new(channel(running.app).await);
    running.stop.send(()).unwrap();
    running.shutting_down.cancelled().await;
    wait_until("readiness reports 503", Duration::from_secs(10), || async {
        http_get(running.admin, "/readyz").await.0 == 503
    })
    .await;
    let answered = tasks
        .get_task(todo::GetTaskRequest {
            task_id: "late".into(),
        })
        .await;
    assert_eq!(
        answered.unwrap().into_inner().task.unwrap().id,
        "late",
        "calls are still served"
    );
    assert!(
        !running.finished.is_finished(),
        "the port stays open for the delay"
    );
}

#[tokio::test]
async fn plain_http_routes_share_the_app_port_with_grpc() {
    let listeners = AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let app = listeners.app_address().unwrap();
    let http = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi" }))
        .fallback(|| async { (http::StatusCode::NOT_FOUND, "no such page") });
    let server = AppServer::new()
        .grpc_service(task_service_server::TaskServiceServer::new(
            SlowTasks::default(),
        ))
        .http_routes(http);
    tokio::spawn(server.run(listeners, std::future::pending()));
    let (status, body) = http_get(app, "/hello").await;
    assert_eq!(status, 200);
    assert!(body.ends_with("hi"), "{body}");
    assert_eq!(
        http_get(app, "/todo.v1.TaskService/GetTask").await.0,
        404,
        "browsers get HTTP"
    );
    let mut health = HealthClient::new(channel(app).await);
    health.check(HealthCheckRequest::default()).await.unwrap();
}

/// Sends `request` as written and returns the status and the whole response, lower-cased.
async fn http_exchange(address: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).to_lowercase();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    (status, response)
}

#[tokio::test]
async fn cors_answers_preflights_and_grpc_web_calls_for_allowed_origins_only() {
    let listeners = AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let app = listeners.app_address().unwrap();
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin([http::HeaderValue::from_static("https://app.example")])
        .allow_methods([http::Method::POST])
        .allow_headers([http::header::CONTENT_TYPE])
        .expose_headers([http::HeaderName::from_static("grpc-status")]);
    let server = AppServer::new()
        .grpc_service(task_service_server::TaskServiceServer::new(
            SlowTasks::default(),
        ))
        .grpc_web()
        .http_routes(axum::Router::new())
        .cors(cors);
    tokio::spawn(server.run(listeners, std::future::pending()));

    let preflight = |origin: &str| {
        format!(
            "OPTIONS /todo.v1.TaskService/GetTask HTTP/1.1\r\nhost: test\r\norigin: {origin}\r\n\
             access-control-request-method: POST\r\naccess-control-request-headers: content-type\r\n\
             connection: close\r\n\r\n"
        )
    };
    let (status, allowed) = http_exchange(app, preflight("https://app.example").as_bytes()).await;
    assert_eq!(status, 200, "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://app.example"),
        "{allowed}"
    );
    let (_, refused) = http_exchange(app, preflight("https://evil.example").as_bytes()).await;
    assert!(
        !refused.contains("access-control-allow-origin"),
        "{refused}"
    );

    let message = prost::Message::encode_to_vec(&todo::GetTaskRequest {
        task_id: "t".into(),
    });
    let mut call = format!(
        "POST /todo.v1.TaskService/GetTask HTTP/1.1\r\nhost: test\r\norigin: https://app.example\r\n\
         content-type: application/grpc-web+proto\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        message.len() + 5
    )
    .into_bytes();
    call.push(0);
    call.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    call.extend_from_slice(&message);
    let (status, answered) = http_exchange(app, &call).await;
    assert_eq!(status, 200, "{answered}");
    assert!(
        answered.contains("access-control-allow-origin: https://app.example")
            && answered.contains("access-control-expose-headers: grpc-status"),
        "{answered}"
    );
}
