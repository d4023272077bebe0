//! Test fixtures (feature `testsuite`): sync served behind a localdapr sidecar, for its own
//! tests and for end-to-end tests of the suite. Fixtures panic on setup failures: a broken test
//! environment is a failed test.

use std::future::Future;

use dapr_kit::ServiceConfig;
use localdapr::{
    AppSpec,
    testsuite::{AppLaunch, ServedApp, TestDapr},
};
use todo_proto::todo::v1::sync_service_server;

use crate::{Config, server::ServerError};

/// sync's app id, by which the gateway reaches it through Dapr.
pub const APP_ID: &str = "sync";

/// Starts sync with its default configuration behind a sidecar of `dapr` (whose components
/// must include `pubsub-sync`, as `TestDapr::start_suite` gives), and waits until it serves
/// `SyncService` and its sidecar is connected.
pub async fn spawn(dapr: &TestDapr) -> ServedApp {
    spawn_with(dapr, AppSpec::new(APP_ID, None), &[]).await
}

/// Starts the replica `instance` of sync (its `{podName}`, hence its own consumer group), with
/// `overrides` of its environment.
pub async fn spawn_replica(
    dapr: &TestDapr,
    instance: &str,
    overrides: &[(&str, &str)],
) -> ServedApp {
    let spec = AppSpec {
        instance_name: Some(instance.to_string()),
        ..AppSpec::new(APP_ID, None)
    };
    spawn_with(dapr, spec, overrides).await
}

/// As [`spawn`], for `spec` (tokens, instance name), with `overrides` of sync's environment.
///
/// # Panics
/// When the configuration is unusable, or sync fails or does not serve in time.
pub async fn spawn_with(dapr: &TestDapr, spec: AppSpec, overrides: &[(&str, &str)]) -> ServedApp {
    dapr.serve_app(spec, sync_service_server::SERVICE_NAME, |mut launch| {
        launch.set_env(overrides);
        run(launch)
    })
    .await
}

/// Runs sync's `server::run` on `launch`, configured from its environment: what [`spawn`] runs,
/// and what a test of a failing startup passes to `TestDapr::startup_error`.
///
/// # Panics
/// When the configuration is unusable.
pub fn run(launch: AppLaunch) -> impl Future<Output = Result<(), ServerError>> {
    let config = Config::from_lookup(launch.lookup())
        .unwrap_or_else(|error| panic!("sync's test configuration is unusable: {error}"));
    crate::server::run(config, launch.listeners, launch.shutdown)
}
