//! Reference §9: localdapr records daprd's metric names, so Dapr's dashboards read them.

use std::time::Duration;

use dapr::dapr::proto::{common::v1::StateItem, runtime::v1::SaveStateRequest};
use dapr_kit::{
    AppCallbackService, JobHandlers, Publication, Subscription, Subscriptions, TopicEvent,
};

use crate::support::{COMPONENTS, TestDapr, wait_until};

#[tokio::test]
async fn s9_deliveries_publishes_and_state_calls_are_counted_under_daprds_names() {
    let metrics = todo_telemetry::install_recorder().unwrap();
    let dapr = TestDapr::start(COMPONENTS).await;
    let on_event = |_: TopicEvent| async { Ok(()) };
    let callback = AppCallbackService::new(
        Subscriptions::new()
            .subscribe(Subscription::new("pubsub", "metered").default_route(on_event)),
        JobHandlers::new(),
    );
    let subscriber = dapr.app("metered-subscriber", callback).await;
    subscriber
        .client
        .publish("pubsub", Publication::json("metered", b"{}".to_vec()))
        .await
        .unwrap();
    let state = SaveStateRequest {
        store_name: "statestore".into(),
        states: vec![StateItem {
            key: "k".into(),
            value: b"v".to_vec(),
            ..Default::default()
        }],
    };
    subscriber.official().await.save_state(state).await.unwrap();
    wait_until(
        "the delivery is counted",
        Duration::from_secs(10),
        || async {
            metrics.render().lines().any(|line| {
                line.starts_with("dapr_component_pubsub_ingress_count")
                    && line.contains(r#"topic="metered""#)
                    && line.contains(r#"process_status="success""#)
            })
        },
    )
    .await;
    let rendered = metrics.render();
    assert!(
        rendered
            .lines()
            .any(|l| l.starts_with("dapr_component_pubsub_egress_count")
                && l.contains(r#"topic="metered""#)),
        "{rendered}"
    );
}
