//! The audit binary: dapr-kit's service main around [`audit::server::run`].

use std::process::ExitCode;

use audit::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main::<Config, _, _, _>("audit", server::run).await
}
