//! Recurrence: how a task repeats, and when its next occurrence is due.
//!
//! A [`Recurrence`] is a [`RecurrenceRule`] (a preset or an [`Rrule`]), an [`Anchor`], and the
//! series' wall-clock time of day. [`next_occurrence`] is what the recurring service runs on each
//! completion. The `rrule` crate lays the rule out on local dates in the task's IANA zone (the
//! dates of `BYDAY=2TU`, `BYSETPOS`, `WKST`, ...); todo-core keeps its own part: presets,
//! validation with field paths, the two anchors, `COUNT` and `UNTIL` across a series that is laid
//! out again from each occurrence, the bound of year 9999, and turning a local time into an
//! instant: a local time that does not exist that day moves to the end of the gap, and one that
//! happens twice takes the earlier instant
//! ([`TimeZone::resolve_local`](crate::time_zone::TimeZone::resolve_local)).
//!
//! The time of day is stored with the task (`Recurrence.time_of_day`), so a gap that moved one
//! occurrence from 02:30 to 03:00 does not move the next ones: they are due at 02:30 again.

mod next_occurrence;
mod rrule;
mod rrule_parsing;

use chrono::{NaiveTime, Timelike, Weekday};
use todo_proto::todo::v1 as proto;

pub use self::{
    next_occurrence::next_occurrence,
    rrule::{ByDay, Frequency, MAX_RRULE_CHARS, Rrule, RruleError, SeriesEnd, Until},
};
use crate::{
    due::Due,
    violation::{FieldViolation, ValidationError, Violations},
};

/// A common recurrence, named by `RecurrencePreset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Every day: `FREQ=DAILY`.
    Daily,
    /// Monday to Friday: `FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR`.
    Weekdays,
    /// Every week on the due date's weekday: `FREQ=WEEKLY`.
    Weekly,
    /// Every month on the due date's day, skipping months without it: `FREQ=MONTHLY`.
    Monthly,
    /// Every year on the due date's month and day: `FREQ=YEARLY`.
    Yearly,
}

/// How a task repeats: a preset or an RRULE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecurrenceRule {
    /// A preset.
    Preset(Preset),
    /// An RRULE of the supported subset.
    Rrule(Rrule),
}

impl RecurrenceRule {
    /// Returns the rule as an RRULE; presets become their equivalent rule.
    pub fn to_rrule(&self) -> Rrule {
        match self {
            Self::Rrule(rule) => rule.clone(),
            Self::Preset(Preset::Daily) => Rrule::of(Frequency::Daily),
            Self::Preset(Preset::Weekly) => Rrule::of(Frequency::Weekly),
            Self::Preset(Preset::Monthly) => Rrule::of(Frequency::Monthly),
            Self::Preset(Preset::Yearly) => Rrule::of(Frequency::Yearly),
            Self::Preset(Preset::Weekdays) => Rrule::weekly_on(&[
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]),
        }
    }
}

/// What the next occurrence is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Anchor {
    /// The previous due date, as in a calendar (also what `RECURRENCE_ANCHOR_UNSPECIFIED` means).
    #[default]
    DueDate,
    /// The moment the previous occurrence was completed.
    Completion,
}

/// A validated recurrence: a rule, an anchor, and the series' wall-clock time of day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Recurrence {
    /// How the task repeats.
    pub rule: RecurrenceRule,
    /// What the next occurrence is computed from.
    pub anchor: Anchor,
    /// The local time of day every occurrence is due at, as the user set it; `None` (a task
    /// stored before it was kept) means the due time's local time of day.
    pub time_of_day: Option<NaiveTime>,
}

