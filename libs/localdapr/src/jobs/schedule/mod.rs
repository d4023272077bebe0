//! Job schedules (reference §3.2) as go-etcd-cron reads them with dapr/kit's fork of
//! robfig/cron: six fields with seconds (`sec min hour dom month dow`), an optional
//! `TZ=`/`CRON_TZ=` prefix, or a descriptor (`@every <go-duration>`, `@daily`, …).
//!
//! robfig's grammar is parsed here, with robfig's bounds and quirks (day of week `0`–`6` with
//! Sunday `0`, `N/step` meaning `N-max/step`, a `*` or `?` making a field "unrestricted"), and
//! each field is expanded into an explicit list for the `cron` crate, which finds the times.
//! Two differences are bridged on the way: the `cron` crate numbers days of the week `1`–`7`
//! from Sunday, and it requires both the day of month and the day of week to match, where
//! robfig matches either one when both are restricted. Without a prefix, times are computed in
//! UTC, as go-etcd-cron does (its times are protobuf timestamps, which Go reads as UTC).

mod robfig;

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::duration::parse_go_duration;
use robfig::{DAYS_OF_MONTH, DAYS_OF_WEEK, Field, HOURS, MINUTES, MONTHS, SECONDS, parse_field};

/// A schedule that cannot be parsed; the message reads like robfig's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

/// When a recurring job fires.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Calendar times from cron fields.
    Calendar {
        /// One schedule (all fields must match) or two (robfig's day-of-month *or*
        /// day-of-week rule); a time matches when any of them does.
        alternatives: Vec<cron::Schedule>,
        /// The zone the fields are read in.
        zone: Tz,
    },
    /// A fixed delay (`@every`), in whole milliseconds as robfig keeps it.
    Every(TimeDelta),
}

impl Schedule {
    /// Parses a job schedule.
    ///
    /// # Errors
    /// When robfig's parser (six fields and descriptors) would refuse it.
    pub fn parse(spec: &str) -> Result<Self, ScheduleError> {
        let fail = |message: String| Err(ScheduleError(message));
        if spec.is_empty() {
            return fail("empty spec string".into());
        }
        let mut zone = Tz::UTC;
        let mut spec = spec;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let Some(space) = spec.find(char::is_whitespace) else {
                return fail(format!(
                    "timezone prefix {spec} is not followed by a schedule"
                ));
            };
            let name = spec
                .get(spec.find('=').map_or(0, |equals| equals + 1)..space)
                .unwrap_or_default();
            zone = match name {
                "" | "UTC" | "Local" => Tz::UTC,
                name => match Tz::from_str(name) {
                    Ok(zone) => zone,
                    Err(_) => return fail(format!("provided bad location {name}")),
                },
            };
            spec = spec.get(space..).unwrap_or_default().trim();
        }
        if let Some(descriptor) = spec.strip_prefix('@') {
            return Self::descriptor(descriptor, zone);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        let [second, minute, hour, day_of_month, month, day_of_week] = fields.as_slice() else {
            return fail(format!(
                "expected exactly 6 fields, found {}: {fields:?}",
                fields.len()
            ));
        };
        Self::calendar(
            [
                parse_field(second, &SECONDS)?,
                parse_field(minute, &MINUTES)?,
                parse_field(hour, &HOURS)?,
                parse_field(day_of_month, &DAYS_OF_MONTH)?,
                parse_field(month, &MONTHS)?,
                parse_field(day_of_week, &DAYS_OF_WEEK)?,
            ],
            zone,
        )
    }

    fn descriptor(descriptor: &str, zone: Tz) -> Result<Self, ScheduleError> {
        let fields = match descriptor {
            "yearly" | "annually" => "0 0 0 1 1 *",
            "monthly" => "0 0 0 1 * *",
            "weekly" => "0 0 0 * * 0",
            "daily" | "midnight" => "0 0 0 * * *",
            "hourly" => "0 0 * * * *",
            _ => {
                let Some(every) = descriptor.strip_prefix("every ") else {
                    return Err(ScheduleError(format!(
                        "unrecognized descriptor: @{descriptor}"
                    )));
                };
                let delay = parse_go_duration(every).map_err(|_| {
                    ScheduleError(format!("failed to parse duration @{descriptor}"))
                })?;
                // robfig: under a millisecond rounds up to one; anything finer is truncated.
                let millis = i64::try_from(delay.as_millis())
                    .map_err(|_| ScheduleError(format!("duration out of range @{descriptor}")))?;
                return Ok(Self::Every(TimeDelta::milliseconds(millis.max(1))));
            }
        };
        let fields: Vec<&str> = fields.split(' ').collect();
        let parsed: Result<Vec<Field>, _> = fields
            .iter()
            .zip([
                &SECONDS,
                &MINUTES,
                &HOURS,
                &DAYS_OF_MONTH,
                &MONTHS,
                &DAYS_OF_WEEK,
            ])
            .map(|(field, bounds)| parse_field(field, bounds))
            .collect();
        let parsed: [Field; 6] = parsed?
            .try_into()
            .map_err(|_| ScheduleError("descriptor expands to six fields".into()))?;
        Self::calendar(parsed, zone)
    }

