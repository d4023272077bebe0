//! [`next_occurrence`]: when the next occurrence of a recurring task is due.

use chrono::{DateTime, Utc};

use super::{
    Anchor, Recurrence,
    rrule::{SeriesEnd, Until},
};
use crate::{due::Due, wire_time::timestamp_to_utc, wire_time::utc_to_timestamp};

/// Returns when the occurrence after the one at `occurrence_index` (0-based), due at `due` and
/// completed at `completed_at`, is due; `None` when the series is over.
///
/// The rule is laid out from the current occurrence's local date at the series' time of day
/// ([`Recurrence::time_of_day_for`]), so a daylight-saving gap that moved one occurrence does not
/// move the next.
///
/// - [`Anchor::DueDate`]: the rule is laid out from the due date; the result is the first
///   occurrence strictly after both the due time and the completion, so completing late jumps
///   over the occurrences already past to the first one after now.
/// - [`Anchor::Completion`]: the rule is laid out from the local date of `completed_at` (so a
///   weekly rule repeats on the completion's weekday), which stands for the occurrence just done;
///   the result is the first occurrence on a later local date (so strictly after the
///   completion), and never the due time itself (finishing early never recreates the slot just
///   done).
///
/// `None` when `COUNT` is used up (a series has `COUNT` occurrences: indices `0..COUNT`), when the
/// next occurrence would be after `UNTIL` or past the year 9999, or when the rule has no further
/// date at all.
pub fn next_occurrence(
    recurrence: &Recurrence,
    due: &Due,
    completed_at: DateTime<Utc>,
    occurrence_index: u32,
) -> Option<DateTime<Utc>> {
    let rule = recurrence.rule.to_rrule();
    if let Some(SeriesEnd::Count(count)) = rule.end
        && occurrence_index.checked_add(1)? >= count
    {
        return None;
    }
    let zone = due.zone;
    let completion_date = zone.local_time(completed_at).date();
    let start_date = match recurrence.anchor {
        Anchor::DueDate => due.local_time().date(),
        Anchor::Completion => completion_date,
    };
    let start = start_date.and_time(recurrence.time_of_day_for(due));
    for local in rule.local_occurrences(start) {
        if let Some(SeriesEnd::Until(Until::Date(last))) = rule.end
            && local.date() > last
        {
            return None;
        }
        let instant = zone.resolve_local(local)?;
        if let Some(SeriesEnd::Until(Until::Instant(last))) = rule.end
            && instant > last
        {
            return None;
        }
        let is_next = match recurrence.anchor {
            Anchor::DueDate => instant > due.time && instant > completed_at,
            Anchor::Completion => local.date() > completion_date && instant != due.time,
        };
        if is_next {
            // A due time must be a valid wire timestamp (years 1 to 9999 in UTC too).
            return timestamp_to_utc(&utc_to_timestamp(instant));
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
        recurrence::{Preset, RecurrenceRule, Rrule},
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

    /// A recurrence without a stored time of day (the due time's local time is used).
    fn recur(rule: &RecurrenceRule, anchor: Anchor) -> Recurrence {
        Recurrence {
            rule: rule.clone(),
            anchor,
            time_of_day: None,
        }
    }

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
            let next = next_occurrence(&recur(&rule, Anchor::DueDate), &due, completed_at, 0);
            assert_eq!(next, Some(utc(expected)), "case: {case}");
        }
    }

    #[test]
    fn due_date_occurrences_completed_late_jump_to_the_first_after_the_completion() {
        let previous = due("2026-03-02T09:00:00+01:00", "Europe/Paris");
        let cases = [
            (
                "on time",
                "2026-03-02T09:30:00+01:00",
                "2026-03-03T09:00:00+01:00",
            ),
            (
                "early",
                "2026-03-01T12:00:00+01:00",
                "2026-03-03T09:00:00+01:00",
            ),
            (
                "days late",
                "2026-03-20T13:00:00+01:00",
                "2026-03-21T09:00:00+01:00",
            ),
            (
                "late, before the time of day",
                "2026-03-20T08:00:00+01:00",
                "2026-03-20T09:00:00+01:00",
            ),
        ];
        for (case, completed_at, expected) in cases {
            let next = next_occurrence(
                &recur(&DAILY, Anchor::DueDate),
                &previous,
                utc(completed_at),
                0,
            );
            assert_eq!(next, Some(utc(expected)), "case: {case}");
        }
    }

    /// Follows a series from `first` for `steps` occurrences, each completed `delay` after it is
    /// due, and returns the due times in the zone's local time (`YYYY-MM-DD HH:MM`).
    fn follow(recurrence: &Recurrence, first: Due, delay: TimeDelta, steps: u32) -> Vec<String> {
        let mut current = first;
        let mut local_times = Vec::new();
        for index in 0..steps {
            let Some(next) = next_occurrence(recurrence, &current, current.time + delay, index)
            else {
                break;
            };
            current = Due {
                time: next,
                zone: current.zone,
            };
            local_times.push(current.local_time().format("%Y-%m-%d %H:%M").to_string());
        }
        local_times
    }

    #[test]
    fn the_time_of_day_returns_after_a_gap_moved_it() {
        let new_york = "America/New_York";
        let first = due("2026-03-06T02:30:00-05:00", new_york);
        let daily = Recurrence {
            time_of_day: Some(NaiveTime::from_hms_opt(2, 30, 0).unwrap()),
            ..recur(&DAILY, Anchor::DueDate)
        };
        let expected = [
            "2026-03-07 02:30",
            "2026-03-08 03:00",
            "2026-03-09 02:30",
            "2026-03-10 02:30",
        ];
        assert_eq!(follow(&daily, first, TimeDelta::minutes(5), 4), expected);
        let by_completion = Recurrence {
            anchor: Anchor::Completion,
            ..daily.clone()
        };
        assert_eq!(
            follow(&by_completion, first, TimeDelta::minutes(5), 4),
            expected
        );
        // Without a stored time of day, the moved due time is all there is: 03:00 sticks.
        let unstored = recur(&DAILY, Anchor::DueDate);
        assert_eq!(
            follow(&unstored, first, TimeDelta::minutes(5), 4),
            [
                "2026-03-07 02:30",
                "2026-03-08 03:00",
                "2026-03-09 03:00",
                "2026-03-10 03:00"
            ]
        );
        // Sydney skips 02:00-03:00 on 2026-10-04; an overlap (Berlin, 2026-10-25) takes the earlier 02:30.
        let sydney = Recurrence {
            time_of_day: Some(NaiveTime::from_hms_opt(2, 30, 0).unwrap()),
            ..recur(&DAILY, Anchor::DueDate)
        };
        assert_eq!(
            follow(
                &sydney,
                due("2026-10-03T02:30:00+10:00", "Australia/Sydney"),
                TimeDelta::zero(),
                2
            ),
            ["2026-10-04 03:00", "2026-10-05 02:30"]
        );
        let berlin = follow(
            &sydney,
            due("2026-10-24T02:30:00+02:00", "Europe/Berlin"),
            TimeDelta::zero(),
            2,
        );
        assert_eq!(berlin, ["2026-10-25 02:30", "2026-10-26 02:30"]);
        let overlap = next_occurrence(
            &sydney,
            &due("2026-10-24T02:30:00+02:00", "Europe/Berlin"),
            utc("2026-10-24T00:30:00Z"),
            0,
        );
        assert_eq!(overlap, Some(utc("2026-10-25T02:30:00+02:00")));
    }

    #[test]
    fn the_last_friday_and_the_second_tuesday_in_both_modes() {
        let paris = "Europe/Paris";
        let last_friday = rule("FREQ=MONTHLY;BYDAY=-1FR");
        let second_tuesday = rule("FREQ=MONTHLY;BYDAY=2TU");
        // On time, from the due date.
        assert_eq!(
            follow(
                &recur(&last_friday, Anchor::DueDate),
                due("2026-01-30T17:00:00+01:00", paris),
                TimeDelta::hours(1),
                4
            ),
            [
                "2026-02-27 17:00",
                "2026-03-27 17:00",
                "2026-04-24 17:00",
                "2026-05-29 17:00"
            ]
        );
        assert_eq!(
            follow(
                &recur(&second_tuesday, Anchor::DueDate),
                due("2026-01-13T10:00:00+01:00", paris),
                TimeDelta::zero(),
                4
            ),
            [
                "2026-02-10 10:00",
                "2026-03-10 10:00",
                "2026-04-14 10:00",
                "2026-05-12 10:00"
            ]
        );
        // A first due that is not an occurrence still leads to the rule's dates.
        assert_eq!(
            follow(
                &recur(&second_tuesday, Anchor::DueDate),
                due("2026-01-20T10:00:00+01:00", paris),
                TimeDelta::zero(),
                1
            ),
            ["2026-02-10 10:00"]
        );
        // Rule, anchor, due, completion, and the expected next due.
        let cases = [
            (
                "last friday, due date, completed late",
                &last_friday,
                Anchor::DueDate,
                "2026-01-30T17:00:00+01:00",
                "2026-03-02T12:00:00+01:00",
                "2026-03-27T17:00:00+01:00",
            ),
            (
                "last friday, completion, completed early",
                &last_friday,
                Anchor::Completion,
                "2026-01-30T17:00:00+01:00",
                "2026-01-20T12:00:00+01:00",
                "2026-02-27T17:00:00+01:00",
            ),
            (
                "last friday, completion, completed the next week",
                &last_friday,
                Anchor::Completion,
                "2026-01-30T17:00:00+01:00",
                "2026-02-04T12:00:00+01:00",
                "2026-02-27T17:00:00+01:00",
            ),
            (
                "last friday, completion, on the day",
                &last_friday,
                Anchor::Completion,
                "2026-02-27T17:00:00+01:00",
                "2026-02-27T18:00:00+01:00",
                "2026-03-27T17:00:00+01:00",
            ),
            (
                "second tuesday, due date, completed late",
                &second_tuesday,
                Anchor::DueDate,
                "2026-01-13T10:00:00+01:00",
                "2026-02-11T09:00:00+01:00",
                "2026-03-10T10:00:00+01:00",
            ),
            (
                "second tuesday, completion, before this month's",
                &second_tuesday,
                Anchor::Completion,
                "2026-01-13T10:00:00+01:00",
                "2026-02-03T09:00:00+01:00",
                "2026-02-10T10:00:00+01:00",
            ),
            (
                "second tuesday, completion, after this month's",
                &second_tuesday,
                Anchor::Completion,
                "2026-01-13T10:00:00+01:00",
                "2026-02-12T09:00:00+01:00",
                "2026-03-10T10:00:00+01:00",
            ),
        ];
        for (case, rule, anchor, due_time, completed_at, expected) in cases {
            let next = next_occurrence(
                &recur(rule, anchor),
                &due(due_time, paris),
                utc(completed_at),
                0,
            );
            assert_eq!(next, Some(utc(expected)), "case: {case}");
        }
    }

    #[test]
    fn series_end_at_the_last_year_the_api_accepts() {
        let cases = [
            (
                "yearly in 9998",
                "FREQ=YEARLY",
                "9998-06-01T09:00:00Z",
                "UTC",
                Some("9999-06-01T09:00:00Z"),
            ),
            (
                "yearly in 9999",
                "FREQ=YEARLY",
                "9999-06-01T09:00:00Z",
                "UTC",
                None,
            ),
            (
                "daily on the last day",
                "FREQ=DAILY",
                "9999-12-31T09:00:00Z",
                "UTC",
                None,
            ),
            // 9999-12-31 20:00 in New York is in the year 10000 in UTC: not a valid due time.
            (
                "a local time past the last instant",
                "FREQ=DAILY",
                "9999-12-30T20:00:00-05:00",
                "America/New_York",
                None,
            ),
            (
                "a rule with no further date",
                "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;INTERVAL=400",
                "2100-02-28T09:00:00Z",
                "UTC",
                None,
            ),
        ];
        for (case, text, due_time, zone, expected) in cases {
            let next = next_occurrence(
                &recur(&rule(text), Anchor::DueDate),
                &due(due_time, zone),
                utc(due_time),
                0,
            );
            assert_eq!(next, expected.map(utc), "case: {case}");
        }
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
            let next = next_occurrence(
                &recur(&rule, Anchor::Completion),
                &due,
                utc(completed_at),
                0,
            );
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
            let next = next_occurrence(
                &recur(&rule(text), Anchor::DueDate),
                &start,
                start.time,
                index,
            );
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
                let next = next_occurrence(&recur(&rule, Anchor::DueDate), &previous, previous.time, index)
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
                    next_occurrence(&recur(&rule, Anchor::Completion), &previous, completed_at, index)
                        .unwrap();
                prop_assert!(next > completed_at, "{next} after completion at {completed_at}");
                prop_assert_ne!(next, previous.time);
                previous = Due { time: next, zone };
            }
        }
    }
}
