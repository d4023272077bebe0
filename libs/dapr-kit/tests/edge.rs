//! What clients outside see from every app the runner serves: accepted sockets with
//! `TCP_NODELAY`, reflection (v1 and v1alpha) that lists health and reflection and resolves
//! `google.rpc` error details for grpcurl, and `RESOURCE_EXHAUSTED` for an oversized request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::net::SocketAddr;

use axum::{Extension, Router, extract::ConnectInfo, routing::get};
use dapr_kit::{AppListeners, AppServer, net::AcceptedConnection};
use prost::Message as _;
use todo_proto::todo::v1::{self as todo, task_service_client, task_service_server};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tonic::{Code, transport::Channel};
use tonic_reflection::pb::{v1, v1alpha};

async fn socket_report(
    Extension(connection): Extension<AcceptedConnection>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> String {
    format!(
        "nodelay={} same_peer={}",
        connection.is_nodelay,
        peer == connection.peer
    )
}

#[tokio::test]
async fn the_app_port_accepts_sockets_with_nodelay_set() {
    let listeners = AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let address = listeners.app_address().unwrap();
    let server = AppServer::new().http_routes(Router::new().route("/socket", get(socket_report)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listeners, async {
        stopped.await.ok();
    }));

    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /socket HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();

    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nnodelay=true same_peer=true"),
        "{response}"
    );
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// A TaskService that answers nothing (every RPC is a default stub).
struct NoTasks;

impl task_service_server::TaskService for NoTasks {}

async fn start_app() -> (Channel, tokio::sync::oneshot::Sender<()>) {
    let listeners = AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let address: SocketAddr = listeners.app_address().unwrap();
    let server = AppServer::new()
        .grpc_service(task_service_server::TaskServiceServer::new(NoTasks))
        .reflection(todo_proto::TODO_FILE_DESCRIPTOR_SET);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(listeners, async {
        stopped.await.ok();
    }));
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (channel, stop)
}

/// Sends one v1 reflection request and returns its answer.
async fn ask_v1(
    channel: &Channel,
    request: v1::server_reflection_request::MessageRequest,
) -> v1::server_reflection_response::MessageResponse {
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    responses
        .message()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
}

/// The names of the files in a v1 `FileDescriptorResponse`.
fn file_names(response: v1::server_reflection_response::MessageResponse) -> Vec<String> {
    let v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files) = response
    else {
        panic!("expected file descriptors, got {response:?}");
    };
    files
        .file_descriptor_proto
        .iter()
        .map(|raw| {
            prost_types::FileDescriptorProto::decode(raw.as_slice())
                .unwrap()
                .name
                .unwrap()
        })
        .collect()
}

const EXPECTED_SERVICES: [&str; 4] = [
    "todo.v1.TaskService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Fails unless `names` (a reflection service list) holds every one of [`EXPECTED_SERVICES`].
fn assert_lists_every_expected_service<'a>(names: impl Iterator<Item = &'a str>) {
    let names: Vec<_> = names.collect();
    for expected in EXPECTED_SERVICES {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn reflection_v1_lists_health_and_reflection_beside_the_api() {
    let (channel, _stop) = start_app().await;
    let response = ask_v1(
        &channel,
        v1::server_reflection_request::MessageRequest::ListServices(String::new()),
    )
    .await;
    let v1::server_reflection_response::MessageResponse::ListServicesResponse(list) = response
    else {
        panic!("expected a service list, got {response:?}");
    };
    assert_lists_every_expected_service(list.service.iter().map(|s| s.name.as_str()));
}

#[tokio::test]
async fn reflection_v1alpha_lists_the_same_services_for_older_grpcurl() {
    let (channel, _stop) = start_app().await;
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap().message_response;
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response
    else {
        panic!("expected a service list, got {response:?}");
    };
    assert_lists_every_expected_service(list.service.iter().map(|s| s.name.as_str()));
}

#[tokio::test]
async fn reflection_resolves_health_and_google_rpc_error_details_with_their_imports() {
    let (channel, _stop) = start_app().await;
    let cases = [
        ("grpc.health.v1.Health", "health.proto"),
        ("google.rpc.BadRequest", "error_details.proto"),
        (
            "google.rpc.BadRequest.FieldViolation",
            "error_details.proto",
        ),
        ("google.rpc.Status", "status.proto"),
    ];
    for (symbol, file) in cases {
        let response = ask_v1(
            &channel,
            v1::server_reflection_request::MessageRequest::FileContainingSymbol(symbol.into()),
        )
        .await;
        assert_eq!(file_names(response), [file], "symbol {symbol}");
    }
    // grpcurl then fetches each import by name.
    for import in [
        "google/protobuf/duration.proto",
        "google/protobuf/any.proto",
    ] {
        let response = ask_v1(
            &channel,
            v1::server_reflection_request::MessageRequest::FileByFilename(import.into()),
        )
        .await;
        assert_eq!(file_names(response), [import]);
    }
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_resource_exhausted() {
    let (channel, _stop) = start_app().await;
    let mut tasks = task_service_client::TaskServiceClient::new(channel);
    let oversized = todo::CreateTaskRequest {
        title: "x".repeat(4 * 1024 * 1024 + 1),
        ..Default::default()
    };

    let status = tasks.create_task(oversized).await.unwrap_err();

    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("request message too large: found "),
        "{status:?}"
    );
    // Below the limit the call reaches the service (a default stub here).
    let fitting = todo::CreateTaskRequest {
        title: "x".repeat(1024),
        ..Default::default()
    };
    assert_eq!(
        tasks.create_task(fitting).await.unwrap_err().code(),
        Code::Unimplemented
    );
}
