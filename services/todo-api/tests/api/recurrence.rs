//! Recurring tasks keep the wall-clock time of day the user set (`Recurrence.time_of_day`), so a
//! daylight-saving gap never shifts the series; RFC 5545 rules with ordinals are accepted.

use todo_proto::todo::v1::{self as proto, recurrence};

use crate::test_app::{create, new_user, spawn_app, titled};

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// 2030-03-09T02:30:00-05:00 (New York, the day before its 2030 gap) and 09:15 that day.
const NEW_YORK_0230: i64 = 1_899_271_800;
const NEW_YORK_0915: i64 = NEW_YORK_0230 + 6 * 3600 + 45 * 60;

fn recurring(rule: &str) -> proto::CreateTaskRequest {
    proto::CreateTaskRequest {
        due_time: at(NEW_YORK_0230),
        time_zone: "America/New_York".into(),
        recurrence: Some(proto::Recurrence {
            rule: Some(recurrence::Rule::Rrule(rule.into())),
            anchor: 0,
            time_of_day: String::new(),
        }),
        ..titled("water the plants")
    }
}

#[tokio::test]
async fn a_recurring_task_keeps_its_time_of_day_and_follows_due_time_changes() {
    let app = spawn_app().await;
    let user = new_user();
    let mut tasks = app.tasks_for(&user);

    let created = create(&mut tasks, recurring("FREQ=MONTHLY;BYDAY=-1FR")).await;
    let stored = created.recurrence.clone().unwrap();
    assert_eq!(stored.time_of_day, "02:30:00");
    assert_eq!(
        stored.rule,
        Some(recurrence::Rule::Rrule("FREQ=MONTHLY;BYDAY=-1FR".into()))
    );

    // Moving the due time moves the series' time of day with it.
    let update = proto::UpdateTaskRequest {
        task: Some(proto::Task {
            id: created.id.clone(),
            due_time: at(NEW_YORK_0915),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["due_time".into()],
        }),
        expected_version: created.version,
    };
    let updated = tasks
        .update_task(update)
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(updated.recurrence.unwrap().time_of_day, "09:15:00");
}

#[tokio::test]
async fn the_next_occurrence_returns_to_the_time_of_day_after_a_gap() {
    let app = spawn_app().await;
    let user = new_user();
    let mut tasks = app.tasks_for(&user);
    let created = create(&mut tasks, recurring("FREQ=DAILY")).await;

    // What recurring does on completion: the occurrence after 2030-03-09 02:30 is 2030-03-10,
    // whose 02:30 does not exist in New York (03:00), and the one after that is 02:30 again.
    let completed_at = chrono::DateTime::from_timestamp(NEW_YORK_0230 + 60, 0).unwrap();
    let second = todo_core::next_occurrence_of(&created, completed_at)
        .unwrap()
        .unwrap();
    let mut as_recurring = app.tasks_from_app("recurring", Some(&user)).await;
    let second = create(&mut as_recurring, second.to_create_request()).await;
    assert_eq!(
        second.due_time.as_ref().map(|due| due.seconds),
        Some(NEW_YORK_0230 + 23 * 3600 + 30 * 60),
        "2030-03-10T03:00:00-04:00"
    );
    assert_eq!(second.recurrence.as_ref().unwrap().time_of_day, "02:30:00");
    let third = todo_core::next_occurrence_of(&second, completed_at)
        .unwrap()
        .unwrap();
    assert_eq!(
        third.due().map(|due| due.time.timestamp()),
        Some(NEW_YORK_0230 + 47 * 3600),
        "2030-03-11T02:30:00-04:00"
    );
}
