//! `spawn_app`: localdapr with the suite's components; todo-api behind its sidecar; a recording
//! stand-in for audit behind its sidecar; and the real gateway on port 0 behind a sidecar with
//! app id `gateway`, with a built frontend in a temporary directory. Helpers sign users up and
//! build clients that carry their access tokens.

use dapr_kit::ServiceConfig;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr_kit::{AppListeners, AppServer};
use localdapr::{AppSpec, testsuite::TestDapr};
use tempfile::TempDir;
use todo_proto::todo::v1::{
    self as proto, audit_service_client::AuditServiceClient, audit_service_server,
    auth_service_client::AuthServiceClient, notification_service_client::NotificationServiceClient,
    sync_service_server, task_service_client::TaskServiceClient,
};
use tokio::sync::oneshot;
use tonic::{
    Request, Response, Status,
    codegen::BoxStream,
    metadata::{AsciiMetadataValue, MetadataMap},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

/// A channel whose calls carry `authorization: Bearer <token>`.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// Adds a bearer token to every call.
#[derive(Clone)]
pub struct Bearer(AsciiMetadataValue);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The running suite and its clients.
pub struct TestApp {
    pub dapr: TestDapr,
    /// The gateway's public port.
    pub address: SocketAddr,
    /// What the stand-in audit service received.
    pub audit_calls: Calls,
    channel: Channel,
    _frontend: TempDir,
    stops: Vec<oneshot::Sender<()>>,
}

/// A signed-up user.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub email: String,
    pub password: String,
    pub user: proto::User,
    pub tokens: proto::AuthTokens,
}

impl TestApp {
    /// An AuthService client.
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    /// A raw channel to the public port.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A channel that presents `access_token`.
    pub fn authorized(&self, access_token: &str) -> Authorized {
        let value = format!("Bearer {access_token}").parse().unwrap();
        InterceptedService::new(self.channel.clone(), Bearer(value))
    }

    /// TaskService for the holder of `access_token`.
    pub fn tasks(&self, access_token: &str) -> TaskServiceClient<Authorized> {
        TaskServiceClient::new(self.authorized(access_token))
    }

    /// AuditService for the holder of `access_token`.
    pub fn audit(&self, access_token: &str) -> AuditServiceClient<Authorized> {
        AuditServiceClient::new(self.authorized(access_token))
    }

    /// NotificationService for the holder of `access_token`.
    pub fn notifications(&self, access_token: &str) -> NotificationServiceClient<Authorized> {
        NotificationServiceClient::new(self.authorized(access_token))
    }

    /// Signs up a fresh user with a random email.
    pub async fn new_user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4());
        self.sign_up(&email, "correct horse battery", "Test User")
            .await
            .unwrap()
    }

    /// Signs up.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> Result<TestUser, Status> {
        let response = self
            .auth()
            .sign_up(proto::SignUpRequest {
                email: email.into(),
                password: password.into(),
                display_name: display_name.into(),
            })
            .await?
            .into_inner();
        Ok(TestUser {
            email: email.into(),
            password: password.into(),
            user: response.user.unwrap(),
            tokens: response.tokens.unwrap(),
        })
    }

    /// Signs in.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
    ) -> Result<proto::SignInResponse, Status> {
        self.auth()
            .sign_in(proto::SignInRequest {
                email: email.into(),
                password: password.into(),
            })
            .await
            .map(Response::into_inner)
    }

    /// Starts a stand-in sync service and returns what it will receive.
    pub async fn start_sync_stand_in(&mut self) -> Calls {
        let calls = Calls::default();
        let sync = sync_service_server::SyncServiceServer::new(RecordingSync(calls.clone()));
        self.stops
            .push(start_stand_in(&self.dapr, "sync", sync).await);
        calls
    }

    /// The JWT signing key localdapr's secret store holds.
    pub fn signing_key(&self) -> Vec<u8> {
        let secrets = std::fs::read(self.dapr.data_dir.path().join("secrets.json")).unwrap();
        let secrets: serde_json::Value = serde_json::from_slice(&secrets).unwrap();
        secrets["todo-suite"]["jwt-signing-key"]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec()
    }
}

/// Every call a stand-in service received: its metadata and what it asked for.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<(MetadataMap, String)>>>);

impl Calls {
    /// The calls so far.
    pub fn received(&self) -> Vec<(MetadataMap, String)> {
        self.0.lock().unwrap().clone()
    }

    fn record(&self, metadata: &MetadataMap, asked: &str) {
        self.0
            .lock()
            .unwrap()
            .push((metadata.clone(), asked.to_string()));
    }
}

/// Stands in for the audit service, which does not exist yet: records each call, then answers
/// by task id — `slow` after 5 s, `archived` with a FailedPrecondition carrying an ErrorInfo,
/// anything else with an empty history.
struct RecordingAudit(Calls);

#[tonic::async_trait]
impl audit_service_server::AuditService for RecordingAudit {
    async fn list_task_history(
        &self,
        request: Request<proto::ListTaskHistoryRequest>,
    ) -> Result<Response<proto::ListTaskHistoryResponse>, Status> {
        let task_id = request.get_ref().task_id.clone();
        self.0.record(request.metadata(), &task_id);
        match task_id.as_str() {
            "slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Response::new(proto::ListTaskHistoryResponse::default()))
            }
            "archived" => Err(<Status as tonic_types::StatusExt>::with_error_details(
                tonic::Code::FailedPrecondition,
                "history is archived",
                tonic_types::ErrorDetails::with_error_info(
                    "HISTORY_ARCHIVED",
                    "audit.todo",
                    HashMap::new(),
                ),
            )),
            _ => Ok(Response::new(proto::ListTaskHistoryResponse::default())),
        }
    }
}

