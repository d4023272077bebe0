//! `TaskPatch`: a validated `UpdateTaskRequest`, and how it applies to a stored task.
//!
//! Only the fields named in `update_mask` are read and validated; the rest of `task` is ignored.
//! Violation paths are relative to `task`, like the mask's paths (`title`, not `task.title`),
//! except `task` itself (missing), `update_mask` and `expected_version`.

use chrono::{DateTime, Utc};
use todo_proto::todo::v1::{self as proto, Task};

use crate::{
    due::{Due, parse_due_time},
    ids::TaskId,
    new_task::schedule_violations,
    priority::Priority,
    recurrence::Recurrence,
    reminder::Reminder,
    tags::Tags,
    task::next_version,
    task_description::TaskDescription,
    task_title::TaskTitle,
    time_zone::TimeZone,
    update_mask::{PatchField, parse_mask},
    violation::{FieldViolation, ValidationError, Violations},
    wire_time::utc_to_timestamp,
};

/// The new values of the masked fields; `None` means "not in the mask".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Changes {
    title: Option<TaskTitle>,
    description: Option<TaskDescription>,
    priority: Option<Priority>,
    tags: Option<Tags>,
    due_time: Option<Option<DateTime<Utc>>>,
    time_zone: Option<Option<TimeZone>>,
    recurrence: Option<Option<Recurrence>>,
    reminder: Option<Option<Reminder>>,
}

/// A validated update: which task, the version the client saw, and the masked fields' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPatch {
    /// The task to update.
    pub task_id: TaskId,
    /// The version the client last saw; 0 skips the check.
    pub expected_version: i64,
    fields: Vec<PatchField>,
    changes: Changes,
}

impl TaskPatch {
    /// Validates an update request: the mask, the task id and the masked fields.
    ///
    /// # Errors
    /// Violations of `update_mask` (empty, unknown or immutable paths), `task` (missing),
    /// `expected_version` (negative), `id`, and of each masked field by its path.
    pub fn from_request(request: &proto::UpdateTaskRequest) -> Result<Self, ValidationError> {
        let mut violations = Violations::default();
        let fields = violations
            .check_all(parse_mask(request.update_mask.as_ref()))
            .unwrap_or_default();
        if request.expected_version < 0 {
            violations.push("expected_version", "expected version must not be negative");
        }
        let Some(task) = &request.task else {
            violations.push("task", "task is required");
            return Err(violations.into_error());
        };
        let task_id = violations.check(
            TaskId::parse(&task.id).map_err(|error| FieldViolation::new("id", error.to_string())),
        );
        let mut changes = Changes::default();
        for field in &fields {
            match field {
                PatchField::Title => {
                    changes.title = violations.check(TaskTitle::parse(&task.title))
                }
                PatchField::Description => {
                    changes.description =
                        violations.check(TaskDescription::parse(&task.description))
                }
                PatchField::Priority => {
                    changes.priority = violations.check(Priority::from_proto(task.priority))
                }
                PatchField::Tags => changes.tags = violations.check_all(Tags::parse(&task.tags)),
                PatchField::DueTime => {
                    changes.due_time =
                        violations.check(task.due_time.as_ref().map(parse_due_time).transpose());
                }
                PatchField::TimeZone => {
                    changes.time_zone = match task.time_zone.as_str() {
                        "" => Some(None),
                        name => violations.check(TimeZone::parse(name).map(Some)),
                    };
                }
                PatchField::Recurrence => {
                    changes.recurrence = violations.check_all(
                        task.recurrence
                            .as_ref()
                            .map(Recurrence::from_proto)
                            .transpose(),
                    );
                }
                PatchField::Reminder => {
                    changes.reminder = violations
                        .check(task.reminder.as_ref().map(Reminder::from_proto).transpose());
                }
            }
        }
        let Some(task_id) = task_id else {
            return Err(violations.into_error());
        };
        violations.into_result()?;
        Ok(Self {
            task_id,
            expected_version: request.expected_version,
            fields,
            changes,
        })
    }

    /// Returns the masked fields, in mask order without duplicates.
    pub fn fields(&self) -> &[PatchField] {
        &self.fields
    }

    /// Tells whether the mask names `field`.
    pub fn touches(&self, field: PatchField) -> bool {
        self.fields.contains(&field)
    }
}

