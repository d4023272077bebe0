//! Reminders reach the user's open watches: notification fires the job, publishes `ReminderDue`
//! to `reminders`, and sync streams it to that user's watches only.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use todo_proto::todo::v1::{self as proto, watch_tasks_response::Item};

use crate::suite::{TestSuite, assert_quiet, next_item};

/// How long after its time a reminder must be on the watch (the issue: within 1 s).
const ON_TIME: TimeDelta = TimeDelta::seconds(1);

#[tokio::test]
async fn a_reminder_set_two_seconds_ahead_reaches_the_users_watch_within_a_second_of_its_time() {
    let suite = TestSuite::start_with_notification().await;
    let (ada, bob) = (suite.new_user().await, suite.new_user().await);
    let mut ada_watch = suite.watch(&ada.access_token).await;
    let mut bob_watch = suite.watch(&bob.access_token).await;

    let at = Utc::now() + TimeDelta::seconds(2);
    let remind_time = prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap(),
    };
    let task = suite
        .tasks(&ada.access_token)
        .create_task(proto::CreateTaskRequest {
            title: "water the plants".into(),
            reminder: Some(proto::Reminder {
                trigger: Some(proto::reminder::Trigger::RemindTime(remind_time)),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();

    let reminder = loop {
        match next_item(&mut ada_watch).await {
            Item::ReminderDue(reminder) => break reminder,
            Item::TaskEvent(event) => assert_eq!(event.task_id, task.id, "only ada's own task"),
            Item::Heartbeat(_) => {}
            other => panic!("unexpected item {other:?}"),
        }
    };
    let arrived = Utc::now();
    assert_eq!(reminder.task_id, task.id);
    assert_eq!(reminder.user_id, ada.id);
    assert!(
        arrived <= at + ON_TIME,
        "the reminder for {at} reached the watch at {arrived}, more than {ON_TIME} late"
    );
    assert!(
        arrived >= at,
        "the reminder for {at} arrived early, at {arrived}"
    );
    assert_quiet(&mut bob_watch, Duration::from_millis(300)).await;
}
