//! Field violations: how every validation failure of a request is reported.
//!
//! A violation names the offending field by its proto field path (see the crate docs for the
//! list), so the gateway can turn it into a `google.rpc.BadRequest` detail and the frontend can
//! show the message next to the right input.

use std::fmt;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The proto field path, such as `title`, `tags[3]` or `recurrence.rrule`.
    pub field: String,
    /// What is wrong, in lower case and without a trailing period.
    pub description: String,
}

impl FieldViolation {
    /// Creates a violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.field, self.description)
    }
}

/// Every invalid field of one request, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {}", summary(.violations))]
pub struct ValidationError {
    /// The violations, in the order the fields were checked; never empty.
    pub violations: Vec<FieldViolation>,
}

impl ValidationError {
    /// Creates an error with a single violation of `field`.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            violations: vec![FieldViolation::new(field, description)],
        }
    }

    /// Returns the paths of the invalid fields.
    pub fn fields(&self) -> Vec<&str> {
        self.violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect()
    }
}

/// Services answer a `ValidationError` with `todo_proto::status::bad_request`.
impl todo_proto::status::InvalidFields for ValidationError {
    fn invalid_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.violations
            .iter()
            .map(|violation| (violation.field.as_str(), violation.description.as_str()))
    }
}

impl From<FieldViolation> for ValidationError {
    fn from(violation: FieldViolation) -> Self {
        Self {
            violations: vec![violation],
        }
    }
}

fn summary(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects the violations of a request while its fields are checked one by one.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Keeps the value of a successful check, or records its violation.
    pub(crate) fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        result.map_err(|violation| self.0.push(violation)).ok()
    }

    /// Keeps the value of a successful check, or records all its violations.
    pub(crate) fn check_all<T>(&mut self, result: Result<T, ValidationError>) -> Option<T> {
        result.map_err(|error| self.0.extend(error.violations)).ok()
    }

    /// Records one violation.
    pub(crate) fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records several violations.
    pub(crate) fn extend(&mut self, violations: impl IntoIterator<Item = FieldViolation>) {
        self.0.extend(violations);
    }

    /// Returns the collected violations as an error; only for paths where a check failed.
    pub(crate) fn into_error(self) -> ValidationError {
        debug_assert!(
            !self.0.is_empty(),
            "a check failed, so a violation was recorded"
        );
        ValidationError { violations: self.0 }
    }

    /// Succeeds when no violation was recorded.
    pub(crate) fn into_result(self) -> Result<(), ValidationError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { violations: self.0 })
        }
    }
}

/// Shortens client input quoted in a message, so a huge value cannot bloat an error.
pub(crate) fn quoted(input: &str) -> String {
    const MAX_QUOTED_CHARS: usize = 40;
    let mut shortened: String = input.chars().take(MAX_QUOTED_CHARS).collect();
    if input.chars().nth(MAX_QUOTED_CHARS).is_some() {
        shortened.push('…');
    }
    format!("{shortened:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_reported_together_in_check_order() {
        let mut violations = Violations::default();
        let title: Option<()> = violations.check(Err(FieldViolation::new("title", "bad title")));
        let kept = violations.check(Ok::<_, FieldViolation>(7));
        violations.push("tags[2]", "bad tag");
        let error = violations.into_result().unwrap_err();
        assert_eq!(title, None);
        assert_eq!(kept, Some(7));
        assert_eq!(error.fields(), ["title", "tags[2]"]);
        assert_eq!(
            error.to_string(),
            "invalid request: title: bad title; tags[2]: bad tag"
        );
    }

    #[test]
    fn no_violations_is_success() {
        assert_eq!(Violations::default().into_result(), Ok(()));
    }

    #[test]
    fn quoted_input_is_shortened() {
        let cases = [
            ("short", "abc", "\"abc\""),
            ("long", &"x".repeat(100), "\"xxxx"),
        ];
        for (case, input, prefix) in cases {
            let quoted = quoted(input);
            assert!(quoted.starts_with(prefix), "case: {case}: {quoted}");
            assert!(quoted.chars().count() <= 43, "case: {case}: {quoted}");
        }
    }
}
