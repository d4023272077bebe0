//! Test fixtures (feature `testsuite`), for localdapr's own conformance suite and for the
//! services' tests: a localdapr runtime in a temporary directory (optionally with the suite's
//! components and fresh random secrets), sidecars and in-process apps attached to it, the
//! official `dapr` crate's client of a sidecar, and `wait_until` for eventual effects.
//!
//! - [`TestDapr`]: the runtime; [`TestApp`]: a client or callback app the test writes itself.
//! - `served_app`: a service under test behind its sidecar — [`TestDapr::launch`],
//!   [`TestDapr::serve_app`] returning a [`ServedApp`], [`TestDapr::startup_error`], and
//!   [`wait_serving`]. The services' `testsuite` features build their `spawn` on it.
//! - `server_task`: [`ServerTask`], every server a fixture starts runs in a task it owns, so a
//!   server that fails or panics fails the test.
//!
//! Every test runs authenticated, as `localdapr run` and production do: a spec without tokens
//! gets random ones ([`with_tokens`]), the fixtures' clients send them, in-process apps require
//! theirs, and [`SidecarHandle::app_env`] hands them to an app under test.
//!
//! Fixtures panic on setup failures: a broken test environment is a failed test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // fixtures: a panic fails the test

pub mod real;
mod served_app;
mod server_task;

use std::{net::SocketAddr, path::Path, sync::Mutex, time::Duration};

use dapr::dapr::proto::runtime::v1::dapr_client::DaprClient as OfficialClient;
use dapr_kit::{AppCallbackService, DaprClient, DaprConfig, JobHandlers, Subscriptions};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{
    Request, Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, RoutesBuilder, interceptor::InterceptedService},
    transport::Channel,
};

pub use self::{
    served_app::{AppLaunch, STARTUP_DEADLINE, ServedApp, wait_serving},
    server_task::ServerTask,
};
use crate::{AppSpec, LocalDapr, LocalDaprConfig, Resources, SidecarHandle};
pub use todo_telemetry::testsuite::wait_until;

/// The secret every service reads its keys from, and the keys in it.
pub const SUITE_SECRET: &str = "todo-suite";

/// The suite's components as the services expect them locally: `statestore` (outbox to
/// `task-events` on `pubsub`), `appstate` (no outbox: accounts, reminders), `pubsub`, `pubsub-sync` (`pubsub`'s topics with a consumer
/// group per instance, for sync), and `secretstore` reading `secrets.json` (multi-valued, like
/// a Kubernetes Secret). `{secrets_file}` is replaced with the file's path.
pub const SUITE_COMPONENTS: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "unused-by-localdapr.db"
    - name: outboxPublishPubsub
      value: pubsub
    - name: outboxPublishTopic
      value: task-events
    - name: outboxDiscardWhenMissingState
      value: "true"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: appstate
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "unused-by-localdapr.db"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub-sync
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
    - name: consumerID
      value: "{podName}"
    - name: localdaprTopicsOf
      value: pubsub
scopes:
  - sync
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: secretstore
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - name: secretsFile
      value: "{secrets_file}"
    - name: multiValued
      value: "true"
"#;

/// A runtime in a temporary data directory: localdapr, or the real daprd under
/// `TODO_TEST_DAPR=real` ([`real`]).
pub struct TestDapr {
    runtime: Runtime,
    pub data_dir: TempDir,
    yaml: String,
    /// The servers of the apps [`TestDapr::app_with_routes`] started; they serve as long as
    /// the runtime runs.
    app_servers: Mutex<Vec<ServerTask>>,
}

impl TestDapr {
    /// Starts localdapr with the suite's components and a secrets file holding fresh random
    /// keys (`jwt-signing-key`, `page-token-key`) under [`SUITE_SECRET`].
    ///
    /// # Panics
    /// When the fixture cannot be set up: a broken test environment.
    pub async fn start_suite() -> Self {
        Self::start_suite_with_secrets(serde_json::json!({
            SUITE_SECRET: { "jwt-signing-key": random_key(), "page-token-key": random_key() }
        }))
        .await
    }

