//! Duration formats Dapr accepts: Go durations (`"1h30m"`, `"500ms"`) everywhere, and
//! ISO-8601 durations (`"P1DT2H"`, read as dapr/kit's `ParseISO8601Duration` reads them) for job
//! due times and TTLs.

use std::time::Duration;

/// A duration that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {value:?}: {reason}")]
pub struct DurationError {
    /// The input.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a Go duration: a sequence of decimal numbers with units `ns`, `us`/`µs`, `ms`, `s`,
/// `m`, `h`, such as `"300ms"`, `"1.5h"` or `"2h45m"`. `"0"` is zero; negatives are refused.
///
/// # Errors
/// When the text is not a Go duration.
pub fn parse_go_duration(value: &str) -> Result<Duration, DurationError> {
    let error = |reason| DurationError {
        value: value.to_string(),
        reason,
    };
    let text = value.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(error("empty"));
    }
    if text.starts_with('-') {
        return Err(error("negative durations are not allowed"));
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(error("expected a number"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| error("bad number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(error("missing unit")),
            _ => return Err(error("unknown unit")),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| error("out of range"))
}

/// An ISO-8601 duration as dapr/kit reads it: calendar parts kept apart (a month is not a fixed
/// number of seconds) and an optional `R<n>/` repetition prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iso8601Duration {
    /// The `Y` part.
    pub years: i64,
    /// The `M` part before `T`.
    pub months: i64,
    /// The `D` part plus seven days per `W`.
    pub days: i64,
    /// The `H`, `M` and `S` parts after `T`, in seconds.
    pub seconds: i64,
    /// The `R<n>/` prefix, if any.
    pub repetitions: Option<i64>,
}

/// Parses an ISO-8601 duration such as `"P1Y2M3DT4H5M6S"`, `"P2W"` or `"R3/PT10S"`, with
/// dapr/kit's rules: integer parts only, `M` means months before `T` and minutes after it, and
/// digits after the last designator are ignored.
///
/// # Errors
/// When the text is not such a duration.
pub fn parse_iso8601_duration(value: &str) -> Result<Iso8601Duration, DurationError> {
    let error = |reason| DurationError {
        value: value.to_string(),
        reason,
    };
    let bytes = value.as_bytes();
    if bytes.len() < 2 {
        return Err(error("an ISO-8601 duration has at least two characters"));
    }
    let mut parsed = Iso8601Duration::default();
    let mut index = 0;
    if bytes.first() == Some(&b'R') {
        let slash = value.find('/').unwrap_or(value.len());
        let count = value
            .get(1..slash)
            .filter(|count| !count.is_empty())
            .ok_or_else(|| error("a repetition needs a count"))?;
        parsed.repetitions =
            Some(parse_go_int(count).ok_or_else(|| error("bad repetition count"))?);
        index = slash + 1;
        if index >= bytes.len() {
            return Ok(parsed);
        }
    }
    if bytes.get(index) != Some(&b'P') {
        return Err(error("an ISO-8601 duration starts with P"));
    }
    index += 1;
    let mut start = index;
    let mut is_time = false;
    while let Some(&designator) = bytes.get(index) {
        let number = || {
            value
                .get(start..index)
                .filter(|number| !number.is_empty())
                .and_then(parse_go_int)
                .ok_or_else(|| error("each designator needs an integer before it"))
        };
        let add = |total: i64, amount: i64, unit: i64| {
            amount
                .checked_mul(unit)
                .and_then(|amount| total.checked_add(amount))
                .ok_or_else(|| error("out of range"))
        };
        match designator {
            b'T' if start != index => return Err(error("T must follow a designator")),
            b'T' => is_time = true,
            b'Y' if !is_time => parsed.years = number()?,
            b'W' if !is_time => parsed.days = add(parsed.days, number()?, 7)?,
            b'D' if !is_time => parsed.days = add(parsed.days, number()?, 1)?,
            b'M' if !is_time => parsed.months = number()?,
            b'H' if is_time => parsed.seconds = add(parsed.seconds, number()?, 3600)?,
            b'M' if is_time => parsed.seconds = add(parsed.seconds, number()?, 60)?,
            b'S' if is_time => parsed.seconds = add(parsed.seconds, number()?, 1)?,
            b'Y' | b'W' | b'D' | b'H' | b'S' => {
                return Err(error("designator on the wrong side of T"));
            }
            _ => {
                index += 1;
                continue;
            }
        }
        index += 1;
        start = index;
    }
    Ok(parsed)
}

/// Reads an integer as Go's `strconv.Atoi` does (an optional sign, then ASCII digits).
fn parse_go_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        let cases = [
            ("0", Some(Duration::ZERO)),
            ("300ms", Some(Duration::from_millis(300))),
            ("1.5h", Some(Duration::from_secs(5400))),
            ("2h45m", Some(Duration::from_secs(9900))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("10us", Some(Duration::from_micros(10))),
            ("5", None),
            ("", None),
            ("-1s", None),
            ("1d", None),
            ("s", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_go_duration(input).ok(), expected, "case {input:?}");
        }
    }

    #[test]
    fn iso8601_durations_parse_like_dapr_kit() {
        let duration = |years, months, days, seconds, repetitions| {
            Some(Iso8601Duration {
                years,
                months,
                days,
                seconds,
                repetitions,
            })
        };
        let cases = [
            (
                "P1Y2M3DT4H5M6S",
                duration(1, 2, 3, 4 * 3600 + 5 * 60 + 6, None),
            ),
            ("P2W", duration(0, 0, 14, 0, None)),
            ("PT90S", duration(0, 0, 0, 90, None)),
            ("P1DT2H", duration(0, 0, 1, 7200, None)),
            ("PT1M", duration(0, 0, 0, 60, None)),
            ("R3/PT10S", duration(0, 0, 0, 10, Some(3))),
            ("R5", duration(0, 0, 0, 0, Some(5))),
            ("P1D5", duration(0, 0, 1, 0, None)),
            ("P", None),
            ("1D", None),
            ("PT1D", None),
            ("P1H", None),
            ("P1.5D", None),
            ("PD", None),
            ("P1DT", duration(0, 0, 1, 0, None)),
            ("PT1HT", duration(0, 0, 0, 3600, None)),
            ("R/PT1S", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_iso8601_duration(input).ok(),
                expected,
                "case {input:?}"
            );
        }
    }
}
