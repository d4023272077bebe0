//! Test fixtures for the suite's services (feature `testsuite`): an in-process localdapr with
//! the suite's components in a temporary directory, sidecars for apps under test, and
//! `wait_until` for eventual effects.

use std::{future::Future, path::Path, time::Duration};

use dapr_kit::{DaprClient, DaprConfig};
use tempfile::TempDir;

use crate::{AppSpec, LocalDapr, LocalDaprConfig, Resources, SidecarHandle};

/// The secret every service reads its keys from, and the keys in it.
pub const SUITE_SECRET: &str = "todo-suite";

/// The suite's components as the services expect them locally: `statestore` (outbox to
/// `task-events` on `pubsub`), `pubsub`, and `secretstore` reading `secrets.json` (multi-valued,
/// like a Kubernetes Secret). `{secrets_file}` is replaced with the file's path.
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
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
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

/// A localdapr runtime in a temporary directory.
pub struct TestDapr {
    /// The runtime.
    pub dapr: LocalDapr,
    /// Its data directory (and the secrets file); removed on drop.
    pub data_dir: TempDir,
    resources: Resources,
}

impl TestDapr {
    /// Starts localdapr with the suite's components and a secrets file holding fresh random
    /// keys (`jwt-signing-key`, `page-token-key`) under [`SUITE_SECRET`].
    ///
    /// # Panics
    /// When the fixture cannot be set up: a broken test environment.
    pub async fn start_suite() -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let secrets_file = data_dir.path().join("secrets.json");
        let secrets = serde_json::json!({
            SUITE_SECRET: { "jwt-signing-key": random_key(), "page-token-key": random_key() }
        });
        std::fs::write(&secrets_file, secrets.to_string()).expect("the secrets file is written");
        let yaml = SUITE_COMPONENTS.replace("{secrets_file}", &secrets_file.display().to_string());
        Self::start_in(data_dir, &yaml).await
    }

    /// Starts localdapr with the resources in `yaml`.
    ///
    /// # Panics
    /// When the YAML is invalid or the runtime cannot start.
    pub async fn start(yaml: &str) -> Self {
        Self::start_in(tempfile::tempdir().expect("a temporary directory"), yaml).await
    }

    async fn start_in(data_dir: TempDir, yaml: &str) -> Self {
        let mut resources = Resources::default();
        resources
            .add_documents(Path::new("test.yaml"), yaml)
            .expect("valid test resources");
        Self::open(data_dir, resources).await
    }

    async fn open(data_dir: TempDir, resources: Resources) -> Self {
        todo_telemetry::init_for_tests();
        // Tests restart runtimes with apps that never answer: drain for a second, not 30.
        let config = LocalDaprConfig {
            drain_timeout: Duration::from_secs(1),
            ..LocalDaprConfig::new(data_dir.path().to_path_buf(), resources.clone())
        };
        let dapr = LocalDapr::start(config).await.expect("localdapr starts");
        Self {
            dapr,
            data_dir,
            resources,
        }
    }

    /// Shuts the runtime down and starts a new one on the same data directory.
    pub async fn restart(self) -> Self {
        let Self {
            dapr,
            data_dir,
            resources,
        } = self;
        dapr.shutdown().await;
        Self::open(data_dir, resources).await
    }

    /// Serves a sidecar for `spec`.
    ///
    /// # Panics
    /// When the sidecar cannot start.
    pub async fn sidecar(&self, spec: AppSpec) -> SidecarHandle {
        self.dapr.add_app(spec).await.expect("the sidecar starts")
    }

    /// A sidecar for a client-only app `app_id`, and dapr-kit's client of it.
    ///
    /// # Panics
    /// When the sidecar cannot start.
    pub async fn client(&self, app_id: &str) -> (SidecarHandle, DaprClient) {
        let sidecar = self.sidecar(AppSpec::new(app_id, None)).await;
        let client = DaprClient::connect(&self.config_for(&sidecar))
            .await
            .expect("the sidecar answers");
        (sidecar, client)
    }

    /// The Dapr configuration an app of `sidecar` would read from its environment.
    pub fn config_for(&self, sidecar: &SidecarHandle) -> DaprConfig {
        let mut config = DaprConfig::for_endpoint(
            format!("http://{}", sidecar.grpc_address)
                .parse()
                .expect("a valid endpoint"),
        );
        config.startup_timeout = Duration::from_secs(10);
        config
    }
}

fn random_key() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls `condition` every 10 ms until it holds.
///
/// # Panics
/// When `deadline` passes first, naming `description`.
pub async fn wait_until<F, Fut>(description: &str, deadline: Duration, condition: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < deadline,
            "timed out waiting until {description}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
