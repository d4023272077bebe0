//! The todo-api binary: dapr-kit's service main around [`todo_api::server::run`].

use std::process::ExitCode;

use todo_api::{Config, server};

#[tokio::main]
async fn main() -> ExitCode {
    dapr_kit::service_main("todo-api", Config::from_env, server::run).await
}