/// Applies `patch` to `task` at `now`: the masked fields change, the version goes up by one.
///
/// The rules between fields are checked on the result: a due time and a time zone come together,
/// a recurrence and a reminder before the due time need a due time, and a reminder whose fire time
/// changes must not fire before `now`. (A reminder left as it was may lie in the past: it fired.)
/// A task that becomes recurring starts a series named after itself. When the due time or the
/// recurrence changes, the recurrence keeps the new due time's local time of day (unless the
/// update sets `recurrence.time_of_day` itself), and its rule must occur after the due time.
///
/// # Errors
/// Violations of `time_zone`, `recurrence`, `reminder` and `reminder.before_due`; or of a stored
/// field that cannot be read, which only a corrupted store produces.
pub fn apply_patch(
    task: &Task,
    patch: &TaskPatch,
    now: DateTime<Utc>,
) -> Result<Task, ValidationError> {
    let mut violations = Violations::default();
    let stored_due = violations.check_all(Due::from_parts(task.due_time.as_ref(), &task.time_zone));
    let stored_recurrence = violations.check_all(
        task.recurrence
            .as_ref()
            .map(Recurrence::from_proto)
            .transpose(),
    );
    let stored_reminder =
        violations.check(task.reminder.as_ref().map(Reminder::from_proto).transpose());
    let (Some(stored_due), Some(stored_recurrence), Some(stored_reminder)) =
        (stored_due, stored_recurrence, stored_reminder)
    else {
        return Err(violations.into_error());
    };
    let changes = &patch.changes;
    let due_time = changes.due_time.unwrap_or(stored_due.map(|due| due.time));
    let zone = changes.time_zone.unwrap_or(stored_due.map(|due| due.zone));
    let reminder = changes.reminder.unwrap_or(stored_reminder);
    // `None` when the due time and zone do not pair up; the rules below would only repeat that.
    let due = match (due_time, zone) {
        (Some(time), Some(zone)) => Some(Some(Due { time, zone })),
        (Some(_), None) => {
            violations.push("time_zone", "a due time needs a time zone");
            None
        }
        (None, Some(_)) => {
            violations.push("time_zone", "a time zone needs a due time");
            None
        }
        (None, None) => Some(None),
    };
    let Some(due) = due else {
        return Err(violations.into_error());
    };
    // The series' time of day follows the due time when it moves, unless the update sets one.
    let due_moves = patch.touches(PatchField::DueTime) || patch.touches(PatchField::TimeZone);
    let sets_recurrence = patch.touches(PatchField::Recurrence);
    let recurrence = match &changes.recurrence {
        Some(recurrence) => recurrence.clone(),
        None if due_moves => stored_recurrence.map(|recurrence| Recurrence {
            time_of_day: None,
            ..recurrence
        }),
        None => stored_recurrence,
    };
    let recurrence = match (recurrence, &due) {
        (Some(recurrence), Some(due)) if due_moves || sets_recurrence => {
            Some(recurrence.with_time_of_day_from(due))
        }
        (recurrence, _) => recurrence,
    };
    let old_fire_time =
        stored_reminder.and_then(|reminder| reminder.fire_time(stored_due.as_ref()));
    let new_fire_time = reminder.and_then(|reminder| reminder.fire_time(due.as_ref()));
    let check_past_at = (new_fire_time != old_fire_time).then_some(now);
    violations.extend(schedule_violations(
        due.as_ref(),
        recurrence.as_ref(),
        reminder.as_ref(),
        check_past_at,
        due_moves || sets_recurrence,
    ));
    violations.into_result()?;

    let mut updated = next_version(task, now);
    if let Some(title) = &changes.title {
        updated.title = title.as_str().to_owned();
    }
    if let Some(description) = &changes.description {
        updated.description = description.as_str().to_owned();
    }
    if let Some(priority) = changes.priority {
        updated.priority = priority.to_proto() as i32;
    }
    if let Some(tags) = &changes.tags {
        updated.tags = tags.as_slice().to_vec();
    }
    if patch.touches(PatchField::DueTime) || patch.touches(PatchField::TimeZone) {
        updated.due_time = due.map(|due| utc_to_timestamp(due.time));
        updated.time_zone = due
            .map(|due| due.zone.name().to_owned())
            .unwrap_or_default();
    }
    if due_moves || sets_recurrence {
        updated.recurrence = recurrence.as_ref().map(Recurrence::to_proto);
    }
    if let Some(reminder) = &changes.reminder {
        updated.reminder = reminder.as_ref().map(Reminder::to_proto);
    }
    if recurrence.is_some() && updated.series_id.is_empty() {
        // A series is named after its first task, and the stored id is already canonical.
        updated.series_id = task.id.clone();
    }
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use prost_types::FieldMask;

    use super::*;
    use crate::new_task::tests::{before_due, now, stored_recurring_task, utc};

    fn request(task: Task, paths: &[&str]) -> proto::UpdateTaskRequest {
        let update_mask = Some(FieldMask {
            paths: paths.iter().map(ToString::to_string).collect(),
        });
        proto::UpdateTaskRequest {
            task: Some(task),
            update_mask,
            expected_version: 0,
        }
    }

    fn patched(changes: Task, paths: &[&str], at: DateTime<Utc>) -> Result<Task, ValidationError> {
        let stored = stored_recurring_task();
        let patch = TaskPatch::from_request(&request(
            Task {
                id: stored.id.clone(),
                ..changes
            },
            paths,
        ))?;
        apply_patch(&stored, &patch, at)
    }

    #[test]
    fn only_masked_fields_are_read() {
        let changes = Task {
            title: String::new(),
            priority: proto::Priority::Low as i32,
            tags: vec![" ".into()],
            ..Task::default()
        };
        let updated = patched(changes, &["priority"], now()).unwrap();
        let stored = stored_recurring_task();
        assert_eq!(updated.priority, proto::Priority::Low as i32);
        assert_eq!(
            (updated.title.as_str(), &updated.tags),
            (stored.title.as_str(), &stored.tags)
        );
        assert_eq!(updated.version, stored.version + 1);
        assert_eq!(updated.reminder, stored.reminder);
    }

    #[test]
    fn the_request_itself_is_checked() {
        let no_task = proto::UpdateTaskRequest {
            task: None,
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
            expected_version: -1,
        };
        assert_eq!(
            TaskPatch::from_request(&no_task).unwrap_err().fields(),
            ["expected_version", "task"]
        );
        let bad_id = request(
            Task {
                id: "nope".into(),
                title: String::new(),
                ..Task::default()
            },
            &["title"],
        );
        assert_eq!(
            TaskPatch::from_request(&bad_id).unwrap_err().fields(),
            ["id", "title"]
        );
    }

    #[test]
    fn cross_field_rules_are_checked_on_the_result() {
        let later_due = Some(utc_to_timestamp(utc("2026-03-09T09:00:00+01:00")));
        let absolute_past = proto::Reminder {
            trigger: Some(proto::reminder::Trigger::RemindTime(utc_to_timestamp(utc(
                "2026-02-01T00:00:00Z",
            )))),
        };
        /// Name, new values, mask, and the invalid fields.
        type Case<'a> = (&'a str, Task, &'a [&'a str], Result<(), Vec<&'a str>>);
        let cases: [Case; 8] = [
            (
                "clearing the due time keeps the zone",
                Task::default(),
                &["due_time"],
                Err(vec!["time_zone"]),
            ),
            (
                "clearing the zone keeps the due time",
                Task::default(),
                &["time_zone"],
                Err(vec!["time_zone"]),
            ),
            (
                "clearing due and zone leaves recurrence and reminder without",
                Task::default(),
                &["due_time", "time_zone"],
                Err(vec!["recurrence", "reminder.before_due"]),
            ),
            (
                "clearing all of them",
                Task::default(),
                &["due_time", "time_zone", "recurrence", "reminder"],
                Ok(()),
            ),
            (
                "moving the due time",
                Task {
                    due_time: later_due,
                    ..Task::default()
                },
                &["due_time"],
                Ok(()),
            ),
            (
                "a reminder set in the past",
                Task {
                    reminder: Some(absolute_past),
                    ..Task::default()
                },
                &["reminder"],
                Err(vec!["reminder"]),
            ),
            (
                "a lead that fires in the past",
                Task {
                    reminder: Some(before_due(3 * 86_400)),
                    ..Task::default()
                },
                &["reminder"],
                Err(vec!["reminder"]),
            ),
            (
                "an unchanged reminder that already fired",
                Task {
                    title: "t".into(),
                    reminder: Some(before_due(1_800)),
                    ..Task::default()
                },
                &["title", "reminder"],
                Ok(()),
            ),
        ];
        let after_reminder = utc("2026-03-02T08:45:00+01:00");
        for (case, changes, paths, expected) in cases {
            let result = patched(changes, paths, after_reminder)
                .map(|_| ())
                .map_err(|error| {
                    error
                        .fields()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                });
            let expected = expected
                .map_err(|fields| fields.iter().map(ToString::to_string).collect::<Vec<_>>());
            assert_eq!(result, expected, "case: {case}");
        }
    }

    #[test]
    fn a_task_that_becomes_recurring_starts_its_own_series() {
        let one_off = Task {
            recurrence: None,
            series_id: String::new(),
            ..stored_recurring_task()
        };
        let recurrence = Some(proto::Recurrence {
            rule: Some(proto::recurrence::Rule::Rrule("freq=weekly".into())),
            anchor: 0,
            time_of_day: String::new(),
        });
        let patch = TaskPatch::from_request(&request(
            Task {
                id: one_off.id.clone(),
                recurrence,
                ..Task::default()
            },
            &["recurrence"],
        ))
        .unwrap();
        let updated = apply_patch(&one_off, &patch, now() + TimeDelta::minutes(1)).unwrap();
        assert_eq!(updated.series_id, one_off.id);
        assert_eq!(
            updated.recurrence.and_then(|recurrence| recurrence.rule),
            Some(proto::recurrence::Rule::Rrule("FREQ=WEEKLY".into()))
        );
        assert_eq!(
            updated.update_time,
            Some(utc_to_timestamp(now() + TimeDelta::minutes(1)))
        );
    }
    #[test]
    fn the_time_of_day_follows_the_due_time_unless_the_update_sets_it() {
        let stored = stored_recurring_task();
        let time_of_day = |task: &Task| {
            task.recurrence
                .as_ref()
                .map(|recurrence| recurrence.time_of_day.clone())
        };
        assert_eq!(time_of_day(&stored).as_deref(), Some("09:00:00"));
        let at = now() + TimeDelta::minutes(1);
        let in_paris = |text: &str| Some(utc_to_timestamp(utc(text)));
        let with_rule = |time_of_day: &str| {
            Some(proto::Recurrence {
                rule: Some(proto::recurrence::Rule::Rrule("FREQ=DAILY".into())),
                anchor: 0,
                time_of_day: time_of_day.into(),
            })
        };
        let cases = [
            (
                "title only",
                Task {
                    title: "t".into(),
                    ..Task::default()
                },
                vec!["title"],
                Ok("09:00:00"),
            ),
            (
                "due time moves",
                Task {
                    due_time: in_paris("2026-03-05T18:30:00+01:00"),
                    ..Task::default()
                },
                vec!["due_time"],
                Ok("18:30:00"),
            ),
            (
                "a new rule takes the due time's",
                Task {
                    recurrence: with_rule(""),
                    ..Task::default()
                },
                vec!["recurrence"],
                Ok("09:00:00"),
            ),
            (
                "a time of day a gap moved to the due time",
                Task {
                    due_time: in_paris("2026-03-29T03:00:00+02:00"),
                    recurrence: with_rule("02:30:00"),
                    ..Task::default()
                },
                vec!["due_time", "recurrence"],
                Ok("02:30:00"),
            ),
            (
                "a time of day that is not the due time's",
                Task {
                    recurrence: with_rule("10:00:00"),
                    ..Task::default()
                },
                vec!["recurrence"],
                Err(vec!["recurrence.time_of_day"]),
            ),
        ];
        for (case, changes, paths, expected) in cases {
            let patch = TaskPatch::from_request(&request(
                Task {
                    id: stored.id.clone(),
                    ..changes
                },
                &paths,
            ))
            .unwrap();
            let updated = apply_patch(&stored, &patch, at);
            let result = updated
                .as_ref()
                .map(|task| time_of_day(task).unwrap_or_default())
                .map_err(|error| {
                    error
                        .fields()
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                });
            let expected = expected
                .map(str::to_owned)
                .map_err(|fields| fields.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(result, expected, "case: {case}");
        }
    }
}
