//! `NewTask`: a validated `CreateTaskRequest`, ready to become a task, and the rules between a
//! task's due time, recurrence and reminder that creates and updates share.

use chrono::{DateTime, Utc};
use todo_proto::todo::v1 as proto;

use crate::{
    due::Due,
    ids::{IdError, RequestId, SeriesId, TaskId, UserId},
    priority::Priority,
    recurrence::Recurrence,
    reminder::Reminder,
    tags::Tags,
    task_description::TaskDescription,
    task_title::TaskTitle,
    violation::{FieldViolation, ValidationError, Violations},
};

/// Where a task sits in a recurring series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesPosition {
    /// The series.
    pub series_id: SeriesId,
    /// The 0-based position in the series.
    pub occurrence_index: u32,
}

/// A validated `CreateTaskRequest`, ready to become a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    user_id: UserId,
    request_id: Option<RequestId>,
    title: TaskTitle,
    description: TaskDescription,
    priority: Priority,
    tags: Tags,
    due: Option<Due>,
    recurrence: Option<Recurrence>,
    reminder: Option<Reminder>,
    series: Option<SeriesPosition>,
}

impl NewTask {
    /// Validates a create request of `user_id`, reporting every invalid field at once.
    ///
    /// A request with `series_id` continues a recurring series (only the recurring service sends
    /// one): its reminder may already have fired, since the occurrence was computed, not chosen.
    ///
    /// # Errors
    /// Violations with the paths listed in the crate docs.
    pub fn from_request(
        request: &proto::CreateTaskRequest,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationError> {
        let mut violations = Violations::default();
        let request_id = match request.request_id.as_str() {
            "" => Some(None),
            text => violations.check(
                RequestId::parse(text)
                    .map(Some)
                    .map_err(|error| id_violation("request_id", &error)),
            ),
        };
        let title = violations.check(TaskTitle::parse(&request.title));
        let description = violations.check(TaskDescription::parse(&request.description));
        let priority = violations.check(Priority::from_proto(request.priority));
        let tags = violations.check_all(Tags::parse(&request.tags));
        let due = violations.check_all(Due::from_parts(
            request.due_time.as_ref(),
            &request.time_zone,
        ));
        let recurrence = violations.check_all(
            request
                .recurrence
                .as_ref()
                .map(Recurrence::from_proto)
                .transpose(),
        );
        let reminder = violations.check(
            request
                .reminder
                .as_ref()
                .map(Reminder::from_proto)
                .transpose(),
        );
        let series = violations.check(parse_series(&request.series_id, request.occurrence_index));
        // A recurring task keeps the local time of day it was created at.
        let recurrence = recurrence.map(|recurrence| match (recurrence, &due) {
            (Some(recurrence), Some(Some(due))) => Some(recurrence.with_time_of_day_from(due)),
            (recurrence, _) => recurrence,
        });
        // Cross-field rules run on the fields that parsed; the others are reported already.
        if let Some(due) = &due {
            let continues_series = series.as_ref().is_some_and(Option::is_some);
            let check_past_at = (!continues_series).then_some(now);
            let recurrence = recurrence.as_ref().and_then(Option::as_ref);
            let reminder = reminder.as_ref().and_then(Option::as_ref);
            violations.extend(schedule_violations(
                due.as_ref(),
                recurrence,
                reminder,
                check_past_at,
                !continues_series,
            ));
        }
        let (
            Some(request_id),
            Some(title),
            Some(description),
            Some(priority),
            Some(tags),
            Some(due),
            Some(recurrence),
            Some(reminder),
            Some(series),
        ) = (
            request_id,
            title,
            description,
            priority,
            tags,
            due,
            recurrence,
            reminder,
            series,
        )
        else {
            return Err(violations.into_error());
        };
        violations.into_result()?;
        Ok(Self {
            user_id,
            request_id,
            title,
            description,
            priority,
            tags,
            due,
            recurrence,
            reminder,
            series,
        })
    }

    /// Returns the owner.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Returns the idempotency key, if the client sent one.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }

    /// Returns the title.
    pub fn title(&self) -> &TaskTitle {
        &self.title
    }

    /// Returns the description.
    pub fn description(&self) -> &TaskDescription {
        &self.description
    }

    /// Returns the priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Returns the tags.
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// Returns the due time, if any.
    pub fn due(&self) -> Option<&Due> {
        self.due.as_ref()
    }

    /// Returns the recurrence, if any.
    pub fn recurrence(&self) -> Option<&Recurrence> {
        self.recurrence.as_ref()
    }

    /// Returns the reminder, if any.
    pub fn reminder(&self) -> Option<&Reminder> {
        self.reminder.as_ref()
    }

    /// Returns the series position of a continued series, if this is one.
    pub fn series(&self) -> Option<SeriesPosition> {
        self.series
    }

    /// Returns the id a retry would also get: the occurrence id of a series continuation, else
    /// the request id's task id; `None` when the create is not idempotent.
    pub fn deterministic_id(&self) -> Option<TaskId> {
        match (&self.series, &self.request_id) {
            (Some(series), _) => Some(TaskId::for_occurrence(
                &series.series_id,
                series.occurrence_index,
            )),
            (None, Some(request_id)) => Some(TaskId::for_request(&self.user_id, request_id)),
            (None, None) => None,
        }
    }

    /// Returns the id for the new task: [`NewTask::deterministic_id`], or a random one.
    pub fn task_id(&self) -> TaskId {
        self.deterministic_id().unwrap_or_else(TaskId::new_v4)
    }

    /// Returns the create request that yields this task; how the recurring service asks todo-api
    /// for a next occurrence.
    pub fn to_create_request(&self) -> proto::CreateTaskRequest {
        let (due_time, time_zone) = self.due.as_ref().map(Due::to_parts).unzip();
        proto::CreateTaskRequest {
            request_id: self
                .request_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            title: self.title.as_str().to_owned(),
            description: self.description.as_str().to_owned(),
            priority: self.priority.to_proto() as i32,
            tags: self.tags.as_slice().to_vec(),
            due_time,
            time_zone: time_zone.unwrap_or_default(),
            recurrence: self.recurrence.as_ref().map(Recurrence::to_proto),
            reminder: self.reminder.as_ref().map(Reminder::to_proto),
            series_id: self
                .series
                .map(|series| series.series_id.to_string())
                .unwrap_or_default(),
            occurrence_index: self.series.map_or(0, |series| series.occurrence_index),
        }
    }
}

fn id_violation(field: &str, error: &IdError) -> FieldViolation {
    FieldViolation::new(field, error.to_string())
}

fn parse_series(
    series_id: &str,
    occurrence_index: u32,
) -> Result<Option<SeriesPosition>, FieldViolation> {
    if series_id.is_empty() {
        if occurrence_index != 0 {
            return Err(FieldViolation::new(
                "occurrence_index",
                "an occurrence index needs a series id",
            ));
        }
        return Ok(None);
    }
    let series_id =
        SeriesId::parse(series_id).map_err(|error| id_violation("series_id", &error))?;
    if occurrence_index == 0 {
        return Err(FieldViolation::new(
            "occurrence_index",
            "a continued series starts at occurrence index 1",
        ));
    }
    Ok(Some(SeriesPosition {
        series_id,
        occurrence_index,
    }))
}

/// Returns the violations of the rules between the due time, the recurrence and the reminder.
/// `check_past_at` is `now` when the reminder is being set, so it must not have fired yet;
/// `check_recurrence` when the recurrence or the due time is being set, so the rule must occur
/// after the due time and the time of day must match it ([`Recurrence::check_against`]).
pub(crate) fn schedule_violations(
    due: Option<&Due>,
    recurrence: Option<&Recurrence>,
    reminder: Option<&Reminder>,
    check_past_at: Option<DateTime<Utc>>,
    check_recurrence: bool,
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    match (recurrence, due) {
        (Some(_), None) => violations.push(FieldViolation::new(
            "recurrence",
            "a recurring task needs a due time",
        )),
        (Some(recurrence), Some(due)) if check_recurrence => {
            violations.extend(recurrence.check_against(due).err());
        }
        _ => {}
    }
    if let Some(reminder) = reminder {
        violations.extend(reminder.check_has_due(due).err());
        if let Some(now) = check_past_at {
            violations.extend(reminder.check_not_in_past(due, now).err());
        }
    }
    violations
}

#[cfg(test)]
pub(crate) mod tests {
    use prost_types::Duration;
    use todo_proto::todo::v1::Task;

