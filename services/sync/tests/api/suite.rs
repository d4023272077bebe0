//! `TestSuite`: localdapr, todo-api, sync replicas and the gateway, each started by its own
//! `testsuite` feature on the shared harness; helpers sign users up and open watches.

use std::{net::SocketAddr, time::Duration};

use gateway::testsuite::{Authorized, authorized};
use localdapr::testsuite::{ServedApp, TestDapr};
use todo_proto::todo::v1::{
    self as proto, auth_service_client::AuthServiceClient, sync_service_client::SyncServiceClient,
    task_service_client::TaskServiceClient, watch_tasks_response::Item,
};
use tonic::{
    Streaming,
    transport::{Channel, Endpoint},
};

/// How long a test waits for an item it expects.
pub const ITEM_DEADLINE: Duration = Duration::from_secs(10);

/// The running suite.
pub struct TestSuite {
    /// The gateway's public port.
    pub address: SocketAddr,
    channel: Channel,
    /// Declared first, so it stops first.
    _gateway: gateway::testsuite::TestGateway,
    /// The sync replicas, `sync-0`, `sync-1`, ...
    pub syncs: Vec<ServedApp>,
    /// notification, when the suite was started with it.
    _notification: Option<ServedApp>,
    _todo_api: ServedApp,
    _dapr: TestDapr,
}

/// A signed-up user.
pub struct TestUser {
    pub id: String,
    pub access_token: String,
}

impl TestSuite {
    /// The suite with one sync replica with its defaults.
    pub async fn start() -> Self {
        Self::start_with(1, &[]).await
    }

    /// The suite with `replicas` sync replicas, each with `overrides` of its environment.
    pub async fn start_with(replicas: usize, overrides: &[(&str, &str)]) -> Self {
        Self::start_apps(replicas, overrides, false).await
    }

    /// The suite with one sync replica and notification, so reminders come due.
    pub async fn start_with_notification() -> Self {
        Self::start_apps(1, &[], true).await
    }

    async fn start_apps(replicas: usize, overrides: &[(&str, &str)], notification: bool) -> Self {
        let dapr = TestDapr::start_suite().await;
        let todo_api = todo_api::testsuite::spawn(&dapr).await;
        let notification = if notification {
            Some(notification::testsuite::spawn(&dapr).await)
        } else {
            None
        };
        let mut syncs = Vec::new();
        for replica in 0..replicas {
            syncs.push(
                sync::testsuite::spawn_replica(&dapr, &format!("sync-{replica}"), overrides).await,
            );
        }
        let gateway = gateway::testsuite::spawn(&dapr).await;
        let address = gateway.address();
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            address,
            channel,
            _gateway: gateway,
            syncs,
            _notification: notification,
            _todo_api: todo_api,
            _dapr: dapr,
        }
    }

    /// A channel that presents `access_token` on `channel`.
    pub fn authorized_on(channel: Channel, access_token: &str) -> Authorized {
        authorized(channel, access_token)
    }

    /// TaskService for the holder of `access_token`.
    pub fn tasks(&self, access_token: &str) -> TaskServiceClient<Authorized> {
        TaskServiceClient::new(Self::authorized_on(self.channel.clone(), access_token))
    }

    /// Opens a watch through the gateway for the holder of `access_token`, on its own
    /// connection, and reads its opening heartbeat.
    pub async fn watch(&self, access_token: &str) -> Streaming<proto::WatchTasksResponse> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address))
            .unwrap()
            .connect()
            .await
            .unwrap();
        open_watch(channel, access_token).await
    }

    /// Signs up a fresh user.
    pub async fn new_user(&self) -> TestUser {
        let response = AuthServiceClient::new(self.channel.clone())
            .sign_up(proto::SignUpRequest {
                email: format!("user-{}@example.com", uuid::Uuid::new_v4()),
                password: "correct horse battery".into(),
                display_name: "Watcher".into(),
            })
            .await
            .unwrap()
            .into_inner();
        TestUser {
            id: response.user.unwrap().id,
            access_token: response.tokens.unwrap().access_token,
        }
    }

    /// Creates a task titled `title` for the holder of `access_token`.
    pub async fn create(&self, access_token: &str, title: &str) -> proto::Task {
        self.tasks(access_token)
            .create_task(proto::CreateTaskRequest {
                title: title.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .task
            .unwrap()
    }
}

/// Opens a watch on `channel` and checks that it opens with a heartbeat.
pub async fn open_watch(
    channel: Channel,
    access_token: &str,
) -> Streaming<proto::WatchTasksResponse> {
    let mut watch = SyncServiceClient::new(TestSuite::authorized_on(channel, access_token))
        .watch_tasks(proto::WatchTasksRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next_item(&mut watch).await,
        Item::Heartbeat(proto::Heartbeat {}),
        "a watch opens with a heartbeat"
    );
    watch
}

/// The next item of `watch`, within [`ITEM_DEADLINE`].
pub async fn next_item(watch: &mut Streaming<proto::WatchTasksResponse>) -> Item {
    tokio::time::timeout(ITEM_DEADLINE, watch.message())
        .await
        .expect("an item in time")
        .unwrap()
        .expect("the watch is still open")
        .item
        .unwrap()
}

/// The next `count` task events of `watch` (heartbeats skipped), as (task id, version, type).
pub async fn task_events(
    watch: &mut Streaming<proto::WatchTasksResponse>,
    count: usize,
) -> Vec<(String, i64, i32)> {
    let mut events = Vec::new();
    while events.len() < count {
        match next_item(watch).await {
            Item::TaskEvent(event) => events.push((event.task_id, event.version, event.r#type)),
            Item::Heartbeat(_) => {}
            other => panic!("unexpected item {other:?}"),
        }
    }
    events
}

/// Asserts that `watch` sends nothing but heartbeats for `quiet`.
pub async fn assert_quiet(watch: &mut Streaming<proto::WatchTasksResponse>, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    while let Ok(item) = tokio::time::timeout_at(deadline, watch.message()).await {
        let item = item
            .unwrap()
            .expect("the watch is still open")
            .item
            .unwrap();
        assert!(
            matches!(item, Item::Heartbeat(_)),
            "unexpected item {item:?}"
        );
    }
}
