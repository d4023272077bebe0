//! Reference §2.6: with app health checks on, an app that fails its probes stops receiving
//! events until it is healthy again; nothing is lost meanwhile.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr_kit::{
    AppCallbackService, JobHandlers, Publication, Subscription, Subscriptions, TopicEvent,
};
use localdapr::{AppSpec, HealthCheckSpec};

use crate::support::{COMPONENTS, TestDapr, not_on_daprd, wait_until};

#[tokio::test]
async fn s2_6_deliveries_pause_while_the_app_is_unhealthy_and_resume_after() {
    let dapr = TestDapr::start(COMPONENTS).await;
    if not_on_daprd(
        &dapr,
        "it waits for the sidecar's view of the app's health, which daprd exposes nowhere (no API, no metric)",
    ) {
        return;
    }
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = received.clone();
    let on_event = move |event: TopicEvent| {
        let sink = sink.clone();
        async move {
            sink.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&event.data).into_owned());
            Ok(())
        }
    };
    let callback = AppCallbackService::new(
        Subscriptions::new()
            .subscribe(Subscription::new("pubsub", "health").default_route(on_event)),
        JobHandlers::new(),
    );
    let mut spec = AppSpec::new("probed", None);
    spec.health_check = Some(HealthCheckSpec {
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        threshold: 2,
    });
    let app = dapr.app_with(spec, callback.clone()).await;
    let publisher = dapr.client("publisher").await;
    let publish = |text: &'static str| {
        let client = publisher.client.clone();
        async move {
            client
                .publish(
                    "pubsub",
                    Publication::json("health", format!("\"{text}\"").into_bytes()),
                )
                .await
                .unwrap()
        }
    };

    publish("while healthy").await;
    wait_until(
        "the first event arrives",
        Duration::from_secs(10),
        || async { received.lock().unwrap().len() == 1 },
    )
    .await;

    callback.set_healthy(false);
    wait_until(
        "the sidecar sees the app unhealthy",
        Duration::from_secs(10),
        || async { !app.sidecar.app.is_healthy() },
    )
    .await;
    publish("while unhealthy").await;
    // An observation window, not a synchronisation: nothing may arrive while the app is down.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "no delivery to an unhealthy app"
    );

    callback.set_healthy(true);
    wait_until(
        "the held event arrives once the app is healthy",
        Duration::from_secs(10),
        || async { received.lock().unwrap().len() == 2 },
    )
    .await;
    assert_eq!(received.lock().unwrap()[1], "\"while unhealthy\"");
}
