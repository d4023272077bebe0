//! `TaskTitle`: a task's title, trimmed and checked.

use std::fmt;

use crate::violation::FieldViolation;

/// The most characters (Unicode scalar values) a title may have after trimming.
pub const MAX_TITLE_CHARS: usize = 200;

/// A task title: 1 to 200 characters after trimming, with no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskTitle(String);

impl TaskTitle {
    /// Trims and checks a title.
    ///
    /// # Errors
    /// A violation of `title` when it is blank, too long or holds a control character.
    pub fn parse(input: &str) -> Result<Self, FieldViolation> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(FieldViolation::new("title", "title must not be empty"));
        }
        if trimmed.chars().nth(MAX_TITLE_CHARS).is_some() {
            let description = format!("title must be at most {MAX_TITLE_CHARS} characters");
            return Err(FieldViolation::new("title", description));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                "title",
                "title must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Returns the title.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the title as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TaskTitle {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn titles_are_trimmed_and_checked() {
        let longest = "é".repeat(MAX_TITLE_CHARS);
        let over_limit = "x".repeat(MAX_TITLE_CHARS + 1);
        let padded_longest = format!("  {longest}  ");
        let cases = [
            ("empty", "", None),
            ("blank", " \t\n", None),
            ("ordinary", "buy milk", Some("buy milk")),
            ("padded", "  buy milk \n", Some("buy milk")),
            (
                "longest in multibyte characters",
                longest.as_str(),
                Some(longest.as_str()),
            ),
            (
                "padding does not count",
                padded_longest.as_str(),
                Some(longest.as_str()),
            ),
            ("one over limit", over_limit.as_str(), None),
            ("inner newline", "buy\nmilk", None),
            ("escape character", "buy \u{1b}[31m milk", None),
            ("emoji", "water 🌱", Some("water 🌱")),
        ];
        for (case, input, expected) in cases {
            let parsed = TaskTitle::parse(input);
            assert_eq!(
                parsed.as_ref().ok().map(TaskTitle::as_str),
                expected,
                "case: {case}"
            );
            if let Err(violation) = parsed {
                assert_eq!(violation.field, "title", "case: {case}");
            }
        }
    }

    #[test]
    fn title_violations_say_what_is_wrong() {
        let cases = [
            ("blank", " ", "title must not be empty"),
            (
                "control",
                "a\u{7}b",
                "title must not contain control characters",
            ),
        ];
        for (case, input, description) in cases {
            assert_eq!(
                TaskTitle::parse(input).unwrap_err().description,
                description,
                "case: {case}"
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_a_title_never_panics_and_accepts_only_valid_titles(
            input in "\\PC{0,220}|[ \\t\\x00-\\x1f]{0,5}"
        ) {
            if let Ok(title) = TaskTitle::parse(&input) {
                let chars = title.as_str().chars().count();
                prop_assert!((1..=MAX_TITLE_CHARS).contains(&chars));
                prop_assert_eq!(title.as_str(), title.as_str().trim());
                prop_assert!(!title.as_str().chars().any(char::is_control));
            }
        }
    }
}
