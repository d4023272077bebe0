//! Reference §2.2 and §2.3: routes with CEL, what `OnTopicEvent` carries (fields, JSON `data`
//! re-encoded the Go way, `extensions`, gRPC metadata), and every row of the response table,
//! dead-letter topics and the other drops.

use std::{collections::HashMap, time::Duration};

use dapr::dapr::proto::runtime::v1::PublishEventRequest;
use dapr_kit::{AppCallbackService, HandlerError, JobHandlers, Subscription, Subscriptions};
use localdapr::AppSpec;
use prost_types::value::Kind;
use todo_proto::dapr::proto::runtime::v1::topic_event_response::TopicEventResponseStatus;
use tonic::Status;

use crate::{
    subscribers::{Answer, Received, ScriptedApp, subscription},
    support::{COMPONENTS, TestDapr, wait_until},
};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A retry policy short enough for tests: one retry after 20ms.
const ONE_QUICK_RETRY: &str = r#"
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: quick
spec:
  policies:
    retries:
      quick:
        policy: constant
        duration: 20ms
        maxRetries: 1
  targets:
    components:
      pubsub:
        inbound:
          retry: quick
"#;

fn publish_request(topic: &str, data: &[u8], content_type: &str) -> PublishEventRequest {
    PublishEventRequest {
        pubsub_name: "pubsub".into(),
        topic: topic.into(),
        data: data.to_vec(),
        data_content_type: content_type.into(),
        metadata: HashMap::new(),
    }
}

/// (case, published data, published content type, delivered content type, delivered data)
type ContentTypeCase = (
    &'static str,
    &'static [u8],
    &'static str,
    &'static str,
    &'static [u8],
);

fn app(subscriptions: Subscriptions) -> AppCallbackService {
    AppCallbackService::new(subscriptions, JobHandlers::new())
}

fn string_extension(extensions: &prost_types::Struct, name: &str) -> Option<String> {
    match extensions.fields.get(name)?.kind.as_ref()? {
        Kind::StringValue(value) => Some(value.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn s2_3_topic_event_request_fields_extensions_and_metadata() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let subscriber = ScriptedApp::new(vec![subscription("pubsub", "fields", "")], |_| {
        Answer::Status(0)
    });
    dapr.app_with_routes(AppSpec::new("sub", None), subscriber.routes())
        .await;
    let mut publisher = dapr.client("api").await.official().await;
    let mut request = tonic::Request::new(PublishEventRequest {
        metadata: [
            ("partitionKey", "k-1"),
            ("cloudevent.type", "task.created"),
            ("X-Custom", "v"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..publish_request(
            "fields",
            br#"{"z": "<&>", "a": 1.0, "n": {"y": 2, "x": [true, null]}}"#,
            "application/json",
        )
    });
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    publisher.publish_event(request).await.unwrap();

    subscriber.wait_for(1, "the event is delivered").await;
    let call = subscriber.calls().remove(0);
    let event = call.request;
    assert!(uuid::Uuid::parse_str(&event.id).is_ok(), "id: {}", event.id);
    assert_eq!(event.source, "api");
    assert_eq!(event.r#type, "task.created", "cloudevent.type overrides");
    assert_eq!(event.spec_version, "1.0");
    assert_eq!(event.data_content_type, "application/json");
    assert_eq!(
        (event.topic.as_str(), event.pubsub_name.as_str()),
        ("fields", "pubsub")
    );
    assert_eq!(event.path, "", "no routes: the catch-all path");
    assert_eq!(
        String::from_utf8(event.data).unwrap(),
        r#"{"a":1,"n":{"x":[true,null],"y":2},"z":"\u003c\u0026\u003e"}"#,
        "Go's encoding/json: sorted, compact, HTML-escaped, float64 numbers"
    );
    let extensions = event.extensions.unwrap();
    let mut names: Vec<&str> = extensions.fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "pubsubname",
            "time",
            "topic",
            "traceid",
            "traceparent",
            "tracestate"
        ]
    );
    assert_eq!(
        string_extension(&extensions, "tracestate").as_deref(),
        Some(""),
        "daprd sets tracestate even when the publisher sent none"
    );
    assert_eq!(
        string_extension(&extensions, "traceparent").as_deref(),
        Some(TRACEPARENT)
    );
    assert_eq!(
        string_extension(&extensions, "traceid").as_deref(),
        Some(TRACEPARENT)
    );
    assert_eq!(
        string_extension(&extensions, "topic").as_deref(),
        Some("fields")
    );
    let time = string_extension(&extensions, "time").unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&time).is_ok() && !time.contains('.'),
        "RFC 3339 with second precision: {time}"
    );
    let metadata = call.metadata;
    assert_eq!(
        metadata.get("partitionkey").map(String::as_str),
        Some("k-1")
    );
    assert_eq!(
        metadata.get("cloudevent.type").map(String::as_str),
        Some("task.created")
    );
    assert_eq!(metadata.get("x-custom").map(String::as_str), Some("v"));
    assert_eq!(
        metadata.get("pubsubname").map(String::as_str),
        Some("pubsub")
    );
}

#[tokio::test]
async fn s2_3_data_depends_on_the_content_type() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let subscriber = ScriptedApp::new(vec![subscription("pubsub", "types", "")], |_| {
        Answer::Status(0)
    });
    dapr.app_with_routes(AppSpec::new("sub", None), subscriber.routes())
        .await;
    let mut publisher = dapr.client("api").await.official().await;
    let cases: [ContentTypeCase; 5] = [
        (
            "no content type is text/plain",
            b"hi <there>",
            "",
            "text/plain",
            b"hi <there>",
        ),
        (
            "octet-stream keeps the bytes",
            &[0, 159, 255],
            "application/octet-stream",
            "application/octet-stream",
            &[0, 159, 255],
        ),
        (
            "xml is a string",
            b"<a/>",
            "application/xml",
            "application/xml",
            b"<a/>",
        ),
        (
            "protobuf that parses is carried as bytes",
            b"\x08\x01",
            "application/x-protobuf",
            "application/x-protobuf",
            b"\x08\x01",
        ),
        (
            "another type has empty data",
            b"x",
            "application/x-custom",
            "application/x-custom",
            b"",
        ),
    ];
    for (_, data, content_type, _, _) in cases {
        publisher
            .publish_event(publish_request("types", data, content_type))
            .await
            .unwrap();
    }
    subscriber
        .wait_for(cases.len(), "every event is delivered")
        .await;
    let calls = subscriber.calls();
    for (case, _, _, expected_type, expected_data) in cases {
        let call = calls
            .iter()
            .find(|c| c.request.data_content_type == expected_type)
            .unwrap_or_else(|| panic!("case {case}: not delivered"));
        assert_eq!(call.request.data, expected_data, "case: {case}");
    }
}

