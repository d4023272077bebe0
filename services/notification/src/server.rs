//! Startup: connect to the sidecar, read the page-token key, subscribe to `task-events`, take
//! the reminder jobs' triggers, and serve `NotificationService` with dapr-kit's app runner until
//! shutdown.

use std::future::Future;

use chrono::TimeDelta;
use dapr_kit::{
    AppCallbackService, AppListeners, AppServer, DaprClient, DaprError, JobHandlers, RunError,
    SecretKeyError, SecretKeyRef, SidecarWatch, Subscription, Subscriptions,
};
use todo_core::PageTokenKey;
use todo_proto::todo::v1::notification_service_server::NotificationServiceServer;

use crate::{
    Config,
    firing::{JOB_PREFIX, Reminding},
    handlers::NotificationApi,
    notifications::Notifications,
    reminders::Reminders,
    store::NotificationStore,
};

/// The key of the page-token secret inside the suite's secret.
pub const PAGE_TOKEN_KEY: &str = "page-token-key";
/// The topic of task changes.
pub const TASK_EVENTS_TOPIC: &str = "task-events";
/// Where task events this service drops, or gives up on, go.
pub const TASK_EVENTS_DEAD_LETTER_TOPIC: &str = "task-events-dlq";

/// Why notification could not start or stopped with an error.
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

/// Serves notification on `listeners` until `shutdown` resolves.
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
    let store = NotificationStore::new(dapr, config.state_store.clone(), config.pubsub.clone());
    let late_after = TimeDelta::from_std(config.late_after).unwrap_or(TimeDelta::MAX);
    let api = NotificationApi::new(
        Notifications::new(store.clone(), page_tokens),
        config.trusted_callers.clone(),
    );
    AppServer::new()
        .trusted_callers(&config.trusted_callers)
        .watch_sidecar(sidecar_watch)
        .grpc_service(NotificationServiceServer::new(api))
        .app_callback(callbacks(&config, store, late_after))
        .reflection(todo_proto::TODO_FILE_DESCRIPTOR_SET)
        .behind_sidecar(&config.settings)
        .run(listeners, shutdown)
        .await?;
    Ok(())
}

/// `task-events` (dead letters to `task-events-dlq`) and the `reminder-` jobs' triggers.
fn callbacks(
    config: &Config,
    store: NotificationStore,
    late_after: TimeDelta,
) -> AppCallbackService {
    let reminders = Reminders::new(store.clone());
    let reminding = Reminding::new(store, late_after);
    let task_events = Subscription::new(&config.pubsub, TASK_EVENTS_TOPIC)
        .default_route(move |event| {
            let reminders = reminders.clone();
            async move { reminders.on_task_event(event).await }
        })
        .dead_letter_topic(TASK_EVENTS_DEAD_LETTER_TOPIC);
    let jobs = JobHandlers::new().prefix(JOB_PREFIX, move |trigger| {
        let reminding = reminding.clone();
        async move { reminding.on_trigger(trigger).await }
    });
    AppCallbackService::new(Subscriptions::new().subscribe(task_events), jobs)
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
