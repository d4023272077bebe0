//! A service under test, started the way `localdapr run` starts an app: [`TestDapr::launch`]
//! binds its ports and starts its sidecar; [`TestDapr::serve_app`] also runs its server in a
//! [`ServerTask`] and waits until it serves; [`TestDapr::startup_error`] runs one that should
//! refuse to start. The services' own `testsuite` features (`todo_api::testsuite::spawn`, ...)
//! build on these.

use std::{collections::HashMap, future::Future, net::SocketAddr, time::Duration};

use dapr_kit::{AppListeners, config::ENV_DAPR_GRPC_ENDPOINT, service_main::ENV_APP_PORT};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::{ServerTask, TestDapr, wait_until};
use crate::{AppSpec, SidecarHandle};

/// How long an app under test may take to report `SERVING` and be connected to its sidecar.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// What an app under test starts with, as a process of `localdapr run` would.
pub struct AppLaunch {
    /// Its app and admin ports, bound to `127.0.0.1:0`.
    pub listeners: AppListeners,
    /// The environment its sidecar gives it: `APP_ID`, `APP_PORT`, `DAPR_GRPC_PORT`,
    /// `DAPR_GRPC_ENDPOINT`, and `DAPR_API_TOKEN` / `APP_API_TOKEN` when its spec has tokens.
    pub env: HashMap<String, String>,
    /// Its sidecar.
    pub sidecar: SidecarHandle,
    /// Resolves when the test stops the app; never, for a launch the test runs itself.
    pub shutdown: WaitForCancellationFutureOwned,
}

impl AppLaunch {
    /// Sets (or replaces) variables of [`AppLaunch::env`].
    pub fn set_env(&mut self, variables: &[(&str, &str)]) {
        self.env.extend(
            variables
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
    }

    /// [`AppLaunch::env`] as the lookup a service's `Config::from_lookup` takes.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.env.get(name).cloned()
    }
}

/// An app of the test's, served behind its sidecar until this handle is dropped or stopped. Its
/// server task belongs to the handle, so a server that fails or panics fails the test.
pub struct ServedApp {
    /// The app id.
    pub app_id: String,
    /// The app port: gRPC for the sidecar (and, for the gateway, the public).
    pub address: SocketAddr,
    /// The admin port: `/metrics`, `/healthz`, `/readyz`.
    pub admin_address: SocketAddr,
    /// Its sidecar.
    pub sidecar: SidecarHandle,
    server: ServerTask,
}

impl ServedApp {
    /// A channel to the app port, connected on first use.
    pub fn channel(&self) -> Channel {
        lazy_channel(self.address)
    }

    /// Fails the test if the server has ended on its own, with an error, or with a panic.
    ///
    /// # Panics
    /// In those cases.
    pub fn check(&mut self) {
        self.server.check();
    }

    /// Stops the app as SIGTERM would and waits until it has drained (its sidecar keeps
    /// running).
    ///
    /// # Panics
    /// When the server failed or panicked.
    pub async fn stop(mut self) {
        self.server.stop().await;
    }
}

impl TestDapr {
    /// Binds an app's ports on `127.0.0.1:0`, starts its sidecar for `spec` (its `app_port` is
    /// set here), and returns what the app starts with; the test runs the app. Tokens in `spec`
    /// reach both the sidecar and the app's environment.
    ///
    /// # Panics
    /// When the ports cannot be bound or the sidecar cannot start.
    pub async fn launch(&self, spec: AppSpec) -> AppLaunch {
        self.launch_until(spec, CancellationToken::new()).await
    }

    /// Starts an app behind its sidecar, as [`TestDapr::launch`] does, and runs `serve` on its
    /// launch in a task the returned handle owns; then waits until gRPC health reports
    /// `health_service` `SERVING` on the app port and the sidecar has connected to the app.
    ///
    /// # Panics
    /// When the app does not get there within [`STARTUP_DEADLINE`], or its server ends first:
    /// then with the server's error.
    pub async fn serve_app<F, E>(
        &self,
        spec: AppSpec,
        health_service: &str,
        serve: impl FnOnce(AppLaunch) -> F,
    ) -> ServedApp
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::error::Error + 'static,
    {
        let app_id = spec.app_id.clone();
        let stop = CancellationToken::new();
        let launch = self.launch_until(spec, stop.clone()).await;
        let address = launch.listeners.app_address().unwrap();
        let admin_address = launch.listeners.admin_address().unwrap();
        let sidecar = launch.sidecar.clone();
        let mut server = ServerTask::spawn(&app_id, stop, serve(launch));
        server
            .until(wait_serving(address, health_service, STARTUP_DEADLINE))
            .await;
        server
            .until(wait_until(
                &format!("{app_id}'s sidecar connects to it"),
                STARTUP_DEADLINE,
                || async { sidecar.app.is_connected() },
            ))
            .await;
        ServedApp {
            app_id,
            address,
            admin_address,
            sidecar,
            server,
        }
    }

