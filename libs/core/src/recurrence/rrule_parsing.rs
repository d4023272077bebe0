//! Parsing RRULE text into an [`Rrule`], with errors that name the offending part.

use std::str::FromStr;

use chrono::{NaiveDate, Weekday};

use super::rrule::{Frequency, Rrule, SeriesEnd, Until, WEEKDAY_CODES};
use crate::violation::{FieldViolation, quoted};

/// The longest RRULE string accepted.
pub const MAX_RRULE_CHARS: usize = 500;
const MAX_INTERVAL: u16 = 1_000;
const MAX_COUNT: u32 = 10_000;

/// Why an RRULE string is not accepted; each message says which part is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RruleError {
    /// The string is empty.
    #[error("rrule must not be empty")]
    Empty,
    /// The string is longer than [`MAX_RRULE_CHARS`].
    #[error("rrule must be at most {MAX_RRULE_CHARS} characters")]
    TooLong,
    /// The string starts with `RRULE:`.
    #[error("write the rrule without the \"RRULE:\" prefix")]
    Prefixed,
    /// A part is not `NAME=VALUE`.
    #[error("rule part {0} is not of the form NAME=VALUE")]
    Malformed(String),
    /// A part this subset does not support, such as `BYSETPOS`.
    #[error(
        "rule part {0} is not supported; \
         use FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, COUNT or UNTIL"
    )]
    UnsupportedPart(String),
    /// A part given twice.
    #[error("rule part {0} appears more than once")]
    Duplicate(&'static str),
    /// No `FREQ`.
    #[error("rule part FREQ is required")]
    MissingFrequency,
    /// A part with a value outside what is supported.
    #[error("rule part {name}={value} is not supported: expected {expected}")]
    InvalidValue {
        /// The part's name.
        name: &'static str,
        /// The value given (shortened).
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// Both `COUNT` and `UNTIL`.
    #[error("rule parts COUNT and UNTIL cannot both be set")]
    CountAndUntil,
    /// `BYMONTHDAY` with `FREQ=WEEKLY`, which RFC 5545 forbids.
    #[error("rule part BYMONTHDAY cannot be used with FREQ=WEEKLY")]
    MonthDayWithWeekly,
}

impl RruleError {
    /// Returns this error as a violation of `recurrence.rrule`.
    pub fn to_violation(&self) -> FieldViolation {
        FieldViolation::new("recurrence.rrule", self.to_string())
    }
}

impl Rrule {
    /// Parses an RRULE value of the supported subset.
    ///
    /// # Errors
    /// An [`RruleError`] naming the first part that is wrong or unsupported.
    pub fn parse(input: &str) -> Result<Self, RruleError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(RruleError::Empty);
        }
        if input.chars().nth(MAX_RRULE_CHARS).is_some() {
            return Err(RruleError::TooLong);
        }
        if input
            .get(..6)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("RRULE:"))
        {
            return Err(RruleError::Prefixed);
        }
        let mut parts = PartsSeen::default();
        let mut rule = Self::of(Frequency::Daily);
        let mut frequency = None;
        for part in input.split(';') {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| RruleError::Malformed(quoted(part)))?;
            let name = name.to_ascii_uppercase();
            let value = value.to_ascii_uppercase();
            let name = parts.first_sight(&name)?;
            match name {
                "FREQ" => frequency = Some(parse_frequency(&value)?),
                "INTERVAL" => {
                    rule.interval = parse_number(name, &value, 1..=MAX_INTERVAL, "1 to 1000")?
                }
                "BYDAY" => rule.weekdays = parse_list(name, &value, parse_weekday)?,
                "BYMONTHDAY" => rule.month_days = parse_list(name, &value, parse_month_day)?,
                "BYMONTH" => {
                    rule.months = parse_list(name, &value, |name, value| {
                        parse_number(name, value, 1..=12, "months 1 to 12")
                    })?
                }
                "COUNT" => {
                    rule.end = Some(SeriesEnd::Count(parse_number(
                        name,
                        &value,
                        1..=MAX_COUNT,
                        "1 to 10000",
                    )?))
                }
                _ => rule.end = Some(SeriesEnd::Until(parse_until(&value)?)),
            }
        }
        if parts.count && parts.until {
            return Err(RruleError::CountAndUntil);
        }
        rule.frequency = frequency.ok_or(RruleError::MissingFrequency)?;
        if rule.frequency == Frequency::Weekly && !rule.month_days.is_empty() {
            return Err(RruleError::MonthDayWithWeekly);
        }
        rule.weekdays.sort_by_key(Weekday::num_days_from_monday);
        rule.weekdays.dedup();
        // Days of the month in calendar order, with -1 (the last day) after 1..=31.
        rule.month_days
            .sort_by_key(|day| if *day < 0 { i8::MAX } else { *day });
        rule.month_days.dedup();
        rule.months.sort_unstable();
        rule.months.dedup();
        Ok(rule)
    }
}

