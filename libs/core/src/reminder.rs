//! `Reminder`: when to remind the user of a task.

use chrono::{DateTime, TimeDelta, Utc};
use todo_proto::todo::v1 as proto;

use crate::{
    due::Due,
    violation::FieldViolation,
    wire_time::{delta_to_duration, duration_to_delta, timestamp_to_utc, utc_to_timestamp},
};

/// The longest a reminder may come before the due time, in days.
pub const MAX_REMINDER_LEAD_DAYS: i64 = 365;

/// A validated reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reminder {
    /// This long before the due time (0 to 365 days); the task needs a due time.
    BeforeDue(TimeDelta),
    /// At this instant.
    At(DateTime<Utc>),
}

impl Reminder {
    /// Reads a wire `Reminder` on its own; the rules involving the due time and `now` are
    /// [`Reminder::check_has_due`] and [`Reminder::check_not_in_past`].
    ///
    /// # Errors
    /// Violations of `reminder` (no trigger), `reminder.before_due` (negative, over 365 days or
    /// malformed) and `reminder.remind_time` (out of range).
    pub fn from_proto(reminder: &proto::Reminder) -> Result<Self, FieldViolation> {
        match &reminder.trigger {
            None => Err(FieldViolation::new(
                "reminder",
                "reminder needs before_due or remind_time",
            )),
            Some(proto::reminder::Trigger::BeforeDue(duration)) => duration_to_delta(duration)
                .filter(|lead| {
                    *lead >= TimeDelta::zero() && *lead <= TimeDelta::days(MAX_REMINDER_LEAD_DAYS)
                })
                .map(Self::BeforeDue)
                .ok_or_else(|| {
                    let description = format!(
                        "reminder must be 0 to {MAX_REMINDER_LEAD_DAYS} days before the due time"
                    );
                    FieldViolation::new("reminder.before_due", description)
                }),
            Some(proto::reminder::Trigger::RemindTime(timestamp)) => {
                timestamp_to_utc(timestamp).map(Self::At).ok_or_else(|| {
                    FieldViolation::new(
                        "reminder.remind_time",
                        "remind time must be between years 1 and 9999",
                    )
                })
            }
        }
    }

    /// Returns the wire form.
    pub fn to_proto(&self) -> proto::Reminder {
        let trigger = match self {
            Self::BeforeDue(lead) => proto::reminder::Trigger::BeforeDue(delta_to_duration(*lead)),
            Self::At(instant) => proto::reminder::Trigger::RemindTime(utc_to_timestamp(*instant)),
        };
        proto::Reminder {
            trigger: Some(trigger),
        }
    }

    /// Returns when the reminder fires; `None` for a reminder before a due time the task lacks.
    pub fn fire_time(&self, due: Option<&Due>) -> Option<DateTime<Utc>> {
        match self {
            Self::BeforeDue(lead) => due?.time.checked_sub_signed(*lead),
            Self::At(instant) => Some(*instant),
        }
    }

    /// Checks that a reminder before the due time has a due time to count from.
    ///
    /// # Errors
    /// A violation of `reminder.before_due` when `due` is `None`.
    pub fn check_has_due(&self, due: Option<&Due>) -> Result<(), FieldViolation> {
        match (self, due) {
            (Self::BeforeDue(_), None) => Err(FieldViolation::new(
                "reminder.before_due",
                "a reminder before the due time needs a due time",
            )),
            _ => Ok(()),
        }
    }

    /// Checks that the reminder does not fire before `now`; run when a reminder is set or its
    /// due time moves, not for reminders that merely came due.
    ///
    /// # Errors
    /// A violation of `reminder` when the fire time is before `now`.
    pub fn check_not_in_past(
        &self,
        due: Option<&Due>,
        now: DateTime<Utc>,
    ) -> Result<(), FieldViolation> {
        match self.fire_time(due) {
            Some(fire_time) if fire_time < now => Err(FieldViolation::new(
                "reminder",
                "reminder time is in the past",
            )),
            _ => Ok(()),
        }
    }

