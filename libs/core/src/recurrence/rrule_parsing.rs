//! Parsing RRULE text into an [`Rrule`], with errors that name the offending part.
//!
//! This is todo-core's validation, not the `rrule` crate's parser: the crate reads a date-only
//! `UNTIL` in the machine's local zone, takes `XTU` for `TU`, and writes `1MO` back as `MO`;
//! here every value is checked against RFC 5545 and the limits tasks accept, and each error
//! names the part so the client can show it next to the rule.

use std::str::FromStr;

use chrono::{NaiveDate, Weekday};

use super::rrule::{ByDay, Frequency, Rrule, SeriesEnd, Until, WEEKDAY_CODES};
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
    /// A part that sets the time of day, which comes from the task's due time.
    #[error("rule part {0} is not supported: the time of day comes from the due time")]
    TimeOfDayPart(String),
    /// A part RFC 5545 does not define for RRULE, or one tasks do not support.
    #[error(
        "rule part {0} is not supported; use FREQ, INTERVAL, WKST, BYDAY, BYMONTHDAY, BYMONTH, \
         BYYEARDAY, BYWEEKNO, BYSETPOS, COUNT or UNTIL"
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
    /// A `BY*` part RFC 5545 forbids with the rule's `FREQ`.
    #[error("rule part {part} cannot be used with FREQ={frequency}")]
    PartWithFrequency {
        /// The part's name, or `BYDAY ordinals`.
        part: &'static str,
        /// The rule's frequency.
        frequency: &'static str,
    },
    /// `BYDAY` ordinals together with `BYWEEKNO`, which RFC 5545 forbids.
    #[error("rule part BYDAY cannot have ordinals such as 2TU together with BYWEEKNO")]
    OrdinalWithWeekNumber,
    /// `BYSETPOS` alone: RFC 5545 requires another `BY*` part to select from.
    #[error("rule part BYSETPOS needs another BY part, such as BYDAY, to pick from")]
    LonePosition,
    /// A rule whose `BYMONTH` and `BYMONTHDAY` never meet, such as February 30.
    #[error("rrule never occurs: no month in BYMONTH has a day in BYMONTHDAY")]
    NoSuchMonthDay,
    /// A rule that has no occurrence after the due time within the years the API accepts.
    #[error("rrule never occurs after the due time before the year 10000")]
    NeverOccurs,
}

impl RruleError {
    /// Returns this error as a violation of `recurrence.rrule`.
    pub fn to_violation(&self) -> FieldViolation {
        FieldViolation::new("recurrence.rrule", self.to_string())
    }
}

