//! Reference §7.5 with §2.3: inbound retry policies for pub/sub delivery — constant and
//! exponential backoff, `maxRetries`, retrying forever without it — then the dead-letter topic.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use localdapr::AppSpec;
use todo_proto::dapr::proto::runtime::v1::topic_event_response::TopicEventResponseStatus;

use crate::{
    subscribers::{Answer, ScriptedApp, subscription},
    support::{COMPONENTS, TestDapr, wait_until},
};

fn resiliency(policy: &str) -> String {
    format!(
        r#"{COMPONENTS}
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: inbound
spec:
  policies:
    retries:
      inbound:
{policy}
  targets:
    components:
      pubsub:
        inbound:
          retry: inbound
"#
    )
}

/// An app that answers RETRY to events on `topic` and SUCCESS on its dead-letter topic.
async fn always_retrying(dapr: &TestDapr, topic: &str) -> ScriptedApp {
    let dead_letter_topic = format!("{topic}-dlq");
    let app = ScriptedApp::new(
        vec![
            subscription("pubsub", topic, &dead_letter_topic),
            subscription("pubsub", &dead_letter_topic, ""),
        ],
        move |event| {
            if event.topic.ends_with("-dlq") {
                Answer::Status(TopicEventResponseStatus::Success as i32)
            } else {
                Answer::Status(TopicEventResponseStatus::Retry as i32)
            }
        },
    );
    dapr.app_with_routes(AppSpec::new("sub", None), app.routes())
        .await;
    let publisher = dapr.client("api").await;
    publisher
        .client
        .publish("pubsub", dapr_kit::Publication::json(topic, b"1".to_vec()))
        .await
        .unwrap();
    app
}

fn gaps(app: &ScriptedApp, topic: &str) -> Vec<Duration> {
    let attempts: Vec<_> = app
        .calls()
        .into_iter()
        .filter(|c| c.request.topic == topic)
        .map(|c| c.at)
        .collect();
    attempts.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Scheduling on a busy 2-core machine can fire a timer a little early relative to the
/// app's own clock reading; never by more than this.
const SLACK: Duration = Duration::from_millis(15);

#[tokio::test]
async fn s7_5_a_constant_policy_retries_max_retries_times_then_dead_letters() {
    let dapr = TestDapr::start(&resiliency(
        "        policy: constant\n        duration: 100ms\n        maxRetries: 2",
    ))
    .await;
    let app = always_retrying(&dapr, "constant").await;
    wait_until(
        "the event is dead-lettered",
        Duration::from_secs(10),
        || async {
            app.calls()
                .iter()
                .any(|c| c.request.topic == "constant-dlq")
        },
    )
    .await;
    let gaps = gaps(&app, "constant");
    assert_eq!(gaps.len(), 2, "one attempt and maxRetries (2) retries");
    for gap in gaps {
        assert!(
            gap + SLACK >= Duration::from_millis(100),
            "retried after {gap:?}"
        );
    }
}

#[tokio::test]
async fn s7_5_an_exponential_policy_backs_off_by_one_and_a_half() {
    let dapr = TestDapr::start(&resiliency(
        "        policy: exponential\n        initialInterval: 100ms\n        maxInterval: 10s\n        maxRetries: 3",
    ))
    .await;
    let app = always_retrying(&dapr, "exponential").await;
    wait_until(
        "the event is dead-lettered",
        Duration::from_secs(10),
        || async {
            app.calls()
                .iter()
                .any(|c| c.request.topic == "exponential-dlq")
        },
    )
    .await;
    let gaps = gaps(&app, "exponential");
    assert_eq!(gaps.len(), 3, "one attempt and maxRetries (3) retries");
    // dapr/kit randomises each interval within ±50%, so only half of it is guaranteed.
    for (gap, interval_ms) in gaps.iter().zip([100, 150, 225]) {
        assert!(
            *gap + SLACK >= Duration::from_millis(interval_ms / 2),
            "gap {gap:?}, expected at least half of {interval_ms}ms"
        );
    }
}

#[tokio::test]
async fn s7_5_a_policy_without_max_retries_retries_until_the_app_succeeds() {
    let dapr = TestDapr::start(&resiliency(
        "        policy: constant\n        duration: 10ms",
    ))
    .await;
    let failures_left = Arc::new(AtomicU32::new(8));
    let app = ScriptedApp::new(
        vec![
            subscription("pubsub", "patient", "patient-dlq"),
            subscription("pubsub", "patient-dlq", ""),
        ],
        move |_| {
            if failures_left.fetch_sub(1, Ordering::SeqCst) > 0 {
                Answer::Error(tonic::Status::unavailable("not yet"))
            } else {
                Answer::Status(TopicEventResponseStatus::Success as i32)
            }
        },
    );
    dapr.app_with_routes(AppSpec::new("sub", None), app.routes())
        .await;
    let publisher = dapr.client("api").await;
    publisher
        .client
        .publish(
            "pubsub",
            dapr_kit::Publication::json("patient", b"1".to_vec()),
        )
        .await
        .unwrap();
    app.wait_for(9, "eight failures, then success").await;
    assert!(
        app.calls().iter().all(|c| c.request.topic == "patient"),
        "never dead-lettered"
    );
}
