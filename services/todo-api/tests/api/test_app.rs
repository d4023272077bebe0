//! `spawn_app`: localdapr with the suite's components, todo-api behind its sidecar (through
//! `todo_api::testsuite`), and typed clients for callers.

use dapr_kit::{AppChannel, DaprClient};
use localdapr::testsuite::{ServedApp, TestDapr};
use todo_proto::todo::v1::{self as proto, task_service_client::TaskServiceClient};

/// A TaskService client acting for a user through some app's sidecar.
pub type Tasks = TaskServiceClient<AppChannel>;

/// The running app and its callers.
pub struct TestApp {
    /// todo-api; declared before the runtime, so it stops first.
    pub todo_api: ServedApp,
    /// A client of todo-api's own sidecar: writes state as todo-api (e.g. a damaged bucket).
    pub todo_api_sidecar: DaprClient,
    gateway: DaprClient,
    pub dapr: TestDapr,
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
            Some(user) => client.app_channel_for_user(todo_api::testsuite::APP_ID, user),
            None => client.app_channel(todo_api::testsuite::APP_ID),
        };
        TaskServiceClient::new(channel.unwrap())
    }
}

/// A fresh user id.
pub fn new_user() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Starts localdapr and todo-api, and waits until todo-api serves.
pub async fn spawn_app() -> TestApp {
    let dapr = TestDapr::start_suite().await;
    let todo_api = todo_api::testsuite::spawn(&dapr).await;
    let gateway = dapr.client("gateway").await.client;
    let sidecar_env: std::collections::HashMap<_, _> =
        todo_api.sidecar.app_env().into_iter().collect();
    let todo_api_sidecar = DaprClient::connect(
        &dapr_kit::DaprConfig::from_lookup(|name| sidecar_env.get(name).cloned()).unwrap(),
    )
    .await
    .unwrap();
    TestApp {
        todo_api,
        todo_api_sidecar,
        gateway,
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
