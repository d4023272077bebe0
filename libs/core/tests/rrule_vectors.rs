//! todo-core's recurrence against python-dateutil's `rrule`, on the vectors that
//! `scripts/rrule-vectors.py` generated into `tests/data/rrule-vectors.json` (no Python needed
//! here).
//!
//! Each case is followed as a task series: the first task is due at the start (resolved in the
//! zone), each occurrence is completed when it is due, and [`next_occurrence`] gives the next.
//! Its due times must be dateutil's occurrences after the start, except in the named cases of
//! [`KNOWN_DIFFERENCES`], whose difference must be exactly the documented one (see the README's
//! "Recurrence" section):
//!
//! - [`Difference::GapEnd`]: an occurrence whose wall-clock time does not exist (a DST gap) is due
//!   at the end of the gap (02:30 → 03:00), where dateutil, the `rrule` crate and RFC 5545
//!   §3.3.5 read it with the offset before the gap (02:30 → 03:30). The wall-clock time of later
//!   occurrences is the same in both.
//! - [`Difference::StartCounts`]: with `COUNT`, the first task counts as the first occurrence even
//!   when the start does not match the rule (RFC 5545: "The DTSTART property value always counts
//!   as the first occurrence"); dateutil counts only matching dates, so its series has one more.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use serde::Deserialize;
use todo_core::{Anchor, Recurrence, RecurrenceRule, Rrule, TimeZone, due::Due, next_occurrence};

/// Why todo-core's series differs from dateutil's on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    /// Occurrences inside a DST gap are due at the gap's end, not with the offset before it.
    GapEnd,
    /// A start that does not match the rule still counts towards `COUNT`.
    StartCounts,
}

/// The cases whose series differ from dateutil's, and why.
const KNOWN_DIFFERENCES: &[(&str, Difference)] = &[
    (
        "FREQ=DAILY @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;BYDAY=SA,SU @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;BYDAY=SA,SU @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;BYDAY=SA,SU @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;COUNT=5 @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;COUNT=5 @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;COUNT=5 @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;UNTIL=20260309T073000Z @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;UNTIL=20260330T013000Z @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=DAILY;UNTIL=20261004T163000Z @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=-1SU @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=-1SU @ Europe/Berlin 2026-10-22T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=-1SU @ Europe/Berlin 2026-10-25T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=-1SU;UNTIL=20261012T013000Z @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=-1SU;UNTIL=20270510T003000Z @ Europe/Berlin 2026-10-22T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=-1SU;UNTIL=20270513T003000Z @ Europe/Berlin 2026-10-25T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=1SU @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=2SU,-1SU @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=2SU,-1SU @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=2 @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ America/New_York 2026-03-05T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ America/New_York 2026-03-08T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ America/New_York 2026-10-29T01:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ America/New_York 2026-11-01T01:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Asia/Kolkata 2026-01-31T09:00",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Australia/Sydney 2026-04-02T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Australia/Sydney 2026-04-05T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Australia/Sydney 2026-10-01T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Australia/Sydney 2026-10-04T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Europe/Berlin 2026-03-26T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Europe/Berlin 2026-03-29T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Europe/Berlin 2026-10-22T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ Europe/Berlin 2026-10-25T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ UTC 2024-02-29T18:45",
        Difference::StartCounts,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4 @ UTC 2026-01-31T09:00",
        Difference::StartCounts,
    ),
    (
        "FREQ=WEEKLY;BYDAY=SU @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;BYDAY=SU @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;BYDAY=SU @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;BYDAY=TU,SU;UNTIL=20260325T073000Z @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;BYDAY=TU,SU;UNTIL=20260415T013000Z @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;BYDAY=TU,SU;UNTIL=20261020T163000Z @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=MO @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=MO @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=MO @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ America/New_York 2026-01-30T09:00",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ America/New_York 2026-03-05T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ America/New_York 2026-03-08T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ America/New_York 2026-10-29T01:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ America/New_York 2026-11-01T01:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Asia/Kolkata 2026-01-31T09:00",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Australia/Sydney 2026-01-30T09:00",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Australia/Sydney 2026-04-02T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Australia/Sydney 2026-04-05T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Australia/Sydney 2026-10-01T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Australia/Sydney 2026-10-04T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Europe/Berlin 2026-01-30T09:00",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Europe/Berlin 2026-03-26T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Europe/Berlin 2026-03-29T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Europe/Berlin 2026-10-22T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ Europe/Berlin 2026-10-25T02:30",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3 @ UTC 2026-01-31T09:00",
        Difference::StartCounts,
    ),
    (
        "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU @ Europe/Berlin 2026-03-26T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU @ Europe/Berlin 2026-03-29T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU @ Europe/Berlin 2026-10-22T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU @ Europe/Berlin 2026-10-25T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU @ America/New_York 2026-03-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU @ America/New_York 2026-03-08T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=4,10;BYDAY=1SU @ Australia/Sydney 2026-04-02T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=4,10;BYDAY=1SU @ Australia/Sydney 2026-04-05T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=4,10;BYDAY=1SU @ Australia/Sydney 2026-10-01T02:30",
        Difference::GapEnd,
    ),
    (
        "FREQ=YEARLY;BYMONTH=4,10;BYDAY=1SU @ Australia/Sydney 2026-10-04T02:30",
        Difference::GapEnd,
    ),
];

