//! The local dates a rule produces from a start date, in order.
//!
//! The rule is laid out as RFC 5545 does from a DTSTART: periods (days, Monday-based weeks,
//! months or years) every `INTERVAL` starting with the start date's period; within a period, every
//! day that passes each `BY*` part. Parts a rule leaves out are taken from the start date, as in
//! RFC 5545: a weekly rule without BYDAY repeats on the start's weekday, a monthly rule without
//! BYDAY or BYMONTHDAY on the start's day of the month (skipping months that lack it), a yearly
//! rule on the start's month and day. With weekdays that carry no numeric prefix, "expand" and
//! "limit" in RFC 5545 come to the same thing: a day belongs to the set if it passes every part.
//!
//! The search is bounded by one full Gregorian cycle (400 years, 146,097 days) of periods: the
//! calendar repeats after it, so a rule with no date within one cycle never has one.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

use super::rrule::{Frequency, Rrule};

/// Days in a Gregorian cycle, after which weekdays, month lengths and leap years repeat.
const DAYS_PER_CYCLE: u32 = 146_097;

/// The days of the month and weekdays a date must have, after filling in what the start implies.
struct DayFilter {
    months: Vec<u32>,
    month_days: Vec<i8>,
    weekdays: Vec<Weekday>,
}

impl DayFilter {
    fn new(rule: &Rrule, start: NaiveDate) -> Self {
        let mut filter = Self {
            months: rule.months.iter().copied().map(u32::from).collect(),
            month_days: rule.month_days.clone(),
            weekdays: rule.weekdays.clone(),
        };
        let start_day = i8::try_from(start.day()).unwrap_or(1);
        if filter.weekdays.is_empty() && filter.month_days.is_empty() {
            match rule.frequency {
                Frequency::Daily => {}
                Frequency::Weekly => filter.weekdays = vec![start.weekday()],
                Frequency::Monthly => filter.month_days = vec![start_day],
                Frequency::Yearly => {
                    if filter.months.is_empty() {
                        filter.months = vec![start.month()];
                    }
                    filter.month_days = vec![start_day];
                }
            }
        }
        filter
    }

    fn accepts(&self, date: NaiveDate) -> bool {
        let month_ok = self.months.is_empty() || self.months.contains(&date.month());
        let weekday_ok = self.weekdays.is_empty() || self.weekdays.contains(&date.weekday());
        let is_last_day = date
            .succ_opt()
            .is_none_or(|next| next.month() != date.month());
        let month_day_ok = self.month_days.is_empty()
            || self.month_days.iter().any(|day| {
                (*day == -1 && is_last_day)
                    || u32::try_from(*day).is_ok_and(|day| day == date.day())
            });
        month_ok && weekday_ok && month_day_ok
    }
}

/// Returns the dates of `rule` laid out from `start`, in order, starting at `start` (included
/// when it matches the rule).
pub(crate) fn rule_dates(rule: &Rrule, start: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    let filter = DayFilter::new(rule, start);
    let frequency = rule.frequency;
    let interval = u32::from(rule.interval);
    let first_period = period_start(frequency, start);
    let period_count = match frequency {
        Frequency::Daily => DAYS_PER_CYCLE,
        Frequency::Weekly => DAYS_PER_CYCLE / 7,
        Frequency::Monthly => 400 * 12,
        Frequency::Yearly => 400,
    };
    (0..period_count)
        .map_while(move |index| nth_period(frequency, first_period, index.checked_mul(interval)?))
        .flat_map(move |period| period_days(frequency, period))
        .filter(move |date| *date >= start && filter.accepts(*date))
}

/// Returns the first day of the period holding `date`.
fn period_start(frequency: Frequency, date: NaiveDate) -> NaiveDate {
    let first = match frequency {
        Frequency::Daily => Some(date),
        Frequency::Weekly => {
            date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday())))
        }
        Frequency::Monthly => date.with_day(1),
        Frequency::Yearly => date.with_ordinal(1),
    };
    first.unwrap_or(date)
}

