//! Deadlines of forwarded calls: the client's `grpc-timeout` (gRPC and gRPC-web clients both
//! send it) becomes the forwarded call's timeout, capped so a client cannot hold a call to a
//! service open for longer than the gateway allows.

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// The metadata key of a call's deadline.
const GRPC_TIMEOUT: &str = "grpc-timeout";
/// The longest value the gRPC spec allows in `grpc-timeout`.
const MAX_TIMEOUT_DIGITS: usize = 8;

/// The client's deadline, if it sent a well-formed one
/// (`<1 to 8 digits><H|M|S|m|u|n>`, gRPC over HTTP/2, "Requests").
pub fn client_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at_checked(split)?;
    if digits.is_empty()
        || digits.len() > MAX_TIMEOUT_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    match unit {
        "H" => Some(Duration::from_secs(amount * 3600)),
        "M" => Some(Duration::from_secs(amount * 60)),
        "S" => Some(Duration::from_secs(amount)),
        "m" => Some(Duration::from_millis(amount)),
        "u" => Some(Duration::from_micros(amount)),
        "n" => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

/// The deadline of a forwarded unary call: the client's, but never above `cap`, and `cap`
/// when the client set none.
pub fn unary_deadline(metadata: &MetadataMap, cap: Duration) -> Duration {
    client_timeout(metadata).map_or(cap, |timeout| timeout.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_timeout(value: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert(GRPC_TIMEOUT, value.parse().unwrap());
        metadata
    }

    #[test]
    fn grpc_timeouts_parse_by_the_spec() {
        let cases = [
            ("seconds", "5S", Some(Duration::from_secs(5))),
            ("hours", "1H", Some(Duration::from_secs(3600))),
            ("minutes", "2M", Some(Duration::from_secs(120))),
            ("milliseconds", "250m", Some(Duration::from_millis(250))),
            (
                "microseconds",
                "99999999u",
                Some(Duration::from_micros(99_999_999)),
            ),
            ("nanoseconds", "1n", Some(Duration::from_nanos(1))),
            ("nine digits", "123456789m", None),
            ("no unit", "100", None),
            ("no digits", "S", None),
            ("unknown unit", "5s", None),
            ("negative", "-5S", None),
            ("empty", "", None),
        ];
        for (case, value, expected) in cases {
            assert_eq!(
                client_timeout(&with_timeout(value)),
                expected,
                "case: {case}"
            );
        }
        assert_eq!(client_timeout(&MetadataMap::new()), None);
    }

    #[test]
    fn unary_deadlines_are_capped_and_default_to_the_cap() {
        let cap = Duration::from_secs(30);
        assert_eq!(
            unary_deadline(&with_timeout("2S"), cap),
            Duration::from_secs(2)
        );
        assert_eq!(unary_deadline(&with_timeout("1H"), cap), cap);
        assert_eq!(unary_deadline(&MetadataMap::new(), cap), cap);
    }
}
