//! Duration formats Dapr accepts: Go durations (`"1h30m"`, `"500ms"`) everywhere, and
//! non-repeating ISO-8601 durations (`"P1DT2H"`) for job due times and TTLs.

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
}
