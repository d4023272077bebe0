//! Poison events on `task-events` — invalid JSON, an unknown event type (by name and by
//! number), a task whose owner is no user — published straight to the topic, as a broken or
//! hostile publisher would, between a user's ordinary changes. Each consumer (audit,
//! notification, recurring, sync) answers DROP to each poison event at once (never RETRY), so
//! each lands on `task-events-dlq`, once per consumer; and the changes behind them are
//! processed: recorded, continued, reminded and watched.

use std::time::Duration;

use todo_proto::{
    dapr::proto::runtime::v1::{PublishEventRequest, dapr_client::DaprClient},
    todo::v1::{
        Actor, ActorKind, CreateTaskRequest, Recurrence, RecurrencePreset, Reminder, Task,
        TaskEvent, TaskEventType, TaskStatus, WatchTasksRequest, recurrence::Rule,
        reminder::Trigger, sync_service_client::SyncServiceClient, watch_tasks_response::Item,
    },
};
use tonic::Request;

use crate::{
    SERIAL, inspect,
    suite::Suite,
    users::{User, timestamp_in},
    wait::wait_for_state,
};

/// The consumers of `task-events`.
const CONSUMERS: [&str; 4] = ["audit", "notification", "recurring", "sync"];
/// How long the changes behind the poison may take to be processed by every consumer.
const PROCESSED_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_go_to_the_dead_letter_topic_and_block_nothing_behind_them() {
    let _serial = SERIAL.lock().await;
    let mut suite = Suite::new(&[]);
    suite.start().await;
    let user = User::sign_up(suite.gateway(), "poison@example.com").await;
    let mut watch = SyncServiceClient::new(suite.gateway())
        .watch_tasks(user.authorized(WatchTasksRequest {}))
        .await
        .unwrap()
        .into_inner();
    // The first message (a heartbeat) says the watch is open.
    tokio::time::timeout(PROCESSED_DEADLINE, watch.message())
        .await
        .expect("the watch opens")
        .unwrap();

    let poison = poison_events(&user.id);
    let (sidecar, token) = suite.sidecar("todo-api");
    let mut dapr = DaprClient::new(sidecar);
    for (case, data) in &poison {
        let mut request = Request::new(PublishEventRequest {
            pubsub_name: "pubsub".into(),
            topic: "task-events".into(),
            data: data.clone(),
            data_content_type: "application/json".into(),
            metadata: Default::default(),
        });
        request
            .metadata_mut()
            .insert("dapr-api-token", token.parse().unwrap());
        dapr.publish_event(request)
            .await
            .unwrap_or_else(|status| panic!("publishing {case}: {status:?}"));
    }

    // Behind the poison: a daily task completed (4 events with its next occurrence) and a
    // reminder 1 s ahead.
    let daily = user
        .create(|| CreateTaskRequest {
            request_id: "daily".into(),
            title: "daily behind the poison".into(),
            due_time: Some(timestamp_in(Duration::from_secs(3600))),
            time_zone: "UTC".into(),
            recurrence: Some(daily()),
            ..Default::default()
        })
        .await;
    user.complete(&daily.id).await;
    let reminded = user
        .create(|| CreateTaskRequest {
            request_id: "reminder".into(),
            title: "reminder behind the poison".into(),
            reminder: Some(Reminder {
                trigger: Some(Trigger::RemindTime(timestamp_in(Duration::from_secs(1)))),
            }),
            ..Default::default()
        })
        .await;
    let events_behind = 4;

    let (data_dir, audit_db) = (&suite.data_dir(), &suite.audit_db());
    wait_for_state(
        "the changes behind the poison processed by every consumer",
        PROCESSED_DEADLINE,
        || async move { (inspect::backlog(data_dir), inspect::audit_rows(audit_db)) },
        |(backlog, rows)| backlog.is_settled() && *rows >= events_behind,
    )
    .await;
    let poisoned = u64::try_from(poison.len()).unwrap();
    for app in CONSUMERS {
        let dropped = suite.events_handled(app, "task-events", Some("drop")).await;
        let retried = suite
            .events_handled(app, "task-events", Some("retry"))
            .await;
        assert_eq!(
            (dropped, retried),
            (poisoned, 0),
            "{app}: (DROP, RETRY) answers to {} poison events",
            poison.len()
        );
    }
    let dead_letters = inspect::backlog(data_dir).dead_letters;
    assert_eq!(
        dead_letters,
        i64::try_from(poison.len() * CONSUMERS.len()).unwrap(),
        "task-events-dlq: each poison event once per consumer"
    );

    assert_eq!(inspect::audit_rows(audit_db), events_behind, "audit rows");
    let tasks = user.all_tasks().await;
    assert_eq!(
        tasks
            .iter()
            .filter(|task| task.occurrence_index == 1)
            .count(),
        1,
        "the next occurrence of the daily task: {tasks:?}"
    );
    let notifications = user.notifications().await;
    assert_eq!(
        notifications
            .iter()
            .map(|n| n.task_id.as_str())
            .collect::<Vec<_>>(),
        [reminded.id.as_str()],
        "notifications"
    );
    let mut watched = Vec::new();
    while watched.len() < 4 {
        let message = tokio::time::timeout(PROCESSED_DEADLINE, watch.message())
            .await
            .expect("the watch sees the changes behind the poison")
            .unwrap()
            .expect("the watch stays open");
        if let Some(Item::TaskEvent(event)) = message.item {
            watched.push((event.r#type(), event.task_id));
        }
    }
    assert!(
        watched
            .iter()
            .all(|(_, task_id)| tasks.iter().any(|task| task.id == *task_id)),
        "the watch saw an event of a task the user does not have: {watched:?}"
    );
    assert!(
        watched
            .iter()
            .all(|(kind, _)| *kind != TaskEventType::Unspecified),
        "the watch saw an event of an unknown type: {watched:?}"
    );
    suite.stop().await;
}

/// The poison events, each named, as the bytes published.
fn poison_events(user_id: &str) -> Vec<(&'static str, Vec<u8>)> {
    let valid = |patch: &dyn Fn(&mut serde_json::Value)| {
        let mut event: serde_json::Value =
            serde_json::from_slice(&todo_proto::json::to_json(&completion(user_id)).unwrap())
                .unwrap();
        patch(&mut event);
        serde_json::to_vec(&event).unwrap()
    };
    vec![
        ("invalid JSON", br#"{"eventId": "0192"#.to_vec()),
        (
            "an unknown event type (a name)",
            valid(&|event| event["type"] = "TASK_EVENT_TYPE_ARCHIVED".into()),
        ),
        (
            "an unknown event type (a number)",
            valid(&|event| event["type"] = 99.into()),
        ),
        (
            "a task whose owner is no user",
            valid(&|event| {
                event["userId"] = "nobody".into();
                event["task"]["userId"] = "nobody".into();
                event["actor"]["id"] = "nobody".into();
            }),
        ),
    ]
}

/// A well-formed completion of a daily task with a reminder, by `user_id`: every consumer
/// acts on it.
fn completion(user_id: &str) -> TaskEvent {
    let task_id = uuid::Uuid::new_v4().to_string();
    let now = timestamp_in(Duration::ZERO);
    TaskEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: TaskEventType::Completed as i32,
        user_id: user_id.into(),
        task_id: task_id.clone(),
        version: 2,
        occur_time: Some(now),
        actor: Some(Actor {
            kind: ActorKind::User as i32,
            id: user_id.into(),
        }),
        task: Some(Task {
            id: task_id,
            user_id: user_id.into(),
            title: "poison".into(),
            status: TaskStatus::Completed as i32,
            due_time: Some(timestamp_in(Duration::from_secs(3600))),
            time_zone: "UTC".into(),
            recurrence: Some(daily()),
            reminder: Some(Reminder {
                trigger: Some(Trigger::RemindTime(timestamp_in(Duration::from_secs(60)))),
            }),
            version: 2,
            create_time: Some(now),
            update_time: Some(now),
            complete_time: Some(now),
            ..Default::default()
        }),
        previous: None,
    }
}

fn daily() -> Recurrence {
    Recurrence {
        rule: Some(Rule::Preset(RecurrencePreset::Daily as i32)),
        ..Default::default()
    }
}
