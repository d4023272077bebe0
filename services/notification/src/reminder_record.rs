//! `ReminderRecord`, the stored state `reminder-<task_id>`: what the newest task event seen
//! says about the task's reminder, and its last firing. Pure rules, no I/O:
//! - [`ReminderRecord::from_event`]: the record a task event implies;
//! - [`apply_event`]: whether an event is stale, a redelivery, or a change to write;
//! - [`ReminderRecord::pending_job`]: when the reminder job should fire (or that there should
//!   be none);
//! - [`ReminderRecord::trigger`]: what a job trigger should do.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use todo_core::{
    Due, Reminder, events,
    ids::{TaskId, UserId},
    task::is_completed,
    wire_time::{timestamp_to_utc, utc_to_timestamp},
};
use todo_proto::todo::v1::{self as proto, TaskEventType};

/// The state key of a task's reminder.
pub fn state_key(task_id: &TaskId) -> String {
    format!("reminder-{task_id}")
}

/// The job that fires a task's reminder; the same name as its state key.
pub fn job_name(task_id: &TaskId) -> String {
    state_key(task_id)
}

/// A task event that cannot be processed: it will never become processable.
#[derive(Debug, thiserror::Error)]
#[error("malformed task event {event_id}: {reason}")]
pub struct MalformedEvent {
    /// The event.
    pub event_id: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The reminder of an open task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveReminder {
    /// When it fires.
    pub remind_time: DateTime<Utc>,
    /// The task's due time, if it has one.
    pub due_time: Option<DateTime<Utc>>,
    /// The task title.
    pub title: String,
}

/// A firing of the reminder: the `ReminderDue` it made, kept so a redelivered trigger neither
/// appends nor publishes it twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// The `ReminderDue` event id, also the notification id.
    pub event_id: String,
    /// The task version it fired for.
    pub task_version: i64,
    /// The title it showed.
    pub title: String,
    /// The task's due time then.
    pub due_time: Option<DateTime<Utc>>,
    /// When it was meant to fire.
    pub remind_time: DateTime<Utc>,
    /// When it fired.
    pub fire_time: DateTime<Utc>,
    /// Whether it fired late.
    pub late: bool,
    /// Whether `ReminderDue` reached the `reminders` topic.
    pub published: bool,
}

impl Firing {
    /// Returns the `ReminderDue` event of this firing.
    pub fn to_event(&self, task_id: &TaskId, user_id: &UserId) -> proto::ReminderDue {
        proto::ReminderDue {
            event_id: self.event_id.clone(),
            user_id: user_id.to_string(),
            task_id: task_id.to_string(),
            task_version: self.task_version,
            title: self.title.clone(),
            due_time: self.due_time.map(utc_to_timestamp),
            remind_time: Some(utc_to_timestamp(self.remind_time)),
            fire_time: Some(utc_to_timestamp(self.fire_time)),
            late: self.late,
        }
    }

    /// Returns the firing `event` describes.
    fn from_event(
        event: &proto::ReminderDue,
        remind_time: DateTime<Utc>,
        fire_time: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: event.event_id.clone(),
            task_version: event.task_version,
            title: event.title.clone(),
            due_time: event.due_time.as_ref().and_then(timestamp_to_utc),
            remind_time,
            fire_time,
            late: event.late,
            published: false,
        }
    }
}

/// What notification knows of one task's reminder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderRecord {
    /// The task.
    pub task_id: TaskId,
    /// Its owner.
    pub user_id: UserId,
    /// The task version of the newest event applied; older events are ignored.
    pub version: i64,
    /// The reminder, while the task is open and has one.
    pub reminder: Option<ActiveReminder>,
    /// The latest firing.
    pub fired: Option<Firing>,
}

/// What to do with a task event, given the stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventDecision {
    /// The stored record is newer: nothing to do.
    Stale,
    /// The stored record is this event's: make the job match it again, in case an earlier
    /// delivery stored it but failed before the job call.
    Redelivered,
    /// Store this record, then make the job match it.
    Write(ReminderRecord),
}

