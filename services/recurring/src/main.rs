//! The recurring binary: dapr-kit's service main around [`recurring::server::run`].

use std::process::ExitCode;

use recurring::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main::<Config, _, _, _>("recurring", server::run).await
}
