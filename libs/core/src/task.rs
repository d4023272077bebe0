//! Task state transitions: the pure changes of a stored task.
//!
//! The stored representation is the wire `todo.v1.Task` itself: todo-api keeps it in bucket
//! documents and events carry it, so transitions take a `Task` and return the next one. Every
//! transition bumps `version` by one and sets `update_time`.

use chrono::{DateTime, Utc};
use todo_proto::todo::v1::{Task, TaskStatus};

use crate::{
    due::Due,
    ids::{SeriesId, TaskId},
    new_task::{NewTask, SeriesPosition},
    recurrence::Recurrence,
    reminder::Reminder,
    wire_time::utc_to_timestamp,
};

/// Creates the stored task for `new`: version 1, open, created and updated at `now`.
///
/// A recurring task that starts a series gets its own id as series id.
pub fn create(new: &NewTask, id: TaskId, now: DateTime<Utc>) -> Task {
    let (due_time, time_zone) = new.due().map(Due::to_parts).unzip();
    let series = new.series().or_else(|| {
        new.recurrence().map(|_| SeriesPosition {
            series_id: SeriesId::started_by(id),
            occurrence_index: 0,
        })
    });
    Task {
        id: id.to_string(),
        user_id: new.user_id().to_string(),
        title: new.title().as_str().to_owned(),
        description: new.description().as_str().to_owned(),
        status: TaskStatus::Open as i32,
        priority: new.priority().to_proto() as i32,
        tags: new.tags().as_slice().to_vec(),
        due_time,
        time_zone: time_zone.unwrap_or_default(),
        recurrence: new.recurrence().map(Recurrence::to_proto),
        reminder: new.reminder().map(Reminder::to_proto),
        series_id: series
            .map(|series| series.series_id.to_string())
            .unwrap_or_default(),
        occurrence_index: series.map_or(0, |series| series.occurrence_index),
        version: 1,
        create_time: Some(utc_to_timestamp(now)),
        update_time: Some(utc_to_timestamp(now)),
        complete_time: None,
    }
}

/// Why a status transition is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Completing a task that is already completed.
    #[error("task {task_id} is already completed")]
    AlreadyCompleted {
        /// The stored task's id.
        task_id: String,
    },
    /// Reopening a task that is not completed.
    #[error("task {task_id} is not completed")]
    NotCompleted {
        /// The stored task's id.
        task_id: String,
    },
}

/// The task's version is not the one the client expected (maps to `ABORTED`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {task_id} is at version {actual}, not the expected version {expected}")]
pub struct VersionMismatch {
    /// The stored task's id.
    pub task_id: String,
    /// The version the client last saw.
    pub expected: i64,
    /// The stored version.
    pub actual: i64,
}

/// Checks the client's `expected_version`; 0 skips the check.
///
/// # Errors
/// [`VersionMismatch`] when the stored version differs.
pub fn check_expected_version(task: &Task, expected: i64) -> Result<(), VersionMismatch> {
    if expected == 0 || expected == task.version {
        return Ok(());
    }
    Err(VersionMismatch {
        task_id: task.id.clone(),
        expected,
        actual: task.version,
    })
}

/// Tells whether the task is completed.
pub fn is_completed(task: &Task) -> bool {
    task.status == TaskStatus::Completed as i32
}

/// Returns `task` one version later, changed at `now`.
pub(crate) fn next_version(task: &Task, now: DateTime<Utc>) -> Task {
    Task {
        version: task.version.saturating_add(1),
        update_time: Some(utc_to_timestamp(now)),
        ..task.clone()
    }
}

/// Marks a task completed at `now`.
///
/// # Errors
/// [`TransitionError::AlreadyCompleted`].
pub fn complete(task: &Task, now: DateTime<Utc>) -> Result<Task, TransitionError> {
    if is_completed(task) {
        return Err(TransitionError::AlreadyCompleted {
            task_id: task.id.clone(),
        });
    }
    let completed = Task {
        status: TaskStatus::Completed as i32,
        complete_time: Some(utc_to_timestamp(now)),
        ..task.clone()
    };
    Ok(next_version(&completed, now))
}

/// Marks a completed task open again at `now`.
///
/// # Errors
/// [`TransitionError::NotCompleted`].
pub fn reopen(task: &Task, now: DateTime<Utc>) -> Result<Task, TransitionError> {
    if !is_completed(task) {
        return Err(TransitionError::NotCompleted {
            task_id: task.id.clone(),
        });
    }
    let reopened = Task {
        status: TaskStatus::Open as i32,
        complete_time: None,
        ..task.clone()
    };
    Ok(next_version(&reopened, now))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use todo_proto::todo::v1 as proto;

    use super::*;
    use crate::{
        new_task::tests::{now, stored_recurring_task, user},
        wire_time::timestamp_to_utc,
    };
    #[test]
    fn a_valid_create_request_becomes_an_open_task_at_version_one() {
        let task = stored_recurring_task();
        assert_eq!(task.title, "Water plants");
        assert_eq!(task.tags, ["home", "garden"]);
        assert_eq!((task.status, task.version), (TaskStatus::Open as i32, 1));
        assert_eq!(
            (task.create_time, task.update_time),
            (Some(utc_to_timestamp(now())), Some(utc_to_timestamp(now())))
        );
        assert_eq!(task.complete_time, None);
        assert_eq!(
            (task.series_id.as_str(), task.occurrence_index),
            (task.id.as_str(), 0)
        );
        let one_off = NewTask::from_request(
            &proto::CreateTaskRequest {
                title: "x".into(),
                ..Default::default()
            },
            user(),
            now(),
        )
        .unwrap();
        let one_off = create(&one_off, TaskId::new_v4(), now());
        assert_eq!(
            (one_off.series_id.as_str(), one_off.priority),
            ("", proto::Priority::None as i32)
        );
    }

    #[test]
    fn completing_and_reopening_move_the_version_and_complete_time() {
        let open = stored_recurring_task();
        let later = now() + TimeDelta::hours(1);
        let completed = complete(&open, later).unwrap();
        assert_eq!(
            (completed.status, completed.version),
            (TaskStatus::Completed as i32, 2)
        );
        assert_eq!(
            completed.complete_time.as_ref().and_then(timestamp_to_utc),
            Some(later)
        );
        assert_eq!(completed.update_time, Some(utc_to_timestamp(later)));
        let reopened = reopen(&completed, later).unwrap();
        assert_eq!(
            (reopened.status, reopened.version, reopened.complete_time),
            (TaskStatus::Open as i32, 3, None)
        );
        assert_eq!(
            complete(&completed, later),
            Err(TransitionError::AlreadyCompleted {
                task_id: open.id.clone()
            })
        );
        assert_eq!(
            reopen(&open, later),
            Err(TransitionError::NotCompleted {
                task_id: open.id.clone()
            })
        );
    }

    #[test]
    fn the_expected_version_is_checked_unless_zero() {
        let task = Task {
            version: 3,
            ..stored_recurring_task()
        };
        let cases = [
            ("no check", 0, true),
            ("same", 3, true),
            ("older", 2, false),
            ("newer", 4, false),
        ];
        for (case, expected, accepted) in cases {
            let checked = check_expected_version(&task, expected);
            assert_eq!(checked.is_ok(), accepted, "case: {case}");
            if let Err(mismatch) = checked {
                assert_eq!(
                    (mismatch.expected, mismatch.actual),
                    (expected, 3),
                    "case: {case}"
                );
            }
        }
    }
}