impl Recurrence {
    /// Reads a wire `Recurrence`.
    ///
    /// # Errors
    /// Violations of `recurrence` (no rule), `recurrence.preset` (unspecified or unknown),
    /// `recurrence.rrule` (see [`Rrule::parse`]), `recurrence.anchor` (unknown) and
    /// `recurrence.time_of_day` (not `HH:MM:SS`).
    pub fn from_proto(recurrence: &proto::Recurrence) -> Result<Self, ValidationError> {
        let mut violations = Violations::default();
        let rule = match &recurrence.rule {
            None => {
                violations.push("recurrence", "recurrence needs a preset or an rrule");
                None
            }
            Some(proto::recurrence::Rule::Preset(value)) => {
                let preset = preset_from_proto(*value);
                if preset.is_none() {
                    violations.push(
                        "recurrence.preset",
                        "preset must be daily, weekdays, weekly, monthly or yearly",
                    );
                }
                preset.map(RecurrenceRule::Preset)
            }
            Some(proto::recurrence::Rule::Rrule(text)) => violations
                .check(Rrule::parse(text).map_err(|error| error.to_violation()))
                .map(RecurrenceRule::Rrule),
        };
        let anchor = match proto::RecurrenceAnchor::try_from(recurrence.anchor) {
            Ok(proto::RecurrenceAnchor::Unspecified | proto::RecurrenceAnchor::DueDate) => {
                Some(Anchor::DueDate)
            }
            Ok(proto::RecurrenceAnchor::Completion) => Some(Anchor::Completion),
            Err(_) => {
                violations.push("recurrence.anchor", "anchor must be due date or completion");
                None
            }
        };
        let time_of_day = match recurrence.time_of_day.as_str() {
            "" => Some(None),
            text => violations.check(parse_time_of_day(text).map(Some)),
        };
        match (rule, anchor, time_of_day) {
            (Some(rule), Some(anchor), Some(time_of_day)) => Ok(Self {
                rule,
                anchor,
                time_of_day,
            }),
            _ => Err(violations.into_error()),
        }
    }

    /// Returns the local time of day of the series whose current occurrence is `due`: the stored
    /// one, or the due time's.
    pub fn time_of_day_for(&self, due: &Due) -> NaiveTime {
        self.time_of_day.unwrap_or_else(|| due.local_time().time())
    }

    /// Returns this recurrence with its time of day set from `due` when it has none.
    #[must_use]
    pub fn with_time_of_day_from(self, due: &Due) -> Self {
        Self {
            time_of_day: Some(self.time_of_day_for(due)),
            ..self
        }
    }

    /// Checks this recurrence against the due time of the occurrence it belongs to.
    ///
    /// # Errors
    /// A violation of `recurrence.time_of_day` when it is neither the due time's local time of
    /// day nor a time a daylight-saving gap moved to it; of `recurrence.rrule` when the rule has
    /// no occurrence after `due` (ignoring `COUNT` and `UNTIL`) before the year 10000.
    pub fn check_against(&self, due: &Due) -> Result<(), FieldViolation> {
        if let Some(time_of_day) = self.time_of_day {
            let local = due.local_time().date().and_time(time_of_day);
            if due.zone.resolve_local(local) != Some(due.time) {
                return Err(FieldViolation::new(
                    "recurrence.time_of_day",
                    "time of day must be the due time's local time of day",
                ));
            }
        }
        let rule = self.rule.to_rrule();
        let start = due.local_time().date().and_time(self.time_of_day_for(due));
        let occurs = rule
            .local_occurrences(start)
            .filter_map(|local| due.zone.resolve_local(local))
            .any(|instant| instant > due.time);
        if !occurs {
            return Err(RruleError::NeverOccurs.to_violation());
        }
        Ok(())
    }

    /// Returns the wire form; an RRULE is written in its canonical form.
    pub fn to_proto(&self) -> proto::Recurrence {
        let rule = match &self.rule {
            RecurrenceRule::Preset(preset) => {
                proto::recurrence::Rule::Preset(preset_to_proto(*preset) as i32)
            }
            RecurrenceRule::Rrule(rule) => proto::recurrence::Rule::Rrule(rule.to_string()),
        };
        let anchor = match self.anchor {
            Anchor::DueDate => proto::RecurrenceAnchor::DueDate,
            Anchor::Completion => proto::RecurrenceAnchor::Completion,
        };
        proto::Recurrence {
            rule: Some(rule),
            anchor: anchor as i32,
            time_of_day: self.time_of_day.map(format_time_of_day).unwrap_or_default(),
        }
    }
}