/// Decides what `event_record` (from [`ReminderRecord::from_event`]) does to `stored`. A firing
/// is carried over, so an update that keeps the reminder time does not fire it again.
pub fn apply_event(stored: Option<&ReminderRecord>, event_record: ReminderRecord) -> EventDecision {
    match stored {
        Some(stored) if stored.version > event_record.version => EventDecision::Stale,
        Some(stored) if stored.version == event_record.version => EventDecision::Redelivered,
        _ => EventDecision::Write(ReminderRecord {
            fired: stored.and_then(|stored| stored.fired.clone()),
            ..event_record
        }),
    }
}

/// What a trigger of the job scheduled for `scheduled_for` should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerAction {
    /// The reminder moved, went away, or its task is done: consume the trigger.
    Obsolete,
    /// It fired already; publish the firing again only if it never reached the topic.
    AlreadyFired(Firing),
    /// Fire it: store this record (with the firing) and append its notification.
    Fire(ReminderRecord, Firing),
}

impl ReminderRecord {
    /// Returns the record `event` implies, without a firing.
    ///
    /// # Errors
    /// [`MalformedEvent`] for an event of an unknown type, without a task or with invalid ids:
    /// it never becomes processable.
    pub fn from_event(event: &proto::TaskEvent) -> Result<Self, MalformedEvent> {
        let malformed = |reason| MalformedEvent {
            event_id: event.event_id.clone(),
            reason,
        };
        let task_id = TaskId::parse(&event.task_id).map_err(|_| malformed("invalid task_id"))?;
        let user_id = UserId::parse(&event.user_id).map_err(|_| malformed("invalid user_id"))?;
        let event_type = events::known_type(event).ok_or_else(|| malformed("unknown type"))?;
        let task = event.task.as_ref().ok_or_else(|| malformed("no task"))?;
        let gone = event_type == TaskEventType::Deleted || is_completed(task);
        let reminder = if gone { None } else { active_reminder(task) };
        Ok(Self {
            task_id,
            user_id,
            version: event.version,
            reminder,
            fired: None,
        })
    }

    /// When the reminder job should fire: the reminder's time, unless it fired for that time
    /// already; `None` means there should be no job.
    pub fn pending_job(&self) -> Option<DateTime<Utc>> {
        let reminder = self.reminder.as_ref()?;
        let fired_for_it = self
            .fired
            .as_ref()
            .is_some_and(|fired| fired.remind_time == reminder.remind_time);
        (!fired_for_it).then_some(reminder.remind_time)
    }

    /// Decides what a trigger of the job scheduled for `scheduled_for` does at `now`; a
    /// firing at least `late_after` after the reminder time is late.
    pub fn trigger(
        &self,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
        late_after: TimeDelta,
    ) -> TriggerAction {
        let Some(reminder) = &self.reminder else {
            return TriggerAction::Obsolete;
        };
        if reminder.remind_time != scheduled_for {
            return TriggerAction::Obsolete;
        }
        if let Some(fired) = &self.fired
            && fired.remind_time == reminder.remind_time
        {
            return TriggerAction::AlreadyFired(fired.clone());
        }
        let mut event =
            events::reminder_due(&self.task_snapshot(reminder), reminder.remind_time, now);
        event.late = now.signed_duration_since(reminder.remind_time) >= late_after;
        let firing = Firing::from_event(&event, reminder.remind_time, now);
        let record = Self {
            fired: Some(firing.clone()),
            ..self.clone()
        };
        TriggerAction::Fire(record, firing)
    }

    /// Whether the record may expire: a task without a pending or fired reminder only needs
    /// its version kept for a while, against late older events.
    pub fn may_expire(&self) -> bool {
        self.reminder.is_none()
    }

    /// The task as far as `events::reminder_due` reads it.
    fn task_snapshot(&self, reminder: &ActiveReminder) -> proto::Task {
        proto::Task {
            id: self.task_id.to_string(),
            user_id: self.user_id.to_string(),
            title: reminder.title.clone(),
            version: self.version,
            due_time: reminder.due_time.map(utc_to_timestamp),
            ..proto::Task::default()
        }
    }
}