    fn calendar(fields: [Field; 6], zone: Tz) -> Result<Self, ScheduleError> {
        let [second, minute, hour, day_of_month, month, day_of_week] = fields;
        let list = |field: &Field, shift: u32| {
            if field.is_star {
                "*".to_string()
            } else {
                let values: Vec<String> = field
                    .values
                    .iter()
                    .map(|value| (value + shift).to_string())
                    .collect();
                values.join(",")
            }
        };
        let time = format!(
            "{} {} {}",
            list(&second, 0),
            list(&minute, 0),
            list(&hour, 0)
        );
        let month = list(&month, 0);
        // The cron crate counts days of the week from 1 (Sunday); robfig from 0.
        let (day_of_month, day_of_week) = (list(&day_of_month, 0), list(&day_of_week, 1));
        let expressions = if day_of_month != "*" && day_of_week != "*" {
            vec![
                format!("{time} {day_of_month} {month} *"),
                format!("{time} * {month} {day_of_week}"),
            ]
        } else {
            vec![format!("{time} {day_of_month} {month} {day_of_week}")]
        };
        let alternatives = expressions
            .iter()
            .map(|expression| {
                cron::Schedule::from_str(expression)
                    .map_err(|error| ScheduleError(format!("invalid schedule: {error}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::Calendar { alternatives, zone })
    }

    /// The first time strictly after `after`; `None` when there is none.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Every(delay) => {
                // robfig keeps the delay's phase on the millisecond.
                let sub_millisecond = i64::from(after.nanosecond() % 1_000_000);
                after.checked_add_signed(*delay - TimeDelta::nanoseconds(sub_millisecond))
            }
            Self::Calendar { alternatives, zone } => {
                let after = zone.from_utc_datetime(&after.naive_utc());
                alternatives
                    .iter()
                    .filter_map(|schedule| schedule.after(&after).next())
                    .min()
                    .map(|next| next.with_timezone(&Utc))
            }
        }
    }

    /// The last time at or before `until`, searching from `from` (a time of this schedule, or
    /// the start); `None` when no time lies in `[from, until]`.
    pub fn latest_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if until < from {
            return None;
        }
        match self {
            Self::Every(delay) => {
                // After the first, robfig's ticks sit on whole milliseconds: base + k × delay.
                let delay_ms = delay.num_milliseconds().max(1);
                let sub_millisecond = i64::from(from.nanosecond() % 1_000_000);
                let base = from - TimeDelta::nanoseconds(sub_millisecond);
                let steps = (until - base).num_milliseconds() / delay_ms;
                if steps == 0 {
                    return Some(from);
                }
                base.checked_add_signed(TimeDelta::try_milliseconds(steps.checked_mul(delay_ms)?)?)
            }
            Self::Calendar { alternatives, zone } => {
                let bound =
                    zone.from_utc_datetime(&(until + TimeDelta::nanoseconds(1)).naive_utc());
                alternatives
                    .iter()
                    .filter_map(|schedule| schedule.after(&bound).next_back())
                    .max()
                    .map(|latest| latest.with_timezone(&Utc))
                    .filter(|latest| *latest >= from)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(spec: &str, after: &str) -> Option<String> {
        Schedule::parse(spec)
            .unwrap()
            .next_after(at(after))
            .map(|time| time.to_rfc3339())
    }

    #[test]
    fn robfig_accepts_and_refuses_the_same_specs() {
        let cases = [
            ("0 30 * * * *", true),
            // dapr/dapr's integration test suite/daprd/jobs/schedule.go schedules this one.
            ("1 2 3 4 5 6", true),
            ("*/10 * * * * *", true),
            ("0 0 9 * * mon-fri", true),
            ("0 0 0 1 jan,jul ?", true),
            ("0 0 0 * * 6", true),
            ("@every 1h30m", true),
            ("@daily", true),
            ("@midnight", true),
            ("TZ=Europe/Rome 0 0 9 * * *", true),
            ("CRON_TZ=UTC @hourly", true),
            ("* * * * *", false),
            ("0 0 0 1 1 * 2030", false),
            ("0 0 0 * * 7", false),
            ("60 * * * * *", false),
            ("0 0 0 0 * *", false),
            ("5-3 * * * * *", false),
            ("*/0 * * * * *", false),
            ("1/2/3 * * * * *", false),
            ("0 0 0 * * monday", false),
            ("@every", false),
            ("@every 5", false),
            ("@fortnightly", false),
            ("TZ=Mars/Olympus 0 * * * * *", false),
            ("TZ=UTC", false),
            ("", false),
            ("bad string", false),
        ];
        for (spec, accepted) in cases {
            assert_eq!(Schedule::parse(spec).is_ok(), accepted, "case {spec:?}");
        }
    }

    #[test]
    fn days_of_week_count_from_sunday_zero() {
        // 2026-01-01 is a Thursday.
        let cases = [
            ("0 0 0 * * 0", "2026-01-04T00:00:00+00:00"),
            ("0 0 0 * * 1", "2026-01-05T00:00:00+00:00"),
            ("0 0 0 * * 6", "2026-01-03T00:00:00+00:00"),
            ("0 0 0 * * sun", "2026-01-04T00:00:00+00:00"),
            ("0 0 0 * * 1-5", "2026-01-02T00:00:00+00:00"),
            ("@weekly", "2026-01-04T00:00:00+00:00"),
        ];
        for (spec, expected) in cases {
            assert_eq!(
                next(spec, "2026-01-01T12:00:00Z").as_deref(),
                Some(expected),
                "case {spec:?}"
            );
        }
    }

    #[test]
    fn a_restricted_day_of_month_or_day_of_week_matches_as_in_robfig() {
        // Both restricted: the 15th OR any Monday. One restricted: both must match.
        let cases = [
            ("0 0 0 15 * 1", "2026-01-05T00:00:00+00:00"),
            ("0 0 0 15 * *", "2026-01-15T00:00:00+00:00"),
            ("0 0 0 * * 1", "2026-01-05T00:00:00+00:00"),
            ("0 0 0 ? * 4", "2026-01-08T00:00:00+00:00"),
            ("0 0 0 */2 * 1", "2026-01-03T00:00:00+00:00"),
        ];
        for (spec, expected) in cases {
            assert_eq!(
                next(spec, "2026-01-01T12:00:00Z").as_deref(),
                Some(expected),
                "case {spec:?}"
            );
        }
    }

    #[test]
    fn next_is_strictly_later_at_whole_seconds() {
        let cases = [
            (
                "* * * * * *",
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:00:01+00:00",
            ),
            (
                "* * * * * *",
                "2026-01-01T00:00:00.5Z",
                "2026-01-01T00:00:01+00:00",
            ),
            (
                "0 30 * * * *",
                "2026-01-01T00:30:00Z",
                "2026-01-01T01:30:00+00:00",
            ),
            (
                "5/20 * * * * *",
                "2026-01-01T00:00:06Z",
                "2026-01-01T00:00:25+00:00",
            ),
            (
                "@every 1500ms",
                "2026-01-01T00:00:00.2004Z",
                "2026-01-01T00:00:01.700+00:00",
            ),
            (
                "TZ=Asia/Tokyo 0 0 9 * * *",
                "2026-01-01T00:00:00Z",
                "2026-01-02T00:00:00+00:00",
            ),
        ];
        for (spec, after, expected) in cases {
            assert_eq!(
                next(spec, after).as_deref(),
                Some(expected),
                "case {spec:?}"
            );
        }
    }

    #[test]
    fn the_latest_time_in_a_window_is_found_without_walking_each_tick() {
        let every = Schedule::parse("@every 1s").unwrap();
        assert_eq!(
            every.latest_between(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00.5Z")),
            Some(at("2026-02-01T00:00:00Z"))
        );
        assert_eq!(
            every.latest_between(
                at("2026-01-01T00:00:00.0005Z"),
                at("2026-01-01T00:00:02.9999Z")
            ),
            Some(at("2026-01-01T00:00:02Z"))
        );
        assert_eq!(
            every.latest_between(at("2026-01-01T00:00:00.5Z"), at("2026-01-01T00:00:01.2Z")),
            Some(at("2026-01-01T00:00:00.5Z"))
        );
        let cron = Schedule::parse("0 0 * * * *").unwrap();
        assert_eq!(
            cron.latest_between(at("2026-01-01T00:00:00Z"), at("2026-01-01T05:00:00Z")),
            Some(at("2026-01-01T05:00:00Z"))
        );
        assert_eq!(
            cron.latest_between(at("2026-01-01T00:00:00Z"), at("2026-01-01T05:59:59Z")),
            Some(at("2026-01-01T05:00:00Z"))
        );
        assert_eq!(
            cron.latest_between(at("2026-01-01T05:30:00Z"), at("2026-01-01T05:59:59Z")),
            None
        );
    }
}
