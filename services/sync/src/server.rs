//! Startup: connect to the sidecar and serve `SyncService` and the subscriptions with
//! dapr-kit's app runner until shutdown; open watches end with `Unavailable` when it begins.

use std::future::Future;

use dapr_kit::{
    AppCallbackService, AppListeners, AppServer, DaprClient, DaprError, JobHandlers, RunError,
    SidecarWatch,
};
use todo_proto::todo::v1::sync_service_server::SyncServiceServer;
use tokio_util::sync::CancellationToken;

use crate::{Config, handlers::SyncApi, hub::Hub};

/// Why sync could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The sidecar could not be reached at startup.
    #[error("dapr sidecar unavailable at startup")]
    Dapr(#[from] DaprError),
    /// Serving failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Serves sync on `listeners` until `shutdown` resolves.
///
/// # Errors
/// When the sidecar is unavailable, or serving fails.
pub async fn run(
    config: Config,
    listeners: AppListeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let dapr = DaprClient::connect(&config.settings.dapr).await?;
    crate::metrics::describe();
    let hub = Hub::new(config.buffer_events);
    let shutting_down = CancellationToken::new();
    let api = SyncApi::new(
        hub.clone(),
        config.trusted_callers.clone(),
        config.heartbeat,
        shutting_down.clone(),
    );
    AppServer::new()
        .trusted_callers(&config.trusted_callers)
        .watch_sidecar(SidecarWatch::new(dapr, &config.settings.dapr))
        .grpc_service(SyncServiceServer::new(api))
        .app_callback(AppCallbackService::new(
            crate::events::subscriptions(&config.pubsub, &hub),
            JobHandlers::new(),
        ))
        .reflection(todo_proto::TODO_FILE_DESCRIPTOR_SET)
        .behind_sidecar(&config.settings)
        .notify_shutdown(shutting_down)
        .run(listeners, shutdown)
        .await?;
    Ok(())
}