/// The reminder of an open task, if it has one that can fire: a reminder before a due time the
/// task lacks cannot (todo-api refuses to store one).
fn active_reminder(task: &proto::Task) -> Option<ActiveReminder> {
    let reminder = Reminder::from_proto(task.reminder.as_ref()?).ok()?;
    let due = Due::from_parts(task.due_time.as_ref(), &task.time_zone).ok()?;
    Some(ActiveReminder {
        remind_time: reminder.fire_time(due.as_ref())?,
        due_time: due.map(|due| due.time),
        title: task.title.clone(),
    })
}

#[cfg(test)]
mod tests {
    use todo_core::wire_time::utc_to_timestamp;

    use super::*;

    const TASK: &str = "0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d";
    const USER: &str = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a";

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn remind_at(text: &str) -> proto::Reminder {
        proto::Reminder {
            trigger: Some(proto::reminder::Trigger::RemindTime(utc_to_timestamp(utc(
                text,
            )))),
        }
    }

    fn event(event_type: TaskEventType, version: i64, task: proto::Task) -> proto::TaskEvent {
        proto::TaskEvent {
            event_id: "e".into(),
            r#type: event_type as i32,
            user_id: USER.into(),
            task_id: TASK.into(),
            version,
            task: Some(task),
            ..Default::default()
        }
    }

    fn open_task(reminder: Option<proto::Reminder>) -> proto::Task {
        proto::Task {
            id: TASK.into(),
            user_id: USER.into(),
            title: "water plants".into(),
            status: proto::TaskStatus::Open as i32,
            reminder,
            ..Default::default()
        }
    }

    fn record(event_type: TaskEventType, version: i64, task: proto::Task) -> ReminderRecord {
        ReminderRecord::from_event(&event(event_type, version, task)).unwrap()
    }

    #[test]
    fn events_imply_a_reminder_only_for_open_tasks_that_have_one() {
        let at = "2026-03-29T08:30:00Z";
        let completed = proto::Task {
            status: proto::TaskStatus::Completed as i32,
            ..open_task(Some(remind_at(at)))
        };
        let before_due = proto::Task {
            due_time: Some(utc_to_timestamp(utc("2026-03-29T09:00:00Z"))),
            time_zone: "Europe/Berlin".into(),
            reminder: Some(proto::Reminder {
                trigger: Some(proto::reminder::Trigger::BeforeDue(prost_types::Duration {
                    seconds: 600,
                    nanos: 0,
                })),
            }),
            ..open_task(None)
        };
        let cases = [
            (
                "created with a reminder",
                TaskEventType::Created,
                open_task(Some(remind_at(at))),
                Some(utc(at)),
            ),
            (
                "created without",
                TaskEventType::Created,
                open_task(None),
                None,
            ),
            ("completed", TaskEventType::Completed, completed, None),
            (
                "deleted",
                TaskEventType::Deleted,
                open_task(Some(remind_at(at))),
                None,
            ),
            (
                "before the due time",
                TaskEventType::Updated,
                before_due,
                Some(utc("2026-03-29T08:50:00Z")),
            ),
        ];
        for (case, event_type, task, expected) in cases {
            let record = record(event_type, 2, task);
            assert_eq!(record.pending_job(), expected, "case: {case}");
            assert_eq!(record.may_expire(), expected.is_none(), "case: {case}");
        }
    }

    #[test]
    fn malformed_events_are_refused() {
        let mut no_task = event(TaskEventType::Created, 1, open_task(None));
        no_task.task = None;
        let mut bad_id = event(TaskEventType::Created, 1, open_task(None));
        bad_id.task_id = "a||b".into();
        let mut unknown_type = event(TaskEventType::Created, 1, open_task(None));
        unknown_type.r#type = 99;
        let unset_type = event(TaskEventType::Unspecified, 1, open_task(None));
        let cases = [
            ("no task", no_task),
            ("bad task id", bad_id),
            ("unknown type", unknown_type),
            ("unset type", unset_type),
        ];
        for (case, event) in cases {
            assert!(ReminderRecord::from_event(&event).is_err(), "case: {case}");
        }
    }

