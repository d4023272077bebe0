//! `spawn_app`: localdapr with the suite's components, todo-api on port 0 behind its sidecar,
//! and typed clients for callers.

use dapr_kit::ServiceConfig;
use std::{collections::HashMap, time::Duration};

use dapr_kit::{AppChannel, AppListeners, DaprClient};
use localdapr::{AppSpec, testsuite::TestDapr};
use todo_proto::todo::v1::{self as proto, task_service_client::TaskServiceClient};
use tokio::sync::oneshot;

/// A TaskService client acting for a user through some app's sidecar.
pub type Tasks = TaskServiceClient<AppChannel>;

/// The running app and its callers.
pub struct TestApp {
    pub dapr: TestDapr,
    /// A client of todo-api's own sidecar: writes state as todo-api (e.g. a damaged bucket).
    pub todo_api_sidecar: DaprClient,
    gateway: DaprClient,
    _stop: oneshot::Sender<()>,
}

impl TestApp {
    /// TaskService as the gateway calls it for `user`.
    pub fn tasks_for(&self, user: &str) -> Tasks {
        Self::tasks_through(&self.gateway, Some(user))
    }

    /// TaskService called from the sidecar of `app_id` (e.g. an untrusted app), for `user`.
    pub async fn tasks_from_app(&self, app_id: &str, user: Option<&str>) -> Tasks {
        let app = self.dapr.client(app_id).await;
        Self::tasks_through(&app.client, user)
    }

    fn tasks_through(client: &DaprClient, user: Option<&str>) -> Tasks {
        let channel = match user {
            Some(user) => client.app_channel_for_user("todo-api", user),
            None => client.app_channel("todo-api"),
        };
        TaskServiceClient::new(channel.unwrap())
    }
}

/// A fresh user id.
pub fn new_user() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Starts localdapr and todo-api, and waits until todo-api reports SERVING.
pub async fn spawn_app() -> TestApp {
    let dapr = TestDapr::start_suite().await;
    let listeners = AppListeners::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let app_address = listeners.app_address().unwrap();
    let sidecar = dapr
        .sidecar(AppSpec::new("todo-api", Some(app_address.port())))
        .await;
    let vars: HashMap<&str, String> =
        [("DAPR_GRPC_PORT", sidecar.grpc_address.port().to_string())].into();
    let config = todo_api::Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(error) = todo_api::server::run(config, listeners, shutdown).await {
            panic!("todo-api stopped: {error:?}");
        }
    });
    localdapr::testsuite::wait_until(
        "todo-api's sidecar connects",
        Duration::from_secs(20),
        || async { sidecar.app.is_connected() },
    )
    .await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Channel::from_shared(format!("http://{app_address}"))
            .unwrap()
            .connect_lazy(),
    );
    localdapr::testsuite::wait_until("todo-api is SERVING", Duration::from_secs(20), || {
        let mut health = health.clone();
        async move {
            health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "todo.v1.TaskService".into(),
                })
                .await
                .is_ok_and(|r| r.into_inner().status == 1)
        }
    })
    .await;
    let _ = &mut health;
    let gateway = dapr.client("gateway").await.client;
    let todo_api_sidecar = DaprClient::connect(&dapr_kit::DaprConfig::for_endpoint(
        format!("http://{}", sidecar.grpc_address).parse().unwrap(),
    ))
    .await
    .unwrap();
    TestApp {
        dapr,
        todo_api_sidecar,
        gateway,
        _stop: stop,
    }
}

/// A create request with just a title.
pub fn titled(title: &str) -> proto::CreateTaskRequest {
    proto::CreateTaskRequest {
        title: title.into(),
        ..Default::default()
    }
}

/// Creates a task and returns it.
pub async fn create(tasks: &mut Tasks, request: proto::CreateTaskRequest) -> proto::Task {
    tasks
        .create_task(request)
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}
