//! A tiny app for `localdapr run -f`: publishes a JSON ping to `pings` every 200 ms through
//! its sidecar until it is stopped. The run-file test uses it with `ping_subscriber`.

use std::time::Duration;

use dapr_kit::{DaprClient, DaprConfig, Publication};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = DaprClient::connect(&DaprConfig::from_env()?).await?;
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    for sequence in 1u64.. {
        tokio::select! {
            _ = ticks.tick() => {}
            () = dapr_kit::shutdown_signal() => break,
        }
        let ping = format!(r#"{{"sequence":{sequence}}}"#).into_bytes();
        client
            .publish("pubsub", Publication::json("pings", ping))
            .await?;
        println!("published ping {sequence}");
    }
    Ok(())
}
