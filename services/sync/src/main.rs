//! The sync binary: dapr-kit's service main around [`sync::server::run`].

use std::process::ExitCode;

use sync::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main::<Config, _, _, _>("sync", server::run).await
}
