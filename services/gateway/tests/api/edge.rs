//! The public port's other faces: CORS, the frontend, `/healthz`, health and reflection.

use std::net::SocketAddr;

use prost::Message;
use todo_proto::todo::v1 as proto;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    grpc_web_client,
    test_app::{spawn_app, spawn_app_with},
};

/// Sends `request` over HTTP/1.1 and returns the status, the lower-cased head and the body.
async fn http(address: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).to_string();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

async fn get(address: SocketAddr, path: &str) -> (u16, String, String) {
    http(
        address,
        &format!("GET {path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n"),
    )
    .await
}

fn preflight(origin: &str) -> String {
    format!(
        "OPTIONS /todo.v1.TaskService/ListTasks HTTP/1.1\r\nhost: gateway\r\norigin: {origin}\r\n\
         access-control-request-method: POST\r\n\
         access-control-request-headers: authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout\r\n\
         connection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn only_configured_origins_get_cors_headers() {
    let app = spawn_app_with(&[("TODO_CORS_ORIGINS", "https://app.example")]).await;
    let (status, allowed, _) = http(app.address, &preflight("https://app.example")).await;
    assert_eq!(status, 200, "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://app.example"),
        "{allowed}"
    );
    for header in [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
    ] {
        assert!(allowed.contains(header), "{header} allowed: {allowed}");
    }
    // tower-http still lists the allowed methods and headers to any origin; without
    // access-control-allow-origin they grant nothing.
    let (_, refused, _) = http(app.address, &preflight("https://evil.example")).await;
    assert!(
        !refused.contains("access-control-allow-origin"),
        "{refused}"
    );

    let ada = app.new_user().await;
    let bearer = format!("Bearer {}", ada.tokens.access_token);
    let call = |origin: &'static str| {
        let bearer = bearer.clone();
        async move {
            grpc_web_client::call(
                app.address,
                "/todo.v1.TaskService/ListTasks",
                proto::ListTasksRequest::default().encode_to_vec(),
                &[("authorization", &bearer), ("origin", origin)],
            )
            .await
        }
    };
    let from_app = call("https://app.example").await;
    assert_eq!(from_app.grpc_status(), Some("0"), "{from_app:?}");
    assert_eq!(
        from_app.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let exposed = from_app.header("access-control-expose-headers").unwrap();
    for header in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.contains(header), "{header} exposed: {exposed}");
    }
    let from_elsewhere = call("https://evil.example").await;
    assert_eq!(
        from_elsewhere.header("access-control-allow-origin"),
        None,
        "{from_elsewhere:?}"
    );
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = spawn_app().await;
    let (_, head, _) = http(app.address, &preflight("https://app.example")).await;
    assert!(!head.contains("access-control-"), "{head}");
}

#[tokio::test]
async fn the_frontend_is_served_with_a_single_page_app_fallback() {
    let app = spawn_app().await;
    let cases = [
        ("root", "/", "<!doctype html><h1>Todo Suite</h1>"),
        ("asset", "/assets/app.js", "console.log('todo')"),
        (
            "app route",
            "/tasks/today",
            "<!doctype html><h1>Todo Suite</h1>",
        ),
    ];
    for (case, path, expected) in cases {
        let (status, _, body) = get(app.address, path).await;
        assert_eq!((status, body.as_str()), (200, expected), "case: {case}");
    }
    let (status, _, body) = get(app.address, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn an_unbuilt_frontend_gets_a_page_that_says_how_to_build_it() {
    let missing = tempfile::tempdir().unwrap();
    let missing = missing.path().join("frontend/dist");
    let app = spawn_app_with(&[("TODO_FRONTEND_DIR", missing.to_str().unwrap())]).await;
    let (status, head, body) = get(app.address, "/").await;
    assert_eq!(status, 503);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.contains("The frontend is not built"), "{body}");
    assert!(body.contains("npm --prefix frontend"), "{body}");
    assert_eq!(
        get(app.address, "/healthz").await.0,
        200,
        "the gateway itself is up"
    );
}

#[tokio::test]
async fn health_reports_every_service_serving() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel());
    for service in [
        "",
        "todo.v1.AuthService",
        "todo.v1.TaskService",
        "todo.v1.AuditService",
        "todo.v1.NotificationService",
        "todo.v1.SyncService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "service {service:?}");
    }
}

/// The services a reflection client of version `$version` (`v1` or `v1alpha`) lists.
macro_rules! reflected_services {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let response = ServerReflectionClient::new($channel)
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("{}: expected a service list", stringify!($version));
        };
        list.service
            .into_iter()
            .map(|service| service.name)
            .collect::<Vec<String>>()
    }};
}

#[tokio::test]
async fn reflection_lists_the_api_in_v1_and_v1alpha() {
    let app = spawn_app().await;
    let listed = [
        ("v1", reflected_services!(v1, app.channel())),
        ("v1alpha", reflected_services!(v1alpha, app.channel())),
    ];
    for (version, names) in listed {
        for service in [
            "todo.v1.AuthService",
            "todo.v1.TaskService",
            "todo.v1.SyncService",
            "todo.v1.AuditService",
            "todo.v1.NotificationService",
        ] {
            assert!(
                names.iter().any(|name| name == service),
                "{version} lists {service}: {names:?}"
            );
        }
    }
}
