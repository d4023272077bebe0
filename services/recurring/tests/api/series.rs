//! Completing a recurring task through the gateway creates exactly one next occurrence, due
//! when its rule says, at the same local time; redeliveries and repeated completions add none;
//! COUNT and UNTIL end the series.

use chrono::{Datelike, Duration as Days, Timelike, Utc, Weekday};
use todo_core::{SeriesId, TaskId};
use todo_proto::todo::v1 as proto;

use crate::test_app::{
    BERLIN, berlin, complete, create, due_of, nth_weekday_of_month, nth_weekday_on_or_after,
    occurrence, recurring_request, reopen, series, spawn_app, today, tomorrow_at,
};

#[tokio::test]
async fn completing_a_daily_task_creates_one_occurrence_due_the_next_day_at_the_same_time() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let first = create(
        &mut user.tasks,
        recurring_request("water plants", "FREQ=DAILY", tomorrow_at(9, 30)),
    )
    .await;
    complete(&mut user.tasks, &first).await;

    let next = occurrence(&mut user, &first.id, 1).await;
    assert_eq!(due_of(&next), berlin(today() + Days::days(2), 9, 30));
    let series_id = SeriesId::parse(&first.id).unwrap();
    assert_eq!(next.id, TaskId::for_occurrence(&series_id, 1).to_string());
    assert_eq!(next.series_id, first.id);
    assert_eq!(next.status, proto::TaskStatus::Open as i32);
    assert_eq!(
        (&next.title, &next.description, next.priority, &next.tags),
        (
            &first.title,
            &first.description,
            first.priority,
            &first.tags
        )
    );
    assert_eq!(
        (&next.time_zone, &next.recurrence),
        (&first.time_zone, &first.recurrence)
    );
    app.barrier(&mut user, &first.id).await;
    assert_eq!(series(&mut user, &first.id).await.len(), 2);
}

#[tokio::test]
async fn the_same_completion_event_published_again_creates_nothing_more() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let first = create(
        &mut user.tasks,
        recurring_request("stretch", "FREQ=DAILY", tomorrow_at(7, 0)),
    )
    .await;
    let completed = complete(&mut user.tasks, &first).await;
    let next = occurrence(&mut user, &first.id, 1).await;

    let event = app.event_of(&first.id, completed.version).await;
    assert_eq!(event.r#type(), proto::TaskEventType::Completed);
    app.publish(&event).await;
    app.publish(&event).await;
    app.barrier(&mut user, &first.id).await;

    let tasks = series(&mut user, &first.id).await;
    let ids: Vec<_> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), next.id.as_str()]);
    assert_eq!(
        tasks[1].version, next.version,
        "the occurrence was not touched"
    );
}

#[tokio::test]
async fn reopening_and_completing_again_creates_nothing_more() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let first = create(
        &mut user.tasks,
        recurring_request("read", "FREQ=DAILY", tomorrow_at(21, 0)),
    )
    .await;
    let completed = complete(&mut user.tasks, &first).await;
    let next = occurrence(&mut user, &first.id, 1).await;

    let reopened = reopen(&mut user.tasks, &completed).await;
    let completed_again = complete(&mut user.tasks, &reopened).await;
    app.event_of(&first.id, completed_again.version).await;
    app.barrier(&mut user, &first.id).await;

    let tasks = series(&mut user, &first.id).await;
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
    assert_eq!(tasks[1].id, next.id);
    assert_eq!(tasks[1].version, next.version);
}

#[tokio::test]
async fn completing_late_jumps_to_the_first_occurrence_after_the_completion() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let three_days_ago = berlin(today() - Days::days(3), 9, 0);
    let first = create(
        &mut user.tasks,
        recurring_request("late", "FREQ=DAILY", three_days_ago),
    )
    .await;
    let completed = complete(&mut user.tasks, &first).await;
    let completed_at =
        todo_core::wire_time::timestamp_to_utc(completed.complete_time.as_ref().unwrap()).unwrap();

    let next = occurrence(&mut user, &first.id, 1).await;
    let local = completed_at.with_timezone(&BERLIN);
    let expected_date = if local.hour() < 9 {
        local.date_naive()
    } else {
        local.date_naive() + Days::days(1)
    };
    assert_eq!(due_of(&next), berlin(expected_date, 9, 0));
    assert!(due_of(&next) > completed_at);
}

