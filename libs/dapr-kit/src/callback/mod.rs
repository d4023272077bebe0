//! The app side of Dapr: the `AppCallback`, `AppCallbackAlpha` and `AppCallbackHealthCheck`
//! services daprd calls to deliver events and job triggers.
//!
//! A service describes its [`Subscriptions`] and [`JobHandlers`]; [`AppCallbackService`]
//! answers daprd. Outcomes follow reference §2.3 and §3.3: a handler's `Ok` is SUCCESS, a
//! transient error RETRY, a poison event DROP; a job handler's transient error fails the trigger
//! (the job's failure policy retries it), and a poison trigger is logged and consumed.

mod jobs;
mod subscriptions;
mod token;
mod topic_event;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use todo_proto::dapr::proto::{
    common::v1 as common,
    runtime::v1::{
        self as dapr, app_callback_alpha_server::AppCallbackAlpha,
        app_callback_health_check_server::AppCallbackHealthCheck, app_callback_server::AppCallback,
    },
};
use tonic::{Request, Response, Status, metadata::MetadataMap};

pub use jobs::{JobHandler, JobHandlers, JobTrigger};
pub use subscriptions::{Subscription, Subscriptions, TopicHandler};
pub use token::{AppTokenLayer, AppTokenService};
pub use topic_event::{BoxError, EventOutcome, HandlerError, TopicEvent};

use crate::metrics;

/// Answers daprd's callbacks for one app.
#[derive(Clone)]
pub struct AppCallbackService {
    subscriptions: Arc<Subscriptions>,
    jobs: Arc<JobHandlers>,
    healthy: Arc<AtomicBool>,
}

