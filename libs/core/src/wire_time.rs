//! Conversions between the proto well-known time types and `chrono`.
//!
//! A `google.protobuf.Timestamp` is valid from 0001-01-01T00:00:00Z to
//! 9999-12-31T23:59:59.999999999Z with nanos in `0..1e9`; a `google.protobuf.Duration` has
//! seconds and nanos of the same sign. Anything else is rejected here, so no later arithmetic
//! can overflow.

use chrono::{DateTime, TimeDelta, Utc};
use prost_types::{Duration, Timestamp};

/// The earliest valid `Timestamp` second (0001-01-01T00:00:00Z).
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// The latest valid `Timestamp` second (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
const NANOS_PER_SECOND: i32 = 1_000_000_000;

/// Converts a wire timestamp, or returns `None` when it is out of the proto's range.
pub fn timestamp_to_utc(timestamp: &Timestamp) -> Option<DateTime<Utc>> {
    let seconds_in_range =
        (MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&timestamp.seconds);
    let nanos = u32::try_from(timestamp.nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000)?;
    if !seconds_in_range {
        return None;
    }
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

/// Converts an instant to a wire timestamp.
pub fn utc_to_timestamp(instant: DateTime<Utc>) -> Timestamp {
    // Sub-second nanos are below 1e9 (2e9 within a leap second), so they always fit an i32.
    let nanos = i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(NANOS_PER_SECOND - 1);
    Timestamp {
        seconds: instant.timestamp(),
        nanos,
    }
}

/// Converts a wire duration, or returns `None` when its parts disagree in sign or overflow.
pub fn duration_to_delta(duration: &Duration) -> Option<TimeDelta> {
    let nanos_in_range = duration.nanos.abs() < NANOS_PER_SECOND;
    let signs_agree = (duration.seconds >= 0 && duration.nanos >= 0)
        || (duration.seconds <= 0 && duration.nanos <= 0);
    if !nanos_in_range || !signs_agree {
        return None;
    }
    TimeDelta::try_seconds(duration.seconds)?
        .checked_add(&TimeDelta::nanoseconds(i64::from(duration.nanos)))
}

/// Converts a time delta to a wire duration.
pub fn delta_to_duration(delta: TimeDelta) -> Duration {
    let seconds = delta.num_seconds();
    let nanos = delta.subsec_nanos();
    Duration { seconds, nanos }
}

/// Compares two optional wire timestamps by instant, unset first.
pub(crate) fn timestamp_key(timestamp: Option<&Timestamp>) -> Option<(i64, i32)> {
    timestamp.map(|timestamp| (timestamp.seconds, timestamp.nanos))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn timestamps_outside_the_proto_range_are_rejected() {
        let cases = [
            (
                "epoch",
                Timestamp {
                    seconds: 0,
                    nanos: 0,
                },
                true,
            ),
            (
                "earliest",
                Timestamp {
                    seconds: MIN_TIMESTAMP_SECONDS,
                    nanos: 0,
                },
                true,
            ),
            (
                "latest",
                Timestamp {
                    seconds: MAX_TIMESTAMP_SECONDS,
                    nanos: 999_999_999,
                },
                true,
            ),
            (
                "before year 1",
                Timestamp {
                    seconds: MIN_TIMESTAMP_SECONDS - 1,
                    nanos: 0,
                },
                false,
            ),
            (
                "after year 9999",
                Timestamp {
                    seconds: MAX_TIMESTAMP_SECONDS + 1,
                    nanos: 0,
                },
                false,
            ),
            (
                "negative nanos",
                Timestamp {
                    seconds: 10,
                    nanos: -1,
                },
                false,
            ),
            (
                "a second of nanos",
                Timestamp {
                    seconds: 10,
                    nanos: 1_000_000_000,
                },
                false,
            ),
        ];
        for (case, timestamp, accepted) in cases {
            assert_eq!(
                timestamp_to_utc(&timestamp).is_some(),
                accepted,
                "case: {case}"
            );
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let instant =
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap() + TimeDelta::nanoseconds(5);
        assert_eq!(timestamp_to_utc(&utc_to_timestamp(instant)), Some(instant));
    }

    #[test]
    fn durations_need_parts_of_one_sign() {
        let cases = [
            (
                "positive",
                Duration {
                    seconds: 90,
                    nanos: 5,
                },
                Some(TimeDelta::nanoseconds(90_000_000_005)),
            ),
            (
                "negative",
                Duration {
                    seconds: -1,
                    nanos: -5,
                },
                Some(TimeDelta::nanoseconds(-1_000_000_005)),
            ),
            (
                "mixed signs",
                Duration {
                    seconds: 1,
                    nanos: -5,
                },
                None,
            ),
            (
                "too many nanos",
                Duration {
                    seconds: 0,
                    nanos: 1_000_000_000,
                },
                None,
            ),
            (
                "overflow",
                Duration {
                    seconds: i64::MAX,
                    nanos: 0,
                },
                None,
            ),
        ];
        for (case, duration, expected) in cases {
            assert_eq!(duration_to_delta(&duration), expected, "case: {case}");
        }
    }

    #[test]
    fn durations_round_trip() {
        for delta in [TimeDelta::hours(2), TimeDelta::nanoseconds(-1_500_000_000)] {
            assert_eq!(
                duration_to_delta(&delta_to_duration(delta)),
                Some(delta),
                "case: {delta}"
            );
        }
    }
}
