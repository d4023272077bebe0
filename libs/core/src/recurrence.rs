//! Recurrence: how a task repeats, and when its next occurrence is due.
//!
//! A [`Recurrence`] is a [`RecurrenceRule`] (a preset or an [`Rrule`]) plus an [`Anchor`].
//! [`next_occurrence`] is what the recurring service runs on each completion. It works on local
//! dates in the task's IANA zone at the due time's local time of day, so 09:00 Europe/Paris stays
//! 09:00 across daylight-saving changes; a local time that does not exist that day moves to the end
//! of the gap, and one that happens twice takes the earlier instant
//! ([`TimeZone::resolve_local`](crate::time_zone::TimeZone::resolve_local)).
//!
//! Only the due instant and zone are stored, so after a gap moved 02:30 to 03:00, later occurrences
//! keep 03:00: the original 02:30 is no longer known.

mod next_occurrence;
mod rrule;
mod rrule_parsing;
mod rule_dates;

use chrono::Weekday;
use todo_proto::todo::v1 as proto;

pub use self::{
    next_occurrence::next_occurrence,
    rrule::{Frequency, MAX_RRULE_CHARS, Rrule, RruleError, SeriesEnd, Until},
};
use crate::violation::{ValidationError, Violations};

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
            Self::Preset(Preset::Weekdays) => Rrule {
                weekdays: vec![
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ],
                ..Rrule::of(Frequency::Weekly)
            },
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

/// A validated recurrence: a rule and an anchor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Recurrence {
    /// How the task repeats.
    pub rule: RecurrenceRule,
    /// What the next occurrence is computed from.
    pub anchor: Anchor,
}

impl Recurrence {
    /// Reads a wire `Recurrence`.
    ///
    /// # Errors
    /// Violations of `recurrence` (no rule), `recurrence.preset` (unspecified or unknown),
    /// `recurrence.rrule` (see [`Rrule::parse`]) and `recurrence.anchor` (unknown).
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
        match (rule, anchor) {
            (Some(rule), Some(anchor)) => Ok(Self { rule, anchor }),
            _ => Err(violations.into_error()),
        }
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
        }
    }
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
    use super::*;

    #[test]
    fn wire_recurrences_are_validated_with_field_paths() {
        use proto::recurrence::Rule;
        /// Name, rule, anchor, and the invalid fields joined by commas.
        type Case<'a> = (&'a str, Option<Rule>, i32, Result<(), &'a str>);
        let cases: [Case; 6] = [
            (
                "preset",
                Some(Rule::Preset(proto::RecurrencePreset::Weekdays as i32)),
                0,
                Ok(()),
            ),
            ("rrule", Some(Rule::Rrule("FREQ=DAILY".into())), 2, Ok(())),
            ("no rule", None, 0, Err("recurrence")),
            (
                "unspecified preset",
                Some(Rule::Preset(0)),
                1,
                Err("recurrence.preset"),
            ),
            (
                "bad rrule",
                Some(Rule::Rrule("FREQ=HOURLY".into())),
                1,
                Err("recurrence.rrule"),
            ),
            (
                "everything wrong",
                Some(Rule::Preset(42)),
                7,
                Err("recurrence.preset,recurrence.anchor"),
            ),
        ];
        for (case, rule, anchor, expected) in cases {
            let parsed = Recurrence::from_proto(&proto::Recurrence { rule, anchor });
            let fields = parsed.map(|_| ()).map_err(|error| error.fields().join(","));
            assert_eq!(fields, expected.map_err(str::to_owned), "case: {case}");
        }
    }

    #[test]
    fn wire_recurrences_round_trip_with_canonical_rrules() {
        let wire = proto::Recurrence {
            rule: Some(proto::recurrence::Rule::Rrule(
                "byday=we,mo;freq=weekly".into(),
            )),
            anchor: 0,
        };
        let recurrence = Recurrence::from_proto(&wire).unwrap();
        let stored = recurrence.to_proto();
        assert_eq!(
            stored.rule,
            Some(proto::recurrence::Rule::Rrule(
                "FREQ=WEEKLY;BYDAY=MO,WE".into()
            ))
        );
        assert_eq!(stored.anchor, proto::RecurrenceAnchor::DueDate as i32);
        assert_eq!(Recurrence::from_proto(&stored), Ok(recurrence));
    }
}
