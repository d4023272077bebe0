//! The gateway binary: dapr-kit's service main around [`gateway::server::run`].

use std::process::ExitCode;

use gateway::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main::<Config, _, _, _>("gateway", server::run).await
}
