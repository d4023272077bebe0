//! Statuses every service builds the same way, as quickwit-proto keeps its error mapping beside
//! the protos: an `InvalidArgument` carries a `google.rpc.BadRequest` with one field violation
//! per problem, so clients (the frontend) can show each message next to its field.
//!
//! A service maps its validation errors with [`bad_request`]: `todo-core`'s `ValidationError`
//! implements [`InvalidFields`]. (The other shared mapping, of a failed sidecar call to
//! `Unavailable` or `Internal`, knows the Dapr wire and lives in `dapr-kit`.)

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A validation failure that names each invalid field of a request.
pub trait InvalidFields {
    /// Each invalid field as a `(field path, description)` pair, in the order they were checked.
    fn invalid_fields(&self) -> impl Iterator<Item = (&str, &str)>;
}

/// The one answer to a request that breaks a rule: [`invalid_argument`] with every field
/// `error` names.
pub fn bad_request(error: &impl InvalidFields) -> Status {
    invalid_argument(error.invalid_fields())
}

/// An `InvalidArgument` status with a `google.rpc.BadRequest` listing `violations` as
/// `(field path, description)` pairs; the message joins them for people reading logs.
pub fn invalid_argument<'a>(violations: impl IntoIterator<Item = (&'a str, &'a str)>) -> Status {
    let violations: Vec<(&str, &str)> = violations.into_iter().collect();
    let message = violations
        .iter()
        .map(|(field, description)| format!("{field}: {description}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut details = ErrorDetails::new();
    for (field, description) in &violations {
        details.add_bad_request_violation(*field, *description);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The `(field path, description)` pairs of a status built by [`invalid_argument`].
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TwoFields;

    impl InvalidFields for TwoFields {
        fn invalid_fields(&self) -> impl Iterator<Item = (&str, &str)> {
            [("title", "must not be blank"), ("due.date", "not a date")].into_iter()
        }
    }

    #[test]
    fn a_bad_request_lists_every_invalid_field_in_order() {
        let status = bad_request(&TwoFields);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            field_violations(&status),
            [
                ("title".to_string(), "must not be blank".to_string()),
                ("due.date".into(), "not a date".into())
            ]
        );
    }

    #[test]
    fn violations_travel_as_bad_request_details() {
        let status = invalid_argument([("title", "must not be blank"), ("tags[2]", "too long")]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "title: must not be blank; tags[2]: too long"
        );
        assert_eq!(
            field_violations(&status),
            [
                ("title".to_string(), "must not be blank".to_string()),
                ("tags[2]".into(), "too long".into())
            ]
        );
    }
}
