//! `Tags`: a task's labels, normalised so that equal-looking tags are equal.

use crate::violation::{FieldViolation, ValidationError, Violations};

/// The most tags a task may have (after removing duplicates).
pub const MAX_TAGS: usize = 20;

/// The most characters (Unicode scalar values) one tag may have, after lower-casing.
pub const MAX_TAG_CHARS: usize = 32;

/// A task's tags: at most 20, each 1 to 32 characters without whitespace or control characters,
/// in lower case, without duplicates, in the order first given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Tags(Vec<String>);

impl Tags {
    /// Trims, lower-cases (Unicode-aware) and deduplicates tags, keeping the first of each.
    ///
    /// # Errors
    /// A violation of `tags[i]` for each bad tag (`i` is its index in the input), and of `tags`
    /// when more than [`MAX_TAGS`] distinct tags remain.
    pub fn parse<S: AsRef<str>>(
        tags: impl IntoIterator<Item = S>,
    ) -> Result<Self, ValidationError> {
        let mut violations = Violations::default();
        let mut normalised: Vec<String> = Vec::new();
        for (index, tag) in tags.into_iter().enumerate() {
            let Some(tag) = violations.check(parse_tag(format!("tags[{index}]"), tag.as_ref()))
            else {
                continue;
            };
            if !normalised.contains(&tag) {
                normalised.push(tag);
            }
        }
        if normalised.len() > MAX_TAGS {
            violations.push("tags", format!("a task may have at most {MAX_TAGS} tags"));
        }
        violations.into_result()?;
        Ok(Self(normalised))
    }

    /// Returns the tags.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Returns the tags as an owned vector.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Parses one tag (trimmed, lower-cased), reporting a violation of `field`.
pub(crate) fn parse_tag(field: String, input: &str) -> Result<String, FieldViolation> {
    let violation = |description: String| FieldViolation::new(field.clone(), description);
    let tag = input.trim().to_lowercase();
    if tag.is_empty() {
        return Err(violation("tag must not be empty".to_owned()));
    }
    if tag.chars().nth(MAX_TAG_CHARS).is_some() {
        return Err(violation(format!(
            "tag must be at most {MAX_TAG_CHARS} characters"
        )));
    }
    if tag
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return Err(violation(
            "tag must not contain whitespace or control characters".to_owned(),
        ));
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn tags_are_normalised_and_deduplicated_in_first_seen_order() {
        let cases: [(&str, &[&str], &[&str]); 5] = [
            ("none", &[], &[]),
            ("lower-cased", &["Work", "HOME"], &["work", "home"]),
            ("trimmed", &["  work "], &["work"]),
            (
                "duplicates after normalising",
                &["work", "Home", "WORK", "home"],
                &["work", "home"],
            ),
            ("unicode lower case", &["Ärger", "ÇA"], &["ärger", "ça"]),
        ];
        for (case, input, expected) in cases {
            let tags = Tags::parse(input).unwrap_or_else(|error| panic!("case: {case}: {error}"));
            assert_eq!(tags.as_slice(), expected, "case: {case}");
        }
    }

    #[test]
    fn each_bad_tag_is_reported_by_its_index() {
        let too_long = "x".repeat(MAX_TAG_CHARS + 1);
        let input = [
            "ok",
            "",
            "two words",
            too_long.as_str(),
            "tab\there",
            "bell\u{7}",
        ];
        let error = Tags::parse(input).unwrap_err();
        assert_eq!(
            error.fields(),
            ["tags[1]", "tags[2]", "tags[3]", "tags[4]", "tags[5]"]
        );
    }

    #[test]
    fn the_tag_limit_counts_distinct_tags() {
        let cases = [
            (
                "twenty",
                (0..MAX_TAGS).map(|n| format!("t{n}")).collect::<Vec<_>>(),
                true,
            ),
            (
                "twenty-one",
                (0..=MAX_TAGS).map(|n| format!("t{n}")).collect(),
                false,
            ),
            (
                "forty with duplicates",
                (0..MAX_TAGS * 2)
                    .map(|n| format!("T{}", n % MAX_TAGS))
                    .collect(),
                true,
            ),
        ];
        for (case, input, accepted) in cases {
            let parsed = Tags::parse(&input);
            assert_eq!(parsed.is_ok(), accepted, "case: {case}");
            if let Err(error) = parsed {
                assert_eq!(error.fields(), ["tags"], "case: {case}");
            }
        }
    }

    #[test]
    fn the_length_limit_applies_to_the_stored_lower_case_form() {
        let longest = "Ä".repeat(MAX_TAG_CHARS);
        assert_eq!(
            Tags::parse([longest.as_str()]).unwrap().as_slice(),
            ["ä".repeat(MAX_TAG_CHARS)]
        );
    }

    proptest! {
        #[test]
        fn parsing_tags_never_panics_and_keeps_the_invariants(
            input in prop::collection::vec("\\PC{0,40}", 0..30)
        ) {
            if let Ok(tags) = Tags::parse(&input) {
                prop_assert!(tags.as_slice().len() <= MAX_TAGS);
                for (index, tag) in tags.as_slice().iter().enumerate() {
                    prop_assert!((1..=MAX_TAG_CHARS).contains(&tag.chars().count()));
                    prop_assert_eq!(tag, &tag.to_lowercase());
                    prop_assert!(!tags.as_slice()[..index].contains(tag));
                }
            }
        }
    }
}
