//! `Rrule`: the RFC 5545 recurrence rules tasks accept, parsed from and displayed as the RRULE
//! value (without the `RRULE:` prefix), and laid out by the `rrule` crate.
//!
//! Supported parts: `FREQ` (DAILY, WEEKLY, MONTHLY, YEARLY; required), `INTERVAL` (1 to 1000),
//! `WKST`, `BYDAY` (MO to SU, with an ordinal such as `2TU` or `-1FR` under MONTHLY and YEARLY),
//! `BYMONTHDAY` (±1 to ±31; negative days count from the month's end), `BYMONTH` (1 to 12),
//! `BYYEARDAY` (±1 to ±366, YEARLY), `BYWEEKNO` (±1 to ±53, YEARLY), `BYSETPOS` (±1 to ±366, with
//! another `BY*` part), and either `COUNT` (1 to 10000) or `UNTIL` (`YYYYMMDDTHHMMSSZ` or
//! `YYYYMMDD`). The time of day is the task's, so `BYHOUR`, `BYMINUTE` and `BYSECOND` are refused.
//! Names and values are case-insensitive on input; display is canonical: upper case, parts in the
//! order above, list values sorted and deduplicated, defaults (`INTERVAL=1`, `WKST=MO`) omitted.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Datelike, Month, NaiveDate, NaiveDateTime, TimeZone as _, Utc, Weekday};
use rrule::{NWeekday, RRule, Tz, Unvalidated};

pub use super::rrule_parsing::{MAX_RRULE_CHARS, RruleError};

/// The last local year an occurrence may fall in: due times are limited to years 1 to 9999.
pub(crate) const LAST_YEAR: i32 = 9999;

/// How often a rule repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// Every `INTERVAL` days.
    Daily,
    /// Every `INTERVAL` weeks (starting on `WKST`, Monday by default).
    Weekly,
    /// Every `INTERVAL` months.
    Monthly,
    /// Every `INTERVAL` years.
    Yearly,
}

impl Frequency {
    fn code(self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
            Self::Yearly => "YEARLY",
        }
    }

    fn to_crate(self) -> rrule::Frequency {
        match self {
            Self::Daily => rrule::Frequency::Daily,
            Self::Weekly => rrule::Frequency::Weekly,
            Self::Monthly => rrule::Frequency::Monthly,
            Self::Yearly => rrule::Frequency::Yearly,
        }
    }
}

/// A `BYDAY` item: a weekday, alone (every such day of the period) or with an ordinal (`2TU`:
/// the period's second Tuesday; `-1FR`: its last Friday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByDay {
    /// The ordinal within the month or year; `None` for every such weekday.
    pub ordinal: Option<i16>,
    /// The weekday.
    pub weekday: Weekday,
}

impl ByDay {
    fn to_crate(self) -> NWeekday {
        match self.ordinal {
            Some(ordinal) => NWeekday::Nth(ordinal, self.weekday),
            None => NWeekday::Every(self.weekday),
        }
    }

    /// Canonical order: by weekday, plain before ordinals, ordinals ascending.
    pub(super) fn sort_key(&self) -> (u32, Option<i16>) {
        (self.weekday.num_days_from_monday(), self.ordinal)
    }
}

impl fmt::Display for ByDay {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ordinal) = self.ordinal {
            write!(formatter, "{ordinal}")?;
        }
        formatter.write_str(weekday_code(self.weekday))
    }
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

/// A parsed, validated RRULE; the `BY*` lists are sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rrule {
    pub(super) frequency: Frequency,
    pub(super) interval: u16,
    pub(super) week_start: Weekday,
    pub(super) weekdays: Vec<ByDay>,
    /// Positive days ascending, then negative days ascending (calendar order).
    pub(super) month_days: Vec<i8>,
    pub(super) months: Vec<u8>,
    pub(super) year_days: Vec<i16>,
    pub(super) week_numbers: Vec<i8>,
    pub(super) set_positions: Vec<i16>,
    pub(super) end: Option<SeriesEnd>,
}

impl Rrule {
    /// Returns a rule of `frequency` with no other part.
    pub(crate) fn of(frequency: Frequency) -> Self {
        Self {
            frequency,
            interval: 1,
            week_start: Weekday::Mon,
            weekdays: Vec::new(),
            month_days: Vec::new(),
            months: Vec::new(),
            year_days: Vec::new(),
            week_numbers: Vec::new(),
            set_positions: Vec::new(),
            end: None,
        }
    }

