//! `Due`: when a task is due, and the time zone its recurrence is computed in.

use chrono::{DateTime, NaiveDateTime, Utc};
use prost_types::Timestamp;

use crate::{
    time_zone::TimeZone,
    violation::{FieldViolation, ValidationError, Violations},
    wire_time::{timestamp_to_utc, utc_to_timestamp},
};

/// A due time with the IANA zone it was set in: a due time always has a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Due {
    /// The instant the task is due.
    pub time: DateTime<Utc>,
    /// The zone the due time was set in; recurrence keeps its wall-clock time in this zone.
    pub zone: TimeZone,
}

impl Due {
    /// Reads a due time and its zone from the wire fields `due_time` and `time_zone`
    /// (an empty `time_zone` means none).
    ///
    /// # Errors
    /// Violations of `due_time` (out of range) and `time_zone` (unknown; missing with a due time;
    /// present without one).
    pub fn from_parts(
        due_time: Option<&Timestamp>,
        time_zone: &str,
    ) -> Result<Option<Self>, ValidationError> {
        let mut violations = Violations::default();
        let time = due_time.and_then(|timestamp| violations.check(parse_due_time(timestamp)));
        let zone = if time_zone.is_empty() {
            None
        } else {
            violations.check(TimeZone::parse(time_zone))
        };
        match (due_time.is_some(), time_zone.is_empty()) {
            (true, true) => violations.push("time_zone", "a due time needs a time zone"),
            (false, false) => violations.push("time_zone", "a time zone needs a due time"),
            _ => {}
        }
        violations.into_result()?;
        Ok(time.zip(zone).map(|(time, zone)| Self { time, zone }))
    }

    /// Returns the due time's wall-clock time in its zone.
    pub fn local_time(&self) -> NaiveDateTime {
        self.zone.local_time(self.time)
    }

    /// Returns the wire fields `due_time` and `time_zone`.
    pub fn to_parts(&self) -> (Timestamp, String) {
        (utc_to_timestamp(self.time), self.zone.name().to_owned())
    }
}

/// Reads a `due_time` field.
pub(crate) fn parse_due_time(timestamp: &Timestamp) -> Result<DateTime<Utc>, FieldViolation> {
    timestamp_to_utc(timestamp)
        .ok_or_else(|| FieldViolation::new("due_time", "due time must be between years 1 and 9999"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARIS: &str = "Europe/Paris";

    #[test]
    fn a_due_time_and_its_zone_come_together() {
        let nine = Timestamp {
            seconds: 1_774_771_200,
            nanos: 0,
        };
        let out_of_range = Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        /// Name, due time, zone, and whether a due results or which fields are invalid.
        type Case<'a> = (
            &'a str,
            Option<&'a Timestamp>,
            &'a str,
            Result<bool, Vec<&'a str>>,
        );
        let cases: [Case; 7] = [
            ("neither", None, "", Ok(false)),
            ("both", Some(&nine), PARIS, Ok(true)),
            (
                "due time without zone",
                Some(&nine),
                "",
                Err(vec!["time_zone"]),
            ),
            ("zone without due time", None, PARIS, Err(vec!["time_zone"])),
            ("unknown zone", Some(&nine), "Paris", Err(vec!["time_zone"])),
            (
                "due time out of range",
                Some(&out_of_range),
                PARIS,
                Err(vec!["due_time"]),
            ),
            (
                "both wrong",
                Some(&out_of_range),
                "Paris",
                Err(vec!["due_time", "time_zone"]),
            ),
        ];
        for (case, due_time, zone, expected) in cases {
            let parsed = Due::from_parts(due_time, zone);
            match (parsed, expected) {
                (Ok(due), Ok(is_some)) => assert_eq!(due.is_some(), is_some, "case: {case}"),
                (Err(error), Err(fields)) => assert_eq!(error.fields(), fields, "case: {case}"),
                (parsed, expected) => panic!("case: {case}: got {parsed:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn a_due_round_trips_through_its_wire_fields() {
        let due = Due::from_parts(
            Some(&Timestamp {
                seconds: 1_774_771_200,
                nanos: 7,
            }),
            PARIS,
        )
        .unwrap()
        .unwrap();
        let (timestamp, zone) = due.to_parts();
        assert_eq!(Due::from_parts(Some(&timestamp), &zone).unwrap(), Some(due));
    }
}
