//! Shared pieces: task events as todo-api publishes them, a publisher, and waiting for rows.

use std::time::Duration;

use audit::store::AuditLog;
use audit::testsuite::TestDatabase;
use chrono::{DateTime, Utc};
use dapr_kit::{DaprClient, Publication};
use localdapr::testsuite::{SUITE_COMPONENTS, TestDapr, wait_until};
use todo_core::{
    Actor, EventId, UserId,
    events::{created, updated},
};
use todo_proto::todo::v1::{Task, TaskEvent, TaskStatus};

/// A fresh user id.
pub fn new_user() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh task of `user`, at version 1.
pub fn new_task(user: &str, title: &str) -> Task {
    Task {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.into(),
        title: title.into(),
        status: TaskStatus::Open as i32,
        version: 1,
        ..Task::default()
    }
}

/// The creation event of `task`, at `at`.
pub fn created_event(task: &Task, at: DateTime<Utc>) -> TaskEvent {
    created(task, &owner(task), at)
}

/// The event of renaming `task` to `title` at `at`, and the task after it.
pub fn renamed_event(task: &Task, title: &str, at: DateTime<Utc>) -> (TaskEvent, Task) {
    let after = Task {
        title: title.into(),
        version: task.version + 1,
        ..task.clone()
    };
    (updated(task, &after, &owner(task), at), after)
}

fn owner(task: &Task) -> Actor {
    Actor::user(UserId::parse(&task.user_id).unwrap())
}

/// A JSON event that is not a TaskEvent (an unknown field).
pub fn undecodable_event() -> Vec<u8> {
    format!(
        r#"{{"eventId":"{}","notAField":true}}"#,
        EventId::new_v7(Utc::now())
    )
    .into_bytes()
}

/// A client of a sidecar of its own, for publishing as todo-api's outbox does.
pub async fn publisher(dapr: &TestDapr) -> DaprClient {
    dapr.client("publisher").await.client
}

/// Publishes `event` to `task-events`, keyed by task as the outbox does.
pub async fn publish(publisher: &DaprClient, event: &TaskEvent) {
    let publication = Publication::message("task-events", event)
        .unwrap()
        .partition_key(&event.task_id);
    publisher.publish("pubsub", publication).await.unwrap();
}

/// Waits until `log` holds `rows` rows.
pub async fn wait_for_rows(log: &AuditLog, rows: i64, deadline: Duration) {
    wait_until(
        &format!("audit_logs holds {rows} rows"),
        deadline,
        || async { log.count_rows().await.is_ok_and(|(count, _)| count >= rows) },
    )
    .await;
}

/// The suite's Resiliency, as `just up` loads it: deliveries that fail are retried.
const RESILIENCY: &str = include_str!("../../../../dapr-components/local/resiliency.yaml");

/// The suite's components and secrets (naming `database`), plus the suite's Resiliency.
pub async fn start_dapr_with_resiliency(
    database: &TestDatabase,
    secrets_dir: &tempfile::TempDir,
) -> TestDapr {
    let secrets_file = secrets_dir.path().join("secrets.json");
    std::fs::write(&secrets_file, database.suite_secrets().to_string()).unwrap();
    let components =
        SUITE_COMPONENTS.replace("{secrets_file}", &secrets_file.display().to_string());
    TestDapr::start(&format!("{components}\n---\n{RESILIENCY}")).await
}
