//! todo-api's errors and their one mapping to gRPC statuses. Validation errors become
//! `todo_proto::status::bad_request`, storage failures `dapr_kit::unavailable_or_internal`,
//! which logs the internal cause once; it never reaches the client.

use todo_core::{TransitionError, ValidationError, VersionMismatch};
use tonic::Status;

use crate::store::StoreError;

/// Why a task operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks a rule; every violation is listed.
    #[error("invalid request")]
    Validation(#[from] ValidationError),
    /// No such task for this user (another user's task included).
    #[error("task {task_id} not found")]
    NotFound {
        /// The id asked for.
        task_id: String,
    },
    /// The client's expected version is stale.
    #[error(transparent)]
    VersionMismatch(#[from] VersionMismatch),
    /// The task is not in a state that allows the change.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The user already has the most tasks allowed.
    #[error("a user may have at most {limit} tasks")]
    TooManyTasks {
        /// The limit.
        limit: usize,
    },
    /// The bucket kept changing under us.
    #[error("gave up after {attempts} conflicting writes")]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(&'static str),
    /// The state store failed.
    #[error("task storage failed")]
    Store(#[source] StoreError),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Validation(validation) => todo_proto::status::bad_request(&validation),
            Error::NotFound { .. } => Status::not_found(error.to_string()),
            Error::VersionMismatch(_) => Status::aborted(error.to_string()),
            Error::Transition(_) => Status::failed_precondition(error.to_string()),
            Error::TooManyTasks { .. } => Status::resource_exhausted(error.to_string()),
            Error::Contention { .. } => {
                Status::aborted("the task list is changing too fast; retry the request")
            }
            Error::PermissionDenied(reason) => Status::permission_denied(reason),
            Error::Store(StoreError::BucketFull { .. }) => Status::resource_exhausted(
                "this user's tasks take all the storage they may; delete or shorten some tasks",
            ),
            // Not Internal (says nothing), DataLoss (nothing is lost while the bytes are kept) or
            // Unavailable (a retry cannot help): the state must be repaired first, exactly
            // FailedPrecondition's meaning. Overwriting would destroy what is left to recover.
            Error::Store(store @ StoreError::Corrupt { .. }) => {
                tracing::error!(
                    error = %todo_telemetry::error_chain(&store),
                    "refusing a task operation on an unreadable bucket; \
                     see README.md, \"Repairing an unreadable bucket\""
                );
                Status::failed_precondition(
                    "the storage of this task is unreadable and needs repair by an operator; \
                     nothing was changed",
                )
            }
            Error::Store(store) => dapr_kit::unavailable_or_internal("task storage", &store),
        }
    }
}

#[cfg(test)]
mod tests {
    use dapr_kit::DaprError;
    use prost::Message;
    use tonic::Code;

    use super::*;

    /// The sidecar never answered: the endpoint stays in the log.
    fn sidecar_unreachable() -> Error {
        Error::Store(StoreError::Dapr(DaprError::SidecarUnreachable {
            endpoint: "http://10.0.0.7:50001".into(),
            waited: std::time::Duration::from_secs(60),
            last_error: Box::new(Status::unavailable("connection refused")),
        }))
    }

    /// A bucket whose bytes do not decode: the key stays in the log.
    fn corrupt_bucket() -> Error {
        let source = todo_proto::todo::v1::Task::decode([0xff].as_slice()).unwrap_err();
        Error::Store(StoreError::Corrupt {
            key: "tasks-u-1".into(),
            source,
        })
    }

    #[test]
    fn each_error_maps_to_its_grpc_code() {
        let cases = [
            (
                "validation",
                Error::Validation(ValidationError::single("title", "blank")),
                Code::InvalidArgument,
            ),
            (
                "not found",
                Error::NotFound {
                    task_id: "t".into(),
                },
                Code::NotFound,
            ),
            (
                "stale version",
                Error::VersionMismatch(VersionMismatch {
                    task_id: "t".into(),
                    expected: 1,
                    actual: 2,
                }),
                Code::Aborted,
            ),
            (
                "already completed",
                Error::Transition(TransitionError::AlreadyCompleted {
                    task_id: "t".into(),
                }),
                Code::FailedPrecondition,
            ),
            (
                "limit",
                Error::TooManyTasks { limit: 10_000 },
                Code::ResourceExhausted,
            ),
            (
                "contention",
                Error::Contention { attempts: 3 },
                Code::Aborted,
            ),
            (
                "forbidden",
                Error::PermissionDenied("no"),
                Code::PermissionDenied,
            ),
            (
                "bucket full",
                Error::Store(StoreError::BucketFull {
                    key: "tasks-u-1".into(),
                    bytes: 5_000_000,
                }),
                Code::ResourceExhausted,
            ),
            (
                "sidecar unreachable",
                sidecar_unreachable(),
                Code::Unavailable,
            ),
            (
                "unreadable bucket",
                corrupt_bucket(),
                Code::FailedPrecondition,
            ),
        ];
        for (case, error, code) in cases {
            assert_eq!(Status::from(error).code(), code, "case: {case}");
        }
    }

    #[test]
    fn storage_details_never_reach_the_client() {
        let cases = [
            (
                sidecar_unreachable(),
                "task storage is unavailable; retry later",
            ),
            (
                corrupt_bucket(),
                "the storage of this task is unreadable and needs repair by an operator; \
                 nothing was changed",
            ),
        ];
        for (error, message) in cases {
            let status = Status::from(error);
            assert_eq!(status.message(), message);
            assert!(!status.message().contains("tasks-u-1"), "no bucket key");
        }
    }

    #[test]
    fn validation_errors_carry_field_paths() {
        let status = Status::from(Error::Validation(ValidationError::single(
            "tags[1]", "too long",
        )));
        assert_eq!(
            todo_proto::status::field_violations(&status),
            [("tags[1]".to_string(), "too long".to_string())]
        );
    }
}