#[tokio::test]
async fn s2_3_every_row_of_the_response_table() {
    let dapr = TestDapr::start(&format!("{COMPONENTS}{ONE_QUICK_RETRY}")).await;
    let subscriber = ScriptedApp::new(
        vec![
            subscription("pubsub", "table", "table-dlq"),
            subscription("pubsub", "table-dlq", ""),
        ],
        |event| {
            if event.topic == "table-dlq" {
                return Answer::Status(0);
            }
            match event.data.as_slice() {
                b"success" => Answer::Status(TopicEventResponseStatus::Success as i32),
                b"retry" => Answer::Status(TopicEventResponseStatus::Retry as i32),
                b"drop" => Answer::Status(TopicEventResponseStatus::Drop as i32),
                b"unknown-status" => Answer::Status(7),
                b"unimplemented" => Answer::Error(Status::unimplemented("no")),
                _ => Answer::Error(Status::internal("handler failed")),
            }
        },
    );
    dapr.app_with_routes(AppSpec::new("sub", None), subscriber.routes())
        .await;
    let mut publisher = dapr.client("api").await.official().await;
    let rows = [
        "success",
        "retry",
        "drop",
        "unknown-status",
        "unimplemented",
        "error",
    ];
    for row in rows {
        publisher
            .publish_event(publish_request("table", row.as_bytes(), "text/plain"))
            .await
            .unwrap();
    }
    // (row, deliveries to the topic, copied to the dead-letter topic)
    let expected = [
        ("success", 1, false),
        ("retry", 2, true),
        ("drop", 1, true),
        ("unknown-status", 2, true),
        ("unimplemented", 1, false),
        ("error", 2, true),
    ];
    let dead_lettered = |row: &str| {
        subscriber
            .calls_with(row)
            .iter()
            .filter(|c| c.request.topic == "table-dlq")
            .count()
    };
    wait_until(
        "the dead-letter topic gets its four rows",
        Duration::from_secs(10),
        || async {
            expected
                .iter()
                .filter(|(_, _, dlq)| *dlq)
                .all(|(row, _, _)| dead_lettered(row) == 1)
        },
    )
    .await;
    for (row, deliveries, to_dead_letter) in expected {
        let to_topic = subscriber
            .calls_with(row)
            .iter()
            .filter(|c| c.request.topic == "table")
            .count();
        assert_eq!(to_topic, deliveries, "row {row}: deliveries");
        assert_eq!(
            dead_lettered(row) == 1,
            to_dead_letter,
            "row {row}: dead-letter copy"
        );
    }
    let dead_letter = subscriber.calls_with("drop").pop().unwrap().request;
    let original = subscriber.calls_with("drop").remove(0).request;
    assert_eq!(
        dead_letter.id, original.id,
        "the original message is dead-lettered"
    );
    assert_eq!(dead_letter.topic, "table-dlq");
}