    /// Returns the reminder of the next occurrence, whose due time is `shift` later: an offset
    /// before the due time carries over, an absolute time moves with the due time.
    pub fn shifted_by(&self, shift: TimeDelta) -> Self {
        match self {
            Self::BeforeDue(lead) => Self::BeforeDue(*lead),
            Self::At(instant) => Self::At(instant.checked_add_signed(shift).unwrap_or(*instant)),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost_types::{Duration, Timestamp};

    use super::*;
    use crate::time_zone::TimeZone;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn before_due(seconds: i64) -> proto::Reminder {
        proto::Reminder {
            trigger: Some(proto::reminder::Trigger::BeforeDue(Duration {
                seconds,
                nanos: 0,
            })),
        }
    }

    #[test]
    fn wire_reminders_are_validated_with_field_paths() {
        let year_and_a_second = MAX_REMINDER_LEAD_DAYS * 86_400 + 1;
        let out_of_range = proto::Reminder {
            trigger: Some(proto::reminder::Trigger::RemindTime(Timestamp {
                seconds: i64::MIN,
                nanos: 0,
            })),
        };
        let cases = [
            (
                "an hour before",
                before_due(3_600),
                Ok(Reminder::BeforeDue(TimeDelta::hours(1))),
            ),
            (
                "at the due time",
                before_due(0),
                Ok(Reminder::BeforeDue(TimeDelta::zero())),
            ),
            (
                "a year before",
                before_due(MAX_REMINDER_LEAD_DAYS * 86_400),
                Ok(Reminder::BeforeDue(TimeDelta::days(365))),
            ),
            (
                "over a year before",
                before_due(year_and_a_second),
                Err("reminder.before_due"),
            ),
            (
                "after the due time",
                before_due(-60),
                Err("reminder.before_due"),
            ),
            (
                "no trigger",
                proto::Reminder { trigger: None },
                Err("reminder"),
            ),
            (
                "remind time out of range",
                out_of_range,
                Err("reminder.remind_time"),
            ),
        ];
        for (case, wire, expected) in cases {
            let parsed = Reminder::from_proto(&wire).map_err(|violation| violation.field);
            assert_eq!(parsed, expected.map_err(str::to_owned), "case: {case}");
            if let Ok(reminder) = parsed {
                assert_eq!(
                    Reminder::from_proto(&reminder.to_proto()),
                    Ok(reminder),
                    "case: {case}"
                );
            }
        }
    }

    #[test]
    fn fire_times_count_back_from_the_due_time() {
        let due = Due {
            time: utc("2026-03-29T09:00:00Z"),
            zone: TimeZone::parse("UTC").unwrap(),
        };
        let at = utc("2026-03-28T18:00:00Z");
        let cases = [
            (
                "before due",
                Reminder::BeforeDue(TimeDelta::minutes(30)),
                Some(&due),
                Some(utc("2026-03-29T08:30:00Z")),
            ),
            (
                "before a missing due",
                Reminder::BeforeDue(TimeDelta::minutes(30)),
                None,
                None,
            ),
            ("absolute", Reminder::At(at), None, Some(at)),
        ];
        for (case, reminder, due, expected) in cases {
            assert_eq!(reminder.fire_time(due), expected, "case: {case}");
        }
    }

    #[test]
    fn a_reminder_may_not_be_set_in_the_past() {
        let now = utc("2026-03-29T08:00:00Z");
        let due = Due {
            time: utc("2026-03-29T09:00:00Z"),
            zone: TimeZone::parse("UTC").unwrap(),
        };
        let cases = [
            (
                "fires later",
                Reminder::BeforeDue(TimeDelta::minutes(30)),
                true,
            ),
            ("fires now", Reminder::BeforeDue(TimeDelta::hours(1)), true),
            (
                "fired already",
                Reminder::BeforeDue(TimeDelta::hours(2)),
                false,
            ),
            (
                "absolute in the past",
                Reminder::At(utc("2026-03-29T07:59:59Z")),
                false,
            ),
        ];
        for (case, reminder, accepted) in cases {
            let checked = reminder.check_not_in_past(Some(&due), now);
            assert_eq!(checked.is_ok(), accepted, "case: {case}");
            if let Err(violation) = checked {
                assert_eq!(
                    violation,
                    FieldViolation::new("reminder", "reminder time is in the past"),
                    "case: {case}"
                );
            }
        }
    }

    #[test]
    fn a_reminder_before_the_due_time_needs_one() {
        let violation = Reminder::BeforeDue(TimeDelta::zero())
            .check_has_due(None)
            .unwrap_err();
        assert_eq!(violation.field, "reminder.before_due");
        assert_eq!(
            Reminder::At(utc("2026-03-29T07:00:00Z")).check_has_due(None),
            Ok(())
        );
    }

    #[test]
    fn next_occurrence_reminders_keep_their_offset() {
        let shift = TimeDelta::days(7);
        let at = utc("2026-03-28T18:00:00Z");
        assert_eq!(Reminder::At(at).shifted_by(shift), Reminder::At(at + shift));
        let lead = Reminder::BeforeDue(TimeDelta::hours(2));
        assert_eq!(lead.shifted_by(shift), lead);
    }
}