/// Which parts a rule has named so far.
#[derive(Default)]
struct PartsSeen {
    seen: Vec<&'static str>,
    count: bool,
    until: bool,
}

impl PartsSeen {
    const SUPPORTED: [&'static str; 7] = [
        "FREQ",
        "INTERVAL",
        "BYDAY",
        "BYMONTHDAY",
        "BYMONTH",
        "COUNT",
        "UNTIL",
    ];

    fn first_sight(&mut self, name: &str) -> Result<&'static str, RruleError> {
        let name = Self::SUPPORTED
            .into_iter()
            .find(|supported| *supported == name)
            .ok_or_else(|| RruleError::UnsupportedPart(quoted(name)))?;
        if self.seen.contains(&name) {
            return Err(RruleError::Duplicate(name));
        }
        self.seen.push(name);
        self.count |= name == "COUNT";
        self.until |= name == "UNTIL";
        Ok(name)
    }
}

fn invalid(name: &'static str, value: &str, expected: &'static str) -> RruleError {
    RruleError::InvalidValue {
        name,
        value: quoted(value),
        expected,
    }
}

fn parse_frequency(value: &str) -> Result<Frequency, RruleError> {
    match value {
        "DAILY" => Ok(Frequency::Daily),
        "WEEKLY" => Ok(Frequency::Weekly),
        "MONTHLY" => Ok(Frequency::Monthly),
        "YEARLY" => Ok(Frequency::Yearly),
        _ => Err(invalid("FREQ", value, "DAILY, WEEKLY, MONTHLY or YEARLY")),
    }
}

fn parse_number<N: FromStr + PartialOrd>(
    name: &'static str,
    value: &str,
    range: std::ops::RangeInclusive<N>,
    expected: &'static str,
) -> Result<N, RruleError> {
    let is_plain_digits = !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit());
    value
        .parse::<N>()
        .ok()
        .filter(|number| is_plain_digits && range.contains(number))
        .ok_or_else(|| invalid(name, value, expected))
}

