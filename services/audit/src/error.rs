//! audit's errors and their one mapping to gRPC statuses. A database failure is logged here,
//! once, with its cause; the client gets `Unavailable` when retrying may help, else `Internal`.

use todo_core::ValidationError;
use tonic::Status;

use crate::store::StoreError;

/// Why a history request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks a rule.
    #[error("invalid request")]
    Validation(#[from] ValidationError),
    /// No history of this task for this user (another user's task included).
    #[error("task {task_id} not found")]
    NotFound {
        /// The id asked for.
        task_id: String,
    },
    /// A stored event no longer decodes.
    #[error("a recorded event does not decode")]
    CorruptRow {
        /// The decoder's reason.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database failed.
    #[error("the audit database failed")]
    Store(#[source] StoreError),
}

impl Error {
    /// A request with one invalid field.
    pub fn invalid(field: &str, description: &str) -> Self {
        Self::Validation(ValidationError::single(field, description))
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Validation(validation) => todo_proto::status::bad_request(&validation),
            Error::NotFound { .. } => Status::not_found(error.to_string()),
            Error::Store(ref store) if store.is_transient() => {
                tracing::warn!(
                    error = %todo_telemetry::error_chain(&error),
                    "audit database unavailable, the client may retry"
                );
                Status::unavailable("task history is unavailable; retry later")
            }
            Error::Store(_) | Error::CorruptRow { .. } => {
                tracing::error!(error = %todo_telemetry::error_chain(&error), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_error_maps_to_its_grpc_code_and_hides_database_details() {
        let cases = [
            (
                "validation",
                Error::invalid("page_size", "too big"),
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
                "pool exhausted",
                Error::Store(StoreError::Query {
                    operation: "read",
                    source: sqlx::Error::PoolTimedOut,
                }),
                Code::Unavailable,
            ),
            (
                "bad column",
                Error::Store(StoreError::Query {
                    operation: "read",
                    source: sqlx::Error::ColumnNotFound("secret_column".into()),
                }),
                Code::Internal,
            ),
            (
                "corrupt row",
                Error::CorruptRow {
                    source: "bad json".into(),
                },
                Code::Internal,
            ),
        ];
        for (case, error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code, "case: {case}");
            assert!(!status.message().contains("secret_column"), "case: {case}");
        }
    }

    #[test]
    fn validation_errors_carry_field_paths() {
        let status = Status::from(Error::invalid("task_id", "must be a task id (a UUID)"));
        assert_eq!(
            todo_proto::status::field_violations(&status),
            [(
                "task_id".to_string(),
                "must be a task id (a UUID)".to_string()
            )]
        );
    }
}
