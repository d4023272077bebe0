//! The gateway binary: telemetry, configuration, bind, serve until SIGTERM, flush.

use std::process::ExitCode;

use dapr_kit::AppListeners;
use gateway::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    let guard = match todo_telemetry::TelemetryConfig::from_env()
        .and_then(|telemetry| todo_telemetry::init("gateway", &telemetry))
    {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("gateway: {error}");
            return ExitCode::from(64);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("gateway: {error}");
            return ExitCode::from(64);
        }
    };
    tracing::info!(?config, "starting");
    let outcome = match AppListeners::bind(config.app_address, config.admin_address).await {
        Ok(listeners) => server::run(config, listeners, dapr_kit::shutdown_signal())
            .await
            .map_err(anyhow::Error::from),
        Err(error) => Err(anyhow::Error::from(error).context("cannot bind the app or admin port")),
    };
    let code = match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("gateway: {error:#}");
            ExitCode::FAILURE
        }
    };
    if let Err(error) = guard.shutdown().await {
        eprintln!("gateway: cannot flush traces: {error}");
    }
    code
}