#[tokio::test]
async fn count_ends_the_series() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let first = create(
        &mut user.tasks,
        recurring_request("twice", "FREQ=DAILY;COUNT=2", tomorrow_at(8, 0)),
    )
    .await;
    complete(&mut user.tasks, &first).await;
    let second = occurrence(&mut user, &first.id, 1).await;
    assert_eq!(due_of(&second), berlin(today() + Days::days(2), 8, 0));

    complete(&mut user.tasks, &second).await;
    app.barrier(&mut user, &second.id).await;
    let tasks = series(&mut user, &first.id).await;
    assert_eq!(tasks.len(), 2, "COUNT=2 makes two tasks: {tasks:#?}");
}

#[tokio::test]
async fn until_ends_the_series() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let until = (today() + Days::days(2)).format("%Y%m%d").to_string();
    let first = create(
        &mut user.tasks,
        recurring_request(
            "until",
            &format!("FREQ=DAILY;UNTIL={until}"),
            tomorrow_at(8, 0),
        ),
    )
    .await;
    complete(&mut user.tasks, &first).await;
    let second = occurrence(&mut user, &first.id, 1).await;
    assert_eq!(due_of(&second), berlin(today() + Days::days(2), 8, 0));

    complete(&mut user.tasks, &second).await;
    app.barrier(&mut user, &second.id).await;
    assert_eq!(series(&mut user, &first.id).await.len(), 2);
}

#[tokio::test]
async fn from_completion_mode_counts_from_the_completion_day() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let request = proto::CreateTaskRequest {
        recurrence: Some(proto::Recurrence {
            rule: Some(proto::recurrence::Rule::Rrule(
                "FREQ=DAILY;INTERVAL=2".into(),
            )),
            anchor: proto::RecurrenceAnchor::Completion as i32,
            ..Default::default()
        }),
        ..recurring_request(
            "from completion",
            "",
            berlin(today() + Days::days(5), 18, 0),
        )
    };
    let first = create(&mut user.tasks, request).await;
    let completed = complete(&mut user.tasks, &first).await;
    let completed_at =
        todo_core::wire_time::timestamp_to_utc(completed.complete_time.as_ref().unwrap()).unwrap();

    let next = occurrence(&mut user, &first.id, 1).await;
    let completion_day = completed_at.with_timezone(&BERLIN).date_naive();
    assert_eq!(due_of(&next), berlin(completion_day + Days::days(2), 18, 0));
}

#[tokio::test]
async fn a_weekly_rule_moves_to_its_next_weekday() {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let monday = next_weekday(today() + Days::days(1), Weekday::Mon);
    let first = create(
        &mut user.tasks,
        recurring_request("gym", "FREQ=WEEKLY;BYDAY=MO,TH", berlin(monday, 18, 30)),
    )
    .await;
    complete(&mut user.tasks, &first).await;
    let next = occurrence(&mut user, &first.id, 1).await;
    assert_eq!(due_of(&next), berlin(monday + Days::days(3), 18, 30));

    complete(&mut user.tasks, &next).await;
    let after = occurrence(&mut user, &first.id, 2).await;
    assert_eq!(due_of(&after), berlin(monday + Days::days(7), 18, 30));
}

#[tokio::test]
async fn the_last_friday_of_every_month() {
    monthly_ordinal("FREQ=MONTHLY;BYDAY=-1FR", Weekday::Fri, -1).await;
}

#[tokio::test]
async fn every_second_tuesday() {
    monthly_ordinal("FREQ=MONTHLY;BYDAY=2TU", Weekday::Tue, 2).await;
}

/// A monthly rule on the `nth` `weekday`: due on the next such day, then the one a month on.
async fn monthly_ordinal(rrule: &str, weekday: Weekday, nth: i8) {
    let app = spawn_app().await;
    let mut user = app.new_user().await;
    let due_day = nth_weekday_on_or_after(today() + Days::days(1), weekday, nth);
    let first = create(
        &mut user.tasks,
        recurring_request(rrule, rrule, berlin(due_day, 10, 0)),
    )
    .await;
    complete(&mut user.tasks, &first).await;
    let next = occurrence(&mut user, &first.id, 1).await;
    let following_month = due_day.with_day(1).unwrap() + chrono::Months::new(1);
    let expected = nth_weekday_of_month(following_month, weekday, nth);
    assert_eq!(due_of(&next), berlin(expected, 10, 0));
    assert!(due_of(&next) > Utc::now());
}

/// The first `weekday` on or after `from`.
fn next_weekday(from: chrono::NaiveDate, weekday: Weekday) -> chrono::NaiveDate {
    from.iter_days().find(|d| d.weekday() == weekday).unwrap()
}