/// Reads `Recurrence.time_of_day`: `HH:MM:SS`, with optional fractional seconds.
fn parse_time_of_day(text: &str) -> Result<NaiveTime, FieldViolation> {
    NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
        .ok()
        .filter(|time| time.nanosecond() < 1_000_000_000 && text.len() >= 8)
        .ok_or_else(|| {
            FieldViolation::new(
                "recurrence.time_of_day",
                "time of day must be HH:MM:SS, such as 09:30:00",
            )
        })
}

/// Writes `Recurrence.time_of_day`: `HH:MM:SS`, with fractional seconds only when present.
fn format_time_of_day(time: NaiveTime) -> String {
    time.format("%H:%M:%S%.f").to_string()
}

fn preset_from_proto(value: i32) -> Option<Preset> {
    match proto::RecurrencePreset::try_from(value).ok()? {
        proto::RecurrencePreset::Unspecified => None,
        proto::RecurrencePreset::Daily => Some(Preset::Daily),
        proto::RecurrencePreset::Weekdays => Some(Preset::Weekdays),
        proto::RecurrencePreset::Weekly => Some(Preset::Weekly),
        proto::RecurrencePreset::Monthly => Some(Preset::Monthly),
        proto::RecurrencePreset::Yearly => Some(Preset::Yearly),
    }
}