impl Rrule {
    /// Parses and validates an RRULE value.
    ///
    /// # Errors
    /// An [`RruleError`] naming the first part that is wrong or unsupported, or saying that the
    /// rule can never occur because its months and days never meet. (Whether a rule occurs after
    /// a given due time is [`Recurrence::check_against`](super::Recurrence::check_against).)
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
        let mut values: Vec<(&'static str, String)> = Vec::new();
        for part in input.split(';') {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| RruleError::Malformed(quoted(part)))?;
            let name = parts.first_sight(&name.to_ascii_uppercase())?;
            values.push((name, value.to_ascii_uppercase()));
        }
        // FREQ first: the ranges of the other parts depend on it.
        let frequency = values
            .iter()
            .find(|(name, _)| *name == "FREQ")
            .map(|(_, value)| parse_frequency(value))
            .ok_or(RruleError::MissingFrequency)??;
        let mut rule = Rrule::of(frequency);
        for (name, value) in &values {
            rule.read_part(name, value)?;
        }
        if parts.count && parts.until {
            return Err(RruleError::CountAndUntil);
        }
        rule.check_combinations()?;
        rule.weekdays.sort_by_key(ByDay::sort_key);
        rule.weekdays.dedup();
        // Days of the month in calendar order: 1..=31, then -31..=-1.
        rule.month_days.sort_by_key(|day| (day.is_negative(), *day));
        rule.month_days.dedup();
        rule.months.sort_unstable();
        rule.months.dedup();
        rule.year_days.sort_unstable();
        rule.year_days.dedup();
        rule.week_numbers.sort_unstable();
        rule.week_numbers.dedup();
        rule.set_positions.sort_unstable();
        rule.set_positions.dedup();
        if !rule.month_days_can_meet_months() {
            return Err(RruleError::NoSuchMonthDay);
        }
        Ok(rule)
    }

    fn read_part(&mut self, name: &'static str, value: &str) -> Result<(), RruleError> {
        let frequency = self.frequency;
        match name {
            "FREQ" => {}
            "INTERVAL" => self.interval = parse_number(name, value, 1..=MAX_INTERVAL, "1 to 1000")?,
            "WKST" => {
                self.week_start = parse_weekday(value)
                    .ok_or_else(|| invalid(name, value, "a weekday MO, TU, WE, TH, FR, SA or SU"))?
            }
            "BYDAY" => {
                self.weekdays = parse_list(name, value, |name, item| {
                    parse_by_day(name, item, frequency)
                })?
            }
            "BYMONTHDAY" => {
                self.month_days = parse_list(name, value, |name, item| {
                    parse_signed(
                        name,
                        item,
                        31,
                        "days 1 to 31, or -1 to -31 from the month's end",
                    )
                })?
            }
            "BYMONTH" => {
                self.months = parse_list(name, value, |name, item| {
                    parse_number(name, item, 1..=12, "months 1 to 12")
                })?
            }
            "BYYEARDAY" => {
                self.year_days = parse_list(name, value, |name, item| {
                    parse_signed(
                        name,
                        item,
                        366,
                        "days 1 to 366, or -1 to -366 from the year's end",
                    )
                })?
            }
            "BYWEEKNO" => {
                self.week_numbers = parse_list(name, value, |name, item| {
                    parse_signed(
                        name,
                        item,
                        53,
                        "weeks 1 to 53, or -1 to -53 from the year's end",
                    )
                })?
            }
            "BYSETPOS" => {
                let (largest, expected) = match frequency {
                    Frequency::Daily => (1, "1 or -1 (a day has one occurrence)"),
                    Frequency::Weekly => (7, "positions 1 to 7, or -1 to -7 from the week's end"),
                    Frequency::Monthly => (31, "positions 1 to 31, or -1 to -31 from the end"),
                    Frequency::Yearly => (366, "positions 1 to 366, or -1 to -366 from the end"),
                };
                self.set_positions = parse_list(name, value, |name, item| {
                    parse_signed(name, item, largest, expected)
                })?
            }
            "COUNT" => {
                self.end = Some(SeriesEnd::Count(parse_number(
                    name,
                    value,
                    1..=MAX_COUNT,
                    "1 to 10000",
                )?))
            }
            _ => self.end = Some(SeriesEnd::Until(parse_until(value)?)),
        }
        Ok(())
    }

    /// RFC 5545's rules between parts and the frequency.
    fn check_combinations(&self) -> Result<(), RruleError> {
        let frequency = self.frequency;
        let with = |part| RruleError::PartWithFrequency {
            part,
            frequency: match frequency {
                Frequency::Daily => "DAILY",
                Frequency::Weekly => "WEEKLY",
                Frequency::Monthly => "MONTHLY",
                Frequency::Yearly => "YEARLY",
            },
        };
        if frequency == Frequency::Weekly && !self.month_days.is_empty() {
            return Err(with("BYMONTHDAY"));
        }
        if frequency != Frequency::Yearly && !self.year_days.is_empty() {
            return Err(with("BYYEARDAY"));
        }
        if frequency != Frequency::Yearly && !self.week_numbers.is_empty() {
            return Err(with("BYWEEKNO"));
        }
        let has_ordinals = self.weekdays.iter().any(|day| day.ordinal.is_some());
        if has_ordinals && matches!(frequency, Frequency::Daily | Frequency::Weekly) {
            return Err(with("BYDAY ordinals such as 2TU"));
        }
        if has_ordinals && !self.week_numbers.is_empty() {
            return Err(RruleError::OrdinalWithWeekNumber);
        }
        let picks_days = !(self.weekdays.is_empty()
            && self.month_days.is_empty()
            && self.months.is_empty()
            && self.year_days.is_empty()
            && self.week_numbers.is_empty());
        if !self.set_positions.is_empty() && !picks_days {
            return Err(RruleError::LonePosition);
        }
        Ok(())
    }

    /// Tells whether some month of `BYMONTH` has some day of `BYMONTHDAY` (February 29 counts:
    /// leap years have it); true when either list is empty.
    fn month_days_can_meet_months(&self) -> bool {
        if self.months.is_empty() || self.month_days.is_empty() {
            return true;
        }
        self.months.iter().any(|month| {
            let longest = match month {
                2 => 29,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            self.month_days
                .iter()
                .any(|day| day.unsigned_abs() <= longest)
        })
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
    const SUPPORTED: [&'static str; 11] = [
        "FREQ",
        "INTERVAL",
        "WKST",
        "BYDAY",
        "BYMONTHDAY",
        "BYMONTH",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYSETPOS",
        "COUNT",
        "UNTIL",
    ];

    fn first_sight(&mut self, name: &str) -> Result<&'static str, RruleError> {
        if matches!(name, "BYHOUR" | "BYMINUTE" | "BYSECOND") {
            return Err(RruleError::TimeOfDayPart(name.to_owned()));
        }
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

/// Parses `[+|-]digits` with `1 <= |n| <= largest` (RFC 5545's `ordwk`, `ordmoday`, ...).
fn parse_signed<N: TryFrom<i32>>(
    name: &'static str,
    value: &str,
    largest: i32,
    expected: &'static str,
) -> Result<N, RruleError> {
    let (negative, digits) = match value.as_bytes().first() {
        Some(b'-') => (true, value.get(1..).unwrap_or_default()),
        Some(b'+') => (false, value.get(1..).unwrap_or_default()),
        _ => (false, value),
    };
    let magnitude: i32 = parse_number(name, digits, 1..=largest, expected)
        .map_err(|_| invalid(name, value, expected))?;
    let number = if negative { -magnitude } else { magnitude };
    N::try_from(number).map_err(|_| invalid(name, value, expected))
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

fn parse_weekday(value: &str) -> Option<Weekday> {
    WEEKDAY_CODES
        .into_iter()
        .find(|(code, _)| *code == value)
        .map(|(_, weekday)| weekday)
}

fn parse_by_day(
    name: &'static str,
    value: &str,
    frequency: Frequency,
) -> Result<ByDay, RruleError> {
    const EXPECTED: &str = "weekdays MO to SU, with an ordinal such as 2TU or -1FR under \
                            MONTHLY (1 to 5) or YEARLY (1 to 53)";
    let split = value.len().saturating_sub(2);
    let (ordinal, code) = (value.get(..split), value.get(split..));
    let weekday = code
        .and_then(parse_weekday)
        .ok_or_else(|| invalid(name, value, EXPECTED))?;
    let ordinal = match ordinal {
        None | Some("") => None,
        Some(ordinal) => {
            let largest = if frequency == Frequency::Monthly {
                5
            } else {
                53
            };
            Some(
                parse_signed::<i16>(name, ordinal, largest, EXPECTED)
                    .map_err(|_| invalid(name, value, EXPECTED))?,
            )
        }
    };
    Ok(ByDay { ordinal, weekday })
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
            .filter(|year| *year >= 1)
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
                "hourly time of day",
                "FREQ=DAILY;BYHOUR=9",
                "BYHOUR is not supported: the time of day comes from the due time",
            ),
            (
                "easter",
                "FREQ=YEARLY;BYEASTER=0",
                "\"BYEASTER\" is not supported",
            ),
            (
                "lone set position",
                "FREQ=MONTHLY;BYSETPOS=-1",
                "BYSETPOS needs another BY part",
            ),
            (
                "set position beyond a month",
                "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=32",
                "BYSETPOS=\"32\"",
            ),
            (
                "set position zero",
                "FREQ=YEARLY;BYMONTH=1;BYSETPOS=0",
                "BYSETPOS=\"0\"",
            ),
            ("bad week start", "FREQ=WEEKLY;WKST=XX", "WKST=\"XX\""),
            (
                "ordinal with weekly",
                "FREQ=WEEKLY;BYDAY=1MO",
                "BYDAY ordinals such as 2TU cannot be used with FREQ=WEEKLY",
            ),
            (
                "ordinal with daily",
                "FREQ=DAILY;BYDAY=-1FR",
                "cannot be used with FREQ=DAILY",
            ),
            (
                "sixth monday of a month",
                "FREQ=MONTHLY;BYDAY=6MO",
                "BYDAY=\"6MO\"",
            ),
            ("ordinal zero", "FREQ=MONTHLY;BYDAY=0MO", "BYDAY=\"0MO\""),
            (
                "ordinal not a number",
                "FREQ=MONTHLY;BYDAY=XTU",
                "BYDAY=\"XTU\"",
            ),
            (
                "ordinal with week numbers",
                "FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO",
                "ordinals such as 2TU together with BYWEEKNO",
            ),
            (
                "year days with monthly",
                "FREQ=MONTHLY;BYYEARDAY=1",
                "BYYEARDAY cannot be used with FREQ=MONTHLY",
            ),
            (
                "week numbers with monthly",
                "FREQ=MONTHLY;BYWEEKNO=1",
                "BYWEEKNO cannot be used with FREQ=MONTHLY",
            ),
            ("week 54", "FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO=\"54\""),
            (
                "year day 367",
                "FREQ=YEARLY;BYYEARDAY=-367",
                "BYYEARDAY=\"-367\"",
            ),
            (
                "february 30th",
                "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                "rrule never occurs: no month in BYMONTH has a day in BYMONTHDAY",
            ),
            (
                "31st of short months",
                "FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31,-31",
                "rrule never occurs",
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
                "month day -32",
                "FREQ=MONTHLY;BYMONTHDAY=-32",
                "BYMONTHDAY=\"-32\"",
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
            input in "\\PC{0,80}|FREQ=(DAILY|WEEKLY|MONTHLY|YEARLY);(BYDAY|BYSETPOS|BYMONTHDAY|BYYEARDAY|WKST|UNTIL|COUNT)=[A-Z0-9,;=+-]{0,20}"
        ) {
            if let Ok(rule) = Rrule::parse(&input) {
                prop_assert_eq!(Rrule::parse(&rule.to_string()), Ok(rule));
            }
        }
    }
}
