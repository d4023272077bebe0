//! Errors of calls to the sidecar, and the one way a service answers a client whose request
//! failed on one.
//!
//! Every failed call keeps the sidecar's `tonic::Status` as its source, so callers can branch on
//! [`DaprError::code`] and on the few outcomes Dapr signals in special ways (an etag conflict is
//! `Aborted` from `SaveState` but `Internal` from `ExecuteStateTransaction`; a missing job is
//! `Internal` from `GetJob`). Services turn these into their own errors; they never send the
//! sidecar's message to their clients: their `From<Error> for Status` calls
//! [`unavailable_or_internal`] for every failure that is not the client's.

use std::error::Error;

use todo_telemetry::error_chain;
use tonic::{Code, Status};

/// A call to the Dapr sidecar failed.
#[derive(Debug, thiserror::Error)]
pub enum DaprError {
    /// The sidecar did not answer before the startup deadline.
    #[error("dapr sidecar at {endpoint} did not become reachable within {waited:.1?}")]
    SidecarUnreachable {
        /// The endpoint that was tried.
        endpoint: String,
        /// How long startup waited.
        waited: std::time::Duration,
        /// The last failure.
        #[source]
        last_error: Box<Status>,
    },
    /// The sidecar answered an RPC with an error status.
    #[error("dapr {operation} failed with {}", .status.code())]
    Call {
        /// The Dapr RPC, e.g. `ExecuteStateTransaction`.
        operation: &'static str,
        /// The sidecar's status.
        #[source]
        status: Box<Status>,
    },
    /// One key of a bulk read failed although the call succeeded.
    #[error("dapr GetBulkState failed for key {key}: {message}")]
    BulkItem {
        /// The key.
        key: String,
        /// The store's error message.
        message: String,
    },
    /// A value for gRPC metadata (an app id or token) is not valid ASCII.
    #[error("invalid metadata value for {name}")]
    InvalidMetadata {
        /// The metadata key.
        name: &'static str,
    },
}

impl DaprError {
    pub(crate) fn call(operation: &'static str, status: Status) -> Self {
        Self::Call {
            operation,
            status: Box::new(status),
        }
    }

    /// The gRPC code of the failure: `Unavailable` when the sidecar could not be reached.
    pub fn code(&self) -> Code {
        match self {
            Self::SidecarUnreachable { .. } => Code::Unavailable,
            Self::Call { status, .. } => status.code(),
            Self::BulkItem { .. } => Code::Internal,
            Self::InvalidMetadata { .. } => Code::InvalidArgument,
        }
    }

    /// Whether the write lost a first-write-wins race: the etag it carried is no longer current.
    ///
    /// `SaveState` and `DeleteState` answer `Aborted`; a transaction answers `Internal` with the
    /// state store's "possible etag mismatch" error in the message (reference §5.2). A
    /// first-write without an etag on a key that exists is an etag mismatch in most stores, but
    /// PostgreSQL v1 reports "no item was updated" instead (§5.2): both count.
    pub fn is_etag_conflict(&self) -> bool {
        match self {
            Self::Call { status, .. } => match status.code() {
                Code::Aborted => true,
                Code::Internal => {
                    let message = status.message();
                    message.contains("etag mismatch") || message.contains("no item was updated")
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether retrying the same call later may succeed (the sidecar or its store is down).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted
        ) || self.is_etag_conflict()
    }

    /// The sidecar's status, when it answered.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Call { status, .. } => Some(status),
            Self::SidecarUnreachable { last_error, .. } => Some(last_error),
            _ => None,
        }
    }
}

/// Answers a client whose request failed inside the service, and logs why, once.
///
/// When a [`DaprError`] in `error`'s chain (`error` itself, or a `#[source]` of it) is
/// [transient](DaprError::is_transient), the client gets `Unavailable`, "`resource` is
/// unavailable; retry later", and the chain is logged at `warn`; anything else is a generic
/// `Internal`, logged at `error`. The client never sees the chain. (A wrapper that is
/// `#[error(transparent)]` hides the `DaprError` from the chain: keep it as a `#[source]`.)
pub fn unavailable_or_internal(resource: &str, error: &(dyn Error + 'static)) -> Status {
    let chain = error_chain(error);
    let transient = std::iter::successors(Some(error), |&error| error.source())
        .filter_map(|error| error.downcast_ref::<DaprError>())
        .any(DaprError::is_transient);
    if transient {
        tracing::warn!(error = %chain, resource, "unavailable, the client may retry");
        Status::unavailable(format!("{resource} is unavailable; retry later"))
    } else {
        tracing::error!(error = %chain, resource, "internal error");
        Status::internal("internal error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service error wrapping a sidecar failure, as services keep it.
    #[derive(Debug, thiserror::Error)]
    #[error("read account failed")]
    struct StoreFailed(#[source] DaprError);

    #[derive(Debug, thiserror::Error)]
    #[error("token signing failed")]
    struct SigningFailed;

    #[test]
    fn a_failure_is_unavailable_only_when_a_sidecar_call_in_its_chain_may_succeed_later() {
        let cases = [
            (
                "sidecar down, wrapped",
                Box::new(StoreFailed(DaprError::call(
                    "GetState",
                    Status::unavailable("down"),
                ))) as Box<dyn Error>,
                Code::Unavailable,
                "the account store is unavailable; retry later",
            ),
            (
                "sidecar down, bare",
                Box::new(DaprError::call("GetState", Status::unavailable("down"))),
                Code::Unavailable,
                "the account store is unavailable; retry later",
            ),
            (
                "store refused",
                Box::new(StoreFailed(DaprError::call(
                    "GetState",
                    Status::invalid_argument("bad key secret-detail"),
                ))),
                Code::Internal,
                "internal error",
            ),
            (
                "not dapr",
                Box::new(SigningFailed),
                Code::Internal,
                "internal error",
            ),
        ];
        for (case, error, code, message) in cases {
            let status = unavailable_or_internal("the account store", error.as_ref());
            assert_eq!(
                (status.code(), status.message()),
                (code, message),
                "case: {case}"
            );
        }
    }

    #[test]
    fn etag_conflicts_are_recognised_in_both_shapes_dapr_uses() {
        let cases = [
            ("save state", Status::aborted("failed saving state"), true),
            (
                "transaction",
                Status::internal(
                    "error while executing state transaction: possible etag mismatch. error from state store: x",
                ),
                true,
            ),
            (
                "other internal",
                Status::internal("error while executing state transaction: disk full"),
                false,
            ),
            (
                "invalid etag",
                Status::invalid_argument("invalid etag"),
                false,
            ),
        ];
        for (case, status, conflict) in cases {
            assert_eq!(
                DaprError::call("Op", status).is_etag_conflict(),
                conflict,
                "case: {case}"
            );
        }
    }

    #[test]
    fn unavailable_sidecars_are_transient_and_bad_requests_are_not() {
        assert!(DaprError::call("GetState", Status::unavailable("down")).is_transient());
        assert!(!DaprError::call("GetState", Status::invalid_argument("bad key")).is_transient());
    }
}
