//! `SyncApi`: the `SyncService` impl. It checks that the gateway is calling, for which user,
//! and opens a watch of that user's items.

use std::{sync::Arc, time::Duration};

use dapr_kit::TrustedCallers;
use todo_proto::todo::v1::{
    WatchTasksRequest, WatchTasksResponse, sync_service_server::SyncService,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::hub::Hub;

/// Serves `todo.v1.SyncService`.
#[derive(Clone, Debug)]
pub struct SyncApi {
    hub: Arc<Hub>,
    trusted_callers: TrustedCallers,
    heartbeat: Duration,
    shutting_down: CancellationToken,
}

impl SyncApi {
    pub(crate) fn new(
        hub: Arc<Hub>,
        trusted_callers: TrustedCallers,
        heartbeat: Duration,
        shutting_down: CancellationToken,
    ) -> Self {
        Self {
            hub,
            trusted_callers,
            heartbeat,
            shutting_down,
        }
    }
}

#[tonic::async_trait]
impl SyncService for SyncApi {
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn watch_tasks(
        &self,
        request: Request<WatchTasksRequest>,
    ) -> Result<Response<BoxStream<WatchTasksResponse>>, Status> {
        let caller = self.trusted_callers.authorize(&request)?;
        tracing::Span::current().record("user_id", caller.user_id.as_str());
        tracing::debug!("watch opened");
        let watcher = self.hub.watch(&caller.user_id);
        let stream = crate::watch::stream(watcher, self.heartbeat, self.shutting_down.clone());
        Ok(Response::new(Box::pin(stream)))
    }
}