    /// Starts localdapr with the suite's components and `secrets` as the secrets file (e.g. one
    /// without a key a service needs, to test how its startup fails).
    ///
    /// # Panics
    /// When the fixture cannot be set up: a broken test environment.
    pub async fn start_suite_with_secrets(secrets: serde_json::Value) -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let secrets_file = data_dir.path().join("secrets.json");
        std::fs::write(&secrets_file, secrets.to_string()).expect("the secrets file is written");
        let yaml = SUITE_COMPONENTS.replace("{secrets_file}", &secrets_file.display().to_string());
        Self::start_in(data_dir, yaml).await
    }

    /// Starts localdapr with the resources in `yaml`.
    pub async fn start(yaml: &str) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), yaml.to_string()).await
    }

    async fn start_in(data_dir: TempDir, yaml: String) -> Self {
        todo_telemetry::init_for_tests();
        let resources = resources(&yaml);
        let runtime = if real::is_real() {
            Runtime::Real(real::RealDapr::start(data_dir.path(), &yaml))
        } else {
            let mut config = LocalDaprConfig::new(data_dir.path().to_path_buf(), resources.clone());
            // A hung app would hold a restart for daprd's 30s; the semantics are the same.
            config.drain_timeout = Duration::from_secs(1);
            Runtime::Local(LocalDapr::start(config).await.unwrap())
        };
        Self {
            runtime,
            data_dir,
            yaml,
            app_servers: Mutex::default(),
        }
    }

    /// Whether this runtime is the real daprd (`TODO_TEST_DAPR=real`).
    pub fn is_real(&self) -> bool {
        matches!(self.runtime, Runtime::Real(_))
    }

    /// localdapr itself, for tests of what only it has (draining, its database).
    ///
    /// # Panics
    /// On the real daprd: such a test is not applicable there, and says so by skipping first.
    pub fn local(&self) -> &LocalDapr {
        match &self.runtime {
            Runtime::Local(dapr) => dapr,
            Runtime::Real(_) => panic!("a localdapr-only fixture used on the real daprd"),
        }
    }

    /// Shuts the runtime down and starts a new one on the same data directory.
    pub async fn restart(self) -> Self {
        self.stop().await.start().await
    }

    /// Shuts the runtime down, keeping its data directory for [`StoppedDapr::start`].
    pub async fn stop(self) -> StoppedDapr {
        let Self {
            runtime,
            data_dir,
            yaml,
            app_servers,
            ..
        } = self;
        match runtime {
            Runtime::Local(dapr) => dapr.shutdown().await,
            Runtime::Real(dapr) => dapr.shutdown().await,
        }
        drop(app_servers);
        StoppedDapr { data_dir, yaml }
    }

    /// Serves a sidecar for `spec` (given random tokens where it has none) without an app of
    /// the test's: the test runs the app, with [`SidecarHandle::app_env`].
    ///
    /// # Panics
    /// When the sidecar cannot start.
    pub async fn sidecar(&self, spec: AppSpec) -> SidecarHandle {
        self.add_app(with_tokens(spec)).await
    }

    async fn add_app(&self, spec: AppSpec) -> SidecarHandle {
        match &self.runtime {
            Runtime::Local(dapr) => dapr.add_app(spec).await.expect("the sidecar starts"),
            Runtime::Real(dapr) => dapr.add_app(spec).await,
        }
    }

    /// A sidecar for `app_id` with no app port: a client-only app.
    pub async fn client(&self, app_id: &str) -> TestApp {
        self.attach(AppSpec::new(app_id, None), None).await
    }

    /// A client-only app described by `spec` (e.g. with an API token).
    pub async fn client_with(&self, spec: AppSpec) -> TestApp {
        self.attach(spec, None).await
    }

    /// A sidecar for `app_id` and an in-process app serving `callback`; waits until the sidecar
    /// has read its subscriptions.
    pub async fn app(&self, app_id: &str, callback: AppCallbackService) -> TestApp {
        self.app_with(AppSpec::new(app_id, None), callback).await
    }

    /// As [`TestDapr::app`], with a spec to adjust (tokens, health checks, instance name);
    /// its `app_port` is set here.
    pub async fn app_with(&self, spec: AppSpec, callback: AppCallbackService) -> TestApp {
        self.app_serving(spec, callback, |_| {}).await
    }

    /// As [`TestDapr::app_with`], also serving the services `add` puts on the app's router.
    pub async fn app_serving(
        &self,
        spec: AppSpec,
        callback: AppCallbackService,
        add: impl FnOnce(&mut RoutesBuilder),
    ) -> TestApp {
        let mut routes = RoutesBuilder::default();
        callback.clone().add_to(&mut routes);
        add(&mut routes);
        let app = self.app_with_routes(spec, routes.routes()).await;
        TestApp {
            callback: Some(callback),
            ..app
        }
    }

    /// An app serving any gRPC `routes` (e.g. a hand-written `AppCallback`), attached as
    /// [`TestDapr::app_with`] attaches one.
    pub async fn app_with_routes(&self, spec: AppSpec, routes: tonic::service::Routes) -> TestApp {
        let mut spec = with_tokens(spec);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        spec.app_port = Some(listener.local_addr().unwrap().port());
        let stop = CancellationToken::new();
        let app_token = spec.app_api_token.clone().map(Into::into);
        let router = tonic::transport::Server::builder()
            .layer(dapr_kit::callback::AppTokenLayer::new(app_token))
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                dapr_kit::net::incoming(listener),
                stop.clone().cancelled_owned(),
            );
        // Owned by the runtime, not the TestApp: tests drop the TestApp of an app that serves on.
        let mut server = ServerTask::spawn(&spec.app_id, stop.clone(), router);
        let app = self.attach(spec, Some(stop)).await;
        server
            .until(wait_until(
                "the sidecar connects to the app",
                Duration::from_secs(10),
                || async { app.sidecar.app.is_connected() },
            ))
            .await;
        self.app_servers.lock().unwrap().push(server);
        app
    }

    async fn attach(&self, spec: AppSpec, app_stop: Option<CancellationToken>) -> TestApp {
        let spec = with_tokens(spec);
        let api_token = spec.api_token.clone();
        let sidecar = self.add_app(spec).await;
        let mut config =
            DaprConfig::for_endpoint(format!("http://{}", sidecar.grpc_address).parse().unwrap());
        config.api_token = api_token.clone().map(Into::into);
        config.startup_timeout = Duration::from_secs(10);
        let client = DaprClient::connect(&config).await.unwrap();
        TestApp {
            client,
            sidecar,
            callback: None,
            app_stop,
            api_token,
        }
    }
}

