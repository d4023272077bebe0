//! Every change publishes exactly one TaskEvent on `task-events`, through the outbox, with the
//! right type, version and snapshots; a failed write publishes nothing.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr_kit::{AppCallbackService, JobHandlers, Subscription, Subscriptions, TopicEvent};
use futures::future::join_all;
use localdapr::testsuite::wait_until;
use todo_proto::todo::v1::{self as proto, TaskEvent, TaskEventType};

use crate::test_app::{TestApp, create, new_user, spawn_app, titled};

type Received = Arc<Mutex<Vec<TaskEvent>>>;

/// Starts an app that records every TaskEvent published on `task-events`.
async fn subscriber(app: &TestApp) -> Received {
    let received = Received::default();
    let sink = received.clone();
    let on_event = move |event: TopicEvent| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(event.json::<TaskEvent>()?);
            Ok(())
        }
    };
    let subscriptions = Subscriptions::new()
        .subscribe(Subscription::new("pubsub", "task-events").default_route(on_event));
    app.dapr
        .app(
            "event-recorder",
            AppCallbackService::new(subscriptions, JobHandlers::new()),
        )
        .await;
    received
}

fn events_of(received: &Received, task_id: &str) -> Vec<TaskEvent> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.task_id == task_id)
        .cloned()
        .collect()
}

async fn wait_for_version(received: &Received, task_id: &str, version: i64) {
    wait_until(
        &format!("the event of version {version} arrives"),
        Duration::from_secs(20),
        || async {
            events_of(received, task_id)
                .iter()
                .any(|e| e.version == version)
        },
    )
    .await;
}

#[tokio::test]
async fn each_change_publishes_one_event_with_its_snapshots() {
    let app = spawn_app().await;
    let received = subscriber(&app).await;
    let user = new_user();
    let mut tasks = app.tasks_for(&user);
    let request = proto::CreateTaskRequest {
        request_id: "r-1".into(),
        ..titled("first")
    };
    let task = create(&mut tasks, request.clone()).await;
    create(&mut tasks, request).await; // an idempotent retry changes nothing
    let mask = |path: &str| {
        Some(prost_types::FieldMask {
            paths: vec![path.into()],
        })
    };
    tasks
        .update_task(proto::UpdateTaskRequest {
            task: Some(proto::Task {
                id: task.id.clone(),
                title: "second".into(),
                ..Default::default()
            }),
            update_mask: mask("title"),
            expected_version: 1,
        })
        .await
        .unwrap();
    let stale = proto::CompleteTaskRequest {
        task_id: task.id.clone(),
        expected_version: 1,
    };
    tasks.complete_task(stale).await.unwrap_err();
    tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: task.id.clone(),
            expected_version: 2,
        })
        .await
        .unwrap();
    tasks
        .reopen_task(proto::ReopenTaskRequest {
            task_id: task.id.clone(),
            expected_version: 3,
        })
        .await
        .unwrap();
    tasks
        .delete_task(proto::DeleteTaskRequest {
            task_id: task.id.clone(),
            expected_version: 4,
        })
        .await
        .unwrap();

    // Events of one task share a partition key, so once the last arrived, all earlier did.
    wait_for_version(&received, &task.id, 5).await;
    let events = events_of(&received, &task.id);
    let summary: Vec<_> = events.iter().map(|e| (e.r#type(), e.version)).collect();
    assert_eq!(
        summary,
        [
            (TaskEventType::Created, 1),
            (TaskEventType::Updated, 2),
            (TaskEventType::Completed, 3),
            (TaskEventType::Reopened, 4),
            (TaskEventType::Deleted, 5),
        ]
    );
    let snapshot = |e: &TaskEvent| {
        (
            e.task.as_ref().map(|t| (t.title.clone(), t.version)),
            e.previous.as_ref().map(|t| t.version),
        )
    };
    assert_eq!(snapshot(&events[0]), (Some(("first".into(), 1)), None));
    assert_eq!(snapshot(&events[1]), (Some(("second".into(), 2)), Some(1)));
    assert_eq!(events[1].previous.as_ref().unwrap().title, "first");
    assert_eq!(
        snapshot(&events[4]),
        (Some(("second".into(), 4)), None),
        "a deletion carries the last state"
    );
    for event in &events {
        assert_eq!(
            (event.user_id.as_str(), event.task_id.as_str()),
            (user.as_str(), task.id.as_str())
        );
        let actor = event.actor.clone().unwrap();
        assert_eq!(
            (actor.kind(), actor.id.as_str()),
            (proto::ActorKind::User, user.as_str())
        );
        assert!(uuid::Uuid::parse_str(&event.event_id).is_ok_and(|id| id.get_version_num() == 7));
    }
}

#[tokio::test]
async fn of_32_racing_updates_only_the_committed_one_is_published() {
    let app = spawn_app().await;
    let received = subscriber(&app).await;
    let user = new_user();
    let task = create(&mut app.tasks_for(&user), titled("raced")).await;
    let update = |title: String, expected_version: i64| proto::UpdateTaskRequest {
        task: Some(proto::Task {
            id: task.id.clone(),
            title,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        expected_version,
    };
    let racers = (0..32).map(|i| {
        let mut tasks = app.tasks_for(&user);
        let request = update(format!("racer {i}"), 1);
        async move { tasks.update_task(request).await }
    });
    let won = join_all(racers)
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count();
    assert_eq!(won, 1);
    app.tasks_for(&user)
        .update_task(update("after the race".into(), 2))
        .await
        .unwrap();

    wait_for_version(&received, &task.id, 3).await;
    let versions: Vec<_> = events_of(&received, &task.id)
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(
        versions,
        [1, 2, 3],
        "the 31 failed writes published nothing"
    );
}
