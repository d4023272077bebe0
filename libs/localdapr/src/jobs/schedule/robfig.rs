//! robfig/cron's field grammar (dapr/kit's fork, `parser.go`): bounds, names, ranges, steps and
//! the "unrestricted" (`*`/`?`) mark that decides how days of month and week combine.

use super::ScheduleError;

/// The values a field may take, and the names that stand for some of them.
pub(super) struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

pub(super) const SECONDS: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
pub(super) const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
pub(super) const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
pub(super) const DAYS_OF_MONTH: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
pub(super) const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
pub(super) const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// The values one field allows, and whether robfig counts it as unrestricted (`*` or `?`,
/// without a step above one).
pub(super) struct Field {
    pub(super) values: Vec<u32>,
    pub(super) is_star: bool,
}

/// Parses one field: a comma-separated list of ranges.
pub(super) fn parse_field(field: &str, bounds: &Bounds) -> Result<Field, ScheduleError> {
    let mut bits = 0u64;
    let mut is_star = false;
    // Go's strings.FieldsFunc: empty parts between commas are skipped.
    for expression in field.split(',').filter(|part| !part.is_empty()) {
        let (range_bits, range_is_star) = parse_range(expression, bounds)?;
        bits |= range_bits;
        is_star |= range_is_star;
    }
    let values: Vec<u32> = (bounds.min..=bounds.max)
        .filter(|value| bits & (1u64 << value) != 0)
        .collect();
    if values.is_empty() {
        return Err(ScheduleError(format!("field {field} matches no time")));
    }
    Ok(Field { values, is_star })
}

/// `number | number "-" number [ "/" number ]`, or `*`/`?` with an optional step.
fn parse_range(expression: &str, bounds: &Bounds) -> Result<(u64, bool), ScheduleError> {
    let fail = |message: String| Err(ScheduleError(message));
    let range_and_step: Vec<&str> = expression.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step
        .first()
        .copied()
        .unwrap_or_default()
        .split('-')
        .collect();
    let is_single = low_and_high.len() == 1;
    let first = low_and_high.first().copied().unwrap_or_default();
    let (start, mut end, mut is_star) = if first == "*" || first == "?" {
        (bounds.min, bounds.max, true)
    } else {
        let start = parse_int_or_name(first, bounds)?;
        match low_and_high.as_slice() {
            [_] => (start, start, false),
            [_, high] => (start, parse_int_or_name(high, bounds)?, false),
            _ => return fail(format!("too many hyphens: {expression}")),
        }
    };
    let step = match range_and_step.as_slice() {
        [_] => 1,
        [_, step] => {
            let step = parse_unsigned(step)?;
            // "N/step" means "N-max/step".
            if is_single {
                end = bounds.max;
            }
            if step > 1 {
                is_star = false;
            }
            step
        }
        _ => return fail(format!("too many slashes: {expression}")),
    };
    if start < bounds.min {
        return fail(format!(
            "beginning of range ({start}) below minimum ({}): {expression}",
            bounds.min
        ));
    }
    if end > bounds.max {
        return fail(format!(
            "end of range ({end}) above maximum ({}): {expression}",
            bounds.max
        ));
    }
    if start > end {
        return fail(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expression}"
        ));
    }
    if step == 0 {
        return fail(format!(
            "step of range should be a positive number: {expression}"
        ));
    }
    let step = usize::try_from(step).unwrap_or(usize::MAX);
    let bits = (start..=end)
        .step_by(step)
        .fold(0u64, |bits, value| bits | (1u64 << value));
    Ok((bits, is_star))
}

fn parse_int_or_name(text: &str, bounds: &Bounds) -> Result<u32, ScheduleError> {
    let lower = text.to_ascii_lowercase();
    match bounds.names.iter().find(|(name, _)| *name == lower) {
        Some((_, value)) => Ok(*value),
        None => parse_unsigned(text),
    }
}

/// Go's `strconv.Atoi`, refusing negatives as robfig does.
fn parse_unsigned(text: &str) -> Result<u32, ScheduleError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let number: Option<i64> = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten();
    match number {
        None => Err(ScheduleError(format!("failed to parse int from {text}"))),
        Some(negative) if negative < 0 => Err(ScheduleError(format!(
            "negative number ({negative}) not allowed: {text}"
        ))),
        // Anything this large is out of every field's bounds.
        Some(number) => Ok(u32::try_from(number).unwrap_or(u32::MAX)),
    }
}
