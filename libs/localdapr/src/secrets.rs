//! Secrets from `secretstores.local.file` components (reference §7.3 for the Kubernetes
//! behaviour it mirrors): a JSON file whose nested objects are flattened with
//! `nestedSeparator` (default `:`).

use std::sync::Arc;

use todo_proto::dapr::proto::runtime::v1 as dapr;
use tonic::Status;

use crate::runtime::Runtime;

/// `GetSecret`.
///
/// # Errors
/// `InvalidArgument` for an unknown store; `NotFound`-like errors from the store.
pub(crate) fn get_secret(
    _runtime: &Arc<Runtime>,
    _app_id: &str,
    _request: dapr::GetSecretRequest,
) -> Result<dapr::GetSecretResponse, Status> {
    Err(Status::unimplemented(
        "localdapr: secrets are not implemented yet",
    ))
}

/// `GetBulkSecret`.
///
/// # Errors
/// As [`get_secret`].
pub(crate) fn get_bulk_secret(
    _runtime: &Arc<Runtime>,
    _app_id: &str,
    _request: dapr::GetBulkSecretRequest,
) -> Result<dapr::GetBulkSecretResponse, Status> {
    Err(Status::unimplemented(
        "localdapr: secrets are not implemented yet",
    ))
}
