//! What recurring tells daprd: an event it can never handle is dropped to `task-events-dlq`.

use std::sync::{Arc, Mutex};

use dapr_kit::{
    AppCallbackService, JobHandlers, Publication, Subscription, Subscriptions, TopicEvent,
};
use localdapr::testsuite::wait_until;
use todo_proto::todo::v1 as proto;

use crate::test_app::{DEADLINE, create, recurring_request, spawn_app, tomorrow_at};

#[tokio::test]
async fn poison_events_are_dropped_to_the_dead_letter_topic() {
    let app = spawn_app().await;
    let dead_letters: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = dead_letters.clone();
    let on_dead_letter = move |event: TopicEvent| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(event.data);
            Ok(())
        }
    };
    app.dapr
        .app(
            "dead-letter-reader",
            AppCallbackService::new(
                Subscriptions::new().subscribe(
                    Subscription::new("pubsub", "task-events-dlq").default_route(on_dead_letter),
                ),
                JobHandlers::new(),
            ),
        )
        .await;

    // A completion whose stored rule cannot be read: it decodes, but can never continue.
    let mut user = app.new_user().await;
    let task = create(
        &mut user.tasks,
        recurring_request("poison", "FREQ=DAILY", tomorrow_at(9, 0)),
    )
    .await;
    let unreadable = proto::Task {
        status: proto::TaskStatus::Completed as i32,
        complete_time: task.create_time,
        recurrence: Some(proto::Recurrence::default()),
        ..task.clone()
    };
    let event = proto::TaskEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: proto::TaskEventType::Completed as i32,
        user_id: user.id.clone(),
        task_id: task.id.clone(),
        version: 2,
        task: Some(unreadable),
        ..Default::default()
    };
    let cases = [
        (
            "not a TaskEvent",
            br#"{"eventId": 5, "type": "TASK_EVENT_TYPE_EXPLODED"}"#.to_vec(),
        ),
        (
            "unreadable rule",
            todo_proto::json::to_json(&event).unwrap(),
        ),
    ];
    for (_, payload) in &cases {
        app.publisher
            .publish("pubsub", Publication::json("task-events", payload.clone()))
            .await
            .unwrap();
    }
    for (case, payload) in cases {
        let wanted: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        wait_until(
            &format!("the {case} event reaches task-events-dlq"),
            DEADLINE,
            || async {
                dead_letters.lock().unwrap().iter().any(|data| {
                    serde_json::from_slice::<serde_json::Value>(data)
                        .ok()
                        .as_ref()
                        == Some(&wanted)
                })
            },
        )
        .await;
    }
}
