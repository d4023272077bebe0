//! Reference §4.3 and §4.4: consumer groups (one per app id, shared by its instances, one per
//! instance with `consumerID: "{podName}"`), ordering per partition key, initial offsets, and
//! at-least-once delivery across a restart.

use std::{collections::HashMap, sync::Arc, time::Duration};

use dapr_kit::{
    AppCallbackService, HandlerError, JobHandlers, Publication, Subscription, Subscriptions,
    TopicEvent,
};
use localdapr::AppSpec;

use crate::{
    subscribers::{Answer, Received, ScriptedApp, subscription},
    support::{COMPONENTS, TestDapr, not_on_daprd, wait_until},
};

/// A second pub/sub whose consumer group is per instance, as the sync service uses it.
const FAN_OUT: &str = r#"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub-fanout
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
    - name: consumerID
      value: "{podName}"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub-replay
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
    - name: initialOffset
      value: oldest
"#;

fn recording_app(pubsub: &str, topic: &str, received: &Received) -> AppCallbackService {
    AppCallbackService::new(
        Subscriptions::new()
            .subscribe(Subscription::new(pubsub, topic).default_route(received.record())),
        JobHandlers::new(),
    )
}

async fn publish_numbers(dapr: &TestDapr, pubsub: &str, topic: &str, count: usize) {
    let publisher = dapr.client("api").await;
    for n in 0..count {
        publisher
            .client
            .publish(pubsub, Publication::json(topic, n.to_string().into_bytes()))
            .await
            .unwrap();
    }
}

fn sorted_ids(events: &[TopicEvent]) -> Vec<String> {
    let mut ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn s4_4_each_app_id_is_its_own_consumer_group() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let (audit, sync) = (Received::default(), Received::default());
    dapr.app("audit", recording_app("pubsub", "task-events", &audit))
        .await;
    dapr.app("sync", recording_app("pubsub", "task-events", &sync))
        .await;
    publish_numbers(&dapr, "pubsub", "task-events", 10).await;
    audit.wait_for(10, "audit gets every event").await;
    sync.wait_for(10, "sync gets every event").await;
    assert_eq!(sorted_ids(&audit.events()), sorted_ids(&sync.events()));
}

#[tokio::test]
async fn s4_4_instances_of_one_app_id_share_its_group() {
    let dapr = TestDapr::start(COMPONENTS).await;
    if not_on_daprd(
        &dapr,
        "on Kafka the instances of a group share by partition, and the fixtures' topics have one partition, so one instance takes all",
    ) {
        return;
    }
    let (first, second) = (Received::default(), Received::default());
    for (name, received) in [("worker-a", &first), ("worker-b", &second)] {
        let spec = AppSpec {
            instance_name: Some(name.into()),
            ..AppSpec::new("worker", None)
        };
        dapr.app_with(spec, recording_app("pubsub", "jobs", received))
            .await;
    }
    publish_numbers(&dapr, "pubsub", "jobs", 40).await;
    wait_until(
        "every event is delivered once",
        Duration::from_secs(10),
        || async { first.events().len() + second.events().len() >= 40 },
    )
    .await;
    let mut all = first.events();
    all.extend(second.events());
    let ids = sorted_ids(&all);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 40, "no event is delivered twice");
    assert_eq!(ids.len(), 40);
    assert!(
        !first.events().is_empty() && !second.events().is_empty(),
        "both instances take a share ({} / {})",
        first.events().len(),
        second.events().len()
    );
}

#[tokio::test]
async fn s4_4_consumer_id_pod_name_gives_each_instance_every_event() {
    let dapr = TestDapr::start(&format!("{COMPONENTS}{FAN_OUT}")).await;
    let (first, second) = (Received::default(), Received::default());
    for (name, received) in [("sync-0", &first), ("sync-1", &second)] {
        let spec = AppSpec {
            instance_name: Some(name.into()),
            ..AppSpec::new("sync", None)
        };
        dapr.app_with(
            spec,
            recording_app("pubsub-fanout", "task-events", received),
        )
        .await;
    }
    publish_numbers(&dapr, "pubsub-fanout", "task-events", 10).await;
    first
        .wait_for(10, "the first replica gets every event")
        .await;
    second
        .wait_for(10, "the second replica gets every event")
        .await;
    assert_eq!(sorted_ids(&first.events()), sorted_ids(&second.events()));
}