    use super::*;
    use crate::{task::create, wire_time::utc_to_timestamp};
    pub(crate) const USER: &str = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a";

    pub(crate) fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    pub(crate) fn now() -> DateTime<Utc> {
        utc("2026-03-01T12:00:00Z")
    }

    pub(crate) fn user() -> UserId {
        UserId::parse(USER).unwrap()
    }

    /// A valid request for a daily task due at 09:00 Paris, reminded 30 minutes before.
    pub(crate) fn recurring_request() -> proto::CreateTaskRequest {
        proto::CreateTaskRequest {
            title: "  Water plants ".into(),
            description: "balcony\nand kitchen".into(),
            priority: proto::Priority::High as i32,
            tags: vec!["Home".into(), "home".into(), "Garden".into()],
            due_time: Some(utc_to_timestamp(utc("2026-03-02T09:00:00+01:00"))),
            time_zone: "Europe/Paris".into(),
            recurrence: Some(proto::Recurrence {
                rule: Some(proto::recurrence::Rule::Preset(
                    proto::RecurrencePreset::Daily as i32,
                )),
                anchor: proto::RecurrenceAnchor::DueDate as i32,
                time_of_day: String::new(),
            }),
            reminder: Some(before_due(1_800)),
            ..proto::CreateTaskRequest::default()
        }
    }

