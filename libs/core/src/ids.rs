//! Typed identifiers, parsed at the edge.
//!
//! `UserId`, `TaskId`, `SeriesId` and `EventId` are UUIDs in the hyphenated form
//! (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, either case on input, lower case on output).
//! `RequestId` is the client-chosen idempotency key of `CreateTask`.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is not a hyphenated UUID.
    #[error("{kind} must be a UUID such as 0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d")]
    NotAUuid {
        /// Which kind of id was expected, such as "task id".
        kind: &'static str,
    },
    /// The request id is empty.
    #[error("request id must not be empty")]
    EmptyRequestId,
    /// The request id is longer than [`RequestId::MAX_CHARS`].
    #[error("request id must be at most {} characters", RequestId::MAX_CHARS)]
    RequestIdTooLong,
    /// The request id holds whitespace, a control character or a non-ASCII character.
    #[error("request id must be printable ASCII without whitespace")]
    RequestIdNotPrintable,
}

fn parse_hyphenated(input: &str, kind: &'static str) -> Result<Uuid, IdError> {
    const HYPHENATED_LEN: usize = 36;
    if input.len() != HYPHENATED_LEN {
        return Err(IdError::NotAUuid { kind });
    }
    Uuid::try_parse(input).map_err(|_| IdError::NotAUuid { kind })
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// Parses the hyphenated UUID form.
            ///
            /// # Errors
            /// [`IdError::NotAUuid`] for anything else.
            pub fn parse(input: &str) -> Result<Self, IdError> {
                parse_hyphenated(input, $kind).map(Self)
            }

            /// Wraps a UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// Returns the UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), formatter)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::parse(input)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(input: String) -> Result<Self, Self::Error> {
                Self::parse(&input)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.to_string()
            }
        }
    };
}

uuid_id!(
    /// The id of a user account.
    UserId,
    "user id"
);
uuid_id!(
    /// The id of a task.
    TaskId,
    "task id"
);
uuid_id!(
    /// The id of a recurring series: the id of the series' first task.
    SeriesId,
    "series id"
);
uuid_id!(
    /// The id of an event: a UUIDv7, so ids sort roughly by time.
    EventId,
    "event id"
);

/// The UUIDv5 namespace of task ids derived from request ids. Never change it: stored ids
/// depend on it.
const REQUEST_TASK_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_93b7_4d0a_8e55_1b2c_3d4e_5f60);

/// The UUIDv5 namespace of task ids of recurring occurrences. Never change it either.
const OCCURRENCE_TASK_NAMESPACE: Uuid = Uuid::from_u128(0x0b7d_94c1_5e2f_4a83_9c16_7d8e_9fa0_b1c2);

impl TaskId {
    /// Creates a random (v4) task id, for a create without a request id.
    pub fn new_v4() -> Self {
        Self(Uuid::new_v4())
    }

    /// Derives the id of the task created by `request_id`, so a retried create finds its task.
    ///
    /// UUIDv5 of `"<user_id>/<request_id>"` in a fixed namespace.
    pub fn for_request(user: &UserId, request_id: &RequestId) -> Self {
        let name = format!("{user}/{}", request_id.as_str());
        Self(Uuid::new_v5(&REQUEST_TASK_NAMESPACE, name.as_bytes()))
    }

    /// Derives the id of occurrence `occurrence_index` of `series`, so a redelivered completion
    /// event cannot create two next occurrences.
    ///
    /// UUIDv5 of `"<series_id>#<occurrence_index>"` in a fixed namespace.
    pub fn for_occurrence(series: &SeriesId, occurrence_index: u32) -> Self {
        let name = format!("{series}#{occurrence_index}");
        Self(Uuid::new_v5(&OCCURRENCE_TASK_NAMESPACE, name.as_bytes()))
    }
}

impl SeriesId {
    /// Returns the series started by `first_task`: a series is named after its first task.
    pub const fn started_by(first_task: TaskId) -> Self {
        Self(first_task.0)
    }
}

impl EventId {
    /// Creates a UUIDv7 from `now` (millisecond precision) and random bits.
    pub fn new_v7(now: DateTime<Utc>) -> Self {
        // A UUIDv7 cannot encode times before 1970; such a clock is broken anyway.
        let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
        let timestamp =
            uuid::Timestamp::from_unix_time(seconds, now.timestamp_subsec_nanos(), 0, 0);
        Self(Uuid::new_v7(timestamp))
    }
}

