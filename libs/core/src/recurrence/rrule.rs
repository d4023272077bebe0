//! `Rrule`: the supported subset of RFC 5545 recurrence rules, parsed from and displayed as the
//! RRULE value (without the `RRULE:` prefix).
//!
//! Supported parts: `FREQ` (DAILY, WEEKLY, MONTHLY, YEARLY; required), `INTERVAL` (1 to 1000),
//! `BYDAY` (MO to SU, no numeric prefix), `BYMONTHDAY` (1 to 31, or -1 for the last day),
//! `BYMONTH` (1 to 12), and either `COUNT` (1 to 10000) or `UNTIL` (`YYYYMMDDTHHMMSSZ` or
//! `YYYYMMDD`). Names and values are case-insensitive on input; display is canonical: upper case,
//! parts in the order above, list values sorted, `INTERVAL=1` omitted.

use std::{fmt, str::FromStr};

use chrono::{DateTime, NaiveDate, Utc, Weekday};

pub use super::rrule_parsing::{MAX_RRULE_CHARS, RruleError};

/// How often a rule repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// Every `INTERVAL` days.
    Daily,
    /// Every `INTERVAL` weeks (weeks start on Monday).
    Weekly,
    /// Every `INTERVAL` months.
    Monthly,
    /// Every `INTERVAL` years.
    Yearly,
}

/// The last occurrence a rule may produce, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Until {
    /// An instant (`YYYYMMDDTHHMMSSZ`).
    Instant(DateTime<Utc>),
    /// A local date in the task's zone (`YYYYMMDD`): occurrences on that day still count.
    Date(NaiveDate),
}

/// Where a series stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesEnd {
    /// The series has this many occurrences in total (indices `0..count`).
    Count(u32),
    /// No occurrence after this bound.
    Until(Until),
}

/// A parsed RRULE of the supported subset; the `BY*` lists are sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rrule {
    pub(crate) frequency: Frequency,
    pub(crate) interval: u16,
    pub(crate) weekdays: Vec<Weekday>,
    /// 1 to 31, then -1 (the last day of the month) last.
    pub(crate) month_days: Vec<i8>,
    pub(crate) months: Vec<u8>,
    pub(crate) end: Option<SeriesEnd>,
}

impl Rrule {
    /// Returns a rule of `frequency` with no other part.
    pub(crate) fn of(frequency: Frequency) -> Self {
        Self {
            frequency,
            interval: 1,
            weekdays: Vec::new(),
            month_days: Vec::new(),
            months: Vec::new(),
            end: None,
        }
    }

    /// Returns how often the rule repeats.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    /// Returns the interval between periods, 1 to 1000.
    pub fn interval(&self) -> u16 {
        self.interval
    }

    /// Returns where the series stops, if it does.
    pub fn end(&self) -> Option<SeriesEnd> {
        self.end
    }
}

pub(super) const WEEKDAY_CODES: [(&str, Weekday); 7] = [
    ("MO", Weekday::Mon),
    ("TU", Weekday::Tue),
    ("WE", Weekday::Wed),
    ("TH", Weekday::Thu),
    ("FR", Weekday::Fri),
    ("SA", Weekday::Sat),
    ("SU", Weekday::Sun),
];

fn weekday_code(weekday: Weekday) -> &'static str {
    WEEKDAY_CODES
        .into_iter()
        .find(|(_, day)| *day == weekday)
        .map_or("MO", |(code, _)| code)
}

fn write_list<T: fmt::Display>(
    formatter: &mut fmt::Formatter<'_>,
    name: &str,
    items: &[T],
) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    let joined = items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    write!(formatter, ";{name}={joined}")
}

impl fmt::Display for Rrule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frequency = match self.frequency {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
            Frequency::Yearly => "YEARLY",
        };
        write!(formatter, "FREQ={frequency}")?;
        if self.interval != 1 {
            write!(formatter, ";INTERVAL={}", self.interval)?;
        }
        let weekdays: Vec<&str> = self.weekdays.iter().copied().map(weekday_code).collect();
        write_list(formatter, "BYDAY", &weekdays)?;
        write_list(formatter, "BYMONTHDAY", &self.month_days)?;
        write_list(formatter, "BYMONTH", &self.months)?;
        match self.end {
            None => Ok(()),
            Some(SeriesEnd::Count(count)) => write!(formatter, ";COUNT={count}"),
            Some(SeriesEnd::Until(Until::Date(date))) => {
                write!(formatter, ";UNTIL={}", date.format("%Y%m%d"))
            }
            Some(SeriesEnd::Until(Until::Instant(instant))) => {
                write!(formatter, ";UNTIL={}", instant.format("%Y%m%dT%H%M%SZ"))
            }
        }
    }
}

