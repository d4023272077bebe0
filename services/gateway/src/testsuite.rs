//! Test fixtures (feature `testsuite`): the gateway served behind a localdapr sidecar with a
//! small built frontend, for its own API tests and for end-to-end tests of the suite. The
//! services it forwards to are the test's to start (e.g. `todo_api::testsuite::spawn`).
//! Fixtures panic on setup failures: a broken test environment is a failed test.

use std::{future::Future, net::SocketAddr};

use dapr_kit::ServiceConfig;
use localdapr::{
    AppSpec,
    testsuite::{AppLaunch, ServedApp, TestDapr},
};
use tempfile::TempDir;
use todo_proto::todo::v1::auth_service_server;

use crate::{Config, config::ENV_FRONTEND_DIR, server::ServerError};

/// The gateway's app id.
pub const APP_ID: &str = "gateway";

/// The gateway under test and the frontend it serves.
pub struct TestGateway {
    /// The gateway behind its sidecar; its app port is the public port.
    pub app: ServedApp,
    /// The built frontend (`index.html`, `assets/app.js`), removed when the gateway is dropped.
    _frontend: TempDir,
}

impl TestGateway {
    /// The public port.
    pub fn address(&self) -> SocketAddr {
        self.app.address
    }
}

/// Starts the gateway with its default configuration behind a sidecar of `dapr`, and waits
/// until it serves `AuthService` and its sidecar is connected.
pub async fn spawn(dapr: &TestDapr) -> TestGateway {
    spawn_with(dapr, AppSpec::new(APP_ID, None), &[]).await
}

/// As [`spawn`], for `spec` (tokens, instance name), with `overrides` of the gateway's
/// environment (they may replace `TODO_FRONTEND_DIR`).
///
/// # Panics
/// When the configuration is unusable, or the gateway fails or does not serve in time.
pub async fn spawn_with(dapr: &TestDapr, spec: AppSpec, overrides: &[(&str, &str)]) -> TestGateway {
    let frontend = built_frontend();
    let frontend_dir = frontend.path().join("dist");
    let app = dapr
        .serve_app(spec, auth_service_server::SERVICE_NAME, |mut launch| {
            launch.set_env(&[(ENV_FRONTEND_DIR, &frontend_dir.display().to_string())]);
            launch.set_env(overrides);
            run(launch)
        })
        .await;
    TestGateway {
        app,
        _frontend: frontend,
    }
}

/// Runs the gateway's `server::run` on `launch`, configured from its environment: what
/// [`spawn`] runs, and what a test of a failing startup passes to `TestDapr::startup_error`.
///
/// # Panics
/// When the configuration is unusable.
pub fn run(launch: AppLaunch) -> impl Future<Output = Result<(), ServerError>> {
    let config = Config::from_lookup(launch.lookup())
        .unwrap_or_else(|error| panic!("the gateway's test configuration is unusable: {error}"));
    crate::server::run(config, launch.listeners, launch.shutdown)
}

/// A temporary directory holding `dist/index.html` and `dist/assets/app.js`.
fn built_frontend() -> TempDir {
    let frontend = tempfile::tempdir().expect("a temporary directory");
    let dist = frontend.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).expect("the frontend directory is created");
    for (file, contents) in [
        ("index.html", "<!doctype html><h1>Todo Suite</h1>"),
        ("assets/app.js", "console.log('todo')"),
    ] {
        std::fs::write(dist.join(file), contents).expect("the frontend file is written");
    }
    frontend
}

/// A channel whose calls carry `authorization: Bearer <token>`, as a signed-in client's do.
pub type Authorized =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone, Debug)]
pub struct Bearer(tonic::metadata::AsciiMetadataValue);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// `channel`, presenting `access_token` on every call.
///
/// # Panics
/// When the token is not valid metadata (the gateway never issues such a token).
pub fn authorized(channel: tonic::transport::Channel, access_token: &str) -> Authorized {
    let value = format!("Bearer {access_token}")
        .parse()
        .expect("an access token is valid metadata");
    tonic::service::interceptor::InterceptedService::new(channel, Bearer(value))
}