#[derive(Deserialize)]
struct Vectors {
    dateutil: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    rule: String,
    zone: String,
    start: NaiveDateTime,
    start_is_occurrence: bool,
    wall: Vec<NaiveDateTime>,
    local: Vec<NaiveDateTime>,
    utc: Vec<DateTime<Utc>>,
}

/// Follows the series of `case` for up to `steps` occurrences after its start.
fn follow(case: &Case, zone: TimeZone, steps: usize) -> Result<Vec<DateTime<Utc>>, String> {
    let rule = Rrule::parse(&case.rule).map_err(|error| format!("refused: {error}"))?;
    let recurrence = Recurrence {
        rule: RecurrenceRule::Rrule(rule),
        anchor: Anchor::DueDate,
        time_of_day: Some(case.start.time()),
    };
    let first = zone
        .resolve_local(case.start)
        .ok_or("start does not resolve")?;
    let mut due = Due { time: first, zone };
    recurrence
        .check_against(&due)
        .map_err(|violation| format!("refused: {}", violation.description))?;
    let mut series = Vec::new();
    for index in 0..u32::try_from(steps).map_err(|error| error.to_string())? {
        let Some(next) = next_occurrence(&recurrence, &due, due.time, index) else {
            break;
        };
        series.push(next);
        due = Due { time: next, zone };
    }
    Ok(series)
}

/// Tells whether `ours` differs from `expected` exactly as `difference` says.
fn differs_as(
    difference: Difference,
    case: &Case,
    zone: TimeZone,
    ours: &[DateTime<Utc>],
    expected: &[DateTime<Utc>],
    expected_walls: &[NaiveDateTime],
) -> bool {
    match difference {
        Difference::GapEnd => {
            ours.len() == expected.len()
                && ours
                    .iter()
                    .zip(expected)
                    .zip(expected_walls)
                    .all(|((ours, theirs), wall)| {
                        let in_gap = zone.tz().from_local_datetime(wall).single().is_none()
                            && zone.tz().from_local_datetime(wall).earliest().is_none();
                        if in_gap {
                            Some(*ours) == zone.resolve_local(*wall) && ours != theirs
                        } else {
                            ours == theirs
                        }
                    })
        }
        Difference::StartCounts => {
            !case.start_is_occurrence
                && case.rule.contains("COUNT=")
                && ours.len() + 1 == expected.len()
                && expected.starts_with(ours)
        }
    }
}

#[test]
fn dateutil_vectors_match_or_differ_as_documented() {
    let text = include_str!("data/rrule-vectors.json");
    let vectors: Vectors = serde_json::from_str(text).expect("the vectors parse");
    assert_eq!(vectors.dateutil, "2.9.0.post0");
    assert!(vectors.cases.len() >= 300, "{} cases", vectors.cases.len());
    let known: BTreeMap<&str, Difference> = KNOWN_DIFFERENCES.iter().copied().collect();
    let mut failures = Vec::new();
    let mut differing = BTreeMap::new();
    for case in &vectors.cases {
        assert_eq!(case.local.len(), case.utc.len(), "{}", case.name);
        let zone = TimeZone::parse(&case.zone).expect("a known zone");
        for (local, utc) in case.local.iter().zip(&case.utc) {
            assert_eq!(
                zone.local_time(*utc),
                *local,
                "tz data agree: {}",
                case.name
            );
        }
        // dateutil lists the start itself when it matches; the series' first task is the start.
        let skip = usize::from(case.start_is_occurrence);
        let expected = case.utc.get(skip..).unwrap_or_default();
        let expected_walls = case.wall.get(skip..).unwrap_or_default();
        let ours = match follow(case, zone, expected.len()) {
            Ok(ours) => ours,
            Err(error) => {
                failures.push(format!("{}: {error}", case.name));
                continue;
            }
        };
        if ours == expected {
            if let Some(difference) = known.get(case.name.as_str()) {
                failures.push(format!(
                    "{}: listed as {difference:?} but agrees",
                    case.name
                ));
            }
            continue;
        }
        match known.get(case.name.as_str()) {
            Some(difference)
                if differs_as(*difference, case, zone, &ours, expected, expected_walls) => {}
            Some(difference) => failures.push(format!(
                "{}: differs, but not as {difference:?}: ours {ours:?}, dateutil {expected:?}",
                case.name
            )),
            None => {
                let guess = [Difference::GapEnd, Difference::StartCounts]
                    .into_iter()
                    .find(|difference| {
                        differs_as(*difference, case, zone, &ours, expected, expected_walls)
                    });
                differing.insert(case.name.clone(), guess);
                failures.push(format!(
                    "{}: ours {ours:?}, dateutil {expected:?} ({guess:?})",
                    case.name
                ));
            }
        }
    }
    if !differing.is_empty() {
        eprintln!("unlisted differences, as KNOWN_DIFFERENCES entries:");
        for (name, guess) in &differing {
            eprintln!("    ({name:?}, Difference::{guess:?}),");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