    #[test]
    fn older_events_are_stale_equal_ones_redelivered_newer_ones_written() {
        let stored = record(
            TaskEventType::Updated,
            5,
            open_task(Some(remind_at("2026-03-29T08:30:00Z"))),
        );
        let cases = [(4, "stale"), (5, "redelivered"), (6, "write")];
        for (version, expected) in cases {
            let decision = apply_event(
                Some(&stored),
                record(TaskEventType::Updated, version, open_task(None)),
            );
            let kind = match decision {
                EventDecision::Stale => "stale",
                EventDecision::Redelivered => "redelivered",
                EventDecision::Write(_) => "write",
            };
            assert_eq!(kind, expected, "version {version}");
        }
        assert!(matches!(
            apply_event(None, record(TaskEventType::Created, 1, open_task(None))),
            EventDecision::Write(_)
        ));
    }

    #[test]
    fn a_fired_reminder_is_not_pending_until_its_time_moves() {
        let at = utc("2026-03-29T08:30:00Z");
        let stored = record(
            TaskEventType::Created,
            1,
            open_task(Some(remind_at("2026-03-29T08:30:00Z"))),
        );
        let TriggerAction::Fire(fired, firing) = stored.trigger(at, at, TimeDelta::seconds(60))
        else {
            panic!("a due reminder fires");
        };
        assert_eq!(fired.pending_job(), None);
        assert_eq!(
            fired.trigger(at, at, TimeDelta::seconds(60)),
            TriggerAction::AlreadyFired(firing),
            "a redelivered trigger"
        );
        let retitled = proto::Task {
            title: "water the plants".into(),
            ..open_task(Some(remind_at("2026-03-29T08:30:00Z")))
        };
        let EventDecision::Write(updated) =
            apply_event(Some(&fired), record(TaskEventType::Updated, 2, retitled))
        else {
            panic!("a newer event is written");
        };
        assert_eq!(updated.pending_job(), None, "same time: no second firing");
        let EventDecision::Write(moved) = apply_event(
            Some(&updated),
            record(
                TaskEventType::Updated,
                3,
                open_task(Some(remind_at("2026-03-29T09:30:00Z"))),
            ),
        ) else {
            panic!("a newer event is written");
        };
        assert_eq!(moved.pending_job(), Some(utc("2026-03-29T09:30:00Z")));
    }

    #[test]
    fn triggers_fire_only_the_reminder_they_were_scheduled_for() {
        let at = utc("2026-03-29T08:30:00Z");
        let stored = record(
            TaskEventType::Created,
            3,
            open_task(Some(remind_at("2026-03-29T08:30:00Z"))),
        );
        let late_after = TimeDelta::seconds(60);
        assert_eq!(
            stored.trigger(utc("2026-03-29T08:00:00Z"), at, late_after),
            TriggerAction::Obsolete,
            "a trigger of the job before it moved"
        );
        let done = record(
            TaskEventType::Completed,
            4,
            proto::Task {
                status: proto::TaskStatus::Completed as i32,
                ..open_task(None)
            },
        );
        assert_eq!(done.trigger(at, at, late_after), TriggerAction::Obsolete);
        let cases = [
            ("on time", at + TimeDelta::milliseconds(3), false),
            ("just short of late", at + TimeDelta::seconds(59), false),
            ("after a restart", at + TimeDelta::minutes(5), true),
        ];
        for (case, now, late) in cases {
            let TriggerAction::Fire(_, firing) = stored.trigger(at, now, late_after) else {
                panic!("case {case}: fires");
            };
            let event = firing.to_event(&stored.task_id, &stored.user_id);
            assert_eq!(event.late, late, "case: {case}");
            assert_eq!(event.task_version, 3, "case: {case}");
            assert_eq!(event.title, "water plants", "case: {case}");
            assert_eq!(event.user_id, USER, "case: {case}");
            assert_eq!(
                event.remind_time,
                Some(utc_to_timestamp(at)),
                "case: {case}"
            );
            assert_eq!(event.fire_time, Some(utc_to_timestamp(now)), "case: {case}");
        }
    }

    #[test]
    fn records_round_trip_through_json() {
        let record = record(
            TaskEventType::Created,
            1,
            open_task(Some(remind_at("2026-03-29T08:30:00Z"))),
        );
        let json = serde_json::to_vec(&record).unwrap();
        assert_eq!(
            serde_json::from_slice::<ReminderRecord>(&json).unwrap(),
            record
        );
    }
}
