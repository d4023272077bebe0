//! [`next_occurrence`]: when the next occurrence of a recurring task is due.

use chrono::{DateTime, Utc};

use super::{
    Anchor, RecurrenceRule,
    rrule::{SeriesEnd, Until},
    rule_dates::rule_dates,
};
use crate::due::Due;

/// Returns when the occurrence after the one at `occurrence_index` (0-based) is due, or `None`
/// when the series is over.
///
/// - [`Anchor::DueDate`]: the rule is laid out from the previous due date; the result is the first
///   occurrence strictly after the previous due time.
/// - [`Anchor::Completion`]: the rule is laid out from the local date of `completed_at` (so a
///   weekly rule repeats on the completion's weekday), which stands for the occurrence just done;
///   the result is the first occurrence on a later local date, at the due time's local time of day
///   (so strictly after the completion), and never the previous due time itself (finishing early
///   never recreates the slot just done).
///
/// `None` when `COUNT` is used up (a series has `COUNT` occurrences: indices `0..COUNT`), when the
/// next occurrence would be after `UNTIL`, or when the rule has no further date at all.
pub fn next_occurrence(
    rule: &RecurrenceRule,
    anchor: Anchor,
    due: &Due,
    completed_at: DateTime<Utc>,
    occurrence_index: u32,
) -> Option<DateTime<Utc>> {
    let rule = rule.to_rrule();
    if let Some(SeriesEnd::Count(count)) = rule.end
        && occurrence_index.checked_add(1)? >= count
    {
        return None;
    }
    let zone = due.zone;
    let time_of_day = due.local_time().time();
    let completion_date = zone.local_time(completed_at).date();
    let start = match anchor {
        Anchor::DueDate => due.local_time().date(),
        Anchor::Completion => completion_date,
    };
    for date in rule_dates(&rule, start) {
        if let Some(SeriesEnd::Until(Until::Date(last))) = rule.end
            && date > last
        {
            return None;
        }
        let instant = zone.resolve_local(date.and_time(time_of_day))?;
        if let Some(SeriesEnd::Until(Until::Instant(last))) = rule.end
            && instant > last
        {
            return None;
        }
        let is_next = match anchor {
            Anchor::DueDate => instant > due.time,
            Anchor::Completion => date > completion_date && instant != due.time,
        };
        if is_next {
            return Some(instant);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use chrono::{LocalResult, NaiveDate, NaiveTime, TimeDelta, TimeZone as _};
    use proptest::prelude::*;

    use super::*;
    use crate::{
        recurrence::{Preset, Rrule},
        time_zone::TimeZone,
    };

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn due(text: &str, zone: &str) -> Due {
        Due {
            time: utc(text),
            zone: TimeZone::parse(zone).unwrap(),
        }
    }

    fn rule(text: &str) -> RecurrenceRule {
        RecurrenceRule::Rrule(Rrule::parse(text).unwrap())
    }

    const DAILY: RecurrenceRule = RecurrenceRule::Preset(Preset::Daily);

    #[test]
    fn due_date_occurrences_keep_the_local_time_across_daylight_saving_changes() {
        let monthly = RecurrenceRule::Preset(Preset::Monthly);
        let weekdays = RecurrenceRule::Preset(Preset::Weekdays);
        let cases = [
            (
                "paris spring forward",
                DAILY,
                due("2026-03-28T09:00:00+01:00", "Europe/Paris"),
                "2026-03-29T09:00:00+02:00",
            ),
            (
                "paris fall back",
                DAILY,
                due("2026-10-24T09:00:00+02:00", "Europe/Paris"),
                "2026-10-25T09:00:00+01:00",
            ),
            (
                "new york gap moves to 03:00",
                DAILY,
                due("2026-03-07T02:30:00-05:00", "America/New_York"),
                "2026-03-08T03:00:00-04:00",
            ),
            (
                "new york overlap takes the earlier",
                DAILY,
                due("2026-10-31T01:30:00-04:00", "America/New_York"),
                "2026-11-01T01:30:00-04:00",
            ),
            (
                "sydney spring forward",
                DAILY,
                due("2026-10-03T09:00:00+10:00", "Australia/Sydney"),
                "2026-10-04T09:00:00+11:00",
            ),
            (
                "kolkata has no dst",
                rule("FREQ=WEEKLY"),
                due("2026-03-02T18:45:00+05:30", "Asia/Kolkata"),
                "2026-03-09T18:45:00+05:30",
            ),
            (
                "monthly on the 31st skips february",
                monthly,
                due("2026-01-31T09:00:00+01:00", "Europe/Paris"),
                "2026-03-31T09:00:00+02:00",
            ),
            (
                "last day of the month",
                rule("FREQ=MONTHLY;BYMONTHDAY=-1"),
                due("2026-01-31T09:00:00+01:00", "Europe/Paris"),
                "2026-02-28T09:00:00+01:00",
            ),
            (
                "weekdays skip the weekend",
                weekdays,
                due("2026-03-06T09:00:00+01:00", "Europe/Paris"),
                "2026-03-09T09:00:00+01:00",
            ),
            (
                "yearly",
                RecurrenceRule::Preset(Preset::Yearly),
                due("2026-07-14T10:00:00+02:00", "Europe/Paris"),
                "2027-07-14T10:00:00+02:00",
            ),
            (
                "every other week",
                rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"),
                due("2026-03-04T09:00:00Z", "UTC"),
                "2026-03-16T09:00:00Z",
            ),
        ];
        for (case, rule, due, expected) in cases {
            let completed_at = due.time + TimeDelta::hours(1);
            let next = next_occurrence(&rule, Anchor::DueDate, &due, completed_at, 0);
            assert_eq!(next, Some(utc(expected)), "case: {case}");
        }
    }

    #[test]
    fn due_date_occurrences_follow_the_previous_due_even_when_completed_late() {
        let previous = due("2026-03-02T09:00:00+01:00", "Europe/Paris");
        let next = next_occurrence(
            &DAILY,
            Anchor::DueDate,
            &previous,
            utc("2026-03-20T12:00:00Z"),
            0,
        );
        assert_eq!(next, Some(utc("2026-03-03T09:00:00+01:00")));
    }

    #[test]
    fn completion_occurrences_follow_the_completion_day_at_the_due_time_of_day() {
        let weekdays = RecurrenceRule::Preset(Preset::Weekdays);
        let weekly = RecurrenceRule::Preset(Preset::Weekly);
        let paris = "Europe/Paris";
        let cases = [
            (
                "daily, completed late",
                DAILY,
                due("2026-03-05T09:00:00+01:00", paris),
                "2026-03-10T20:00:00+01:00",
                "2026-03-11T09:00:00+01:00",
            ),
            (
                "daily, completed before the time of day",
                DAILY,
                due("2026-03-05T09:00:00+01:00", paris),
                "2026-03-10T07:00:00+01:00",
                "2026-03-11T09:00:00+01:00",
            ),
            (
                "every third day",
                rule("FREQ=DAILY;INTERVAL=3"),
                due("2026-03-05T09:00:00+01:00", paris),
                "2026-03-10T20:00:00+01:00",
                "2026-03-13T09:00:00+01:00",
            ),
            (
                "weekly repeats on the completion weekday",
                weekly,
                due("2026-03-02T09:00:00+01:00", paris),
                "2026-03-04T10:00:00+01:00",
                "2026-03-11T09:00:00+01:00",
            ),
            (
                "weekdays after a friday",
                weekdays,
                due("2026-03-05T09:00:00+01:00", paris),
                "2026-03-06T18:00:00+01:00",
                "2026-03-09T09:00:00+01:00",
            ),
            (
                "finishing early skips the slot just done",
                DAILY,
                due("2026-03-12T09:00:00+01:00", paris),
                "2026-03-11T10:00:00+01:00",
                "2026-03-13T09:00:00+01:00",
            ),
            (
                "completion day is local",
                DAILY,
                due("2026-03-05T09:00:00+01:00", paris),
                "2026-03-10T23:30:00Z",
                "2026-03-12T09:00:00+01:00",
            ),
        ];
        for (case, rule, due, completed_at, expected) in cases {
            let next = next_occurrence(&rule, Anchor::Completion, &due, utc(completed_at), 0);
            assert_eq!(next, Some(utc(expected)), "case: {case}");
        }
    }

    #[test]
    fn series_end_at_count_and_until() {
        let start = due("2026-03-02T09:00:00+01:00", "Europe/Paris");
        let cases = [
            ("count 3, index 0", "FREQ=DAILY;COUNT=3", 0, true),
            ("count 3, index 1", "FREQ=DAILY;COUNT=3", 1, true),
            (
                "count 3, index 2 is the last",
                "FREQ=DAILY;COUNT=3",
                2,
                false,
            ),
            ("count 1", "FREQ=DAILY;COUNT=1", 0, false),
            (
                "until the next day, inclusive",
                "FREQ=DAILY;UNTIL=20260303T080000Z",
                0,
                true,
            ),
            (
                "until just before the next",
                "FREQ=DAILY;UNTIL=20260303T075959Z",
                0,
                false,
            ),
            (
                "until date includes that local day",
                "FREQ=DAILY;UNTIL=20260303",
                0,
                true,
            ),
            (
                "until date before the next",
                "FREQ=DAILY;UNTIL=20260302",
                0,
                false,
            ),
            (
                "index at the u32 limit",
                "FREQ=DAILY;COUNT=10000",
                u32::MAX,
                false,
            ),
        ];
        for (case, text, index, has_next) in cases {
            let next = next_occurrence(&rule(text), Anchor::DueDate, &start, start.time, index);
            assert_eq!(next.is_some(), has_next, "case: {case}: {next:?}");
        }
    }

    fn zones() -> impl Strategy<Value = TimeZone> {
        prop::sample::select(vec![
            "Europe/Paris",
            "America/New_York",
            "Australia/Sydney",
            "Asia/Kolkata",
        ])
        .prop_map(|name| TimeZone::parse(name).unwrap())
    }

    fn rules() -> impl Strategy<Value = RecurrenceRule> {
        let presets = [
            Preset::Daily,
            Preset::Weekdays,
            Preset::Weekly,
            Preset::Monthly,
            Preset::Yearly,
        ];
        let texts = [
            "FREQ=DAILY;INTERVAL=2",
            "FREQ=WEEKLY;BYDAY=SA,SU",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "FREQ=MONTHLY;BYMONTHDAY=1,15;BYDAY=MO,TU,WE,TH,FR",
        ];
        prop_oneof![
            prop::sample::select(presets.to_vec()).prop_map(RecurrenceRule::Preset),
            prop::sample::select(texts.to_vec()).prop_map(rule),
        ]
    }

    /// A due time in 2026, whose year covers each zone's transitions, at a time near them.
    fn first_due(zone: TimeZone) -> impl Strategy<Value = Due> {
        (
            0..365_u64,
            0..4_u32,
            prop::sample::select(vec![0_u32, 15, 30, 45]),
        )
            .prop_map(move |(day, hour, minute)| {
                let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(day);
                let local = date.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap());
                Due {
                    time: zone.resolve_local(local).unwrap(),
                    zone,
                }
            })
    }

    fn series() -> impl Strategy<Value = (TimeZone, RecurrenceRule, Due)> {
        (zones(), rules()).prop_flat_map(|(zone, rule)| (Just(zone), Just(rule), first_due(zone)))
    }

    proptest! {
        #[test]
        fn each_due_date_occurrence_is_later_and_keeps_the_local_time_when_it_exists(
            (zone, rule, start) in series()
        ) {
            let mut previous = start;
            for index in 0..40 {
                let next = next_occurrence(&rule, Anchor::DueDate, &previous, previous.time, index)
                    .unwrap();
                prop_assert!(next > previous.time, "{next} after {}", previous.time);
                let wanted = zone.local_time(previous.time).time();
                let next_local = zone.local_time(next);
                let wanted_next = next_local.date().and_time(wanted);
                if !matches!(zone.tz().from_local_datetime(&wanted_next), LocalResult::None) {
                    prop_assert_eq!(next_local.time(), wanted, "at {}", next);
                }
                previous = Due { time: next, zone };
            }
        }

        #[test]
        fn each_completion_occurrence_is_after_the_completion(
            (zone, rule, start) in series(),
            delays in prop::collection::vec(-48..72_i64, 1..20),
        ) {
            let mut previous = start;
            for (index, hours) in (0_u32..).zip(delays) {
                let completed_at = previous.time + TimeDelta::hours(hours);
                let next =
                    next_occurrence(&rule, Anchor::Completion, &previous, completed_at, index)
                        .unwrap();
                prop_assert!(next > completed_at, "{next} after completion at {completed_at}");
                prop_assert_ne!(next, previous.time);
                previous = Due { time: next, zone };
            }
        }
    }
}
