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
    // On the real daprd, its own /metrics; its topic label carries the namespace prefix the
    // test fixtures give every topic there, hence the open-ended match.
    let daprd = subscriber.sidecar.metrics_address;
    let metrics = &metrics;
    let render = || async move {
        match daprd {
            Some(address) => scrape(address).await,
            None => metrics.render(),
        }
    };
    wait_until(
        "the delivery is counted",
        Duration::from_secs(10),
        || async {
            render().await.lines().any(|line| {
                line.starts_with("dapr_component_pubsub_ingress_count")
                    && line.contains(r#"metered""#)
                    && line.contains(r#"process_status="success""#)
            })
        },
    )
    .await;
    let rendered = render().await;
    assert!(
        rendered
            .lines()
            .any(|l| l.starts_with("dapr_component_pubsub_egress_count")
                && l.contains(r#"metered""#)),
        "{rendered}"
    );
}

/// The text of `GET /metrics` at `address`.
async fn scrape(address: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return String::new();
    };
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    if stream.write_all(request.as_bytes()).await.is_ok() {
        let _ = stream.read_to_string(&mut text).await;
    }
    text
}
