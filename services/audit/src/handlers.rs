//! `AuditApi`, the `todo.v1.AuditService` implementation: checks the caller (only the gateway
//! may act for a user), then asks [`History`] for the page.

use dapr_kit::TrustedCallers;
use todo_core::UserId;
use todo_proto::todo::v1::{
    ListTaskHistoryRequest, ListTaskHistoryResponse, audit_service_server::AuditService,
};
use tonic::{Request, Response, Status};

use crate::history::History;

/// Serves `todo.v1.AuditService`.
#[derive(Clone, Debug)]
pub struct AuditApi {
    history: History,
    trusted: TrustedCallers,
}

impl AuditApi {
    /// Serves `history` to the `trusted` callers.
    pub fn new(history: History, trusted: TrustedCallers) -> Self {
        Self { history, trusted }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    #[tracing::instrument(skip_all, fields(user_id, task_id = %request.get_ref().task_id))]
    async fn list_task_history(
        &self,
        request: Request<ListTaskHistoryRequest>,
    ) -> Result<Response<ListTaskHistoryResponse>, Status> {
        let caller = self.trusted.authorize(&request)?;
        let user = UserId::parse(&caller.user_id)
            .map_err(|_| Status::unauthenticated("the call carries an invalid user id"))?;
        tracing::Span::current().record("user_id", tracing::field::display(&user));
        Ok(Response::new(
            self.history.list(&user, request.get_ref()).await?,
        ))
    }
}
