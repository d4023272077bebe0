//! A tiny app for `localdapr run -f`: subscribes to `pings` and prints each one it receives.

use std::net::SocketAddr;

use dapr_kit::{
    AppCallbackService, AppListeners, AppServer, JobHandlers, Subscription, Subscriptions,
    TopicEvent,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app_port: u16 = std::env::var("APP_PORT")?.parse()?;
    let on_ping = |event: TopicEvent| async move {
        println!("received ping {}", String::from_utf8_lossy(&event.data));
        Ok(())
    };
    let subscriptions =
        Subscriptions::new().subscribe(Subscription::new("pubsub", "pings").default_route(on_ping));
    let listeners = AppListeners::bind(
        SocketAddr::from(([127, 0, 0, 1], app_port)),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await?;
    AppServer::new()
        .app_callback(AppCallbackService::new(subscriptions, JobHandlers::new()))
        .run(listeners, dapr_kit::shutdown_signal())
        .await?;
    println!("subscriber stopped");
    Ok(())
}
