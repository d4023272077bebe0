//! The notification binary: dapr-kit's service main around [`notification::server::run`].

use std::process::ExitCode;

use notification::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main::<Config, _, _, _>("notification", server::run).await
}