/// Returns the first day of the period `steps` periods after `first`.
fn nth_period(frequency: Frequency, first: NaiveDate, steps: u32) -> Option<NaiveDate> {
    match frequency {
        Frequency::Daily => first.checked_add_days(Days::new(u64::from(steps))),
        Frequency::Weekly => first.checked_add_days(Days::new(u64::from(steps) * 7)),
        Frequency::Monthly => first.checked_add_months(Months::new(steps)),
        Frequency::Yearly => first.checked_add_months(Months::new(steps.checked_mul(12)?)),
    }
}

/// Returns the days of the period that starts on `first`.
fn period_days(frequency: Frequency, first: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    let in_period = move |date: &NaiveDate| match frequency {
        Frequency::Daily => *date == first,
        Frequency::Weekly => date.signed_duration_since(first).num_days() < 7,
        Frequency::Monthly => date.month() == first.month() && date.year() == first.year(),
        Frequency::Yearly => date.year() == first.year(),
    };
    first.iter_days().take_while(in_period)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn first_dates(rule: &str, start: NaiveDate, count: usize) -> Vec<NaiveDate> {
        rule_dates(&Rrule::parse(rule).unwrap(), start)
            .take(count)
            .collect()
    }

    #[test]
    fn rules_produce_the_rfc_5545_dates() {
        let cases = [
            (
                "daily",
                "FREQ=DAILY",
                date(2026, 2, 27),
                vec![date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)],
            ),
            (
                "every third day",
                "FREQ=DAILY;INTERVAL=3",
                date(2026, 1, 30),
                vec![date(2026, 1, 30), date(2026, 2, 2), date(2026, 2, 5)],
            ),
            (
                "weekly on the start's weekday",
                "FREQ=WEEKLY",
                date(2026, 3, 4),
                vec![date(2026, 3, 4), date(2026, 3, 11), date(2026, 3, 18)],
            ),
            (
                "every other week on monday and wednesday",
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
                date(2026, 3, 4),
                vec![
                    date(2026, 3, 4),
                    date(2026, 3, 16),
                    date(2026, 3, 18),
                    date(2026, 3, 30),
                ],
            ),
            (
                "monthly on the 31st skips short months",
                "FREQ=MONTHLY",
                date(2026, 1, 31),
                vec![date(2026, 1, 31), date(2026, 3, 31), date(2026, 5, 31)],
            ),
            (
                "last day of the month",
                "FREQ=MONTHLY;BYMONTHDAY=-1",
                date(2026, 1, 31),
                vec![date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)],
            ),
            (
                "friday the 13th",
                "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR",
                date(2026, 1, 1),
                vec![date(2026, 2, 13), date(2026, 3, 13), date(2026, 11, 13)],
            ),
            (
                "yearly leap day",
                "FREQ=YEARLY",
                date(2024, 2, 29),
                vec![date(2024, 2, 29), date(2028, 2, 29), date(2032, 2, 29)],
            ),
            (
                "yearly in march on the start's day",
                "FREQ=YEARLY;BYMONTH=3",
                date(2026, 1, 15),
                vec![date(2026, 3, 15), date(2027, 3, 15)],
            ),
            (
                "mondays of january",
                "FREQ=YEARLY;BYMONTH=1;BYDAY=MO",
                date(2026, 1, 20),
                vec![date(2026, 1, 26), date(2027, 1, 4)],
            ),
            (
                "daily limited to weekends",
                "FREQ=DAILY;BYDAY=SA,SU",
                date(2026, 3, 4),
                vec![date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 14)],
            ),
        ];
        for (case, rule, start, expected) in cases {
            assert_eq!(
                first_dates(rule, start, expected.len()),
                expected,
                "case: {case}"
            );
        }
    }

    #[test]
    fn rules_that_never_match_end_without_looping_forever() {
        let cases = [
            ("february 30th", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
            ("daily april 31st", "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31"),
            (
                "leap day every 1000 years from 2024",
                "FREQ=YEARLY;INTERVAL=1000;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
            ),
        ];
        for (case, rule) in cases {
            assert_eq!(
                first_dates(rule, date(2024, 3, 1), 1),
                vec![],
                "case: {case}"
            );
        }
    }

    #[test]
    fn a_rare_date_is_found_decades_away() {
        // Leap days fall on a Monday in 2044 after 2016.
        let found = first_dates(
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
            date(2016, 3, 1),
            1,
        );
        assert_eq!(found, vec![date(2044, 2, 29)]);
    }
}