    /// Runs an app that is expected to refuse to start (a missing secret, say) on a launch for
    /// `spec`, and returns its error with every source, as its `main` would print it.
    ///
    /// # Panics
    /// When the app stops without an error, or still runs at [`STARTUP_DEADLINE`].
    pub async fn startup_error<F, E>(
        &self,
        spec: AppSpec,
        serve: impl FnOnce(AppLaunch) -> F,
    ) -> String
    where
        F: Future<Output = Result<(), E>>,
        E: std::error::Error,
    {
        let app_id = spec.app_id.clone();
        let launch = self.launch(spec).await;
        match tokio::time::timeout(STARTUP_DEADLINE, serve(launch)).await {
            Ok(Err(error)) => todo_telemetry::error_chain(&error),
            Ok(Ok(())) => panic!("{app_id} stopped without an error"),
            Err(_) => panic!("{app_id} still runs after {STARTUP_DEADLINE:?}: it started"),
        }
    }

    async fn launch_until(&self, mut spec: AppSpec, stop: CancellationToken) -> AppLaunch {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let listeners = AppListeners::bind(any_port, any_port)
            .await
            .expect("free ports on 127.0.0.1");
        spec.app_port = Some(listeners.app_address().unwrap().port());
        let sidecar = self.sidecar(spec.clone()).await;
        AppLaunch {
            listeners,
            env: app_env(&spec, &sidecar),
            sidecar,
            shutdown: stop.cancelled_owned(),
        }
    }
}

/// What `localdapr run` puts in the environment of the app `spec` describes: the sidecar's
/// port and tokens ([`SidecarHandle::app_env`]), and the app's own id, port and protocol.
fn app_env(spec: &AppSpec, sidecar: &SidecarHandle) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = sidecar
        .app_env()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    env.insert("APP_ID".to_string(), spec.app_id.clone());
    env.insert("APP_PROTOCOL".to_string(), "grpc".to_string());
    env.insert(
        ENV_DAPR_GRPC_ENDPOINT.to_string(),
        format!("http://{}", sidecar.grpc_address),
    );
    if let Some(port) = spec.app_port {
        env.insert(ENV_APP_PORT.to_string(), port.to_string());
    }
    env
}

/// Waits until gRPC health at `address` reports `service` `SERVING`.
///
/// # Panics
/// When it does not within `deadline`: the wait fails instead of falling through.
pub async fn wait_serving(address: SocketAddr, service: &str, deadline: Duration) {
    let health = HealthClient::new(lazy_channel(address));
    wait_until(
        &format!("{service} is SERVING at {address}"),
        deadline,
        || {
            let mut health = health.clone();
            async move {
                health
                    .check(HealthCheckRequest {
                        service: service.into(),
                    })
                    .await
                    .is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32)
            }
        },
    )
    .await;
}

fn lazy_channel(address: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .expect("an http URI of a socket address is valid")
        .connect_lazy()
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use dapr_kit::AppServer;
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_served_app_gets_its_sidecar_and_tokens_and_serves_until_stopped() {
        let dapr = TestDapr::start_suite().await;
        let mut spec = AppSpec::new("echo", None);
        spec.api_token = Some("to-the-sidecar".into());
        spec.app_api_token = Some("to-the-app".into());
        let (seen, mut env) = tokio::sync::oneshot::channel();
        let app = dapr
            .serve_app(spec, "", |launch| {
                seen.send(launch.env.clone()).unwrap();
                AppServer::new().run(launch.listeners, launch.shutdown)
            })
            .await;
        let env = env.try_recv().unwrap();
        let sidecar = app.sidecar.grpc_address;
        let expected = [
            ("APP_ID", "echo".to_string()),
            ("APP_PORT", app.address.port().to_string()),
            ("DAPR_GRPC_PORT", sidecar.port().to_string()),
            ("DAPR_GRPC_ENDPOINT", format!("http://{sidecar}")),
            ("DAPR_API_TOKEN", "to-the-sidecar".to_string()),
            ("APP_API_TOKEN", "to-the-app".to_string()),
        ];
        for (name, value) in expected {
            assert_eq!(env.get(name), Some(&value), "{name}");
        }
        assert!(app.sidecar.app.is_connected());
        app.stop().await;
    }

    #[tokio::test]
    async fn an_app_that_cannot_start_fails_the_test_with_its_error_before_the_deadline() {
        let dapr = TestDapr::start_suite().await;
        let started = tokio::time::Instant::now();
        let serving = dapr.serve_app(AppSpec::new("broken", None), "", |_launch| async {
            Err::<(), _>(std::io::Error::other("no signing key"))
        });
        let failed = AssertUnwindSafe(serving).catch_unwind().await;
        let panic = failed.err().expect("serve_app fails");
        assert_eq!(
            panic.downcast_ref::<String>().map(String::as_str),
            Some("broken failed: no signing key")
        );
        assert!(started.elapsed() < STARTUP_DEADLINE, "it fails at once");
    }
}
