//! `TimeZone`: an IANA time zone, and how a local wall-clock time becomes an instant in it.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone as _, Utc};
use chrono_tz::Tz;

use crate::violation::{FieldViolation, quoted};

/// An IANA time zone name known to the bundled tz database, such as `Europe/Paris`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

impl TimeZone {
    /// Parses an IANA time zone name (case-sensitive, as in the tz database).
    ///
    /// # Errors
    /// A violation of `time_zone` when the name is not in the tz database.
    pub fn parse(name: &str) -> Result<Self, FieldViolation> {
        name.parse::<Tz>().map(Self).map_err(|_| {
            let description = format!(
                "{} is not an IANA time zone such as Europe/Paris",
                quoted(name)
            );
            FieldViolation::new("time_zone", description)
        })
    }

    /// Returns the IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Returns the `chrono-tz` zone.
    pub fn tz(&self) -> Tz {
        self.0
    }

    /// Returns the local wall-clock time of `instant` in this zone.
    pub fn local_time(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        instant.with_timezone(&self.0).naive_local()
    }

    /// Returns the instant of a local wall-clock time in this zone.
    ///
    /// A time that happens twice (when clocks go back) takes the earlier instant. A time that does
    /// not exist (skipped when clocks go forward) takes the first instant after the gap, so
    /// 02:30 on a day New York skips 02:00–03:00 becomes 03:00. `None` only outside chrono's
    /// range.
    pub fn resolve_local(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.0.from_local_datetime(&local) {
            LocalResult::Single(instant) => Some(instant.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, _later) => Some(earlier.with_timezone(&Utc)),
            LocalResult::None => self.end_of_gap(local),
        }
    }

    /// Finds the transition instant that ends the gap `local` falls in.
    fn end_of_gap(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let as_if_utc = local.and_utc();
        // Transitions are months apart, so a day either side sees only the offsets around this gap.
        let offset_before = self.offset_seconds(as_if_utc.checked_sub_signed(TimeDelta::days(1))?);
        let offset_after = self.offset_seconds(as_if_utc.checked_add_signed(TimeDelta::days(1))?);
        if offset_after <= offset_before {
            return None;
        }
        // `local` read with the later offset falls before the transition, with the earlier one
        // at or after it.
        let mut before_transition = as_if_utc.timestamp() - i64::from(offset_after);
        let mut at_or_after_transition = as_if_utc.timestamp() - i64::from(offset_before);
        let offset_at = |seconds: i64| {
            DateTime::from_timestamp(seconds, 0).map(|instant| self.offset_seconds(instant))
        };
        if offset_at(at_or_after_transition)? != offset_after {
            return None;
        }
        // Bisect on whole seconds: tz database transitions fall on whole seconds.
        while at_or_after_transition - before_transition > 1 {
            let middle = before_transition + (at_or_after_transition - before_transition) / 2;
            if offset_at(middle)? == offset_after {
                at_or_after_transition = middle;
            } else {
                before_transition = middle;
            }
        }
        DateTime::from_timestamp(at_or_after_transition, 0)
    }

    fn offset_seconds(&self, instant: DateTime<Utc>) -> i32 {
        self.0
            .offset_from_utc_datetime(&instant.naive_utc())
            .fix()
            .local_minus_utc()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;

    fn local(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(year, month, day)
            .unwrap()
            .and_hms_opt(hour, minute, 0)
            .unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn zones_parse_by_iana_name() {
        let cases = [
            ("paris", "Europe/Paris", true),
            ("utc", "UTC", true),
            ("kolkata", "Asia/Kolkata", true),
            ("empty", "", false),
            ("wrong case", "europe/paris", false),
            ("offset", "+02:00", false),
            ("made up", "Mars/Olympus_Mons", false),
        ];
        for (case, name, accepted) in cases {
            let parsed = TimeZone::parse(name);
            assert_eq!(parsed.is_ok(), accepted, "case: {case}");
            match parsed {
                Ok(zone) => assert_eq!(zone.name(), name, "case: {case}"),
                Err(violation) => assert_eq!(violation.field, "time_zone", "case: {case}"),
            }
        }
    }

    #[test]
    fn local_times_resolve_across_transitions() {
        let cases = [
            (
                "ordinary",
                "Europe/Paris",
                local(2026, 3, 28, 9, 0),
                "2026-03-28T08:00:00Z",
            ),
            (
                "after spring forward",
                "Europe/Paris",
                local(2026, 3, 29, 9, 0),
                "2026-03-29T07:00:00Z",
            ),
            (
                "new york gap",
                "America/New_York",
                local(2026, 3, 8, 2, 30),
                "2026-03-08T07:00:00Z",
            ),
            (
                "paris gap",
                "Europe/Paris",
                local(2026, 3, 29, 2, 15),
                "2026-03-29T01:00:00Z",
            ),
            (
                "sydney gap",
                "Australia/Sydney",
                local(2026, 10, 4, 2, 30),
                "2026-10-03T16:00:00Z",
            ),
            (
                "ambiguous takes the earlier",
                "America/New_York",
                local(2026, 11, 1, 1, 30),
                "2026-11-01T05:30:00Z",
            ),
            (
                "paris ambiguous",
                "Europe/Paris",
                local(2026, 10, 25, 2, 30),
                "2026-10-25T00:30:00Z",
            ),
        ];
        for (case, zone, local_time, expected) in cases {
            let zone = TimeZone::parse(zone).unwrap();
            assert_eq!(
                zone.resolve_local(local_time),
                Some(utc(expected)),
                "case: {case}"
            );
        }
    }

    #[test]
    fn the_end_of_a_gap_reads_as_the_first_valid_local_time() {
        let zone = TimeZone::parse("America/New_York").unwrap();
        let instant = zone.resolve_local(local(2026, 3, 8, 2, 30)).unwrap();
        assert_eq!(zone.local_time(instant), local(2026, 3, 8, 3, 0));
    }

    proptest! {
        #[test]
        fn parsing_a_time_zone_never_panics(name in "\\PC{0,40}|[A-Za-z_]{1,12}/[A-Za-z_]{1,16}") {
            if let Ok(zone) = TimeZone::parse(&name) {
                prop_assert_eq!(zone.name(), name.as_str());
            }
        }
    }
}
