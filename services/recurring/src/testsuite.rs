//! Test fixtures (feature `testsuite`): recurring served behind a localdapr sidecar, for its own
//! tests and end-to-end tests of the suite. todo-api, which it creates occurrences through, is
//! the test's to start (`todo_api::testsuite::spawn`). Fixtures panic on setup failures: a
//! broken test environment is a failed test.

use std::future::Future;

use dapr_kit::ServiceConfig;
use localdapr::{
    AppSpec,
    testsuite::{AppLaunch, ServedApp, TestDapr},
};

use crate::{Config, server::ServerError};

/// recurring's app id; todo-api trusts it to continue series (`TODO_RECURRING_APP_ID`).
pub const APP_ID: &str = "recurring";

/// The overall `grpc.health.v1` service: recurring serves no API of its own to name.
const HEALTH_SERVICE: &str = "";

/// Starts recurring with its default configuration behind a sidecar of `dapr`, and waits until
/// it serves and its sidecar is connected (and so has read its subscriptions).
pub async fn spawn(dapr: &TestDapr) -> ServedApp {
    spawn_with(dapr, AppSpec::new(APP_ID, None), &[]).await
}

/// As [`spawn`], for `spec` (tokens, instance name), with `overrides` of recurring's environment.
///
/// # Panics
/// When the configuration is unusable, or recurring fails or does not serve in time.
pub async fn spawn_with(dapr: &TestDapr, spec: AppSpec, overrides: &[(&str, &str)]) -> ServedApp {
    dapr.serve_app(spec, HEALTH_SERVICE, |mut launch| {
        launch.set_env(overrides);
        run(launch)
    })
    .await
}

/// Runs recurring's `server::run` on `launch`, configured from its environment: what [`spawn`]
/// runs, and what a test of a failing startup passes to `TestDapr::startup_error`.
///
/// # Panics
/// When the configuration is unusable.
pub fn run(launch: AppLaunch) -> impl Future<Output = Result<(), ServerError>> {
    let config = Config::from_lookup(launch.lookup())
        .unwrap_or_else(|error| panic!("recurring's test configuration is unusable: {error}"));
    crate::server::run(config, launch.listeners, launch.shutdown)
}
