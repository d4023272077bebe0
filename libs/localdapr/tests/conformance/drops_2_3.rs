//! Reference §2.3, the rest of the response story: the component's own endless retry, and the
//! events daprd drops before the app sees them (expired, undecodable), raw payloads included.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use dapr::dapr::proto::runtime::v1::PublishEventRequest;
use dapr_kit::{AppCallbackService, JobHandlers, Subscription, Subscriptions};
use localdapr::AppSpec;
use todo_proto::dapr::proto::runtime::v1::topic_event_response::TopicEventResponseStatus;

use crate::{
    subscribers::{Answer, Received, ScriptedApp, subscription},
    support::{COMPONENTS, TestDapr, not_on_daprd, wait_until},
};

fn publish_request(topic: &str, data: &[u8], content_type: &str) -> PublishEventRequest {
    PublishEventRequest {
        pubsub_name: "pubsub".into(),
        topic: topic.into(),
        data: data.to_vec(),
        data_content_type: content_type.into(),
        metadata: HashMap::new(),
    }
}

fn app(subscriptions: Subscriptions) -> AppCallbackService {
    AppCallbackService::new(subscriptions, JobHandlers::new())
}

#[tokio::test]
async fn s2_3_with_no_policy_and_no_dead_letter_topic_the_component_retries_every_5s() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let first = Arc::new(AtomicBool::new(true));
    let subscriber = ScriptedApp::new(vec![subscription("pubsub", "stubborn", "")], move |_| {
        if first.swap(false, Ordering::SeqCst) {
            Answer::Status(TopicEventResponseStatus::Retry as i32)
        } else {
            Answer::Status(TopicEventResponseStatus::Success as i32)
        }
    });
    dapr.app_with_routes(AppSpec::new("sub", None), subscriber.routes())
        .await;
    let mut publisher = dapr.client("api").await.official().await;
    publisher
        .publish_event(publish_request("stubborn", b"x", ""))
        .await
        .unwrap();
    wait_until(
        "the event is delivered again",
        Duration::from_secs(15),
        || async { subscriber.calls().len() >= 2 },
    )
    .await;
    let calls = subscriber.calls();
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(4900),
        "retried after {gap:?}, expected 5s"
    );
}

#[tokio::test]
async fn s2_3_an_expired_event_is_dropped_to_the_dead_letter_topic() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let (handled, dead) = (Received::default(), Received::default());
    let subscriptions = || {
        app(Subscriptions::new()
            .subscribe(
                Subscription::new("pubsub", "short-lived")
                    .default_route(handled.record())
                    .dead_letter_topic("short-lived-dlq"),
            )
            // The copy keeps its `expiration`, so a CloudEvent subscriber would drop it again
            // (as daprd does); a raw subscriber sees the original envelope.
            .subscribe(
                Subscription::new("pubsub", "short-lived-dlq")
                    .metadata("rawPayload", "true")
                    .default_route(dead.record()),
            ))
    };
    // The group exists, but its only instance goes away before the event is published.
    let first = dapr.app("audit", subscriptions()).await;
    first.sidecar.stop();
    wait_until("the instance is gone", Duration::from_secs(5), || async {
        !first.sidecar.app.is_connected()
    })
    .await;
    let publisher = dapr.client("api").await;
    publisher
        .client
        .publish(
            "pubsub",
            dapr_kit::Publication::json("short-lived", b"1".to_vec())
                .with_metadata("ttlInSeconds", "1"),
        )
        .await
        .unwrap();
    let published_at = chrono::Utc::now();
    wait_until("the event's ttl passes", Duration::from_secs(5), || async {
        chrono::Utc::now() > published_at + chrono::Duration::milliseconds(1100)
    })
    .await;
    dapr.app("audit", subscriptions()).await;
    dead.wait_for(1, "the expired event reaches the dead-letter topic")
        .await;
    assert!(
        handled.events().is_empty(),
        "an expired event is never handled"
    );
    let original: serde_json::Value = serde_json::from_slice(&dead.events()[0].data).unwrap();
    assert!(
        original["expiration"].is_string(),
        "the original envelope: {original}"
    );
    assert_eq!(original["data"], 1);
}

