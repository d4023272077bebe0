//! `spawn_app`: localdapr with the suite's components; todo-api behind its sidecar
//! (`todo_api::testsuite`); a recording stand-in for audit behind its sidecar; and the real
//! gateway behind a sidecar with app id `gateway`, with a built frontend
//! (`gateway::testsuite`). Helpers sign users up and build clients that carry their access
//! tokens.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr_kit::AppServer;
use gateway::testsuite::{Authorized, TestGateway, authorized};
use localdapr::{
    AppSpec,
    testsuite::{ServedApp, TestDapr},
};
use todo_proto::todo::v1::{
    self as proto, audit_service_client::AuditServiceClient, audit_service_server,
    auth_service_client::AuthServiceClient, notification_service_client::NotificationServiceClient,
    sync_service_server, task_service_client::TaskServiceClient,
};
use tonic::{
    Request, Response, Status, codegen::BoxStream, metadata::MetadataMap, transport::Channel,
};

/// The running suite and its clients.
pub struct TestApp {
    /// The gateway's public port.
    pub address: SocketAddr,
    /// What the stand-in audit service received.
    pub audit_calls: Calls,
    channel: Channel,
    /// Declared before the upstreams and the runtime, so it stops first.
    _gateway: TestGateway,
    /// todo-api, audit's stand-in, and any stand-in a test adds.
    upstreams: Vec<ServedApp>,
    pub dapr: TestDapr,
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
        authorized(self.channel.clone(), access_token)
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
        self.upstreams
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

/// Starts todo-api and audit's stand-in behind their sidecars.
async fn start_upstreams(dapr: &TestDapr) -> (Vec<ServedApp>, Calls) {
    let todo_api = todo_api::testsuite::spawn(dapr).await;
    let audit_calls = Calls::default();
    let audit = audit_service_server::AuditServiceServer::new(RecordingAudit(audit_calls.clone()));
    let audit = start_stand_in(dapr, "audit", audit).await;
    (vec![todo_api, audit], audit_calls)
}

/// Serves `service` as the app `app_id` behind its own sidecar.
async fn start_stand_in<S>(dapr: &TestDapr, app_id: &'static str, service: S) -> ServedApp
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
    dapr.serve_app(AppSpec::new(app_id, None), S::NAME, |launch| {
        AppServer::new()
            .grpc_service(service)
            .run(launch.listeners, launch.shutdown)
    })
    .await
}

/// Starts the suite with the gateway's default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the suite with `overrides` of the gateway's environment.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dapr = TestDapr::start_suite().await;
    let (upstreams, audit_calls) = start_upstreams(&dapr).await;
    let gateway = gateway::testsuite::spawn_with(
        &dapr,
        AppSpec::new(gateway::testsuite::APP_ID, None),
        overrides,
    )
    .await;
    let address = gateway.address();
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestApp {
        address,
        audit_calls,
        channel,
        _gateway: gateway,
        upstreams,
        dapr,
    }
}

/// A create request with just a title.
pub fn titled(title: &str) -> proto::CreateTaskRequest {
    proto::CreateTaskRequest {
        title: title.into(),
        ..Default::default()
    }
}