impl AppCallbackService {
    /// Serves `subscriptions` and `jobs`; healthy until [`AppCallbackService::set_healthy`].
    pub fn new(subscriptions: Subscriptions, jobs: JobHandlers) -> Self {
        Self {
            subscriptions: Arc::new(subscriptions),
            jobs: Arc::new(jobs),
            healthy: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Sets what `HealthCheck` answers; while unhealthy, daprd pauses deliveries (§2.6).
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Adds the three callback services to a tonic router.
    pub fn add_to(self, routes: &mut tonic::service::RoutesBuilder) {
        use dapr::{
            app_callback_alpha_server::AppCallbackAlphaServer,
            app_callback_health_check_server::AppCallbackHealthCheckServer,
            app_callback_server::AppCallbackServer,
        };
        routes
            .add_service(AppCallbackServer::new(self.clone()))
            .add_service(AppCallbackAlphaServer::new(self.clone()))
            .add_service(AppCallbackHealthCheckServer::new(self));
    }

    /// The three callback services as a router of their own.
    pub fn into_routes(self) -> tonic::service::Routes {
        let mut routes = tonic::service::RoutesBuilder::default();
        self.add_to(&mut routes);
        routes.routes()
    }

    async fn dispatch_event(
        &self,
        request: dapr::TopicEventRequest,
        metadata: HashMap<String, String>,
    ) -> dapr::TopicEventResponse {
        let event = TopicEvent::from_wire(request, metadata);
        let (topic, event_id, path) = (event.topic.clone(), event.id.clone(), event.path.clone());
        let Some(handler) = self
            .subscriptions
            .handler_for(&event.pubsub_name, &topic, &path)
        else {
            // daprd itself acks and drops events that match no route (§2.2): do the same.
            tracing::warn!(topic, event_id, path, "no handler for event, dropping");
            metrics::record_event(&topic, EventOutcome::Drop, None);
            return dapr::TopicEventResponse {
                status: EventOutcome::Drop.to_wire() as i32,
            };
        };
        let started = Instant::now();
        let span = tracing::info_span!("handle event", topic, event_id, path);
        if let Some(traceparent) = event.trace_parent() {
            let parent = todo_telemetry::propagation::context_from_traceparent(
                traceparent,
                event.extension("tracestate"),
            );
            todo_telemetry::propagation::set_parent(&span, parent);
        }
        let result = tracing::Instrument::instrument(handler.handle(event), span.clone()).await;
        let outcome = EventOutcome::of(&result);
        let _entered = span.enter();
        match &result {
            Ok(()) => tracing::debug!(outcome = outcome.as_str(), "event handled"),
            Err(HandlerError::Transient(error)) => {
                tracing::warn!(outcome = outcome.as_str(), error = %error, "event not handled, dapr will retry");
            }
            Err(HandlerError::Poison(error)) => {
                tracing::error!(outcome = outcome.as_str(), error = %error, "poison event, dropping to the dead-letter topic");
            }
        }
        metrics::record_event(&topic, outcome, Some(started.elapsed()));
        dapr::TopicEventResponse {
            status: outcome.to_wire() as i32,
        }
    }

    async fn dispatch_job(&self, request: dapr::JobEventRequest) -> Result<(), Status> {
        let trigger = JobTrigger::from_wire(request);
        let job = trigger.name.clone();
        let Some(handler) = self.jobs.handler_for(&job) else {
            // NotFound counts as delivered for daprd (§3.3): an unknown job is not retried.
            tracing::warn!(job, "no handler for job trigger");
            metrics::record_job("unknown");
            return Err(Status::not_found(format!("no handler for job {job}")));
        };
        let span = tracing::info_span!("handle job", job);
        let result = tracing::Instrument::instrument(handler.handle(trigger), span.clone()).await;
        let _entered = span.enter();
        match result {
            Ok(()) => {
                tracing::debug!("job trigger handled");
                metrics::record_job("success");
                Ok(())
            }
            Err(HandlerError::Transient(error)) => {
                tracing::warn!(error = %error, "job trigger failed, its failure policy will retry it");
                metrics::record_job("retry");
                Err(Status::unavailable("job trigger failed, retry later"))
            }
            Err(HandlerError::Poison(error)) => {
                tracing::error!(error = %error, "job trigger can never succeed, consuming it");
                metrics::record_job("drop");
                Ok(())
            }
        }
    }
}

/// daprd forwards broker metadata as gRPC metadata; keep the text entries.
fn text_metadata(metadata: &MetadataMap) -> HashMap<String, String> {
    metadata
        .iter()
        .filter_map(|entry| match entry {
            tonic::metadata::KeyAndValueRef::Ascii(key, value) => {
                Some((key.as_str().to_string(), value.to_str().ok()?.to_string()))
            }
            tonic::metadata::KeyAndValueRef::Binary(..) => None,
        })
        .collect()
}

#[tonic::async_trait]
impl AppCallback for AppCallbackService {
    async fn on_invoke(
        &self,
        _request: Request<common::InvokeRequest>,
    ) -> Result<Response<common::InvokeResponse>, Status> {
        Err(Status::unimplemented(
            "this app is called through gRPC proxying, not OnInvoke",
        ))
    }

    async fn list_topic_subscriptions(
        &self,
        _request: Request<()>,
    ) -> Result<Response<dapr::ListTopicSubscriptionsResponse>, Status> {
        Ok(Response::new(self.subscriptions.to_wire()))
    }

    async fn on_topic_event(
        &self,
        request: Request<dapr::TopicEventRequest>,
    ) -> Result<Response<dapr::TopicEventResponse>, Status> {
        let metadata = text_metadata(request.metadata());
        Ok(Response::new(
            self.dispatch_event(request.into_inner(), metadata).await,
        ))
    }

    async fn list_input_bindings(
        &self,
        _request: Request<()>,
    ) -> Result<Response<dapr::ListInputBindingsResponse>, Status> {
        Ok(Response::new(dapr::ListInputBindingsResponse::default()))
    }

    async fn on_bulk_topic_event(
        &self,
        request: Request<dapr::TopicEventBulkRequest>,
    ) -> Result<Response<dapr::TopicEventBulkResponse>, Status> {
        let metadata = text_metadata(request.metadata());
        Ok(Response::new(
            self.dispatch_bulk(request.into_inner(), metadata).await,
        ))
    }

    async fn on_job_event(
        &self,
        request: Request<dapr::JobEventRequest>,
    ) -> Result<Response<dapr::JobEventResponse>, Status> {
        self.dispatch_job(request.into_inner()).await?;
        Ok(Response::new(dapr::JobEventResponse {}))
    }
}

impl AppCallbackService {
    /// Delivers each entry of a bulk request to the single-event path, one at a time.
    async fn dispatch_bulk(
        &self,
        request: dapr::TopicEventBulkRequest,
        metadata: HashMap<String, String>,
    ) -> dapr::TopicEventBulkResponse {
        use dapr::topic_event_bulk_request_entry::Event;
        let mut statuses = Vec::with_capacity(request.entries.len());
        for entry in request.entries {
            let event = match entry.event {
                Some(Event::CloudEvent(ce)) => dapr::TopicEventRequest {
                    id: ce.id,
                    source: ce.source,
                    r#type: ce.r#type,
                    spec_version: ce.spec_version,
                    data_content_type: ce.data_content_type,
                    data: ce.data,
                    extensions: ce.extensions,
                    ..Default::default()
                },
                Some(Event::Bytes(bytes)) => dapr::TopicEventRequest {
                    id: entry.entry_id.clone(),
                    data_content_type: entry.content_type.clone(),
                    data: bytes,
                    ..Default::default()
                },
                None => dapr::TopicEventRequest::default(),
            };
            let event = dapr::TopicEventRequest {
                topic: request.topic.clone(),
                pubsub_name: request.pubsub_name.clone(),
                path: request.path.clone(),
                ..event
            };
            let mut entry_metadata = metadata.clone();
            entry_metadata.extend(entry.metadata);
            let response = self.dispatch_event(event, entry_metadata).await;
            statuses.push(dapr::TopicEventBulkResponseEntry {
                entry_id: entry.entry_id,
                status: response.status,
            });
        }
        dapr::TopicEventBulkResponse { statuses }
    }
}

#[tonic::async_trait]
impl AppCallbackAlpha for AppCallbackService {
    async fn on_bulk_topic_event_alpha1(
        &self,
        request: Request<dapr::TopicEventBulkRequest>,
    ) -> Result<Response<dapr::TopicEventBulkResponse>, Status> {
        AppCallback::on_bulk_topic_event(self, request).await
    }

    async fn on_job_event_alpha1(
        &self,
        request: Request<dapr::JobEventRequest>,
    ) -> Result<Response<dapr::JobEventResponse>, Status> {
        AppCallback::on_job_event(self, request).await
    }
}

#[tonic::async_trait]
impl AppCallbackHealthCheck for AppCallbackService {
    async fn health_check(
        &self,
        _request: Request<()>,
    ) -> Result<Response<dapr::HealthCheckResponse>, Status> {
        if self.healthy.load(Ordering::Relaxed) {
            Ok(Response::new(dapr::HealthCheckResponse {}))
        } else {
            Err(Status::unavailable("app is shutting down"))
        }
    }
}