/// Stands in for the sync service, which does not exist yet: records each watch, then streams
/// a `ResyncRequired` (7 missed events) and a `Heartbeat`, and ends.
struct RecordingSync(Calls);

#[tonic::async_trait]
impl sync_service_server::SyncService for RecordingSync {
    async fn watch_tasks(
        &self,
        request: Request<proto::WatchTasksRequest>,
    ) -> Result<Response<BoxStream<proto::WatchTasksResponse>>, Status> {
        self.0.record(request.metadata(), "watch");
        let items = [
            proto::watch_tasks_response::Item::ResyncRequired(proto::ResyncRequired {
                missed_events: 7,
            }),
            proto::watch_tasks_response::Item::Heartbeat(proto::Heartbeat {}),
        ]
        .map(|item| Ok(proto::WatchTasksResponse { item: Some(item) }));
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
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

fn vars_lookup(vars: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |name| vars.get(name).cloned()
}

/// Runs `serve` until the returned sender is dropped.
fn spawn_until_dropped<F>(
    name: &'static str,
    serve: impl FnOnce(oneshot::Receiver<()>) -> F,
) -> oneshot::Sender<()>
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = serve(stopped);
    tokio::spawn(async move {
        if let Err(error) = serving.await {
            panic!("{name} stopped: {error}");
        }
    });
    stop
}

async fn wait_serving(address: SocketAddr, service: &str) {
    let health = tonic_health::pb::health_client::HealthClient::new(
        Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy(),
    );
    localdapr::testsuite::wait_until(
        &format!("{service} is SERVING at {address}"),
        Duration::from_secs(20),
        || {
            let mut health = health.clone();
            async move {
                health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: service.into(),
                    })
                    .await
                    .is_ok_and(|r| r.into_inner().status == 1)
            }
        },
    )
    .await;
}

/// Starts todo-api and audit's stand-in behind their sidecars.
async fn start_upstreams(dapr: &TestDapr, stops: &mut Vec<oneshot::Sender<()>>) -> Calls {
    let listeners = bind().await;
    let todo_api_address = listeners.app_address().unwrap();
    let sidecar = dapr
        .sidecar(AppSpec::new("todo-api", Some(todo_api_address.port())))
        .await;
    let vars = sidecar
        .app_env()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    let config = todo_api::Config::from_lookup(vars_lookup(vars)).unwrap();
    stops.push(spawn_until_dropped("todo-api", |stopped| async move {
        todo_api::server::run(config, listeners, async {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| format!("{e:?}"))
    }));
    wait_serving(todo_api_address, "todo.v1.TaskService").await;

    let audit_calls = Calls::default();
    let audit = audit_service_server::AuditServiceServer::new(RecordingAudit(audit_calls.clone()));
    stops.push(start_stand_in(dapr, "audit", audit).await);
    audit_calls
}

/// Serves `service` as the app `app_id` behind its own sidecar, until the sender is dropped.
async fn start_stand_in<S>(dapr: &TestDapr, app_id: &'static str, service: S) -> oneshot::Sender<()>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listeners = bind().await;
    let address = listeners.app_address().unwrap();
    dapr.sidecar(AppSpec::new(app_id, Some(address.port())))
        .await;
    let server = AppServer::new().grpc_service(service);
    let stop = spawn_until_dropped(app_id, |stopped| async move {
        server
            .run(listeners, async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| format!("{e:?}"))
    });
    wait_serving(address, S::NAME).await;
    stop
}

/// Starts the suite with the gateway's default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the suite with `overrides` of the gateway's environment.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dapr = TestDapr::start_suite().await;
    let mut stops = Vec::new();
    let audit_calls = start_upstreams(&dapr, &mut stops).await;

    let frontend = tempfile::tempdir().unwrap();
    let frontend_dir = frontend.path().join("dist");
    std::fs::create_dir_all(frontend_dir.join("assets")).unwrap();
    std::fs::write(
        frontend_dir.join("index.html"),
        "<!doctype html><h1>Todo Suite</h1>",
    )
    .unwrap();
    std::fs::write(frontend_dir.join("assets/app.js"), "console.log('todo')").unwrap();

    let listeners = bind().await;
    let address = listeners.app_address().unwrap();
    let sidecar = dapr
        .sidecar(AppSpec::new("gateway", Some(address.port())))
        .await;
    let mut vars: HashMap<String, String> = sidecar
        .app_env()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    vars.insert(
        "TODO_FRONTEND_DIR".to_string(),
        frontend_dir.display().to_string(),
    );
    vars.extend(
        overrides
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string())),
    );
    let config = gateway::Config::from_lookup(vars_lookup(vars)).unwrap();
    stops.push(spawn_until_dropped("gateway", |stopped| async move {
        gateway::server::run(config, listeners, async {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| format!("{e:?}"))
    }));
    wait_serving(address, "todo.v1.AuthService").await;
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        dapr,
        address,
        audit_calls,
        channel,
        _frontend: frontend,
        stops,
    }
}

/// A create request with just a title.
pub fn titled(title: &str) -> proto::CreateTaskRequest {
    proto::CreateTaskRequest {
        title: title.into(),
        ..Default::default()
    }
}
