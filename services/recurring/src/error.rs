//! Why a task event was not handled, and the one mapping to what daprd is told: a transient
//! error (todo-api or a sidecar unavailable) is RETRY, a poison event (one that can never be
//! handled) is DROP, to `task-events-dlq`, logged at `error` by dapr-kit.

use dapr_kit::{DaprError, HandlerError};
use todo_core::ValidationError;
use tonic::{Code, Status};

/// Why a completion did not lead to its next occurrence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An event of no type, or of one this build does not know: what it changed is unknown.
    #[error("event {event_id} has an unknown type ({event_type})")]
    UnknownEventType {
        /// The event.
        event_id: String,
        /// Its type's number.
        event_type: i32,
    },
    /// A completion event without the task snapshot it must carry.
    #[error("completion event {event_id} carries no task")]
    MissingTask {
        /// The event.
        event_id: String,
    },
    /// The event's user is not the task's owner: an occurrence would go to the wrong user.
    #[error("event {event_id} names user {event_user} but task {task_id} belongs to another")]
    UserMismatch {
        /// The event.
        event_id: String,
        /// The user the event names.
        event_user: String,
        /// The task.
        task_id: String,
    },
    /// The event's user is not a user id: there is nobody to create the occurrence for.
    #[error("event {event_id} names no valid user ({event_user:?})")]
    InvalidUser {
        /// The event.
        event_id: String,
        /// The user the event names.
        event_user: String,
    },
    /// A completed task without a completion time or event time to count from.
    #[error("completion of task {task_id} has no completion time")]
    MissingCompletionTime {
        /// The task.
        task_id: String,
    },
    /// The stored task cannot be continued (unreadable rule, due time or ids).
    #[error("task {task_id} cannot be continued")]
    UnreadableTask {
        /// The task.
        task_id: String,
        /// What is wrong with it.
        #[source]
        source: ValidationError,
    },
    /// The user id cannot travel as call metadata.
    #[error("cannot call todo-api for the user of task {task_id}")]
    UnusableUser {
        /// The task.
        task_id: String,
        /// The metadata error.
        #[source]
        source: DaprError,
    },
    /// todo-api (or a sidecar on the way) failed in a way a later attempt may not.
    #[error("todo-api did not create the next occurrence of task {task_id}, retrying")]
    TodoApiUnavailable {
        /// The completed task.
        task_id: String,
        /// todo-api's (or the sidecar's) answer.
        #[source]
        source: Status,
    },
    /// todo-api refused the occurrence; no retry can change that.
    #[error("todo-api refused the next occurrence of task {task_id}")]
    TodoApiRefused {
        /// The completed task.
        task_id: String,
        /// todo-api's answer.
        #[source]
        source: Status,
    },
}

impl Error {
    /// Classifies todo-api's answer to a create that did not succeed.
    pub(crate) fn from_create_status(task_id: &str, status: Status) -> Self {
        let task_id = task_id.to_string();
        if is_transient(status.code()) {
            Self::TodoApiUnavailable {
                task_id,
                source: status,
            }
        } else {
            Self::TodoApiRefused {
                task_id,
                source: status,
            }
        }
    }
}

/// Whether a failed `CreateTask` may succeed later, within the Resiliency policy's retries.
///
/// Unavailable, DeadlineExceeded, Cancelled and Unknown are the network and sidecars;
/// Aborted is todo-api's bucket contention; Internal is what todo-api answers when its store
/// failed in a way it cannot name. PermissionDenied and Unauthenticated mean a trust setting
/// disagrees with this app id (`TODO_RECURRING_APP_ID`), as during a rollout; the event is
/// retried, then dead-lettered for replay once fixed. The rest (InvalidArgument,
/// FailedPrecondition for an unreadable bucket, ResourceExhausted for a full account,
/// NotFound, Unimplemented, ...) repeat on every attempt.
fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Aborted
            | Code::Internal
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

impl From<Error> for HandlerError {
    fn from(error: Error) -> Self {
        match error {
            Error::TodoApiUnavailable { .. } => HandlerError::transient(error),
            Error::UnknownEventType { .. }
            | Error::MissingTask { .. }
            | Error::UserMismatch { .. }
            | Error::InvalidUser { .. }
            | Error::MissingCompletionTime { .. }
            | Error::UnreadableTask { .. }
            | Error::UnusableUser { .. }
            | Error::TodoApiRefused { .. } => HandlerError::poison(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use dapr_kit::EventOutcome;

    use super::*;

    fn outcome(error: Error) -> EventOutcome {
        EventOutcome::of(&Err(error.into()))
    }

    #[test]
    fn each_error_maps_to_retry_or_drop() {
        let cases = [
            (
                "unknown event type",
                Error::UnknownEventType {
                    event_id: "e".into(),
                    event_type: 99,
                },
                EventOutcome::Drop,
            ),
            (
                "invalid user",
                Error::InvalidUser {
                    event_id: "e".into(),
                    event_user: "nobody".into(),
                },
                EventOutcome::Drop,
            ),
            (
                "missing task",
                Error::MissingTask {
                    event_id: "e".into(),
                },
                EventOutcome::Drop,
            ),
            (
                "user mismatch",
                Error::UserMismatch {
                    event_id: "e".into(),
                    event_user: "u".into(),
                    task_id: "t".into(),
                },
                EventOutcome::Drop,
            ),
            (
                "no completion time",
                Error::MissingCompletionTime {
                    task_id: "t".into(),
                },
                EventOutcome::Drop,
            ),
            (
                "unreadable task",
                Error::UnreadableTask {
                    task_id: "t".into(),
                    source: ValidationError::single("recurrence", "unreadable"),
                },
                EventOutcome::Drop,
            ),
            (
                "unusable user",
                Error::UnusableUser {
                    task_id: "t".into(),
                    source: DaprError::InvalidMetadata {
                        name: "todo-user-id",
                    },
                },
                EventOutcome::Drop,
            ),
        ];
        for (case, error, expected) in cases {
            assert_eq!(outcome(error), expected, "case: {case}");
        }
    }

    #[test]
    fn todo_api_answers_are_retried_only_when_a_retry_can_help() {
        let cases = [
            (Code::Unavailable, EventOutcome::Retry),
            (Code::DeadlineExceeded, EventOutcome::Retry),
            (Code::Cancelled, EventOutcome::Retry),
            (Code::Unknown, EventOutcome::Retry),
            (Code::Aborted, EventOutcome::Retry),
            (Code::Internal, EventOutcome::Retry),
            (Code::PermissionDenied, EventOutcome::Retry),
            (Code::Unauthenticated, EventOutcome::Retry),
            (Code::InvalidArgument, EventOutcome::Drop),
            (Code::FailedPrecondition, EventOutcome::Drop),
            (Code::ResourceExhausted, EventOutcome::Drop),
            (Code::NotFound, EventOutcome::Drop),
            (Code::Unimplemented, EventOutcome::Drop),
            (Code::DataLoss, EventOutcome::Drop),
        ];
        for (code, expected) in cases {
            let error = Error::from_create_status("t", Status::new(code, "answer"));
            assert_eq!(outcome(error), expected, "case: {code:?}");
        }
    }
}
