//! `Priority`: how urgent a task is.

use todo_proto::todo::v1 as proto;

use crate::violation::FieldViolation;

/// A task's priority, from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// No particular priority (also what `PRIORITY_UNSPECIFIED` means).
    #[default]
    None,
    /// Low priority.
    Low,
    /// Medium priority.
    Medium,
    /// High priority.
    High,
    /// Urgent.
    Urgent,
}

impl Priority {
    /// Reads the wire value: `PRIORITY_UNSPECIFIED` is [`Priority::None`].
    ///
    /// # Errors
    /// A violation of `priority` for a number that is not a `Priority` value.
    pub fn from_proto(value: i32) -> Result<Self, FieldViolation> {
        match proto::Priority::try_from(value) {
            Ok(proto::Priority::Unspecified | proto::Priority::None) => Ok(Self::None),
            Ok(proto::Priority::Low) => Ok(Self::Low),
            Ok(proto::Priority::Medium) => Ok(Self::Medium),
            Ok(proto::Priority::High) => Ok(Self::High),
            Ok(proto::Priority::Urgent) => Ok(Self::Urgent),
            Err(_) => Err(FieldViolation::new(
                "priority",
                format!("priority {value} is not a known priority"),
            )),
        }
    }

    /// Returns the wire value; never `PRIORITY_UNSPECIFIED`.
    pub fn to_proto(self) -> proto::Priority {
        match self {
            Self::None => proto::Priority::None,
            Self::Low => proto::Priority::Low,
            Self::Medium => proto::Priority::Medium,
            Self::High => proto::Priority::High,
            Self::Urgent => proto::Priority::Urgent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_priorities_map_to_the_domain() {
        let cases = [
            ("unspecified", 0, Ok(Priority::None)),
            ("none", 1, Ok(Priority::None)),
            ("low", 2, Ok(Priority::Low)),
            ("medium", 3, Ok(Priority::Medium)),
            ("high", 4, Ok(Priority::High)),
            ("urgent", 5, Ok(Priority::Urgent)),
            ("unknown", 6, Err("priority")),
            ("negative", -1, Err("priority")),
        ];
        for (case, value, expected) in cases {
            let parsed = Priority::from_proto(value).map_err(|violation| violation.field);
            assert_eq!(parsed, expected.map_err(str::to_owned), "case: {case}");
        }
    }

    #[test]
    fn priorities_round_trip_through_the_wire() {
        for priority in [
            Priority::None,
            Priority::Low,
            Priority::Medium,
            Priority::High,
            Priority::Urgent,
        ] {
            assert_eq!(
                Priority::from_proto(priority.to_proto() as i32),
                Ok(priority),
                "case: {priority:?}"
            );
        }
    }
}