/// A pub/sub scoped to sync that shares `pubsub`'s topics (localdapr's stand-in for a second
/// Kafka component on the same brokers) with a consumer group per instance.
const SHARED_FAN_OUT: &str = r#"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub-sync
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
    - name: consumerID
      value: "{podName}"
    - name: localdaprTopicsOf
      value: pubsub
scopes:
  - sync
"#;

#[tokio::test]
async fn s4_4_a_component_sharing_anothers_topics_fans_out_per_instance() {
    let dapr = TestDapr::start(&format!("{COMPONENTS}{SHARED_FAN_OUT}")).await;
    let (audit, first, second) = (
        Received::default(),
        Received::default(),
        Received::default(),
    );
    dapr.app("audit", recording_app("pubsub", "task-events", &audit))
        .await;
    for (name, received) in [("sync-0", &first), ("sync-1", &second)] {
        let spec = AppSpec {
            instance_name: Some(name.into()),
            ..AppSpec::new("sync", None)
        };
        dapr.app_with(spec, recording_app("pubsub-sync", "task-events", received))
            .await;
    }
    publish_numbers(&dapr, "pubsub", "task-events", 10).await;
    for (received, who) in [(&audit, "audit"), (&first, "sync-0"), (&second, "sync-1")] {
        received
            .wait_for(10, &format!("{who} gets every event published on pubsub"))
            .await;
    }
    assert_eq!(sorted_ids(&first.events()), sorted_ids(&audit.events()));
    assert_eq!(sorted_ids(&second.events()), sorted_ids(&audit.events()));
    assert!(
        first
            .events()
            .iter()
            .all(|e| e.pubsub_name == "pubsub-sync"),
        "delivered under the subscriber's component name"
    );
    assert_eq!(audit.events().len(), 10, "audit's own group is unchanged");
}

