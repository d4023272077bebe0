//! Startup: connect to the sidecar, read the database URL and the page-token key from the
//! secret store, open the pool and migrate, then serve `AuditService` and the `task-events`
//! subscription with dapr-kit's app runner until shutdown.

use std::future::Future;

use dapr_kit::{
    AppCallbackService, AppListeners, AppServer, DaprClient, DaprError, JobHandlers, RunError,
    SecretKeyError, SecretKeyRef, SidecarWatch,
};
use todo_core::PageTokenKey;
use todo_proto::todo::v1::audit_service_server::AuditServiceServer;

use crate::{
    Config,
    database_url::DatabaseUrl,
    handlers::AuditApi,
    history::History,
    recorder,
    store::{AuditLog, StoreError},
};

/// The key of the database's connection string inside the suite's secret.
pub const DATABASE_URL_KEY: &str = "audit-database-url";
/// The key of the page-token secret inside the suite's secret.
pub const PAGE_TOKEN_KEY: &str = "page-token-key";

/// Why audit could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The sidecar could not be reached, or refused a startup call.
    #[error("dapr sidecar unavailable at startup")]
    Dapr(#[from] DaprError),
    /// A secret cannot be read or used.
    #[error(transparent)]
    Secret(#[from] SecretKeyError),
    /// The database cannot be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Serving failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Serves audit on `listeners` until `shutdown` resolves.
///
/// # Errors
/// When the sidecar, a secret or the database is unavailable, or serving fails.
pub async fn run(
    config: Config,
    listeners: AppListeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let dapr = DaprClient::connect(&config.settings.dapr).await?;
    let database_url = dapr
        .read_secret_key(
            &secret(&config, DATABASE_URL_KEY, database_url_purpose()),
            DatabaseUrl::parse,
        )
        .await?;
    let page_tokens = dapr
        .read_secret_key(
            &secret(
                &config,
                PAGE_TOKEN_KEY,
                format!(
                    "the page-token key (at least {} random bytes)",
                    PageTokenKey::MIN_LEN
                ),
            ),
            |value| PageTokenKey::new(value),
        )
        .await?;
    let log = AuditLog::connect(&database_url, config.database_max_connections).await?;
    tracing::info!(
        database = database_url.kind(),
        "audit log opened and migrated"
    );
    crate::metrics::describe();
    let sidecar_watch = SidecarWatch::new(dapr, &config.settings.dapr);
    let api = AuditApi::new(
        History::new(log.clone(), page_tokens),
        config.trusted_callers.clone(),
    );
    let served = AppServer::new()
        .trusted_callers(&config.trusted_callers)
        .watch_sidecar(sidecar_watch)
        .grpc_service(AuditServiceServer::new(api))
        .app_callback(AppCallbackService::new(
            recorder::subscriptions(log.clone(), &config.pubsub_name),
            JobHandlers::new(),
        ))
        .reflection(todo_proto::TODO_FILE_DESCRIPTOR_SET)
        .behind_sidecar(&config.settings)
        .run(listeners, shutdown)
        .await;
    log.close().await;
    Ok(served?)
}

fn secret(config: &Config, key: &'static str, purpose: impl Into<String>) -> SecretKeyRef {
    SecretKeyRef::new(&config.secret_store, &config.secret_name, key, purpose)
}

fn database_url_purpose() -> &'static str {
    "the audit database's connection string (postgres://user:password@host/db, or \
     sqlite:///path/audit.db)"
}
