//! `TaskDescription`: a task's free-form notes.

use std::fmt;

use crate::violation::FieldViolation;

/// The most characters (Unicode scalar values) a description may have.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;

/// A task description: at most 4,000 characters, kept as written (not trimmed); line breaks and
/// tabs are allowed, other control characters are not. It may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TaskDescription(String);

impl TaskDescription {
    /// Checks a description.
    ///
    /// # Errors
    /// A violation of `description` when it is too long or holds a control character other
    /// than `\n`, `\r` or `\t`.
    pub fn parse(input: &str) -> Result<Self, FieldViolation> {
        if input.chars().nth(MAX_DESCRIPTION_CHARS).is_some() {
            let description =
                format!("description must be at most {MAX_DESCRIPTION_CHARS} characters");
            return Err(FieldViolation::new("description", description));
        }
        let is_forbidden =
            |character: char| character.is_control() && !matches!(character, '\n' | '\r' | '\t');
        if input.chars().any(is_forbidden) {
            let description =
                "description must not contain control characters other than line breaks and tabs";
            return Err(FieldViolation::new("description", description));
        }
        Ok(Self(input.to_owned()))
    }

    /// Returns the description.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the description as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TaskDescription {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn descriptions_allow_line_breaks_and_tabs_only() {
        let longest = "ü".repeat(MAX_DESCRIPTION_CHARS);
        let over_limit = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
        let cases = [
            ("empty", "", true),
            ("lines and tabs", "milk\r\n\teggs\n", true),
            ("kept untrimmed", "  spaced  ", true),
            ("longest in multibyte characters", longest.as_str(), true),
            ("one over limit", over_limit.as_str(), false),
            ("nul", "a\0b", false),
            ("bell", "a\u{7}b", false),
            ("c1 control", "a\u{85}b", false),
        ];
        for (case, input, accepted) in cases {
            let parsed = TaskDescription::parse(input);
            assert_eq!(parsed.is_ok(), accepted, "case: {case}");
            match parsed {
                Ok(description) => assert_eq!(description.as_str(), input, "case: {case}"),
                Err(violation) => assert_eq!(violation.field, "description", "case: {case}"),
            }
        }
    }

    proptest! {
        #[test]
        fn parsing_a_description_never_panics(input in "\\PC{0,100}|[\\x00-\\x1f]{0,5}") {
            if let Ok(description) = TaskDescription::parse(&input) {
                prop_assert_eq!(description.as_str(), input.as_str());
            }
        }
    }
}