    /// Returns a weekly rule on `weekdays` (every such day).
    pub(crate) fn weekly_on(weekdays: &[Weekday]) -> Self {
        Self {
            weekdays: weekdays
                .iter()
                .map(|weekday| ByDay {
                    ordinal: None,
                    weekday: *weekday,
                })
                .collect(),
            ..Self::of(Frequency::Weekly)
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

    /// Returns the rule for the `rrule` crate, without `COUNT` and `UNTIL`: todo-core applies
    /// those itself (a series is laid out again from each occurrence, and `UNTIL` is an instant
    /// or a local date, where the crate only knows its start's zone).
    fn to_crate(&self) -> RRule<Unvalidated> {
        let months: Vec<Month> = self
            .months
            .iter()
            .filter_map(|month| Month::try_from(*month).ok())
            .collect();
        RRule::new(self.frequency.to_crate())
            .interval(self.interval)
            .week_start(self.week_start)
            .by_weekday(self.weekdays.iter().map(|day| day.to_crate()).collect())
            .by_month_day(self.month_days.clone())
            .by_month(&months)
            .by_year_day(self.year_days.clone())
            .by_week_no(self.week_numbers.clone())
            .by_set_pos(self.set_positions.iter().copied().map(i32::from).collect())
    }

    /// Returns the rule's local date-times from `start` on (including `start` when it matches),
    /// ascending, up to the end of year [`LAST_YEAR`], ignoring `COUNT` and `UNTIL`.
    ///
    /// The `rrule` crate lays the rule out on wall-clock time: `start` is handed to it as a
    /// floating time (UTC standing for the local clock), so it never meets a daylight-saving
    /// gap or overlap, and each result keeps `start`'s time of day. Mapping a local time to an
    /// instant is the caller's ([`TimeZone::resolve_local`](crate::time_zone::TimeZone::resolve_local)).
    /// The crate gives up after 100,000 periods without an occurrence, so a rule that never
    /// occurs ends the iteration instead of looping to year 9999.
    pub(crate) fn local_occurrences(
        &self,
        start: NaiveDateTime,
    ) -> impl Iterator<Item = NaiveDateTime> {
        let floating_start = Tz::UTC.from_utc_datetime(&start);
        let occurrences = self
            .to_crate()
            .build(floating_start)
            .ok()
            .filter(|_| start.year() <= LAST_YEAR)
            .map(|set| set.limit().into_iter());
        occurrences
            .into_iter()
            .flatten()
            .map(|occurrence| occurrence.naive_utc())
            .take_while(|local| local.year() <= LAST_YEAR)
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
        write!(formatter, "FREQ={}", self.frequency.code())?;
        if self.interval != 1 {
            write!(formatter, ";INTERVAL={}", self.interval)?;
        }
        if self.week_start != Weekday::Mon {
            write!(formatter, ";WKST={}", weekday_code(self.week_start))?;
        }
        write_list(formatter, "BYDAY", &self.weekdays)?;
        write_list(formatter, "BYMONTHDAY", &self.month_days)?;
        write_list(formatter, "BYMONTH", &self.months)?;
        write_list(formatter, "BYYEARDAY", &self.year_days)?;
        write_list(formatter, "BYWEEKNO", &self.week_numbers)?;
        write_list(formatter, "BYSETPOS", &self.set_positions)?;
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
                "defaults are implied",
                "FREQ=DAILY;INTERVAL=1;WKST=MO",
                "FREQ=DAILY",
            ),
            (
                "interval",
                "FREQ=MONTHLY;INTERVAL=1000",
                "FREQ=MONTHLY;INTERVAL=1000",
            ),
            (
                "month days in calendar order",
                "FREQ=MONTHLY;BYMONTHDAY=-1,15,1,15,-3",
                "FREQ=MONTHLY;BYMONTHDAY=1,15,-3,-1",
            ),
            (
                "months",
                "FREQ=YEARLY;BYMONTH=12,3",
                "FREQ=YEARLY;BYMONTH=3,12",
            ),
            (
                "ordinals",
                "FREQ=MONTHLY;BYDAY=-1FR,+2TU,TU,1MO",
                "FREQ=MONTHLY;BYDAY=1MO,TU,2TU,-1FR",
            ),
            (
                "set position and week start",
                "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR;WKST=SU",
                "FREQ=MONTHLY;WKST=SU;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            ),
            (
                "year days and week numbers",
                "FREQ=YEARLY;BYWEEKNO=20,-1;BYYEARDAY=-1,100",
                "FREQ=YEARLY;BYYEARDAY=-1,100;BYWEEKNO=-1,20",
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
        let frequency = prop::sample::select(vec!["MONTHLY", "YEARLY"]);
        let weekdays = prop::collection::vec(
            (
                prop_oneof![Just(String::new()), (-4..=4_i8).prop_map(|n| n.to_string())],
                prop::sample::select(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"]),
            )
                .prop_filter("no ordinal 0", |(n, _)| n != "0")
                .prop_map(|(n, day)| format!("{n}{day}")),
            0..4,
        );
        let month_days = prop::collection::vec(
            (1..=28_i8).prop_flat_map(|d| prop_oneof![Just(d), Just(-d)]),
            0..4,
        );
        let months = prop::collection::vec(1..=12_u8, 0..4);
        let positions = prop::collection::vec(
            (1..=3_i16).prop_flat_map(|p| prop_oneof![Just(p), Just(-p)]),
            0..2,
        );
        let end = prop_oneof![
            Just(String::new()),
            (1..=10_000_u32).prop_map(|count| format!(";COUNT={count}")),
            (2000..2100_i32, 1..=12_u32, 1..=28_u32)
                .prop_map(|(y, m, d)| format!(";UNTIL={y:04}{m:02}{d:02}")),
            (2000..2100_i32, 1..=12_u32, 1..=28_u32, 0..24_u32)
                .prop_map(|(y, m, d, h)| format!(";UNTIL={y:04}{m:02}{d:02}T{h:02}0000Z")),
        ];
        (
            frequency,
            1..=1000_u16,
            weekdays,
            month_days,
            months,
            positions,
            end,
        )
            .prop_map(
                |(frequency, interval, weekdays, month_days, months, positions, end)| {
                    let join = |items: Vec<String>| items.join(",");
                    let mut text = format!("FREQ={frequency};INTERVAL={interval}");
                    if !weekdays.is_empty() {
                        text += &format!(";BYDAY={}", weekdays.join(","));
                    }
                    if !month_days.is_empty() {
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
                    let picks_days =
                        !(weekdays.is_empty() && month_days.is_empty() && months.is_empty());
                    if !positions.is_empty() && picks_days {
                        text += &format!(
                            ";BYSETPOS={}",
                            join(positions.iter().map(ToString::to_string).collect())
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
