//! Reminders end to end: set through the gateway, fired by a Dapr job on notification's
//! sidecar, listed by NotificationService and published as `ReminderDue` on `reminders`.

use chrono::{TimeDelta, Utc};
use dapr_kit::config::ENV_APP_API_TOKEN;
use todo_core::wire_time::utc_to_timestamp;
use todo_proto::{
    dapr::proto::runtime::v1::{self as dapr, app_callback_client::AppCallbackClient},
    todo::v1 as proto,
};
use tonic::Request;

use crate::test_app::{in_seconds, remind_at, spawn_app, spawn_app_with, utc};

/// How long after its time a reminder must be listed and published.
const ON_TIME: TimeDelta = TimeDelta::seconds(1);

#[tokio::test]
async fn a_reminder_set_two_seconds_ahead_is_listed_and_published_within_a_second_of_its_time() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let at = in_seconds(2.0);
    let task = app.task_reminding_at(&ada, "water plants", at).await;

    let (notification, event, arrived) = app.wait_for_reminder(&ada, &task.id, at + ON_TIME).await;

    let fired = utc(notification.fire_time.as_ref());
    assert!(fired >= at, "never early: fired {fired}, due {at}");
    assert!(
        arrived - at <= ON_TIME,
        "published {} after its time",
        arrived - at
    );
    assert_eq!(
        (
            notification.title.as_str(),
            notification.read,
            notification.late
        ),
        ("water plants", false, false)
    );
    assert_eq!(notification.remind_time, Some(utc_to_timestamp(at)));
    assert_eq!(
        notification.id, event.event_id,
        "the notification is the event"
    );
    assert_eq!(
        (event.user_id.as_str(), event.task_version, event.late),
        (ada.id.as_str(), task.version, false)
    );
    assert_eq!(event.remind_time, Some(utc_to_timestamp(at)));
    assert_eq!(app.list(&ada).await.unread_count, 1);
    let metrics = app.admin_get("/metrics").await;
    for line in [
        "todo_notification_reminder_lateness_seconds_count",
        "todo_notification_reminders_fired_total{late=\"false\"}",
    ] {
        assert!(metrics.contains(line), "/metrics has no {line}:\n{metrics}");
    }
}

#[tokio::test]
async fn moving_a_reminder_fires_it_at_the_new_time_only() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let old = in_seconds(2.0);
    let task = app.task_reminding_at(&ada, "call mum", old).await;
    let new = in_seconds(3.5);
    app.tasks(&ada)
        .update_task(proto::UpdateTaskRequest {
            task: Some(proto::Task {
                id: task.id.clone(),
                reminder: Some(remind_at(new)),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["reminder".into()],
            }),
            expected_version: task.version,
        })
        .await
        .unwrap();

    let (notification, event, _) = app.wait_for_reminder(&ada, &task.id, new + ON_TIME).await;

    assert!(
        utc(notification.fire_time.as_ref()) >= new,
        "not before the new time"
    );
    assert_eq!(event.remind_time, Some(utc_to_timestamp(new)));
    assert_eq!(event.task_version, task.version + 1);
    assert_eq!(
        app.received.for_task(&task.id).len(),
        1,
        "the old time fired nothing"
    );
    assert_eq!(app.list(&ada).await.notifications.len(), 1);
}

#[tokio::test]
async fn completing_or_deleting_a_task_cancels_its_reminder() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let at = in_seconds(2.0);
    let completed = app.task_reminding_at(&ada, "completed", at).await;
    let deleted = app.task_reminding_at(&ada, "deleted", at).await;
    // Due after the others: once it has fired, theirs would have too.
    let control_at = at + TimeDelta::milliseconds(500);
    let control = app.task_reminding_at(&ada, "control", control_at).await;
    let mut tasks = app.tasks(&ada);
    tasks
        .complete_task(proto::CompleteTaskRequest {
            task_id: completed.id.clone(),
            expected_version: 0,
        })
        .await
        .unwrap();
    tasks
        .delete_task(proto::DeleteTaskRequest {
            task_id: deleted.id.clone(),
            expected_version: 0,
        })
        .await
        .unwrap();

    app.wait_for_reminder(&ada, &control.id, control_at + ON_TIME)
        .await;

    for task in [&completed, &deleted] {
        assert!(
            app.received.for_task(&task.id).is_empty(),
            "{} published",
            task.title
        );
    }
    let listed: Vec<_> = app
        .list(&ada)
        .await
        .notifications
        .into_iter()
        .map(|n| n.title)
        .collect();
    assert_eq!(listed, ["control"]);
}

#[tokio::test]
async fn a_reminder_due_while_the_suite_was_stopped_fires_once_after_restart_marked_late() {
    let late_after = [("TODO_REMINDER_LATE_AFTER_SECONDS", "1")];
    let app = spawn_app_with(&late_after).await;
    let ada = app.new_user().await;
    let at = in_seconds(1.5);
    let task = app.task_reminding_at(&ada, "while down", at).await;
    let stopped = app.stop().await;
    // The scenario itself, not a wait for an effect: the time passes while nothing runs.
    let down_until = at + TimeDelta::seconds(2);
    tokio::time::sleep((down_until - Utc::now()).to_std().unwrap_or_default()).await;
    assert!(
        stopped.received.for_task(&task.id).is_empty(),
        "nothing fired while the suite was down"
    );

    let app = stopped.start().await;
    let (notification, event, _) = app
        .wait_for_reminder(&ada, &task.id, Utc::now() + TimeDelta::seconds(20))
        .await;

    assert!(notification.late && event.late, "marked late");
    assert!(utc(notification.fire_time.as_ref()) >= down_until);
    assert_eq!(event.event_id, notification.id);
    assert_eq!(app.list(&ada).await.notifications.len(), 1, "listed once");
    assert_eq!(app.received.for_task(&task.id).len(), 1, "published once");
}

#[tokio::test]
async fn a_redelivered_trigger_neither_appends_nor_publishes_again() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let at = in_seconds(1.5);
    let task = app.task_reminding_at(&ada, "once", at).await;
    app.wait_for_reminder(&ada, &task.id, at + ON_TIME).await;

    // The same trigger again, as daprd sends it, with notification's app token.
    let app_token = app
        .notification
        .sidecar
        .app_env()
        .into_iter()
        .find(|(name, _)| *name == ENV_APP_API_TOKEN)
        .map(|(_, token)| token)
        .unwrap();
    let mut callback = AppCallbackClient::new(app.notification.channel());
    for _ in 0..2 {
        let mut trigger = Request::new(dapr::JobEventRequest {
            name: format!("reminder-{}", task.id),
            data: Some(prost_types::Any::from_msg(&utc_to_timestamp(at)).unwrap()),
            method: format!("job/reminder-{}", task.id),
            ..Default::default()
        });
        trigger
            .metadata_mut()
            .insert("dapr-api-token", app_token.parse().unwrap());
        callback.on_job_event(trigger).await.unwrap();
    }

    assert_eq!(app.list(&ada).await.notifications.len(), 1);
    // A publish would be on its way by now; give the subscriber a moment to see it.
    let published = app.received.clone();
    let task_id = task.id.clone();
    let settled = tokio::time::timeout(std::time::Duration::from_millis(500), async move {
        loop {
            if published.for_task(&task_id).len() > 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(settled.is_err(), "a second ReminderDue was published");
}
