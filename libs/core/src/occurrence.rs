//! The next occurrence of a recurring task: what the recurring service creates on a completion.

use chrono::{DateTime, Utc};
use todo_proto::todo::v1::{self as proto, Task};

use crate::{
    due::Due,
    ids::{SeriesId, TaskId, UserId},
    new_task::NewTask,
    recurrence::{Recurrence, next_occurrence},
    reminder::Reminder,
    violation::{FieldViolation, ValidationError, Violations},
};

/// Returns the next occurrence of `task`, completed at `completed_at`, as a [`NewTask`]; `None`
/// when the task does not recur or its series is over.
///
/// The draft keeps the title, description, priority, tags, recurrence (with its time of day) and
/// zone; it is due at [`next_occurrence`]; its reminder keeps its offset before the due time, or moves an absolute
/// time by as much as the due time moved. It continues the task's series (the task's own id for a
/// series' first task) at `occurrence_index + 1`, so [`NewTask::task_id`] is
/// [`TaskId::for_occurrence`]: a redelivered completion yields the same id.
///
/// # Errors
/// Violations naming stored fields that cannot be read (a recurring task without a due time, an
/// unreadable rule): never for tasks written through this crate.
pub fn next_occurrence_of(
    task: &Task,
    completed_at: DateTime<Utc>,
) -> Result<Option<NewTask>, ValidationError> {
    let Some(stored_recurrence) = &task.recurrence else {
        return Ok(None);
    };
    let mut violations = Violations::default();
    let recurrence = violations.check_all(Recurrence::from_proto(stored_recurrence));
    let due = violations.check_all(Due::from_parts(task.due_time.as_ref(), &task.time_zone));
    let reminder = violations.check(task.reminder.as_ref().map(Reminder::from_proto).transpose());
    let user_id = violations.check(
        UserId::parse(&task.user_id)
            .map_err(|error| FieldViolation::new("user_id", error.to_string())),
    );
    let series_id = if task.series_id.is_empty() {
        violations.check(
            TaskId::parse(&task.id)
                .map(SeriesId::started_by)
                .map_err(|error| FieldViolation::new("id", error.to_string())),
        )
    } else {
        violations.check(
            SeriesId::parse(&task.series_id)
                .map_err(|error| FieldViolation::new("series_id", error.to_string())),
        )
    };
    let (Some(recurrence), Some(due), Some(reminder), Some(user_id), Some(series_id)) =
        (recurrence, due, reminder, user_id, series_id)
    else {
        return Err(violations.into_error());
    };
    let Some(due) = due else {
        return Err(ValidationError::single(
            "recurrence",
            "a recurring task needs a due time",
        ));
    };
    let Some(next_index) = task.occurrence_index.checked_add(1) else {
        return Ok(None);
    };
    // A task stored before the time of day was kept starts keeping it here.
    let recurrence = recurrence.with_time_of_day_from(&due);
    let Some(next_due_time) =
        next_occurrence(&recurrence, &due, completed_at, task.occurrence_index)
    else {
        return Ok(None);
    };
    let shift = next_due_time.signed_duration_since(due.time);
    let (due_time, time_zone) = Due {
        time: next_due_time,
        zone: due.zone,
    }
    .to_parts();
    let request = proto::CreateTaskRequest {
        request_id: String::new(),
        title: task.title.clone(),
        description: task.description.clone(),
        priority: task.priority,
        tags: task.tags.clone(),
        due_time: Some(due_time),
        time_zone,
        recurrence: Some(recurrence.to_proto()),
        reminder: reminder.map(|reminder| reminder.shifted_by(shift).to_proto()),
        series_id: series_id.to_string(),
        occurrence_index: next_index,
    };
    NewTask::from_request(&request, user_id, completed_at).map(Some)
}

#[cfg(test)]
mod tests {
    use todo_proto::todo::v1::TaskStatus;

    use super::*;
    use crate::{
        new_task::tests::{stored_recurring_task, utc},
        task::create,
        wire_time::utc_to_timestamp,
    };

    #[test]
    fn the_next_occurrence_continues_the_series_one_day_later() {
        let first = stored_recurring_task();
        let completed_at = utc("2026-03-02T10:00:00+01:00");
        let next = next_occurrence_of(&first, completed_at).unwrap().unwrap();
        let series = SeriesId::parse(&first.id).unwrap();
        assert_eq!(
            next.series()
                .map(|position| (position.series_id, position.occurrence_index)),
            Some((series, 1))
        );
        assert_eq!(next.task_id(), TaskId::for_occurrence(&series, 1));
        assert_eq!(
            next.due().map(|due| due.time),
            Some(utc("2026-03-03T09:00:00+01:00"))
        );
        assert_eq!(
            next.reminder(),
            Some(&Reminder::BeforeDue(chrono::TimeDelta::minutes(30)))
        );
        let request = next.to_create_request();
        assert_eq!(
            (request.title.as_str(), request.description.as_str()),
            (first.title.as_str(), first.description.as_str())
        );
        assert_eq!(
            (request.priority, &request.tags, &request.recurrence),
            (first.priority, &first.tags, &first.recurrence)
        );

        let second = create(&next, next.task_id(), completed_at);
        let after_that = next_occurrence_of(&second, utc("2026-03-03T10:00:00+01:00"))
            .unwrap()
            .unwrap();
        assert_eq!(
            after_that
                .series()
                .map(|position| (position.series_id, position.occurrence_index)),
            Some((series, 2))
        );
    }

