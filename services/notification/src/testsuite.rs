//! Test fixtures (feature `testsuite`): notification served behind a localdapr sidecar, for
//! its own tests and end-to-end tests of the suite. Fixtures panic on setup failures: a broken
//! test environment is a failed test.

use std::future::Future;

use dapr_kit::ServiceConfig;
use localdapr::{
    AppSpec,
    testsuite::{AppLaunch, ServedApp, TestDapr},
};
use todo_proto::todo::v1::notification_service_server;

use crate::{Config, server::ServerError};

/// notification's app id, by which the gateway reaches it and its jobs belong to it.
pub const APP_ID: &str = "notification";

/// Starts notification with its default configuration behind a sidecar of `dapr`, and waits
/// until it serves `NotificationService` and its sidecar is connected.
pub async fn spawn(dapr: &TestDapr) -> ServedApp {
    spawn_with(dapr, AppSpec::new(APP_ID, None), &[]).await
}

/// As [`spawn`], for `spec` (tokens, instance name), with `overrides` of notification's
/// environment.
///
/// # Panics
/// When the configuration is unusable, or notification fails or does not serve in time.
pub async fn spawn_with(dapr: &TestDapr, spec: AppSpec, overrides: &[(&str, &str)]) -> ServedApp {
    dapr.serve_app(
        spec,
        notification_service_server::SERVICE_NAME,
        |mut launch| {
            launch.set_env(overrides);
            run(launch)
        },
    )
    .await
}

/// Runs notification's `server::run` on `launch`, configured from its environment: what
/// [`spawn`] runs, and what a test of a failing startup passes to `TestDapr::startup_error`.
///
/// # Panics
/// When the configuration is unusable.
pub fn run(launch: AppLaunch) -> impl Future<Output = Result<(), ServerError>> {
    let config = Config::from_lookup(launch.lookup())
        .unwrap_or_else(|error| panic!("notification's test configuration is unusable: {error}"));
    crate::server::run(config, launch.listeners, launch.shutdown)
}