#[tokio::test]
async fn s4_4_a_new_group_starts_at_the_newest_message_unless_the_offset_is_oldest() {
    let dapr = TestDapr::start(&format!("{COMPONENTS}{FAN_OUT}")).await;
    if not_on_daprd(
        &dapr,
        "two pubsub.in-memory components are two brokers in localdapr, but one Kafka (shared topics) under the fixtures, which also start a new group at the oldest message",
    ) {
        return;
    }
    for pubsub in ["pubsub", "pubsub-replay"] {
        let publisher = dapr.client("api").await;
        publisher
            .client
            .publish(pubsub, Publication::json("history", b"\"before\"".to_vec()))
            .await
            .unwrap();
    }
    let (newest, oldest) = (Received::default(), Received::default());
    dapr.app("late", recording_app("pubsub", "history", &newest))
        .await;
    dapr.app(
        "replayer",
        recording_app("pubsub-replay", "history", &oldest),
    )
    .await;
    for pubsub in ["pubsub", "pubsub-replay"] {
        let publisher = dapr.client("api").await;
        publisher
            .client
            .publish(pubsub, Publication::json("history", b"\"after\"".to_vec()))
            .await
            .unwrap();
    }
    oldest
        .wait_for(2, "the oldest group replays the topic")
        .await;
    newest.wait_for(1, "the newest group gets new events").await;
    assert_eq!(oldest.payloads(), [r#""before""#, r#""after""#]);
    assert_eq!(newest.payloads(), [r#""after""#]);
}

#[tokio::test]
async fn s4_3_order_is_kept_per_partition_key_under_concurrent_publishes() {
    const KEYS: usize = 4;
    const PER_KEY: usize = 25;
    let dapr = TestDapr::start(COMPONENTS).await;
    let received = Received::default();
    let record = received.record();
    // A random pause per event, so a reordering would show.
    let handler = move |event: TopicEvent| {
        let pause = Duration::from_millis(rand::random::<u64>() % 4);
        let recorded = record(event);
        async move {
            tokio::time::sleep(pause).await;
            recorded.await
        }
    };
    dapr.app(
        "ordered",
        AppCallbackService::new(
            Subscriptions::new()
                .subscribe(Subscription::new("pubsub", "ordered").default_route(handler)),
            JobHandlers::new(),
        ),
    )
    .await;
    let mut publishers = Vec::new();
    for key in 0..KEYS {
        let publisher = dapr.client(&format!("api-{key}")).await;
        publishers.push(tokio::spawn(async move {
            for n in 0..PER_KEY {
                let body = format!(r#"{{"key":{key},"n":{n}}}"#).into_bytes();
                publisher
                    .client
                    .publish(
                        "pubsub",
                        Publication::json("ordered", body).partition_key(&format!("task-{key}")),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    received
        .wait_for(KEYS * PER_KEY, "every event is delivered")
        .await;
    let mut per_key: HashMap<u64, Vec<u64>> = HashMap::new();
    for event in received.events() {
        let body: serde_json::Value = serde_json::from_slice(&event.data).unwrap();
        assert_eq!(
            event.metadata.get("__key").map(String::as_str),
            Some(format!("task-{}", body["key"]).as_str())
        );
        per_key
            .entry(body["key"].as_u64().unwrap())
            .or_default()
            .push(body["n"].as_u64().unwrap());
    }
    for (key, order) in per_key {
        let expected: Vec<u64> = (0..PER_KEY as u64).collect();
        assert_eq!(order, expected, "key {key} delivered out of order");
    }
}

#[tokio::test]
async fn s4_3_a_retried_event_holds_back_later_events_of_its_key() {
    let dapr = TestDapr::start(&format!(
        "{COMPONENTS}{}",
        r#"
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
        duration: 50ms
  targets:
    components:
      pubsub:
        inbound:
          retry: quick
"#
    ))
    .await;
    let failures_left = Arc::new(std::sync::atomic::AtomicU32::new(3));
    let received = Received::default();
    let handler = received.record_then(move |event| {
        if event.data == b"1" && failures_left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 0
        {
            Err(HandlerError::transient("not yet"))
        } else {
            Ok(())
        }
    });
    dapr.app(
        "ordered",
        AppCallbackService::new(
            Subscriptions::new()
                .subscribe(Subscription::new("pubsub", "keyed").default_route(handler)),
            JobHandlers::new(),
        ),
    )
    .await;
    let publisher = dapr.client("api").await;
    for n in 1..=3 {
        publisher
            .client
            .publish(
                "pubsub",
                Publication::json("keyed", n.to_string().into_bytes()).partition_key("same"),
            )
            .await
            .unwrap();
    }
    received
        .wait_for(6, "three retries, then the rest of the key")
        .await;
    assert_eq!(received.payloads(), ["1", "1", "1", "1", "2", "3"]);
}

#[tokio::test]
async fn s4_3_an_event_unanswered_when_the_runtime_stops_is_delivered_after_restart() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let hanging = ScriptedApp::new(vec![subscription("pubsub", "crash", "")], |_| Answer::Hang);
    dapr.app_with_routes(AppSpec::new("audit", None), hanging.routes())
        .await;
    publish_numbers(&dapr, "pubsub", "crash", 1).await;
    hanging.wait_for(1, "the event is handed to the app").await;
    let first_id = hanging.calls()[0].request.id.clone();

    let dapr = dapr.restart().await;
    let received = Received::default();
    dapr.app("audit", recording_app("pubsub", "crash", &received))
        .await;
    received
        .wait_for(1, "the unanswered event is delivered again")
        .await;
    assert_eq!(
        received.events()[0].id,
        first_id,
        "the same event, by its id"
    );
}

#[tokio::test]
async fn s4_3_events_published_while_the_subscriber_is_down_survive_a_restart() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let ignored = Received::default();
    let subscriber = dapr
        .app("audit", recording_app("pubsub", "durable", &ignored))
        .await;
    subscriber.stop_app();
    subscriber.sidecar.stop();
    wait_until("the subscriber is gone", Duration::from_secs(5), || async {
        !subscriber.sidecar.app.is_connected()
    })
    .await;
    publish_numbers(&dapr, "pubsub", "durable", 3).await;

    let dapr = dapr.restart().await;
    let received = Received::default();
    dapr.app("audit", recording_app("pubsub", "durable", &received))
        .await;
    received
        .wait_for(3, "every event waits for the group")
        .await;
    assert_eq!(received.payloads(), ["0", "1", "2"]);
    assert!(ignored.events().is_empty());
}
