//! Sample subscriber apps for the pub/sub tests: [`Received`] records what dapr-kit handlers
//! get, and [`ScriptedApp`] is a hand-written `AppCallback` that answers whatever a test
//! scripts (statuses dapr-kit never sends, gRPC errors, or no answer at all).

#![allow(dead_code)] // each test module uses a different part

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr_kit::{HandlerError, TopicEvent};
use todo_proto::dapr::proto::runtime::v1::{
    self as dapr, app_callback_server::AppCallback, app_callback_server::AppCallbackServer,
};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::support::wait_until;

/// How long a test waits for an event that should arrive.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(10);

/// Events a dapr-kit handler received, in arrival order.
#[derive(Clone, Default)]
pub struct Received {
    events: Arc<Mutex<Vec<TopicEvent>>>,
}

impl Received {
    /// A handler that records each event and answers SUCCESS.
    pub fn record(
        &self,
    ) -> impl Fn(TopicEvent) -> futures::future::Ready<Result<(), HandlerError>> + Send + Sync + 'static
    {
        self.record_then(|_| Ok(()))
    }

    /// A handler that records each event and answers what `answer` says.
    pub fn record_then(
        &self,
        answer: impl Fn(&TopicEvent) -> Result<(), HandlerError> + Send + Sync + 'static,
    ) -> impl Fn(TopicEvent) -> futures::future::Ready<Result<(), HandlerError>> + Send + Sync + 'static
    {
        let events = self.events.clone();
        move |event| {
            let result = answer(&event);
            events.lock().unwrap().push(event);
            futures::future::ready(result)
        }
    }

    /// What arrived so far.
    pub fn events(&self) -> Vec<TopicEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The payloads that arrived so far, as text.
    pub fn payloads(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .map(|e| String::from_utf8_lossy(&e.data).into_owned())
            .collect()
    }

    /// Waits until at least `count` events arrived.
    pub async fn wait_for(&self, count: usize, description: &str) {
        wait_until(description, DELIVERY_DEADLINE, || async {
            self.events.lock().unwrap().len() >= count
        })
        .await;
    }
}

/// What a [`ScriptedApp`] does with one event.
pub enum Answer {
    /// Answers this status.
    Status(i32),
    /// Fails the call with this gRPC status.
    Error(Status),
    /// Fails the call with this gRPC status after a pause.
    ErrorAfter(Duration, Status),
    /// Never answers.
    Hang,
}

/// One `OnTopicEvent` call a [`ScriptedApp`] received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The request.
    pub request: dapr::TopicEventRequest,
    /// Its gRPC metadata (text entries).
    pub metadata: HashMap<String, String>,
    /// When it arrived.
    pub at: Instant,
}

type Script = dyn Fn(&dapr::TopicEventRequest) -> Answer + Send + Sync;

/// A hand-written `AppCallback` with fixed subscriptions and scripted answers.
#[derive(Clone)]
pub struct ScriptedApp {
    subscriptions: Vec<dapr::TopicSubscription>,
    script: Arc<Script>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl ScriptedApp {
    /// An app subscribed to `subscriptions` answering by `script`.
    pub fn new(
        subscriptions: Vec<dapr::TopicSubscription>,
        script: impl Fn(&dapr::TopicEventRequest) -> Answer + Send + Sync + 'static,
    ) -> Self {
        Self {
            subscriptions,
            script: Arc::new(script),
            calls: Arc::default(),
        }
    }

    /// The app's gRPC routes.
    pub fn routes(&self) -> tonic::service::Routes {
        tonic::service::Routes::new(AppCallbackServer::new(self.clone()))
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls whose event data is `data`.
    pub fn calls_with(&self, data: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.request.data == data.as_bytes())
            .collect()
    }

    /// Waits until at least `count` calls arrived.
    pub async fn wait_for(&self, count: usize, description: &str) {
        wait_until(description, DELIVERY_DEADLINE, || async {
            self.calls.lock().unwrap().len() >= count
        })
        .await;
    }
}

/// A subscription to `topic` on `pubsub` with an optional dead-letter topic.
pub fn subscription(pubsub: &str, topic: &str, dead_letter_topic: &str) -> dapr::TopicSubscription {
    dapr::TopicSubscription {
        pubsub_name: pubsub.into(),
        topic: topic.into(),
        dead_letter_topic: dead_letter_topic.into(),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl AppCallback for ScriptedApp {
    async fn list_topic_subscriptions(
        &self,
        _request: Request<()>,
    ) -> Result<Response<dapr::ListTopicSubscriptionsResponse>, Status> {
        Ok(Response::new(dapr::ListTopicSubscriptionsResponse {
            subscriptions: self.subscriptions.clone(),
        }))
    }

    async fn on_topic_event(
        &self,
        request: Request<dapr::TopicEventRequest>,
    ) -> Result<Response<dapr::TopicEventResponse>, Status> {
        let metadata = request
            .metadata()
            .iter()
            .filter_map(|entry| match entry {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let request = request.into_inner();
        let answer = (self.script)(&request);
        self.calls.lock().unwrap().push(Call {
            request,
            metadata,
            at: Instant::now(),
        });
        match answer {
            Answer::Status(status) => Ok(Response::new(dapr::TopicEventResponse { status })),
            Answer::Error(status) => Err(status),
            Answer::ErrorAfter(pause, status) => {
                tokio::time::sleep(pause).await;
                Err(status)
            }
            Answer::Hang => std::future::pending().await,
        }
    }
}
