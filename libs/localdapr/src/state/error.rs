//! State failures, and the status codes daprd answers for them (reference §5.2).

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::db::DbError;

/// What went wrong with a state operation, before it is mapped to daprd's status codes.
#[derive(Debug, thiserror::Error)]
pub(super) enum StateError {
    #[error("state store is not configured")]
    NotConfigured,
    #[error("state store {0} is not found")]
    StoreNotFound(String),
    #[error("input key/keyPrefix '{0}' can't contain '||'")]
    IllegalKey(String),
    #[error("key is empty")]
    EmptyKey,
    #[error("possible etag mismatch. error from state store: etag mismatch for key {0}")]
    EtagMismatch(String),
    #[error("invalid etag value {etag} for key {key}")]
    EtagInvalid { key: String, etag: String },
    #[error(
        "error parsing TTL: incorrect value for metadata 'ttlInSeconds' ({0}): must be -1 or greater"
    )]
    InvalidTtl(String),
    #[error("operation type {0} not supported")]
    UnsupportedOperation(String),
    #[error("outbox projection for key {0} has no upsert of the same key in the transaction")]
    OrphanProjection(String),
    #[error("state store does not support querying")]
    QueryNotSupported,
    #[error("error while publishing outbox message: pubsub '{pubsub}' not found")]
    OutboxPubsubNotFound { store: String, pubsub: String },
    #[error("database failure: {0}")]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for StateError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite(error))
    }
}

impl StateError {
    /// The status daprd answers for a failure outside a transaction (§5.2).
    pub(super) fn into_status(self, verb: &str, store: &str) -> Status {
        match self {
            Self::NotConfigured => Status::failed_precondition(self.to_string()),
            // A bad TTL is the store's error to daprd, so Internal (seen on daprd 1.18.3).
            Self::StoreNotFound(_) | Self::IllegalKey(_) | Self::EmptyKey => {
                Status::invalid_argument(self.to_string())
            }
            Self::EtagMismatch(_) => Status::aborted(format!(
                "failed {verb} state in state store {store}: {self}"
            )),
            Self::EtagInvalid { .. } => Status::invalid_argument(format!(
                "failed {verb} state in state store {store}: {self}"
            )),
            other => Status::internal(format!(
                "failed {verb} state in state store {store}: {other}"
            )),
        }
    }

    /// The status daprd answers for `QueryStateAlpha1`, with the `google.rpc.ErrorInfo` its
    /// kit errors carry (reference §5.2; the reasons are those of daprd's source).
    pub(super) fn into_query_status(self) -> Status {
        let (code, reason) = match &self {
            Self::NotConfigured => (Code::FailedPrecondition, "DAPR_STATE_NOT_CONFIGURED"),
            Self::StoreNotFound(_) => (Code::InvalidArgument, "DAPR_STATE_NOT_FOUND"),
            Self::QueryNotSupported => (Code::Internal, "DAPR_STATE_QUERYING_NOT_SUPPORTED"),
            _ => (Code::Internal, "DAPR_STATE_QUERY_FAILED"),
        };
        let details = ErrorDetails::with_error_info(reason, "dapr.io", HashMap::new());
        Status::with_error_details(code, self.to_string(), details)
    }

    /// The status daprd answers for any failure inside `ExecuteStateTransaction`.
    pub(super) fn into_transaction_status(self) -> Status {
        match self {
            Self::NotConfigured => Status::failed_precondition(self.to_string()),
            Self::StoreNotFound(_) => Status::invalid_argument(self.to_string()),
            Self::UnsupportedOperation(_) => Status::unimplemented(self.to_string()),
            // daprd's words and reason, not wrapped as a transaction error.
            Self::OutboxPubsubNotFound { .. } => {
                <Status as tonic_types::StatusExt>::with_error_details(
                    tonic::Code::Internal,
                    self.to_string(),
                    tonic_types::ErrorDetails::with_error_info(
                        "DAPR_PUBSUB_OUTBOX",
                        "dapr.io",
                        std::collections::HashMap::new(),
                    ),
                )
            }
            other => Status::internal(format!("error while executing state transaction: {other}")),
        }
    }
}
