//! Reference §7.4 and §2.2: declarative `Subscription` resources (v2alpha1 routes, v1alpha1's
//! single route, scopes) deliver to apps that list no subscription, and a programmatic
//! subscription wins over a declarative one for the same pubsub and topic.

use std::collections::HashMap;

use dapr::dapr::proto::runtime::v1::{
    GetMetadataRequest, PublishEventRequest, PubsubSubscription, PubsubSubscriptionType,
};
use dapr_kit::{AppCallbackService, JobHandlers, Publication, Subscription, Subscriptions};
use localdapr::AppSpec;

use crate::{
    subscribers::{Answer, Received, ScriptedApp},
    support::{COMPONENTS, TestDapr},
};

const DECLARATIVE: &str = r#"
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: declared
spec:
  pubsubname: pubsub
  topic: declared
  routes:
    rules:
      - match: event.type == "urgent"
        path: urgent
    default: normal
  deadLetterTopic: declared-dlq
scopes:
  - listener
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: legacy
spec:
  pubsubname: pubsub
  topic: legacy
  route: /legacy
scopes:
  - listener
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: elsewhere
spec:
  pubsubname: pubsub
  topic: not-mine
scopes:
  - someone-else
"#;

const OVERRIDDEN: &str = r#"
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: shared
spec:
  pubsubname: pubsub
  topic: shared
  routes:
    default: declared-path
  deadLetterTopic: shared-dlq
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: twice-first
spec:
  pubsubname: pubsub
  topic: twice
  routes:
    default: first
scopes:
  - audit
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: twice-second
spec:
  pubsubname: pubsub
  topic: twice
  routes:
    default: second
scopes:
  - audit
"#;

fn publish(topic: &str, event_type: Option<&str>) -> PublishEventRequest {
    let metadata: HashMap<String, String> = event_type
        .map(|t| ("cloudevent.type".to_string(), t.to_string()))
        .into_iter()
        .collect();
    PublishEventRequest {
        pubsub_name: "pubsub".into(),
        topic: topic.into(),
        data: topic.as_bytes().to_vec(),
        data_content_type: "text/plain".into(),
        metadata,
    }
}

fn summary(subscription: &PubsubSubscription) -> (String, i32, String, Vec<(String, String)>) {
    let rules = subscription
        .rules
        .iter()
        .flat_map(|rules| &rules.rules)
        .map(|rule| (rule.r#match.clone(), rule.path.clone()))
        .collect();
    (
        subscription.topic.clone(),
        subscription.r#type,
        subscription.dead_letter_topic.clone(),
        rules,
    )
}

#[tokio::test]
async fn s7_4_declarative_subscriptions_deliver_to_an_app_that_lists_none() {
    let dapr = TestDapr::start(&format!("{COMPONENTS}{DECLARATIVE}")).await;
    // A hand-written app: dapr-kit always lists the topics it handles, so it cannot be an
    // app that subscribes to nothing itself.
    let listener = ScriptedApp::new(Vec::new(), |_| Answer::Status(0));
    let app = dapr
        .app_with_routes(AppSpec::new("listener", None), listener.routes())
        .await;
    let mut publisher = dapr.client("api").await.official().await;
    for (topic, event_type) in [
        ("declared", Some("urgent")),
        ("declared", None),
        ("legacy", None),
        ("not-mine", None),
    ] {
        publisher
            .publish_event(publish(topic, event_type))
            .await
            .unwrap();
    }
    listener.wait_for(3, "the three scoped events arrive").await;
    let mut routed: Vec<(String, String, String)> = listener
        .calls()
        .into_iter()
        .map(|call| (call.request.topic, call.request.r#type, call.request.path))
        .collect();
    routed.sort();
    assert_eq!(
        routed,
        [
            (
                "declared".into(),
                "com.dapr.event.sent".into(),
                "normal".into()
            ),
            ("declared".into(), "urgent".into(), "urgent".into()),
            (
                "legacy".into(),
                "com.dapr.event.sent".into(),
                "/legacy".into()
            ),
        ]
    );

    let metadata = app
        .official()
        .await
        .get_metadata(GetMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut subscriptions: Vec<_> = metadata.subscriptions.iter().map(summary).collect();
    subscriptions.sort();
    let declarative = PubsubSubscriptionType::Declarative as i32;
    assert_eq!(
        subscriptions,
        [
            (
                "declared".into(),
                declarative,
                "declared-dlq".into(),
                vec![
                    (r#"event.type == "urgent""#.into(), "urgent".into()),
                    (String::new(), "normal".into())
                ]
            ),
            (
                "legacy".into(),
                declarative,
                String::new(),
                vec![(String::new(), "/legacy".into())]
            ),
        ],
        "not-mine is scoped to another app"
    );
}

#[tokio::test]
async fn s2_2_a_programmatic_subscription_wins_over_declarative_ones() {
    let dapr = TestDapr::start(&format!("{COMPONENTS}{OVERRIDDEN}")).await;
    let received = Received::default();
    let app = dapr
        .app(
            "audit",
            AppCallbackService::new(
                Subscriptions::new().subscribe(
                    Subscription::new("pubsub", "shared").default_route(received.record()),
                ),
                JobHandlers::new(),
            ),
        )
        .await;
    let publisher = dapr.client("api").await;
    publisher
        .client
        .publish("pubsub", Publication::json("shared", b"1".to_vec()))
        .await
        .unwrap();
    received.wait_for(1, "the event reaches the app").await;
    assert_eq!(
        received.events()[0].path,
        "",
        "the app's subscription has no routes, the resource's default path is not used"
    );

    let metadata = app.client.metadata().await.unwrap();
    let mut subscriptions: Vec<_> = metadata
        .subscriptions
        .iter()
        .map(|s| {
            let rules = s
                .rules
                .iter()
                .flat_map(|rules| &rules.rules)
                .map(|rule| (rule.r#match.clone(), rule.path.clone()))
                .collect::<Vec<_>>();
            (
                s.topic.clone(),
                s.r#type,
                s.dead_letter_topic.clone(),
                rules,
            )
        })
        .collect();
    subscriptions.sort();
    assert_eq!(
        subscriptions,
        [
            (
                "shared".to_string(),
                PubsubSubscriptionType::Programmatic as i32,
                String::new(),
                // daprd lists a routeless subscription with one rule, empty match and path.
                vec![(String::new(), String::new())]
            ),
            (
                "twice".to_string(),
                PubsubSubscriptionType::Declarative as i32,
                String::new(),
                vec![(String::new(), "first".to_string())]
            ),
        ],
        "the first resource wins among declarative ones"
    );
}
