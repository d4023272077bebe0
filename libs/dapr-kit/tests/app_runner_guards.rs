//! The app runner's guards, over real sockets: it will not believe caller identity without an
//! app token, and it stops being ready, then stops, when its sidecar stops answering.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use dapr_kit::{
    AppCallbackService, AppListeners, AppServer, CallerRole, DaprClient, DaprConfig, JobHandlers,
    RunError, SidecarWatch, Subscriptions, TrustedCallers,
};
use todo_proto::dapr::proto::runtime::v1::{self as dapr, dapr_server};
use todo_telemetry::testsuite::wait_until;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tonic::{Request, Response, Status, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long a watched app waits for its sidecar in these tests.
const LOST_EXIT: Duration = Duration::from_secs(2);
/// How long any test waits for anything.
const DEADLINE: Duration = Duration::from_secs(20);

/// A sidecar whose `GetMetadata` fails while `down` is set, as a dead one would.
#[derive(Clone, Default)]
struct FakeSidecar {
    down: Arc<AtomicBool>,
}

#[tonic::async_trait]
impl dapr_server::Dapr for FakeSidecar {
    async fn get_metadata(
        &self,
        _request: Request<dapr::GetMetadataRequest>,
    ) -> Result<Response<dapr::GetMetadataResponse>, Status> {
        if self.down.load(Ordering::Relaxed) {
            return Err(Status::unavailable("connection refused"));
        }
        Ok(Response::new(dapr::GetMetadataResponse::default()))
    }
}

async fn bind() -> AppListeners {
    AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// An app watching a [`FakeSidecar`], probing every 50 ms.
struct Watched {
    sidecar: FakeSidecar,
    app: SocketAddr,
    admin: SocketAddr,
    run: JoinHandle<Result<(), RunError>>,
}

async fn start_watched() -> Watched {
    let sidecar = FakeSidecar::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(dapr_server::DaprServer::new(sidecar.clone()))
            .serve_with_incoming(dapr_kit::net::incoming(listener)),
    );
    let config = DaprConfig::for_endpoint(endpoint.parse().unwrap());
    let client = DaprClient::connect(&config).await.unwrap();
    let watch = SidecarWatch::new(client, &config)
        .probe_interval(Duration::from_millis(50))
        .lost_exit(LOST_EXIT);
    let listeners = bind().await;
    let (app, admin) = (
        listeners.app_address().unwrap(),
        listeners.admin_address().unwrap(),
    );
    let server = AppServer::new()
        .app_callback(AppCallbackService::new(
            Subscriptions::new(),
            JobHandlers::new(),
        ))
        .watch_sidecar(watch);
    let run = tokio::spawn(server.run(listeners, std::future::pending()));
    let watched = Watched {
        sidecar,
        app,
        admin,
        run,
    };
    wait_until("the app is ready", DEADLINE, || watched.is_ready()).await;
    watched
}

impl Watched {
    /// `/readyz` is 200 and gRPC health is SERVING.
    async fn is_ready(&self) -> bool {
        readyz(self.admin).await == Some(200)
            && health(self.app).await == Some(ServingStatus::Serving)
    }

    /// `/readyz` is 503 and gRPC health is NOT_SERVING.
    async fn is_not_ready(&self) -> bool {
        readyz(self.admin).await == Some(503)
            && health(self.app).await == Some(ServingStatus::NotServing)
    }
}

async fn readyz(admin: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(admin).await.ok()?;
    let request = "GET /readyz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

async fn health(app: SocketAddr) -> Option<ServingStatus> {
    let channel = Channel::from_shared(format!("http://{app}"))
        .unwrap()
        .connect()
        .await
        .ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .ok()?;
    Some(response.into_inner().status())
}

#[tokio::test]
async fn an_app_whose_sidecar_stops_answering_is_not_ready_then_exits_with_an_error() {
    let watched = start_watched().await;
    watched.sidecar.down.store(true, Ordering::Relaxed);
    wait_until("the app reports not ready", DEADLINE, || {
        watched.is_not_ready()
    })
    .await;

    let outcome = tokio::time::timeout(DEADLINE, watched.run)
        .await
        .expect("the app gives up on its sidecar")
        .unwrap();
    let Err(RunError::SidecarLost { gone }) = outcome else {
        panic!("expected SidecarLost, got {outcome:?}");
    };
    assert!(gone >= LOST_EXIT, "it waited the exit delay: {gone:?}");
    wait_until(
        "the app port is free for the next run",
        DEADLINE,
        || async { TcpStream::connect(watched.app).await.is_err() },
    )
    .await;
}

#[tokio::test]
async fn an_app_whose_sidecar_answers_again_is_ready_again() {
    let watched = start_watched().await;
    watched.sidecar.down.store(true, Ordering::Relaxed);
    wait_until("the app reports not ready", DEADLINE, || {
        watched.is_not_ready()
    })
    .await;
    watched.sidecar.down.store(false, Ordering::Relaxed);
    wait_until("the app is ready again", DEADLINE, || watched.is_ready()).await;
    assert!(!watched.run.is_finished(), "it keeps serving");
    watched.run.abort();
}

#[tokio::test]
async fn a_service_that_trusts_callers_refuses_to_run_without_an_app_token() {
    let trusted = TrustedCallers::new([(CallerRole::Gateway, "gateway")]);
    let outcome = AppServer::new()
        .trusted_callers(&trusted)
        .run(bind().await, std::future::pending())
        .await;
    assert!(
        matches!(outcome, Err(RunError::AppTokenRequired)),
        "{outcome:?}"
    );
}
