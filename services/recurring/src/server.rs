//! Startup: connect to the sidecar, subscribe to `task-events`, and serve Dapr's AppCallback
//! with dapr-kit's app runner until shutdown.

use std::future::Future;

use dapr_kit::{
    AppCallbackService, AppListeners, AppServer, DaprClient, DaprError, JobHandlers, RunError,
    SidecarWatch, Subscription, Subscriptions, TopicEvent,
};

use crate::{
    Config,
    config::{TASK_EVENTS_DEAD_LETTER_TOPIC, TASK_EVENTS_TOPIC},
    occurrences::Occurrences,
};

/// Why recurring could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The sidecar could not be reached at startup.
    #[error("dapr sidecar unavailable at startup")]
    Dapr(#[from] DaprError),
    /// Serving failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Serves recurring on `listeners` until `shutdown` resolves.
///
/// # Errors
/// When the sidecar is unavailable at startup, there is no app token (and no insecure
/// override), or serving fails.
pub async fn run(
    config: Config,
    listeners: AppListeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let dapr = DaprClient::connect(&config.settings.dapr).await?;
    crate::metrics::describe();
    let sidecar_watch = SidecarWatch::new(dapr.clone(), &config.settings.dapr);
    let occurrences = Occurrences::new(dapr, config.tasks_app_id.clone());
    let on_task_event = move |event: TopicEvent| {
        let occurrences = occurrences.clone();
        async move { occurrences.on_task_event(event).await }
    };
    let subscriptions = Subscriptions::new().subscribe(
        Subscription::new(&config.pubsub, TASK_EVENTS_TOPIC)
            .dead_letter_topic(TASK_EVENTS_DEAD_LETTER_TOPIC)
            .default_route(on_task_event),
    );
    AppServer::new()
        .trusted_callers(&config.event_trust)
        .watch_sidecar(sidecar_watch)
        .app_callback(AppCallbackService::new(subscriptions, JobHandlers::new()))
        .behind_sidecar(&config.settings)
        .run(listeners, shutdown)
        .await?;
    Ok(())
}