    pub(crate) fn before_due(seconds: i64) -> proto::Reminder {
        proto::Reminder {
            trigger: Some(proto::reminder::Trigger::BeforeDue(Duration {
                seconds,
                nanos: 0,
            })),
        }
    }

    pub(crate) fn stored_recurring_task() -> Task {
        let new = NewTask::from_request(&recurring_request(), user(), now()).unwrap();
        create(
            &new,
            TaskId::parse("0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d").unwrap(),
            now(),
        )
    }

    #[test]
    fn every_invalid_field_of_a_create_request_is_reported() {
        type Change = fn(&mut proto::CreateTaskRequest);
        let cases: [(&str, Change, &[&str]); 13] = [
            ("blank title", |r| r.title = " ".into(), &["title"]),
            (
                "bad tag",
                |r| r.tags = vec!["ok".into(), "two words".into()],
                &["tags[1]"],
            ),
            ("unknown priority", |r| r.priority = 9, &["priority"]),
            (
                "bad request id",
                |r| r.request_id = "a b".into(),
                &["request_id"],
            ),
            (
                "due time without zone",
                |r| r.time_zone.clear(),
                &["time_zone"],
            ),
            (
                "recurrence without due",
                |r| (r.due_time, r.time_zone, r.reminder) = (None, String::new(), None),
                &["recurrence"],
            ),
            (
                "reminder before a missing due",
                |r| (r.due_time, r.time_zone, r.recurrence) = (None, String::new(), None),
                &["reminder.before_due"],
            ),
            (
                "reminder in the past",
                |r| r.reminder = Some(before_due(7 * 86_400)),
                &["reminder"],
            ),
            (
                "bad rrule",
                |r| {
                    r.recurrence = Some(proto::Recurrence {
                        rule: Some(proto::recurrence::Rule::Rrule("FREQ=HOURLY".into())),
                        anchor: 0,
                        time_of_day: String::new(),
                    })
                },
                &["recurrence.rrule"],
            ),
            (
                "index without series",
                |r| r.occurrence_index = 3,
                &["occurrence_index"],
            ),
            (
                "bad series id",
                |r| (r.series_id, r.occurrence_index) = ("x".into(), 1),
                &["series_id"],
            ),
            (
                "series at index 0",
                |r| r.series_id = USER.into(),
                &["occurrence_index"],
            ),
            (
                "many at once",
                |r| {
                    (r.title, r.description, r.tags) =
                        (String::new(), "\u{7}".into(), vec![String::new()])
                },
                &["title", "description", "tags[0]"],
            ),
        ];
        for (case, change, fields) in cases {
            let mut request = recurring_request();
            change(&mut request);
            let error = NewTask::from_request(&request, user(), now()).expect_err(case);
            assert_eq!(error.fields(), fields, "case: {case}");
        }
    }

    #[test]
    fn a_continued_series_may_carry_a_reminder_that_already_fired() {
        let request = proto::CreateTaskRequest {
            series_id: USER.into(),
            occurrence_index: 4,
            ..recurring_request()
        };
        let late = utc("2026-03-05T00:00:00Z");
        assert!(NewTask::from_request(&request, user(), late).is_ok());
        let fresh = NewTask::from_request(&recurring_request(), user(), late).unwrap_err();
        assert_eq!(fresh.fields(), ["reminder"]);
    }

    #[test]
    fn ids_are_deterministic_for_request_ids_and_series() {
        let series = SeriesId::parse(USER).unwrap();
        let request_id = RequestId::parse("req-1").unwrap();
        let cases = [
            (
                "request id",
                proto::CreateTaskRequest {
                    request_id: "req-1".into(),
                    ..recurring_request()
                },
                Some(TaskId::for_request(&user(), &request_id)),
            ),
            (
                "series",
                proto::CreateTaskRequest {
                    series_id: USER.into(),
                    occurrence_index: 2,
                    ..recurring_request()
                },
                Some(TaskId::for_occurrence(&series, 2)),
            ),
            ("neither", recurring_request(), None),
        ];
        for (case, request, expected) in cases {
            let new = NewTask::from_request(&request, user(), now()).unwrap();
            assert_eq!(new.deterministic_id(), expected, "case: {case}");
            if let Some(expected) = expected {
                assert_eq!(new.task_id(), expected, "case: {case}");
            }
        }
    }

    #[test]
    fn a_new_task_round_trips_through_its_create_request() {
        let request = proto::CreateTaskRequest {
            request_id: "r".into(),
            series_id: USER.into(),
            occurrence_index: 1,
            ..recurring_request()
        };
        let new = NewTask::from_request(&request, user(), now()).unwrap();
        assert_eq!(
            NewTask::from_request(&new.to_create_request(), user(), now()),
            Ok(new)
        );
    }
}
