//! Programmatic subscriptions: what `ListTopicSubscriptions` answers, and which handler an
//! `OnTopicEvent` reaches.

use std::{collections::HashMap, sync::Arc};

use futures::future::BoxFuture;
use todo_proto::dapr::proto::runtime::v1 as dapr;

use super::topic_event::{HandlerError, TopicEvent};

/// Handles events of one route. Implemented for every
/// `Fn(TopicEvent) -> impl Future<Output = Result<(), HandlerError>>`.
pub trait TopicHandler: Send + Sync + 'static {
    /// Processes one event.
    fn handle(&self, event: TopicEvent) -> BoxFuture<'static, Result<(), HandlerError>>;
}

impl<F, Fut> TopicHandler for F
where
    F: Fn(TopicEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(&self, event: TopicEvent) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(self(event))
    }
}

/// The path daprd sends for events that match no rule, when rules exist.
const DEFAULT_PATH: &str = "default";

/// One subscription: a topic of a pub/sub component, optional CEL routes, a dead-letter topic.
pub struct Subscription {
    pubsub_name: String,
    topic: String,
    metadata: HashMap<String, String>,
    dead_letter_topic: String,
    rules: Vec<dapr::TopicRule>,
    handlers: HashMap<String, Arc<dyn TopicHandler>>,
    default_handler: Option<Arc<dyn TopicHandler>>,
}

impl Subscription {
    /// Subscribes to `topic` on the component `pubsub_name`.
    pub fn new(pubsub_name: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            pubsub_name: pubsub_name.into(),
            topic: topic.into(),
            metadata: HashMap::new(),
            dead_letter_topic: String::new(),
            rules: Vec::new(),
            handlers: HashMap::new(),
            default_handler: None,
        }
    }

    /// Sends events matching the CEL expression `cel` (over `event`) to `handler`; rules are
    /// tried in the order they are added.
    pub fn route(mut self, cel: &str, path: &str, handler: impl TopicHandler) -> Self {
        self.rules.push(dapr::TopicRule {
            r#match: cel.to_string(),
            path: path.to_string(),
        });
        self.handlers.insert(path.to_string(), Arc::new(handler));
        self
    }

    /// Sends every event no rule matches to `handler`. Without one, daprd acknowledges and
    /// drops unmatched events.
    pub fn default_route(mut self, handler: impl TopicHandler) -> Self {
        self.default_handler = Some(Arc::new(handler));
        self
    }

    /// Publishes events this app drops, or gives up on, to `topic`.
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = topic.into();
        self
    }

    /// Adds subscription metadata passed to the component.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.to_string(), value.to_string());
        self
    }

    fn to_wire(&self) -> dapr::TopicSubscription {
        // No rules: leave routes unset, so daprd delivers everything with path "" (§2.2).
        let routes = (!self.rules.is_empty()).then(|| dapr::TopicRoutes {
            rules: self.rules.clone(),
            default: if self.default_handler.is_some() {
                DEFAULT_PATH.into()
            } else {
                String::new()
            },
        });
        dapr::TopicSubscription {
            pubsub_name: self.pubsub_name.clone(),
            topic: self.topic.clone(),
            metadata: self.metadata.clone(),
            routes,
            dead_letter_topic: self.dead_letter_topic.clone(),
            bulk_subscribe: None,
        }
    }

    fn handler_for(&self, path: &str) -> Option<Arc<dyn TopicHandler>> {
        self.handlers
            .get(path)
            .or(self.default_handler.as_ref())
            .cloned()
    }
}

/// All of an app's subscriptions.
#[derive(Default)]
pub struct Subscriptions {
    subscriptions: Vec<Subscription>,
}

impl Subscriptions {
    /// No subscriptions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `subscription`; a later one for the same pub/sub and topic replaces it, as in Dapr.
    pub fn subscribe(mut self, subscription: Subscription) -> Self {
        self.subscriptions.retain(|s| {
            (s.pubsub_name.as_str(), s.topic.as_str())
                != (
                    subscription.pubsub_name.as_str(),
                    subscription.topic.as_str(),
                )
        });
        self.subscriptions.push(subscription);
        self
    }

    pub(crate) fn to_wire(&self) -> dapr::ListTopicSubscriptionsResponse {
        dapr::ListTopicSubscriptionsResponse {
            subscriptions: self
                .subscriptions
                .iter()
                .map(Subscription::to_wire)
                .collect(),
        }
    }

    /// The handler for an event delivered on `pubsub_name`/`topic` with route `path`.
    pub(crate) fn handler_for(
        &self,
        pubsub_name: &str,
        topic: &str,
        path: &str,
    ) -> Option<Arc<dyn TopicHandler>> {
        self.subscriptions
            .iter()
            .find(|s| s.pubsub_name == pubsub_name && s.topic == topic)?
            .handler_for(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok(_: TopicEvent) -> Result<(), HandlerError> {
        Ok(())
    }

    #[test]
    fn a_subscription_without_rules_leaves_routes_unset() {
        let subscriptions = Subscriptions::new().subscribe(
            Subscription::new("pubsub", "task-events")
                .default_route(ok)
                .dead_letter_topic("task-events-dlq"),
        );
        let wire = subscriptions.to_wire().subscriptions;
        assert_eq!(wire.len(), 1);
        assert_eq!(wire[0].routes, None);
        assert_eq!(wire[0].dead_letter_topic, "task-events-dlq");
        assert!(
            subscriptions
                .handler_for("pubsub", "task-events", "")
                .is_some()
        );
    }

    #[test]
    fn rules_keep_their_order_and_unmatched_events_reach_the_default() {
        let subscription = Subscription::new("pubsub", "t")
            .route("event.type == \"a\"", "a", ok)
            .route("event.type == \"b\"", "b", ok)
            .default_route(ok);
        let routes = subscription.to_wire().routes.unwrap();
        let paths: Vec<_> = routes.rules.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["a", "b"]);
        assert_eq!(routes.default, DEFAULT_PATH);
        let subscriptions = Subscriptions::new().subscribe(subscription);
        assert!(
            subscriptions
                .handler_for("pubsub", "t", DEFAULT_PATH)
                .is_some()
        );
        assert!(
            subscriptions
                .handler_for("pubsub", "other-topic", "a")
                .is_none()
        );
    }

    #[test]
    fn without_a_default_only_routed_paths_have_handlers() {
        let subscriptions =
            Subscriptions::new().subscribe(Subscription::new("pubsub", "t").route("true", "a", ok));
        assert_eq!(
            subscriptions.to_wire().subscriptions[0]
                .routes
                .as_ref()
                .unwrap()
                .default,
            ""
        );
        assert!(subscriptions.handler_for("pubsub", "t", "a").is_some());
        assert!(subscriptions.handler_for("pubsub", "t", "zzz").is_none());
    }

    #[test]
    fn a_second_subscription_to_a_topic_replaces_the_first() {
        let subscriptions = Subscriptions::new()
            .subscribe(Subscription::new("pubsub", "t").dead_letter_topic("one"))
            .subscribe(Subscription::new("pubsub", "t").dead_letter_topic("two"));
        let wire = subscriptions.to_wire().subscriptions;
        assert_eq!(wire.len(), 1);
        assert_eq!(wire[0].dead_letter_topic, "two");
    }
}
