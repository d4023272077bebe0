//! The todo-api binary: dapr-kit's service main around [`todo_api::server::run`].

use std::process::ExitCode;

use todo_api::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main::<Config, _, _, _>("todo-api", server::run).await
}
