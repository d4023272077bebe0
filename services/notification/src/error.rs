//! notification's errors, their one mapping to gRPC statuses, and their one mapping to event
//! and trigger outcomes (RETRY for what may pass, DROP for what never will).

use dapr_kit::HandlerError;
use todo_core::ValidationError;
use tonic::Status;

use crate::store::StoreError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks a rule; every violation is listed.
    #[error("invalid request")]
    Validation(#[from] ValidationError),
    /// The caller may not do this.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The state kept changing under us.
    #[error("gave up after {attempts} conflicting writes")]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The sidecar or the state failed.
    #[error("notification storage failed")]
    Store(#[source] StoreError),
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Validation(validation) => todo_proto::status::bad_request(&validation),
            Error::Unauthenticated(reason) => Status::unauthenticated(reason),
            Error::Contention { .. } => {
                Status::aborted("the notifications are changing too fast; retry the request")
            }
            Error::Store(_) => dapr_kit::unavailable_or_internal("notifications", &error),
        }
    }
}

/// Any failed sidecar call is retried, even one the sidecar calls `Internal` (a store error is
/// often passing): the Resiliency policy and the job's failure policy bound the retries. Only a
/// value that cannot be encoded or decoded is poison.
impl From<Error> for HandlerError {
    fn from(error: Error) -> Self {
        match &error {
            Error::Store(StoreError::Corrupt { .. } | StoreError::Encode(_))
            | Error::Validation(_)
            | Error::Unauthenticated(_) => HandlerError::poison(error),
            Error::Contention { .. } | Error::Store(StoreError::Dapr { .. }) => {
                HandlerError::transient(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dapr_kit::{DaprError, EventOutcome};
    use tonic::Code;

    use super::*;

    fn sidecar_unreachable() -> Error {
        Error::Store(StoreError::Dapr {
            operation: "read reminder",
            source: DaprError::SidecarUnreachable {
                endpoint: "http://10.0.0.7:50001".into(),
                waited: std::time::Duration::from_secs(60),
                last_error: Box::new(Status::unavailable("connection refused")),
            },
        })
    }

    fn store_failed() -> Error {
        Error::Store(StoreError::Dapr {
            operation: "write firing",
            source: DaprError::Call {
                operation: "ExecuteStateTransaction",
                status: Box::new(Status::internal("database is locked")),
            },
        })
    }

    fn corrupt() -> Error {
        let source = serde_json::from_slice::<u8>(b"{").unwrap_err();
        Error::Store(StoreError::Corrupt {
            key: "reminder-t".into(),
            source,
        })
    }

    #[test]
    fn each_error_maps_to_its_grpc_code_and_event_outcome() {
        let cases = [
            (
                "validation",
                Error::Validation(ValidationError::single("page_size", "too big")),
                Code::InvalidArgument,
                EventOutcome::Drop,
            ),
            (
                "no user",
                Error::Unauthenticated("no user"),
                Code::Unauthenticated,
                EventOutcome::Drop,
            ),
            (
                "contention",
                Error::Contention { attempts: 8 },
                Code::Aborted,
                EventOutcome::Retry,
            ),
            (
                "sidecar away",
                sidecar_unreachable(),
                Code::Unavailable,
                EventOutcome::Retry,
            ),
            (
                "store failed",
                store_failed(),
                Code::Internal,
                EventOutcome::Retry,
            ),
            ("corrupt", corrupt(), Code::Internal, EventOutcome::Drop),
        ];
        for (case, error, code, outcome) in cases {
            let status_code = Status::from(Error::from_case(&error)).code();
            assert_eq!(status_code, code, "case: {case}");
            assert_eq!(
                EventOutcome::of(&Err(HandlerError::from(error))),
                outcome,
                "case: {case}"
            );
        }
    }

    #[test]
    fn storage_details_never_reach_the_client() {
        let status = Status::from(corrupt());
        assert!(!status.message().contains("reminder-t"), "{status:?}");
    }

    impl Error {
        /// The same case again: errors are not Clone.
        fn from_case(error: &Error) -> Error {
            match error {
                Error::Validation(v) => Error::Validation(v.clone()),
                Error::Unauthenticated(reason) => Error::Unauthenticated(reason),
                Error::Contention { attempts } => Error::Contention {
                    attempts: *attempts,
                },
                Error::Store(StoreError::Corrupt { .. }) => corrupt(),
                Error::Store(StoreError::Dapr {
                    source: DaprError::Call { .. },
                    ..
                }) => store_failed(),
                Error::Store(_) => sidecar_unreachable(),
            }
        }
    }
}