#[tokio::test]
async fn s2_2_routes_pick_the_first_matching_cel_rule_then_the_default() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let (completed, urgent, other) = (
        Received::default(),
        Received::default(),
        Received::default(),
    );
    dapr.app(
        "router",
        app(Subscriptions::new().subscribe(
            Subscription::new("pubsub", "routed")
                .route(
                    r#"event.type == "task.completed""#,
                    "completed",
                    completed.record(),
                )
                .route("event.data.priority > 2", "urgent", urgent.record())
                .default_route(other.record()),
        )),
    )
    .await;
    let publisher = dapr.client("api").await;
    let events = [
        ("task.completed", r#"{"priority":9,"n":1}"#),
        ("task.updated", r#"{"priority":3,"n":2}"#),
        ("task.updated", r#"{"priority":1,"n":3}"#),
    ];
    for (event_type, data) in events {
        publisher
            .client
            .publish(
                "pubsub",
                dapr_kit::Publication::json("routed", data.as_bytes().to_vec())
                    .with_metadata("cloudevent.type", event_type),
            )
            .await
            .unwrap();
    }
    for received in [&completed, &urgent, &other] {
        received.wait_for(1, "each route gets its event").await;
    }
    assert_eq!(completed.payloads(), [r#"{"n":1,"priority":9}"#]);
    assert_eq!(urgent.payloads(), [r#"{"n":2,"priority":3}"#]);
    assert_eq!(other.payloads(), [r#"{"n":3,"priority":1}"#]);
    assert_eq!(urgent.events()[0].path, "urgent");
}

#[tokio::test]
async fn s2_2_an_event_no_rule_matches_is_acked_and_copied_to_the_dead_letter_topic() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let (matched, dead) = (Received::default(), Received::default());
    dapr.app(
        "router",
        app(Subscriptions::new()
            .subscribe(
                Subscription::new("pubsub", "strict")
                    .route(r#"event.type == "wanted""#, "wanted", matched.record())
                    .dead_letter_topic("strict-dlq"),
            )
            .subscribe(Subscription::new("pubsub", "strict-dlq").default_route(dead.record()))),
    )
    .await;
    let publisher = dapr.client("api").await;
    for event_type in ["unwanted", "wanted"] {
        publisher
            .client
            .publish(
                "pubsub",
                dapr_kit::Publication::json("strict", format!(r#""{event_type}""#).into_bytes())
                    .with_metadata("cloudevent.type", event_type),
            )
            .await
            .unwrap();
    }
    matched.wait_for(1, "the matching event is delivered").await;
    dead.wait_for(1, "the unmatched event reaches the dead-letter topic")
        .await;
    assert_eq!(matched.payloads(), [r#""wanted""#]);
    assert_eq!(dead.events()[0].event_type, "unwanted");
}

#[tokio::test]
async fn s2_3_drop_goes_to_the_dead_letter_topic() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let (handled, dead) = (Received::default(), Received::default());
    dapr.app(
        "audit",
        app(Subscriptions::new()
            .subscribe(
                Subscription::new("pubsub", "tasks")
                    .default_route(handled.record_then(|_| Err(HandlerError::poison("bad event"))))
                    .dead_letter_topic("tasks-dlq"),
            )
            .subscribe(Subscription::new("pubsub", "tasks-dlq").default_route(dead.record()))),
    )
    .await;
    let publisher = dapr.client("api").await;
    publisher
        .client
        .publish(
            "pubsub",
            dapr_kit::Publication::json("tasks", br#"{"id":1}"#.to_vec()),
        )
        .await
        .unwrap();
    dead.wait_for(1, "the dropped event reaches the dead-letter topic")
        .await;
    assert_eq!(handled.events().len(), 1, "DROP is not retried");
    assert_eq!(dead.events()[0].id, handled.events()[0].id);
    assert_eq!(dead.payloads(), [r#"{"id":1}"#]);
}

#[tokio::test]
async fn s2_3_with_no_resiliency_policy_a_failure_goes_to_the_dead_letter_topic_at_once() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let (handled, dead) = (Received::default(), Received::default());
    dapr.app(
        "audit",
        app(Subscriptions::new()
            .subscribe(
                Subscription::new("pubsub", "tasks")
                    .default_route(handled.record_then(|_| Err(HandlerError::transient("db down"))))
                    .dead_letter_topic("tasks-dlq"),
            )
            .subscribe(Subscription::new("pubsub", "tasks-dlq").default_route(dead.record()))),
    )
    .await;
    let publisher = dapr.client("api").await;
    publisher
        .client
        .publish(
            "pubsub",
            dapr_kit::Publication::json("tasks", b"1".to_vec()),
        )
        .await
        .unwrap();
    dead.wait_for(1, "the failed event reaches the dead-letter topic")
        .await;
    assert_eq!(handled.events().len(), 1, "exactly one delivery attempt");
}
