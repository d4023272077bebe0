//! The gateway binary: dapr-kit's service main around [`gateway::server::run`].

use std::process::ExitCode;

use gateway::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main("gateway", Config::from_env, server::run).await
}
