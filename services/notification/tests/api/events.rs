//! Task events as daprd delivers them, redelivered, out of order and concurrent: they leave
//! the reminder record and its job at the newest version.

use chrono::{DateTime, TimeDelta, Utc};
use dapr_kit::{Publication, config::ENV_APP_API_TOKEN};
use futures::future::join_all;
use localdapr::testsuite::wait_until;
use todo_proto::{
    dapr::proto::runtime::v1::{self as dapr, app_callback_client::AppCallbackClient},
    todo::v1::{self as proto, TaskEventType},
};
use tonic::Request;

use crate::test_app::{remind_at, spawn_app};

/// The update event of `task_id` at `version`, reminding at `at`.
fn update(task_id: &str, user_id: &str, version: i64, at: DateTime<Utc>) -> proto::TaskEvent {
    proto::TaskEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: TaskEventType::Updated as i32,
        user_id: user_id.into(),
        task_id: task_id.into(),
        version,
        task: Some(proto::Task {
            id: task_id.into(),
            user_id: user_id.into(),
            title: format!("version {version}"),
            status: proto::TaskStatus::Open as i32,
            reminder: Some(remind_at(at)),
            version,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn events_published_out_of_order_and_twice_leave_the_newest_reminder_scheduled() {
    let app = spawn_app().await;
    let (task_id, user_id) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let base = Utc::now() + TimeDelta::hours(1);
    let at = |version: i64| base + TimeDelta::minutes(version);
    let publisher = app.dapr.client("publisher").await;
    // Newest first, each twice, all at once: the worst order for a last-writer-wins store.
    let events: Vec<_> = (1..=12)
        .rev()
        .flat_map(|version| {
            let event = update(&task_id, &user_id, version, at(version));
            [event.clone(), event]
        })
        .collect();
    let published = join_all(events.iter().map(|event| {
        let publication = Publication::message("task-events", event).unwrap();
        publisher.client.publish("pubsub", publication)
    }))
    .await;
    assert!(published.iter().all(Result::is_ok), "{published:?}");

    // notification's own view: its state and jobs belong to its app id.
    let notification = app.dapr.client("notification").await;
    let job_name = format!("reminder-{task_id}");
    let newest = at(12);
    wait_until(
        "the job fires at the newest version's time",
        std::time::Duration::from_secs(20),
        || async {
            let job = notification.client.get_job(&job_name).await.unwrap();
            let due = job
                .and_then(|job| job.due_time)
                .and_then(|due| DateTime::parse_from_rfc3339(&due).ok());
            due.is_some_and(|due| due == newest)
        },
    )
    .await;
    let record = notification
        .client
        .get_state("appstate", &job_name)
        .await
        .unwrap()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
    assert_eq!(record["version"], 12);
    assert_eq!(record["reminder"]["title"], "version 12");
}

#[tokio::test]
async fn concurrent_deliveries_leave_the_newest_reminder_scheduled() {
    let app = spawn_app().await;
    let (task_id, user_id) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let base = Utc::now() + TimeDelta::hours(1);
    let at = |version: i64| base + TimeDelta::minutes(version);
    let app_token = app
        .notification
        .sidecar
        .app_env()
        .into_iter()
        .find(|(name, _)| *name == ENV_APP_API_TOKEN)
        .map(|(_, token)| token)
        .unwrap();
    let callback = AppCallbackClient::new(app.notification.channel());
    // All at once, as daprd delivers with several in flight, each version three times.
    let deliveries = (1..=16).flat_map(|version| {
        let event = update(&task_id, &user_id, version, at(version));
        let data = todo_proto::json::to_json(&event).unwrap();
        (0..3).map(move |_| (event.event_id.clone(), data.clone()))
    });
    let answers = join_all(deliveries.map(|(id, data)| {
        let mut callback = callback.clone();
        let mut request = Request::new(dapr::TopicEventRequest {
            id,
            data,
            data_content_type: "application/json".into(),
            topic: "task-events".into(),
            pubsub_name: "pubsub".into(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("dapr-api-token", app_token.parse().unwrap());
        async move {
            callback
                .on_topic_event(request)
                .await
                .map(|r| r.into_inner().status)
        }
    }))
    .await;
    assert!(
        answers.iter().all(|answer| matches!(answer, Ok(0))),
        "every delivery succeeds: {answers:?}"
    );

    // Every delivery has returned: the job and the record must be the newest already.
    let notification = app.dapr.client("notification").await;
    let job_name = format!("reminder-{task_id}");
    let job = notification
        .client
        .get_job(&job_name)
        .await
        .unwrap()
        .unwrap();
    let due = DateTime::parse_from_rfc3339(&job.due_time.unwrap()).unwrap();
    assert_eq!(due, at(16));
    let record = notification
        .client
        .get_state("appstate", &job_name)
        .await
        .unwrap()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
    assert_eq!(record["version"], 16);
}