/// A client-chosen idempotency key: 1 to 128 printable ASCII characters, no whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// The longest request id accepted.
    pub const MAX_CHARS: usize = 128;

    /// Parses a request id.
    ///
    /// # Errors
    /// When it is empty, too long, or holds anything but printable ASCII without spaces.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        if input.is_empty() {
            return Err(IdError::EmptyRequestId);
        }
        if !input.chars().all(|character| character.is_ascii_graphic()) {
            return Err(IdError::RequestIdNotPrintable);
        }
        if input.len() > Self::MAX_CHARS {
            return Err(IdError::RequestIdTooLong);
        }
        Ok(Self(input.to_owned()))
    }

    /// Returns the request id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for RequestId {
    type Err = IdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl TryFrom<String> for RequestId {
    type Error = IdError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    use super::*;

    const USER: &str = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a";

    #[test]
    fn uuid_ids_accept_only_the_hyphenated_form() {
        let cases = [
            ("lower case", USER, true),
            ("upper case", "5B1F0F4E-9A4C-4C31-B6A2-7F3D2E1C0B9A", true),
            ("empty", "", false),
            ("simple form", "5b1f0f4e9a4c4c31b6a27f3d2e1c0b9a", false),
            ("braced", "{5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a}", false),
            ("not hex", "zb1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a", false),
            ("spaces", " 5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9", false),
        ];
        for (case, input, accepted) in cases {
            assert_eq!(TaskId::parse(input).is_ok(), accepted, "case: {case}");
        }
    }

    #[test]
    fn ids_display_in_lower_case_and_name_their_kind_in_errors() {
        let id = UserId::parse("5B1F0F4E-9A4C-4C31-B6A2-7F3D2E1C0B9A").unwrap();
        assert_eq!(id.to_string(), USER);
        let error = SeriesId::parse("nope").unwrap_err();
        assert!(
            error.to_string().starts_with("series id must be a UUID"),
            "{error}"
        );
    }

    #[test]
    fn ids_serialize_as_strings() {
        let id = TaskId::parse(USER).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{USER}\""));
        assert_eq!(serde_json::from_str::<TaskId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<TaskId>("\"x\"").is_err());
    }

    #[test]
    fn request_ids_are_printable_ascii_without_whitespace() {
        let longest = "r".repeat(RequestId::MAX_CHARS);
        let too_long = "r".repeat(RequestId::MAX_CHARS + 1);
        let cases = [
            ("ordinary", "req-42", Ok(())),
            ("punctuation", "a:b/c#d", Ok(())),
            ("longest", longest.as_str(), Ok(())),
            ("empty", "", Err(IdError::EmptyRequestId)),
            (
                "too long",
                too_long.as_str(),
                Err(IdError::RequestIdTooLong),
            ),
            ("space", "a b", Err(IdError::RequestIdNotPrintable)),
            ("tab", "a\tb", Err(IdError::RequestIdNotPrintable)),
            ("non-ascii", "café", Err(IdError::RequestIdNotPrintable)),
        ];
        for (case, input, expected) in cases {
            assert_eq!(
                RequestId::parse(input).map(|_| ()),
                expected,
                "case: {case}"
            );
        }
    }

    #[test]
    fn request_task_ids_are_deterministic_per_user_and_request() {
        let user = UserId::parse(USER).unwrap();
        let other_user = UserId::parse("00000000-0000-4000-8000-000000000001").unwrap();
        let request = RequestId::parse("req-1").unwrap();
        let other_request = RequestId::parse("req-2").unwrap();
        let id = TaskId::for_request(&user, &request);
        assert_eq!(id, TaskId::for_request(&user, &request));
        assert_ne!(id, TaskId::for_request(&other_user, &request));
        assert_ne!(id, TaskId::for_request(&user, &other_request));
        assert_eq!(id.as_uuid().get_version_num(), 5);
    }

    #[test]
    fn occurrence_task_ids_are_deterministic_per_series_and_index() {
        let series = SeriesId::parse(USER).unwrap();
        let first = TaskId::for_occurrence(&series, 1);
        assert_eq!(first, TaskId::for_occurrence(&series, 1));
        assert_ne!(first, TaskId::for_occurrence(&series, 2));
        assert_ne!(first.as_uuid(), series.as_uuid());
    }

    #[test]
    fn event_ids_are_v7_and_carry_the_given_time() {
        let now = Utc.with_ymd_and_hms(2026, 3, 29, 7, 0, 0).unwrap();
        let id = EventId::new_v7(now);
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let (seconds, _) = id.as_uuid().get_timestamp().unwrap().to_unix();
        assert_eq!(i64::try_from(seconds).unwrap(), now.timestamp());
        assert_ne!(id, EventId::new_v7(now));
    }

    proptest! {
        #[test]
        fn parsing_a_request_id_never_panics_and_keeps_accepted_input(input in "\\PC{0,200}") {
            if let Ok(request_id) = RequestId::parse(&input) {
                prop_assert_eq!(request_id.as_str(), input.as_str());
            }
        }

        #[test]
        fn parsing_a_task_id_never_panics_and_round_trips(
            input in "[0-9a-fA-F-]{30,40}|\\PC{0,40}"
        ) {
            if let Ok(id) = TaskId::parse(&input) {
                prop_assert_eq!(id.to_string(), input.to_lowercase());
            }
        }
    }
}