    #[test]
    fn a_redelivered_completion_yields_the_same_occurrence() {
        let first = stored_recurring_task();
        let once = next_occurrence_of(&first, utc("2026-03-02T10:00:00Z"))
            .unwrap()
            .unwrap();
        let again = next_occurrence_of(&first, utc("2026-03-02T10:00:05Z"))
            .unwrap()
            .unwrap();
        assert_eq!(once.task_id(), again.task_id());
    }

    #[test]
    fn a_late_completion_jumps_to_the_first_occurrence_after_it() {
        let rrule = |text: &str, anchor: proto::RecurrenceAnchor| {
            Some(proto::Recurrence {
                rule: Some(proto::recurrence::Rule::Rrule(text.into())),
                anchor: anchor as i32,
                ..Default::default()
            })
        };
        let due_date = proto::RecurrenceAnchor::DueDate;
        // Due 2026-03-02 09:00 Paris, index 0; completed on the 10th.
        let cases = [
            (
                "daily, due-date mode, at 20:00 jumps to the next morning",
                rrule("FREQ=DAILY", due_date),
                "2026-03-10T20:00:00+01:00",
                Some("2026-03-11T09:00:00+01:00"),
            ),
            (
                "daily, due-date mode, before 09:00 takes that morning",
                rrule("FREQ=DAILY", due_date),
                "2026-03-10T08:00:00+01:00",
                Some("2026-03-10T09:00:00+01:00"),
            ),
            (
                "weekly keeps the weekday (Mondays)",
                rrule("FREQ=WEEKLY", due_date),
                "2026-03-10T20:00:00+01:00",
                Some("2026-03-16T09:00:00+01:00"),
            ),
            (
                "skipped dates do not use up COUNT",
                rrule("FREQ=DAILY;COUNT=2", due_date),
                "2026-03-10T20:00:00+01:00",
                Some("2026-03-11T09:00:00+01:00"),
            ),
            (
                "UNTIL before the completion ends the series",
                rrule("FREQ=DAILY;UNTIL=20260305", due_date),
                "2026-03-10T20:00:00+01:00",
                None,
            ),
            (
                "completion mode is unchanged",
                rrule("FREQ=DAILY", proto::RecurrenceAnchor::Completion),
                "2026-03-10T20:00:00+01:00",
                Some("2026-03-11T09:00:00+01:00"),
            ),
        ];
        for (case, recurrence, completed_at, expected) in cases {
            let task = Task {
                recurrence,
                ..stored_recurring_task()
            };
            let next = next_occurrence_of(&task, utc(completed_at)).unwrap();
            assert_eq!(
                next.as_ref()
                    .and_then(|next| next.due())
                    .map(|due| due.time),
                expected.map(utc),
                "case: {case}"
            );
            if let Some(next) = next {
                let series = SeriesId::parse(&task.id).unwrap();
                assert_eq!(
                    next.task_id(),
                    TaskId::for_occurrence(&series, 1),
                    "case: {case}"
                );
            }
        }
    }

    #[test]
    fn an_absolute_reminder_moves_with_the_due_time() {
        let reminder = proto::Reminder {
            trigger: Some(proto::reminder::Trigger::RemindTime(utc_to_timestamp(utc(
                "2026-03-01T20:00:00Z",
            )))),
        };
        let task = Task {
            reminder: Some(reminder),
            ..stored_recurring_task()
        };
        let next = next_occurrence_of(&task, utc("2026-03-02T10:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(
            next.reminder(),
            Some(&Reminder::At(utc("2026-03-02T20:00:00Z")))
        );
    }

    #[test]
    fn tasks_without_a_next_occurrence_yield_none() {
        let count = |rrule: &str| {
            Some(proto::Recurrence {
                rule: Some(proto::recurrence::Rule::Rrule(rrule.into())),
                anchor: 0,
                time_of_day: String::new(),
            })
        };
        let cases = [
            (
                "one-off",
                Task {
                    recurrence: None,
                    ..stored_recurring_task()
                },
            ),
            (
                "count used up",
                Task {
                    recurrence: count("FREQ=DAILY;COUNT=3"),
                    occurrence_index: 2,
                    ..stored_recurring_task()
                },
            ),
            (
                "past until",
                Task {
                    recurrence: count("FREQ=DAILY;UNTIL=20260302"),
                    ..stored_recurring_task()
                },
            ),
        ];
        for (case, task) in cases {
            assert_eq!(
                next_occurrence_of(&task, utc("2026-03-02T10:00:00Z")),
                Ok(None),
                "case: {case}"
            );
        }
    }

    #[test]
    fn an_unreadable_stored_task_is_an_error_not_a_silent_end() {
        let cases = [
            (
                "recurring without due",
                Task {
                    due_time: None,
                    time_zone: String::new(),
                    ..stored_recurring_task()
                },
                "recurrence",
            ),
            (
                "bad user id",
                Task {
                    user_id: "x".into(),
                    ..stored_recurring_task()
                },
                "user_id",
            ),
            (
                "bad rule",
                Task {
                    recurrence: Some(proto::Recurrence::default()),
                    status: TaskStatus::Completed as i32,
                    ..stored_recurring_task()
                },
                "recurrence",
            ),
        ];
        for (case, task, field) in cases {
            let error = next_occurrence_of(&task, utc("2026-03-02T10:00:00Z")).expect_err(case);
            assert_eq!(error.fields(), [field], "case: {case}");
        }
    }
}