impl FromStr for Rrule {
    type Err = RruleError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    #[test]
    fn supported_rules_parse_to_their_canonical_form() {
        let cases = [
            ("daily", "FREQ=DAILY", "FREQ=DAILY"),
            (
                "lower case",
                "freq=weekly;byday=we,mo",
                "FREQ=WEEKLY;BYDAY=MO,WE",
            ),
            (
                "parts in any order",
                "COUNT=10;BYDAY=MO,WE;FREQ=WEEKLY",
                "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10",
            ),
            (
                "interval one is implied",
                "FREQ=DAILY;INTERVAL=1",
                "FREQ=DAILY",
            ),
            (
                "interval",
                "FREQ=MONTHLY;INTERVAL=1000",
                "FREQ=MONTHLY;INTERVAL=1000",
            ),
            (
                "month days sorted, last day last",
                "FREQ=MONTHLY;BYMONTHDAY=-1,15,1,15",
                "FREQ=MONTHLY;BYMONTHDAY=1,15,-1",
            ),
            (
                "months",
                "FREQ=YEARLY;BYMONTH=12,3",
                "FREQ=YEARLY;BYMONTH=3,12",
            ),
            (
                "until instant",
                "FREQ=DAILY;UNTIL=20261231T235959Z",
                "FREQ=DAILY;UNTIL=20261231T235959Z",
            ),
            (
                "until date",
                "FREQ=DAILY;UNTIL=20261231",
                "FREQ=DAILY;UNTIL=20261231",
            ),
            ("surrounding whitespace", "  FREQ=YEARLY ", "FREQ=YEARLY"),
            (
                "largest count",
                "FREQ=DAILY;COUNT=10000",
                "FREQ=DAILY;COUNT=10000",
            ),
        ];
        for (case, input, canonical) in cases {
            let rule = Rrule::parse(input).unwrap_or_else(|error| panic!("case: {case}: {error}"));
            assert_eq!(rule.to_string(), canonical, "case: {case}");
        }
    }

    fn rule_text() -> impl Strategy<Value = String> {
        let frequency = prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]);
        let weekdays =
            prop::sample::subsequence(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"], 0..=7);
        let month_days = prop::collection::vec(prop_oneof![(1..=31_i8), Just(-1_i8)], 0..4);
        let months = prop::collection::vec(1..=12_u8, 0..4);
        let end = prop_oneof![
            Just(String::new()),
            (1..=10_000_u32).prop_map(|count| format!(";COUNT={count}")),
            (2000..2100_i32, 1..=12_u32, 1..=28_u32)
                .prop_map(|(y, m, d)| format!(";UNTIL={y:04}{m:02}{d:02}")),
            (2000..2100_i32, 1..=12_u32, 1..=28_u32, 0..24_u32)
                .prop_map(|(y, m, d, h)| format!(";UNTIL={y:04}{m:02}{d:02}T{h:02}0000Z")),
        ];
        (frequency, 1..=1000_u16, weekdays, month_days, months, end).prop_map(
            |(frequency, interval, weekdays, month_days, months, end)| {
                let mut text = format!("FREQ={frequency};INTERVAL={interval}");
                let join = |items: Vec<String>| items.join(",");
                if !weekdays.is_empty() {
                    text += &format!(";BYDAY={}", weekdays.join(","));
                }
                if !month_days.is_empty() && frequency != "WEEKLY" {
                    text += &format!(
                        ";BYMONTHDAY={}",
                        join(month_days.iter().map(ToString::to_string).collect())
                    );
                }
                if !months.is_empty() {
                    text += &format!(
                        ";BYMONTH={}",
                        join(months.iter().map(ToString::to_string).collect())
                    );
                }
                text + &end
            },
        )
    }

    proptest! {
        #[test]
        fn parse_after_display_is_the_identity(text in rule_text()) {
            let rule = Rrule::parse(&text).unwrap();
            let displayed = rule.to_string();
            prop_assert_eq!(Rrule::parse(&displayed), Ok(rule));
            prop_assert_eq!(Rrule::parse(&displayed).unwrap().to_string(), displayed);
        }
    }
}