fn preset_to_proto(preset: Preset) -> proto::RecurrencePreset {
    match preset {
        Preset::Daily => proto::RecurrencePreset::Daily,
        Preset::Weekdays => proto::RecurrencePreset::Weekdays,
        Preset::Weekly => proto::RecurrencePreset::Weekly,
        Preset::Monthly => proto::RecurrencePreset::Monthly,
        Preset::Yearly => proto::RecurrencePreset::Yearly,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::time_zone::TimeZone;

    #[test]
    fn wire_recurrences_are_validated_with_field_paths() {
        use proto::recurrence::Rule;
        /// Name, rule, anchor, time of day, and the invalid fields joined by commas.
        type Case<'a> = (&'a str, Option<Rule>, i32, &'a str, Result<(), &'a str>);
        let cases: [Case; 10] = [
            (
                "preset",
                Some(Rule::Preset(proto::RecurrencePreset::Weekdays as i32)),
                0,
                "",
                Ok(()),
            ),
            (
                "rrule",
                Some(Rule::Rrule("FREQ=DAILY".into())),
                2,
                "",
                Ok(()),
            ),
            (
                "time of day",
                Some(Rule::Rrule("FREQ=DAILY".into())),
                0,
                "02:30:00",
                Ok(()),
            ),
            (
                "fractional time of day",
                Some(Rule::Rrule("FREQ=DAILY".into())),
                0,
                "02:30:00.250",
                Ok(()),
            ),
            ("no rule", None, 0, "", Err("recurrence")),
            (
                "unspecified preset",
                Some(Rule::Preset(0)),
                1,
                "",
                Err("recurrence.preset"),
            ),
            (
                "bad rrule",
                Some(Rule::Rrule("FREQ=HOURLY".into())),
                1,
                "",
                Err("recurrence.rrule"),
            ),
            (
                "short time of day",
                Some(Rule::Rrule("FREQ=DAILY".into())),
                0,
                "2:30",
                Err("recurrence.time_of_day"),
            ),
            (
                "hour 24",
                Some(Rule::Rrule("FREQ=DAILY".into())),
                0,
                "24:00:00",
                Err("recurrence.time_of_day"),
            ),
            (
                "everything wrong",
                Some(Rule::Preset(42)),
                7,
                "noon",
                Err("recurrence.preset,recurrence.anchor,recurrence.time_of_day"),
            ),
        ];
        for (case, rule, anchor, time_of_day, expected) in cases {
            let parsed = Recurrence::from_proto(&proto::Recurrence {
                rule,
                anchor,
                time_of_day: time_of_day.into(),
            });
            let fields = parsed.map(|_| ()).map_err(|error| error.fields().join(","));
            assert_eq!(fields, expected.map_err(str::to_owned), "case: {case}");
        }
    }

    #[test]
    fn wire_recurrences_round_trip_with_canonical_rrules() {
        let wire = proto::Recurrence {
            rule: Some(proto::recurrence::Rule::Rrule(
                "byday=-1fr,we;freq=monthly".into(),
            )),
            anchor: 0,
            time_of_day: "02:30:00".into(),
        };
        let recurrence = Recurrence::from_proto(&wire).unwrap();
        let stored = recurrence.to_proto();
        assert_eq!(
            stored.rule,
            Some(proto::recurrence::Rule::Rrule(
                "FREQ=MONTHLY;BYDAY=WE,-1FR".into()
            ))
        );
        assert_eq!(stored.anchor, proto::RecurrenceAnchor::DueDate as i32);
        assert_eq!(stored.time_of_day, "02:30:00");
        assert_eq!(Recurrence::from_proto(&stored), Ok(recurrence));
    }

    fn due(text: &str, zone: &str) -> Due {
        Due {
            time: DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
            zone: TimeZone::parse(zone).unwrap(),
        }
    }

    fn recurrence(rule: &str, time_of_day: Option<&str>) -> Recurrence {
        Recurrence {
            rule: RecurrenceRule::Rrule(Rrule::parse(rule).unwrap()),
            anchor: Anchor::DueDate,
            time_of_day: time_of_day.map(|text| parse_time_of_day(text).unwrap()),
        }
    }

    #[test]
    fn recurrences_are_checked_against_their_due_time() {
        let new_york = "America/New_York";
        let cases = [
            (
                "due at its time of day",
                recurrence("FREQ=DAILY", Some("09:00:00")),
                due("2026-03-02T09:00:00-05:00", new_york),
                Ok(()),
            ),
            (
                "no time of day",
                recurrence("FREQ=DAILY", None),
                due("2026-03-02T09:00:00-05:00", new_york),
                Ok(()),
            ),
            (
                "a gap moved 02:30 to 03:00",
                recurrence("FREQ=DAILY", Some("02:30:00")),
                due("2026-03-08T03:00:00-04:00", new_york),
                Ok(()),
            ),
            (
                "time of day elsewhere",
                recurrence("FREQ=DAILY", Some("10:00:00")),
                due("2026-03-02T09:00:00-05:00", new_york),
                Err("recurrence.time_of_day"),
            ),
            (
                "leap day every 400 years from a year without one",
                recurrence("FREQ=YEARLY;INTERVAL=400;BYMONTH=2;BYMONTHDAY=29", None),
                due("2025-01-10T09:00:00-05:00", new_york),
                Err("recurrence.rrule"),
            ),
            (
                "the 30th of every twelfth month, from february",
                recurrence("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30", None),
                due("2026-02-10T09:00:00-05:00", new_york),
                Err("recurrence.rrule"),
            ),
            (
                "a fifth monday only in february",
                recurrence("FREQ=YEARLY;BYMONTH=2;BYDAY=5MO", None),
                due("2026-01-10T09:00:00-05:00", new_york),
                Ok(()),
            ),
            (
                "no occurrence before the year 10000",
                recurrence("FREQ=YEARLY", None),
                due("9999-03-02T09:00:00-05:00", new_york),
                Err("recurrence.rrule"),
            ),
            (
                "every seventh day, on a leap day (the next is in 2052)",
                recurrence("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;INTERVAL=7", None),
                due("2026-01-01T09:00:00-05:00", new_york),
                Ok(()),
            ),
        ];
        for (case, recurrence, due, expected) in cases {
            let checked = recurrence
                .check_against(&due)
                .map_err(|violation| violation.field);
            assert_eq!(checked, expected.map_err(str::to_owned), "case: {case}");
        }
    }
}
