//! The update mask of `UpdateTask`: which fields an update may name.

use prost_types::FieldMask;

use crate::violation::{ValidationError, Violations, quoted};

/// A field an update may change, named in `update_mask` by its proto name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchField {
    /// `title`.
    Title,
    /// `description`.
    Description,
    /// `priority`.
    Priority,
    /// `tags`.
    Tags,
    /// `due_time`.
    DueTime,
    /// `time_zone`.
    TimeZone,
    /// `recurrence`.
    Recurrence,
    /// `reminder`.
    Reminder,
}

impl PatchField {
    /// Every updatable field.
    pub const ALL: [Self; 8] = [
        Self::Title,
        Self::Description,
        Self::Priority,
        Self::Tags,
        Self::DueTime,
        Self::TimeZone,
        Self::Recurrence,
        Self::Reminder,
    ];

    /// Returns the field's mask path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Description => "description",
            Self::Priority => "priority",
            Self::Tags => "tags",
            Self::DueTime => "due_time",
            Self::TimeZone => "time_zone",
            Self::Recurrence => "recurrence",
            Self::Reminder => "reminder",
        }
    }
}

/// Task fields that exist but only transitions change.
const IMMUTABLE_PATHS: [&str; 9] = [
    "id",
    "user_id",
    "status",
    "series_id",
    "occurrence_index",
    "version",
    "create_time",
    "update_time",
    "complete_time",
];

/// Reads an update mask: the fields it names, in order, without duplicates.
///
/// # Errors
/// A violation of `update_mask` when it is empty, and one per unknown or immutable path.
pub(crate) fn parse_mask(mask: Option<&FieldMask>) -> Result<Vec<PatchField>, ValidationError> {
    let paths = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Err(ValidationError::single(
            "update_mask",
            "update mask must name at least one field",
        ));
    }
    let mut violations = Violations::default();
    let mut fields = Vec::new();
    for path in paths {
        match PatchField::ALL
            .into_iter()
            .find(|field| field.path() == path)
        {
            Some(field) if !fields.contains(&field) => fields.push(field),
            Some(_) => {}
            None if IMMUTABLE_PATHS.contains(&path.as_str()) => {
                violations.push("update_mask", format!("field {path} cannot be updated"));
            }
            None => {
                let updatable = PatchField::ALL.map(PatchField::path).join(", ");
                violations.push(
                    "update_mask",
                    format!(
                        "unknown field {}; updatable fields are {updatable}",
                        quoted(path)
                    ),
                );
            }
        }
    }
    violations.into_result()?;
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_missing_mask_is_empty() {
        assert_eq!(parse_mask(None).unwrap_err().fields(), ["update_mask"]);
    }

    #[test]
    fn the_update_mask_names_only_updatable_fields() {
        /// Name, mask paths, and the fields read or the invalid fields.
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            Result<Vec<PatchField>, Vec<&'a str>>,
        );
        let cases: [Case; 6] = [
            ("one field", &["title"], Ok(vec![PatchField::Title])),
            (
                "duplicates collapse",
                &["tags", "priority", "tags"],
                Ok(vec![PatchField::Tags, PatchField::Priority]),
            ),
            ("empty", &[], Err(vec!["update_mask"])),
            ("unknown", &["colour"], Err(vec!["update_mask"])),
            (
                "immutable",
                &["version", "status", "id"],
                Err(vec!["update_mask", "update_mask", "update_mask"]),
            ),
            ("prefixed path", &["task.title"], Err(vec!["update_mask"])),
        ];
        for (case, paths, expected) in cases {
            let parsed = parse_mask(Some(&mask(paths)));
            match (parsed, expected) {
                (Ok(parsed), Ok(fields)) => assert_eq!(parsed, fields, "case: {case}"),
                (Err(error), Err(fields)) => assert_eq!(error.fields(), fields, "case: {case}"),
                (parsed, expected) => panic!("case: {case}: got {parsed:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn violations_name_immutable_and_unknown_paths() {
        let error = parse_mask(Some(&mask(&["version", "colour"]))).unwrap_err();
        let descriptions: Vec<&str> = error
            .violations
            .iter()
            .map(|violation| violation.description.as_str())
            .collect();
        assert_eq!(descriptions[0], "field version cannot be updated");
        assert!(
            descriptions[1]
                .starts_with("unknown field \"colour\"; updatable fields are title, description"),
            "{}",
            descriptions[1]
        );
    }
}
