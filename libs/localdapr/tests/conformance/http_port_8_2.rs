//! Reference §8.2: every sidecar has an HTTP port (`DAPR_HTTP_PORT`), where the official SDKs
//! poll `GET /v1.0/healthz/outbound` before their first call. daprd's two health endpoints
//! answer `204` (`/v1.0/healthz` only once the app is up), are open without the API token, and
//! everything else needs the token first; `localdapr run` gives each app its sidecar's port.
//! Checked with a plain HTTP/1.1 client over a socket.

use std::{net::SocketAddr, path::Path, time::Duration};

use localdapr::{
    AppSpec, Resources,
    runner::{self, RunFile, RunOptions},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::support::{COMPONENTS, TestDapr, no_callbacks, wait_until};

/// The status code and body of one HTTP/1.1 request to `address`.
async fn http(address: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let token = token
        .map(|token| format!("dapr-api-token: {token}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{token}Content-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an http response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn s8_2_the_health_endpoints_answer_without_the_token_and_the_rest_needs_it() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let mut spec = AppSpec::new("guarded", None);
    spec.api_token = Some("sidecar-secret".into());
    let app = dapr.client_with(spec).await;
    let address = app.sidecar_http_address();
    let cases = [
        (
            "sdk readiness probe",
            "GET",
            "/v1.0/healthz/outbound",
            None,
            204,
        ),
        ("healthz", "GET", "/v1.0/healthz", None, 204),
        ("healthz with a slash", "GET", "/v1.0/healthz/", None, 204),
        (
            "another app's id",
            "GET",
            "/v1.0/healthz?appid=other",
            None,
            500,
        ),
        ("only GET is open", "POST", "/v1.0/healthz", None, 401),
        (
            "state without token",
            "GET",
            "/v1.0/state/statestore/k",
            None,
            401,
        ),
        (
            "wrong token",
            "GET",
            "/v1.0/state/statestore/k",
            Some("nope"),
            401,
        ),
        (
            "state with the token",
            "GET",
            "/v1.0/state/statestore/k",
            Some("sidecar-secret"),
            // Deviation (README): localdapr's HTTP port serves only the health endpoints;
            // daprd serves its whole HTTP API (a missing key: 204).
            if dapr.is_real() { 204 } else { 501 },
        ),
    ];
    for (case, method, path, token, expected) in cases {
        let (status, body) = http(address, method, path, token).await;
        assert_eq!(status, expected, "case: {case}: {body}");
    }
    let (_, refused) = http(address, "GET", "/v1.0/metadata", None).await;
    assert_eq!(refused, "invalid api token\n", "daprd's http.Error text");
    if dapr.is_real() {
        return;
    }
    let (_, unsupported) = http(address, "GET", "/v1.0/metadata", Some("sidecar-secret")).await;
    let grpc_port = app.sidecar_address().port().to_string();
    assert!(
        unsupported.contains("ERR_LOCALDAPR_HTTP_NOT_SUPPORTED")
            && unsupported.contains(&grpc_port),
        "names the gRPC port to use instead: {unsupported}"
    );
}

#[tokio::test]
async fn s8_2_healthz_waits_for_the_app_and_outbound_does_not() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app_port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sidecar = dapr.sidecar(AppSpec::new("late", Some(app_port))).await;
    assert_eq!(
        http(sidecar.http_address, "GET", "/v1.0/healthz/outbound", None)
            .await
            .0,
        204,
        "ready before the app, so an SDK in the app can start"
    );
    let (status, body) = http(sidecar.http_address, "GET", "/v1.0/healthz", None).await;
    assert_eq!(
        (status, body.as_str()),
        (
            500,
            r#"{"errorCode":"ERR_HEALTH_NOT_READY","message":"dapr is not ready: [runtime]"}"#
        )
    );

    let listener = TcpListener::bind(("127.0.0.1", app_port)).await.unwrap();
    let mut routes = tonic::service::RoutesBuilder::default();
    no_callbacks().add_to(&mut routes);
    let app = tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes.routes())
            .serve_with_incoming(dapr_kit::net::incoming(listener)),
    );
    wait_until(
        "healthz reports the sidecar ready",
        Duration::from_secs(10),
        || async {
            http(sidecar.http_address, "GET", "/v1.0/healthz", None)
                .await
                .0
                == 204
        },
    )
    .await;
    app.abort();
}

#[tokio::test]
async fn s8_2_localdapr_run_gives_each_app_its_sidecars_http_port() {
    let dir = tempfile::tempdir().unwrap();
    let resources_dir = dir.path().join("resources");
    std::fs::create_dir(&resources_dir).unwrap();
    std::fs::write(resources_dir.join("components.yaml"), COMPONENTS).unwrap();
    let fixed_port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Each app writes the port it was given, then waits to be stopped.
    let command =
        |file: &str| format!(r#"["sh", "-c", "echo $DAPR_HTTP_PORT > {file}; exec sleep 60"]"#);
    let text = format!(
        "common: {{resourcesPath: ./resources}}\napps:\n\
         - {{appID: fixed, daprHTTPPort: {fixed_port}, command: {}}}\n\
         - {{appID: free, command: {}}}\n",
        command("fixed.port"),
        command("free.port")
    );
    let run_file = RunFile::parse(&text, dir.path()).unwrap();
    let resources = Resources::load(&run_file.resources_path).unwrap();
    let options = RunOptions {
        data_dir: dir.path().join(".localdapr"),
        daprd: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner::run(run_file, resources, options, async {
        stopped.await.ok();
    }));
    let port_of = |file: &'static str| {
        let path = dir.path().join(file);
        async move {
            wait_until(
                "the app wrote its DAPR_HTTP_PORT",
                Duration::from_secs(10),
                || async { read_port(&path).is_some() },
            )
            .await;
            read_port(&path).unwrap()
        }
    };
    let fixed = port_of("fixed.port").await;
    let free = port_of("free.port").await;
    assert_eq!(fixed, fixed_port, "daprHTTPPort is honoured");
    assert_ne!(free, fixed, "the other app gets a free port of its own");
    for port in [fixed, free] {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(
            http(address, "GET", "/v1.0/healthz/outbound", None).await.0,
            204,
            "port {port} is the app's sidecar"
        );
    }
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
}

fn read_port(path: &Path) -> Option<u16> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
