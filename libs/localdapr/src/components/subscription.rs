//! Declarative `Subscription` resources (reference §7.4): `dapr.io/v2alpha1` with routes, and
//! the older `dapr.io/v1alpha1` with a single `route`. Each becomes the `TopicSubscription` an
//! app would have listed, plus the apps it is scoped to; merging with the app's programmatic
//! subscriptions happens when the app connects (`pubsub::subscriptions`).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use todo_proto::dapr::proto::runtime::v1 as dapr;

use super::{ResourceError, yaml_scalar};

/// One `Subscription` resource.
#[derive(Clone, Debug, PartialEq)]
pub struct DeclarativeSubscription {
    /// `metadata.name`.
    pub name: String,
    /// The subscription as `ListTopicSubscriptions` would carry it.
    pub subscription: dapr::TopicSubscription,
    /// The apps it applies to (top-level `scopes`); empty means every app.
    pub scopes: Vec<String>,
    /// The file it came from.
    pub file: PathBuf,
}

impl DeclarativeSubscription {
    /// Whether `app_id` subscribes through this resource.
    pub fn applies_to(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }

    /// Parses a `Subscription` document of `api_version`.
    pub(super) fn parse(
        file: &Path,
        api_version: &str,
        value: serde_yaml_ng::Value,
    ) -> Result<Self, ResourceError> {
        let invalid = |reason: String| ResourceError::Invalid {
            path: file.to_path_buf(),
            reason,
        };
        let version = match api_version {
            "dapr.io/v2alpha1" => Version::V2alpha1,
            "dapr.io/v1alpha1" => Version::V1alpha1,
            other => {
                return Err(invalid(format!(
                    "Subscription apiVersion {other:?} is not supported (dapr.io/v2alpha1 or \
                     dapr.io/v1alpha1)"
                )));
            }
        };
        let document: Document =
            serde_yaml_ng::from_value(value).map_err(|e| invalid(e.to_string()))?;
        let name = document.metadata.name;
        let spec = document.spec;
        if spec.pubsubname.is_empty() || spec.topic.is_empty() {
            return Err(invalid(format!(
                "Subscription {name} needs spec.pubsubname and spec.topic"
            )));
        }
        let routes = match version {
            Version::V2alpha1 => spec.routes.map(|routes| dapr::TopicRoutes {
                rules: routes
                    .rules
                    .into_iter()
                    .map(|rule| dapr::TopicRule {
                        r#match: rule.r#match,
                        path: rule.path,
                    })
                    .collect(),
                default: routes.default,
            }),
            // v1alpha1 has one route for every event: a default with no rules.
            Version::V1alpha1 => spec.route.map(|route| dapr::TopicRoutes {
                rules: Vec::new(),
                default: route,
            }),
        };
        let mut metadata = HashMap::new();
        for (key, value) in spec.metadata {
            let value = yaml_scalar(&value).ok_or_else(|| {
                invalid(format!(
                    "metadata {key} of Subscription {name} is not a scalar"
                ))
            })?;
            metadata.insert(key, value);
        }
        let bulk_subscribe = spec.bulk_subscribe.map(|bulk| dapr::BulkSubscribeConfig {
            enabled: bulk.enabled,
            max_messages_count: bulk.max_messages_count,
            max_await_duration_ms: bulk.max_await_duration_ms,
        });
        Ok(Self {
            name,
            subscription: dapr::TopicSubscription {
                pubsub_name: spec.pubsubname,
                topic: spec.topic,
                metadata,
                routes,
                dead_letter_topic: spec.dead_letter_topic,
                bulk_subscribe,
            },
            scopes: document.scopes,
            file: file.to_path_buf(),
        })
    }
}

enum Version {
    V2alpha1,
    V1alpha1,
}

#[derive(Deserialize)]
struct Document {
    metadata: super::NameOnly,
    spec: Spec,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    pubsubname: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    routes: Option<RoutesSpec>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    dead_letter_topic: String,
    #[serde(default)]
    metadata: HashMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    bulk_subscribe: Option<BulkSubscribeSpec>,
}

#[derive(Deserialize)]
struct RoutesSpec {
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    default: String,
}

#[derive(Deserialize)]
struct RuleSpec {
    #[serde(default, rename = "match")]
    r#match: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkSubscribeSpec {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    max_messages_count: i32,
    #[serde(default)]
    max_await_duration_ms: i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::Resources;

    const SUBSCRIPTIONS: &str = r#"
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: task-events
spec:
  pubsubname: pubsub
  topic: task-events
  routes:
    rules:
      - match: event.type == "task.completed"
        path: completed
    default: other
  deadLetterTopic: task-events-dlq
  metadata:
    rawPayload: true
  bulkSubscribe:
    enabled: true
    maxMessagesCount: 10
    maxAwaitDurationMs: 500
scopes:
  - audit
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: legacy
spec:
  pubsubname: pubsub
  topic: legacy
  route: /legacy
"#;

    #[test]
    fn v2alpha1_and_v1alpha1_subscriptions_load_with_their_scopes() {
        let mut resources = Resources::default();
        resources
            .add_documents(Path::new("s.yaml"), SUBSCRIPTIONS)
            .unwrap();
        let [v2, v1] = resources.subscriptions.as_slice() else {
            panic!("two subscriptions: {:?}", resources.subscriptions);
        };
        assert_eq!(v2.name, "task-events");
        assert_eq!(
            v2.subscription,
            dapr::TopicSubscription {
                pubsub_name: "pubsub".into(),
                topic: "task-events".into(),
                metadata: [("rawPayload".to_string(), "true".to_string())].into(),
                routes: Some(dapr::TopicRoutes {
                    rules: vec![dapr::TopicRule {
                        r#match: r#"event.type == "task.completed""#.into(),
                        path: "completed".into(),
                    }],
                    default: "other".into(),
                }),
                dead_letter_topic: "task-events-dlq".into(),
                bulk_subscribe: Some(dapr::BulkSubscribeConfig {
                    enabled: true,
                    max_messages_count: 10,
                    max_await_duration_ms: 500,
                }),
            }
        );
        assert!(v2.applies_to("audit") && !v2.applies_to("sync"), "scoped");
        assert_eq!(
            v1.subscription.routes,
            Some(dapr::TopicRoutes {
                rules: Vec::new(),
                default: "/legacy".into(),
            })
        );
        assert!(v1.applies_to("anyone"), "no scopes: every app");
    }

    #[test]
    fn unusable_subscriptions_are_errors_that_name_the_file() {
        let cases = [
            (
                "no topic",
                "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {pubsubname: p}\n",
                "spec.topic",
            ),
            (
                "no v2 api",
                "apiVersion: dapr.io/v2\nkind: Subscription\nmetadata: {name: s}\nspec: {pubsubname: p, topic: t}\n",
                "apiVersion",
            ),
        ];
        for (case, text, expected) in cases {
            let error = Resources::default()
                .add_documents(Path::new("dir/sub.yaml"), text)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("dir/sub.yaml") && error.contains(expected),
                "case {case}: {error}"
            );
        }
    }
}