#[tokio::test]
async fn s2_3_raw_payloads_reach_raw_subscribers_and_others_drop_them() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let raw = ScriptedApp::new(vec![dapr_kit_raw_subscription("raw-topic", "")], |_| {
        Answer::Status(0)
    });
    dapr.app_with_routes(AppSpec::new("raw-reader", None), raw.routes())
        .await;
    let plain = ScriptedApp::new(
        vec![
            subscription("pubsub", "raw-topic", "raw-dlq"),
            dapr_kit_raw_subscription("raw-dlq", ""),
        ],
        |_| Answer::Status(0),
    );
    dapr.app_with_routes(AppSpec::new("plain-reader", None), plain.routes())
        .await;
    let mut publisher = dapr.client("api").await.official().await;
    let mut request = publish_request("raw-topic", b"\x00not a cloud event", "");
    request.metadata.insert("rawPayload".into(), "true".into());
    publisher.publish_event(request).await.unwrap();
    raw.wait_for(1, "the raw subscriber gets the bytes").await;
    plain
        .wait_for(1, "the plain subscriber's dead-letter topic gets them")
        .await;
    let delivered = raw.calls().remove(0).request;
    assert_eq!(delivered.data, b"\x00not a cloud event");
    assert_eq!(delivered.data_content_type, "application/octet-stream");
    let dead = plain.calls();
    assert_eq!(
        dead.len(),
        1,
        "the plain subscriber never handles an undecodable event"
    );
    assert_eq!(dead[0].request.topic, "raw-dlq");
}

fn dapr_kit_raw_subscription(
    topic: &str,
    dead_letter_topic: &str,
) -> todo_proto::dapr::proto::runtime::v1::TopicSubscription {
    let mut subscription = subscription("pubsub", topic, dead_letter_topic);
    subscription
        .metadata
        .insert("rawPayload".into(), "true".into());
    subscription
}

/// The messages on `topic` in the log, and the failed attempts recorded against them.
async fn logged(dapr: &TestDapr, topic: &'static str) -> (i64, i64) {
    dapr.local()
        .runtime()
        .db
        .read(move |c| {
            c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(p.attempts), 0) FROM pubsub_messages m
                 LEFT JOIN pubsub_pending p ON p.seq = m.seq WHERE m.topic = ?1",
                [topic],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(localdapr::db::DbError::from)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn s2_3_a_delivery_failing_during_shutdown_stays_pending_and_skips_the_dead_letter_topic() {
    let dapr = TestDapr::start(COMPONENTS).await;
    if not_on_daprd(
        &dapr,
        "it drains localdapr itself (LocalDapr::drain); daprd has no such call",
    ) {
        return;
    }
    // No resiliency policy and a dead-letter topic: outside shutdown, one failure dead-letters.
    let failing = ScriptedApp::new(
        vec![subscription("pubsub", "draining", "draining-dlq")],
        |_| {
            Answer::ErrorAfter(
                Duration::from_millis(300),
                tonic::Status::unavailable("shutting down"),
            )
        },
    );
    dapr.app_with_routes(AppSpec::new("sub", None), failing.routes())
        .await;
    let mut publisher = dapr.client("api").await.official().await;
    publisher
        .publish_event(publish_request("draining", b"in flight", ""))
        .await
        .unwrap();
    failing.wait_for(1, "the event is handed to the app").await;

    // The app fails the event while the runtime drains.
    dapr.local().drain().await;
    assert_eq!(failing.calls().len(), 1);
    assert_eq!(
        logged(&dapr, "draining").await,
        (1, 0),
        "the event is still pending, its attempt not even counted"
    );
    assert_eq!(
        logged(&dapr, "draining-dlq").await,
        (0, 0),
        "nothing reached the dead-letter topic"
    );

    let dapr = dapr.restart().await;
    let succeeding = ScriptedApp::new(
        vec![
            subscription("pubsub", "draining", "draining-dlq"),
            subscription("pubsub", "draining-dlq", ""),
        ],
        |_| Answer::Status(TopicEventResponseStatus::Success as i32),
    );
    dapr.app_with_routes(AppSpec::new("sub", None), succeeding.routes())
        .await;
    succeeding
        .wait_for(1, "the event is delivered again after the restart")
        .await;
    assert_eq!(succeeding.calls()[0].request.topic, "draining");
    assert_eq!(succeeding.calls()[0].request.data, b"in flight");
    assert_eq!(logged(&dapr, "draining-dlq").await, (0, 0));
}
