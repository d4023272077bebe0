//! Fuzzes RRULE parsing (`Rrule::parse`, what `CreateTask` and `UpdateTask` read from
//! `recurrence.rrule`) and the series a parsed rule lays out (`next_occurrence`, what recurring
//! runs on each completion).
//!
//! Input: the RRULE text, optionally followed by `\n` and scenario bytes: byte 0 picks a time
//! zone, bytes 1 to 8 the first due time (any second of years 1 to 9999), byte 9 the anchor.
//!
//! Asserts, beyond "no panic":
//! - the canonical form (`Display`) parses back to the same rule, so it is a fixed point;
//! - a rule whose series has a next occurrence is one `CreateTask` accepts for that due time;
//! - following the series from its first due time, each next occurrence is strictly later than
//!   the one before and than its completion, stays in years 1 to 9999, and respects `COUNT` and
//!   `UNTIL` (an instant, or a local date in the task's zone).
#![no_main]

use chrono::{DateTime, Datelike, Utc};
use libfuzzer_sys::fuzz_target;
use todo_core::{
    Anchor, Recurrence, RecurrenceRule, Rrule, TimeZone,
    due::Due,
    next_occurrence,
    recurrence::{SeriesEnd, Until},
};

/// Zones with what breaks naive date arithmetic: daylight saving, a 30-minute shift
/// (Lord Howe), a skipped day (Apia, 2011-12-30) and a quarter-hour offset (Kathmandu).
const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Kathmandu",
];
/// Occurrences followed per input: enough to cross a month end or a daylight-saving change,
/// few enough to keep each run fast.
const STEPS: u32 = 8;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the due times the wire accepts.
const FIRST_SECOND: i64 = -62_135_596_800;
const LAST_SECOND: i64 = 253_402_300_799;
/// The due time when the input gives none: the Saturday before Paris springs forward.
const DEFAULT_DUE_SECOND: i64 = 1_774_688_400; // 2026-03-28T09:00:00Z

fuzz_target!(|input: &[u8]| {
    let (rule_bytes, scenario) = match input.iter().position(|byte| *byte == b'\n') {
        Some(end) => input.split_at(end),
        None => (input, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(rule_bytes) else {
        return;
    };
    let Ok(rule) = Rrule::parse(text) else {
        return;
    };
    let canonical = rule.to_string();
    assert_eq!(
        Rrule::parse(&canonical).as_ref(),
        Ok(&rule),
        "the canonical form {canonical:?} of {text:?} reads back as the same rule"
    );
    follow_series(rule, scenario.get(1..).unwrap_or_default());
});

/// Completes each occurrence when it is due, [`STEPS`] times, and checks every next one.
fn follow_series(rule: Rrule, scenario: &[u8]) {
    let zone_index = scenario
        .first()
        .map_or(1, |byte| usize::from(*byte) % ZONES.len());
    let zone = TimeZone::parse(ZONES[zone_index]).expect("the zones above exist");
    let first_due = scenario
        .get(1..9)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map_or(DEFAULT_DUE_SECOND, |bytes| {
            let span = u64::try_from(LAST_SECOND - FIRST_SECOND).expect("positive span");
            let offset = u64::from_be_bytes(bytes) % (span + 1);
            FIRST_SECOND + i64::try_from(offset).expect("offset below the span")
        });
    let anchor = match scenario.get(9) {
        Some(byte) if byte % 2 == 1 => Anchor::Completion,
        _ => Anchor::DueDate,
    };
    let end = rule.end();
    let recurrence = Recurrence {
        rule: RecurrenceRule::Rrule(rule),
        anchor,
        time_of_day: None,
    };
    let mut due = Due {
        time: DateTime::from_timestamp(first_due, 0).expect("within years 1 to 9999"),
        zone,
    };
    // What CreateTask checks: that the rule occurs after the due time (COUNT and UNTIL aside).
    let is_accepted = recurrence.check_against(&due).is_ok();
    for index in 0..STEPS {
        let completed_at = due.time;
        let Some(next) = next_occurrence(&recurrence, &due, completed_at, index) else {
            return;
        };
        if index == 0 && anchor == Anchor::DueDate {
            assert!(
                is_accepted,
                "a rule with a next occurrence ({next}) is accepted"
            );
        }
        check_next(next, &due, end, index);
        due = Due { time: next, zone };
    }
}

fn check_next(next: DateTime<Utc>, due: &Due, end: Option<SeriesEnd>, index: u32) {
    assert!(
        next > due.time,
        "occurrence {} ({next}) is after occurrence {index} ({})",
        index + 1,
        due.time
    );
    assert!(
        (1..=9999).contains(&next.year()),
        "{next} is a wire due time"
    );
    match end {
        None => {}
        Some(SeriesEnd::Count(count)) => {
            assert!(
                index + 1 < count,
                "occurrence {} of COUNT={count}",
                index + 1
            );
        }
        Some(SeriesEnd::Until(Until::Instant(last))) => {
            assert!(next <= last, "{next} is not after UNTIL={last}");
        }
        Some(SeriesEnd::Until(Until::Date(last))) => {
            let local = due.zone.local_time(next).date();
            assert!(local <= last, "{local} is not after UNTIL={last}");
        }
    }
}