/// localdapr or the real daprd.
enum Runtime {
    Local(LocalDapr),
    Real(real::RealDapr),
}

/// A runtime that was shut down; its data directory is kept.
pub struct StoppedDapr {
    data_dir: TempDir,
    yaml: String,
}

impl StoppedDapr {
    /// Starts a new runtime on the same data directory.
    pub async fn start(self) -> TestDapr {
        TestDapr::start_in(self.data_dir, self.yaml).await
    }
}

/// One app instance and its sidecar.
pub struct TestApp {
    /// dapr-kit's client of the sidecar.
    pub client: DaprClient,
    /// The sidecar.
    pub sidecar: SidecarHandle,
    /// The app's callbacks, when it has an app port.
    pub callback: Option<AppCallbackService>,
    app_stop: Option<CancellationToken>,
    /// The token the sidecar requires (`DAPR_API_TOKEN`).
    api_token: Option<String>,
}

/// The official generated client, sending a sidecar's API token.
pub type Official = OfficialClient<InterceptedService<Channel, ApiToken>>;

/// Sends `dapr-api-token` on every call, as an app with `DAPR_API_TOKEN` does.
#[derive(Clone, Debug)]
pub struct ApiToken(Option<AsciiMetadataValue>);

impl Interceptor for ApiToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("dapr-api-token", token.clone());
        }
        Ok(request)
    }
}

impl TestApp {
    /// The official `dapr` crate's generated client of this sidecar, with its API token: a
    /// Dapr client we did not write.
    pub async fn official(&self) -> Official {
        let token = self.api_token.as_deref().map(|t| t.parse().unwrap());
        OfficialClient::with_interceptor(self.official_without_token().await, ApiToken(token))
    }

    /// A channel to this sidecar that sends no API token, as an intruder would.
    pub async fn official_without_token(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.sidecar.grpc_address))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// The official `dapr` crate's high-level client of this sidecar, with its API token.
    pub async fn official_sdk(&self) -> dapr::Client<dapr::client::TonicClientWithAuth> {
        let mut options = dapr::client::ClientOptions::new()
            .with_address(format!("http://{}", self.sidecar.grpc_address));
        if let Some(token) = &self.api_token {
            options = options.with_api_token(token);
        }
        dapr::Client::from_options(options).await.unwrap()
    }

    /// The token this sidecar requires (`DAPR_API_TOKEN`), for hand-built clients.
    pub fn api_token(&self) -> Option<&str> {
        self.api_token.as_deref()
    }

    /// The sidecar's address.
    pub fn sidecar_address(&self) -> SocketAddr {
        self.sidecar.grpc_address
    }

    /// The sidecar's HTTP port address (`DAPR_HTTP_PORT`).
    pub fn sidecar_http_address(&self) -> SocketAddr {
        self.sidecar.http_address
    }

    /// Stops the app's server (the sidecar keeps running).
    pub fn stop_app(&self) {
        if let Some(stop) = &self.app_stop {
            stop.cancel();
        }
    }
}

/// A callback service with no subscriptions and no jobs.
pub fn no_callbacks() -> AppCallbackService {
    AppCallbackService::new(Subscriptions::new(), JobHandlers::new())
}

/// `spec` with a random `DAPR_API_TOKEN` and `APP_API_TOKEN` where it sets none, as
/// `localdapr run` gives every app.
pub fn with_tokens(mut spec: AppSpec) -> AppSpec {
    spec.api_token.get_or_insert_with(random_key);
    spec.app_api_token.get_or_insert_with(random_key);
    spec
}

fn resources(yaml: &str) -> Resources {
    let mut resources = Resources::default();
    resources
        .add_documents(Path::new("test.yaml"), yaml)
        .expect("valid test resources");
    resources
}

fn random_key() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