fn parse_list<T>(
    name: &'static str,
    value: &str,
    parse_item: impl Fn(&'static str, &str) -> Result<T, RruleError>,
) -> Result<Vec<T>, RruleError> {
    value
        .split(',')
        .map(|item| parse_item(name, item))
        .collect()
}

fn parse_weekday(name: &'static str, value: &str) -> Result<Weekday, RruleError> {
    WEEKDAY_CODES
        .into_iter()
        .find(|(code, _)| *code == value)
        .map(|(_, weekday)| weekday)
        .ok_or_else(|| {
            invalid(
                name,
                value,
                "weekdays MO, TU, WE, TH, FR, SA or SU without a numeric prefix",
            )
        })
}

fn parse_month_day(name: &'static str, value: &str) -> Result<i8, RruleError> {
    if value == "-1" {
        return Ok(-1);
    }
    parse_number(name, value, 1..=31, "days 1 to 31, or -1 for the last day")
}

fn parse_until(value: &str) -> Result<Until, RruleError> {
    const EXPECTED: &str = "a UTC time YYYYMMDDTHHMMSSZ or a date YYYYMMDD";
    let invalid_until = || invalid("UNTIL", value, EXPECTED);
    let digits = |range: std::ops::Range<usize>| {
        value
            .get(range)
            .filter(|digits| digits.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u32>().ok())
    };
    let date = match (digits(0..4), digits(4..6), digits(6..8)) {
        (Some(year), Some(month), Some(day)) => i32::try_from(year)
            .ok()
            .and_then(|year| NaiveDate::from_ymd_opt(year, month, day)),
        _ => None,
    }
    .ok_or_else(invalid_until)?;
    if value.len() == 8 {
        return Ok(Until::Date(date));
    }
    let has_utc_shape =
        value.len() == 16 && value.as_bytes().get(8) == Some(&b'T') && value.ends_with('Z');
    let time = match (digits(9..11), digits(11..13), digits(13..15)) {
        (Some(hour), Some(minute), Some(second)) if has_utc_shape => {
            date.and_hms_opt(hour, minute, second)
        }
        _ => None,
    }
    .ok_or_else(invalid_until)?;
    Ok(Until::Instant(time.and_utc()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    #[test]
    fn unsupported_rules_are_rejected_with_the_part_named() {
        let too_long = format!("FREQ=DAILY;{}", "BYDAY=MO;".repeat(60));
        let cases = [
            ("empty", "", "rrule must not be empty"),
            ("too long", too_long.as_str(), "at most 500 characters"),
            (
                "prefixed",
                "RRULE:FREQ=DAILY",
                "without the \"RRULE:\" prefix",
            ),
            ("no frequency", "INTERVAL=2", "FREQ is required"),
            ("hourly", "FREQ=HOURLY", "FREQ=\"HOURLY\" is not supported"),
            (
                "bysetpos",
                "FREQ=MONTHLY;BYSETPOS=-1",
                "\"BYSETPOS\" is not supported",
            ),
            ("wkst", "FREQ=WEEKLY;WKST=SU", "\"WKST\" is not supported"),
            (
                "numeric weekday",
                "FREQ=MONTHLY;BYDAY=1MO",
                "BYDAY=\"1MO\" is not supported",
            ),
            ("unknown weekday", "FREQ=WEEKLY;BYDAY=XX", "BYDAY=\"XX\""),
            ("empty list item", "FREQ=WEEKLY;BYDAY=MO,,TU", "BYDAY=\"\""),
            ("interval zero", "FREQ=DAILY;INTERVAL=0", "INTERVAL=\"0\""),
            (
                "interval too large",
                "FREQ=DAILY;INTERVAL=1001",
                "INTERVAL=\"1001\"",
            ),
            (
                "signed interval",
                "FREQ=DAILY;INTERVAL=+2",
                "INTERVAL=\"+2\"",
            ),
            (
                "month day zero",
                "FREQ=MONTHLY;BYMONTHDAY=0",
                "BYMONTHDAY=\"0\"",
            ),
            (
                "month day -2",
                "FREQ=MONTHLY;BYMONTHDAY=-2",
                "BYMONTHDAY=\"-2\"",
            ),
            ("month 13", "FREQ=YEARLY;BYMONTH=13", "BYMONTH=\"13\""),
            ("count zero", "FREQ=DAILY;COUNT=0", "COUNT=\"0\""),
            (
                "count too large",
                "FREQ=DAILY;COUNT=10001",
                "COUNT=\"10001\"",
            ),
            (
                "until with offset",
                "FREQ=DAILY;UNTIL=20261231T235959",
                "UNTIL=\"20261231T235959\"",
            ),
            (
                "until not a date",
                "FREQ=DAILY;UNTIL=20260231",
                "UNTIL=\"20260231\"",
            ),
            (
                "count and until",
                "FREQ=DAILY;COUNT=2;UNTIL=20261231",
                "COUNT and UNTIL cannot both be set",
            ),
            (
                "duplicate part",
                "FREQ=DAILY;FREQ=WEEKLY",
                "FREQ appears more than once",
            ),
            (
                "no equals sign",
                "FREQ=DAILY;BYDAY",
                "\"BYDAY\" is not of the form NAME=VALUE",
            ),
            (
                "trailing semicolon",
                "FREQ=DAILY;",
                "\"\" is not of the form NAME=VALUE",
            ),
            (
                "month day with weekly",
                "FREQ=WEEKLY;BYMONTHDAY=1",
                "BYMONTHDAY cannot be used with FREQ=WEEKLY",
            ),
        ];
        for (case, input, expected) in cases {
            let error = Rrule::parse(input).expect_err(case);
            let violation = error.to_violation();
            assert_eq!(violation.field, "recurrence.rrule", "case: {case}");
            assert!(
                violation.description.contains(expected),
                "case: {case}: {}",
                violation.description
            );
            assert!(!violation.description.ends_with('.'), "case: {case}");
        }
    }

    proptest! {
        #[test]
        fn parsing_an_rrule_never_panics(
            input in "\\PC{0,80}|(FREQ|BYDAY|UNTIL|COUNT)=[A-Z0-9,;=+-]{0,20}"
        ) {
            if let Ok(rule) = Rrule::parse(&input) {
                prop_assert_eq!(Rrule::parse(&rule.to_string()), Ok(rule));
            }
        }
    }
}
