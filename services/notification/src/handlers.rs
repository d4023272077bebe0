//! `NotificationApi`, the `todo.v1.NotificationService` implementation: each RPC checks the
//! caller (only the gateway is believed, and only for the user it names), then calls
//! [`Notifications`] for that user.

use dapr_kit::TrustedCallers;
use todo_core::ids::UserId;
use todo_proto::todo::v1::{self as proto, notification_service_server::NotificationService};
use tonic::{Request, Response, Status};

use crate::{error::Error, notifications::Notifications};

/// Serves `todo.v1.NotificationService`.
#[derive(Clone, Debug)]
pub struct NotificationApi {
    notifications: Notifications,
    trusted: TrustedCallers,
}

impl NotificationApi {
    /// Serves `notifications` to the `trusted` callers.
    pub fn new(notifications: Notifications, trusted: TrustedCallers) -> Self {
        Self {
            notifications,
            trusted,
        }
    }

    /// The user a vouched-for call acts for.
    fn user<T>(&self, request: &Request<T>) -> Result<UserId, Status> {
        let caller = self.trusted.authorize(request)?;
        let user = UserId::parse(&caller.user_id)
            .map_err(|_| Error::Unauthenticated("the call carries an invalid user id"))?;
        tracing::Span::current().record("user_id", tracing::field::display(&user));
        Ok(user)
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn list_notifications(
        &self,
        request: Request<proto::ListNotificationsRequest>,
    ) -> Result<Response<proto::ListNotificationsResponse>, Status> {
        let user = self.user(&request)?;
        let page = self.notifications.list(&user, request.get_ref()).await?;
        Ok(Response::new(page))
    }

    #[tracing::instrument(skip_all, fields(user_id, ids = request.get_ref().notification_ids.len()))]
    async fn mark_read(
        &self,
        request: Request<proto::MarkReadRequest>,
    ) -> Result<Response<proto::MarkReadResponse>, Status> {
        let user = self.user(&request)?;
        self.notifications
            .mark_read(&user, &request.get_ref().notification_ids)
            .await?;
        Ok(Response::new(proto::MarkReadResponse {}))
    }
}
