//! Startup: connect to the sidecar, read the page-token key, and serve `TaskService` with
//! dapr-kit's app runner until shutdown.

use std::future::Future;

use dapr_kit::{
    AppCallbackService, AppListeners, AppServer, DaprClient, DaprError, JobHandlers, RunError,
    SecretKeyError, SecretKeyRef, SidecarWatch, Subscriptions,
};
use todo_core::PageTokenKey;
use todo_proto::todo::v1::task_service_server::TaskServiceServer;

use crate::{Config, handlers::TaskApi, store::TaskStore, tasks::Tasks};

/// The key of the page-token secret inside the suite's secret.
pub const PAGE_TOKEN_KEY: &str = "page-token-key";

/// Why todo-api could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The sidecar could not be reached, or refused a startup call.
    #[error("dapr sidecar unavailable at startup")]
    Dapr(#[from] DaprError),
    /// The page-token key cannot be read or is too weak.
    #[error(transparent)]
    PageTokenKey(#[from] SecretKeyError),
    /// Serving failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Serves todo-api on `listeners` until `shutdown` resolves.
///
/// # Errors
/// When the sidecar or the page-token secret is unavailable, or serving fails.
pub async fn run(
    config: Config,
    listeners: AppListeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let dapr = DaprClient::connect(&config.settings.dapr).await?;
    let page_tokens = page_token_key(&dapr, &config).await?;
    crate::metrics::describe();
    let sidecar_watch = SidecarWatch::new(dapr.clone(), &config.settings.dapr);
    let tasks = Tasks::new(
        TaskStore::new(dapr, config.state_store.clone()),
        page_tokens,
    );
    let api = TaskApi::new(tasks, config.trusted_callers.clone());
    AppServer::new()
        .trusted_callers(&config.trusted_callers)
        .watch_sidecar(sidecar_watch)
        .grpc_service(TaskServiceServer::new(api))
        .app_callback(AppCallbackService::new(
            Subscriptions::new(),
            JobHandlers::new(),
        ))
        .reflection(todo_proto::TODO_FILE_DESCRIPTOR_SET)
        .behind_sidecar(&config.settings)
        .run(listeners, shutdown)
        .await?;
    Ok(())
}

async fn page_token_key(dapr: &DaprClient, config: &Config) -> Result<PageTokenKey, ServerError> {
    let at = SecretKeyRef::new(
        &config.secret_store,
        &config.secret_name,
        PAGE_TOKEN_KEY,
        format!(
            "the page-token key (at least {} random bytes)",
            PageTokenKey::MIN_LEN
        ),
    );
    Ok(dapr
        .read_secret_key(&at, |value| PageTokenKey::new(value))
        .await?)
}
