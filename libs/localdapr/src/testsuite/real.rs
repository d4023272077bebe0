//! The same fixtures on the real daprd (`TODO_TEST_DAPR=real`, set by
//! `scripts/with-real-dapr.sh` together with `TODO_DAPRD`, `TODO_DAPR_SCHEDULER` and
//! `TODO_KAFKA_BROKERS`): every sidecar a test asks for is a daprd process started as
//! `localdapr run --daprd` starts one, behind the same [`SidecarHandle`], so a test cannot tell.
//!
//! A test's components are rewritten only where one machine and many tests at once need it:
//! - `state.sqlite` gets a database file of its own in the test's directory;
//! - `pubsub.in-memory` (one process in daprd, but one runtime in localdapr) becomes
//!   `pubsub.kafka` on the test broker, and every pubsub gets
//!   `consumerID: "{namespace}"`: daprd then prefixes the topics with the namespace, and each
//!   fixture runs its daprd in a namespace of its own, so concurrent tests share no topic and no
//!   consumer group (the broker creates topics on first use); a new group starts at the oldest
//!   message unless the test says otherwise (a Kafka consumer joins after daprd is healthy);
//! - localdapr's own metadata keys (`localdaprTopicsOf`) are dropped;
//! - a Configuration names the `sqlite` name resolver with a file of the test's, so service
//!   invocation finds only this test's apps.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_yaml_ng::{Mapping, Value};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    AppSpec, SidecarHandle,
    app::AppInstanceHandle,
    components::AppInstance,
    runner::{Daprd, DaprdError, DaprdOptions},
};

/// Which runtime the fixtures use: `real` for daprd, anything else (or unset) for localdapr.
pub const ENV_TEST_DAPR: &str = "TODO_TEST_DAPR";

/// The daprd binary.
pub const ENV_DAPRD: &str = "TODO_DAPRD";

/// The Scheduler's address.
pub const ENV_SCHEDULER: &str = "TODO_DAPR_SCHEDULER";

/// The Kafka brokers the rewritten pub/subs use.
pub const ENV_KAFKA_BROKERS: &str = "TODO_KAFKA_BROKERS";

/// How long a daprd may take to report healthy (components loaded, app port answering).
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// How long a daprd gets to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Whether the fixtures run on the real daprd.
pub fn is_real() -> bool {
    std::env::var(ENV_TEST_DAPR).is_ok_and(|value| value == "real")
}

/// The daprd processes of one fixture runtime.
pub(crate) struct RealDapr {
    options: DaprdOptions,
    tasks: TaskTracker,
    stop: CancellationToken,
    sidecars: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl RealDapr {
    /// Writes the resources rewritten for daprd into `data_dir` (namespace: kept in the
    /// directory, so a restart on it is the same runtime) and prepares to start sidecars.
    ///
    /// # Panics
    /// When a variable is missing or a file cannot be written: a broken test environment.
    pub(crate) fn start(data_dir: &Path, yaml: &str) -> Self {
        let variable = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{ENV_TEST_DAPR}=real needs {name}; run under scripts/with-real-dapr.sh")
            })
        };
        let namespace_file = data_dir.join("namespace");
        let namespace = std::fs::read_to_string(&namespace_file).unwrap_or_else(|_| {
            let namespace = format!("t{}", &uuid_like()[..12]);
            std::fs::write(&namespace_file, &namespace).unwrap();
            namespace
        });
        let resources = data_dir.join("resources");
        std::fs::create_dir_all(&resources).unwrap();
        let brokers = variable(ENV_KAFKA_BROKERS);
        for (index, document) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
            let mut value: Value = serde::Deserialize::deserialize(document).unwrap();
            if value.is_null() {
                continue;
            }
            rewrite(&mut value, data_dir, &brokers);
            std::fs::write(
                resources.join(format!("{index:03}.yaml")),
                serde_yaml_ng::to_string(&value).unwrap(),
            )
            .unwrap();
        }
        let config = data_dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: test\nspec:\n  \
                 nameResolution:\n    component: sqlite\n    configuration:\n      connectionString: \"{}\"\n",
                data_dir.join("name-resolution.db").display()
            ),
        )
        .unwrap();
        Self {
            options: DaprdOptions {
                binary: PathBuf::from(variable(ENV_DAPRD)),
                resources_path: resources,
                config: Some(config),
                scheduler_host_address: std::env::var(ENV_SCHEDULER).ok(),
                log_level: std::env::var("TODO_DAPRD_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
                namespace: Some(namespace),
            },
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            sidecars: Mutex::default(),
        }
    }

    /// Starts a daprd for `spec` and waits until it is healthy (with its app, if it has one).
    ///
    /// # Panics
    /// When daprd does not start or is not healthy in time.
    pub(crate) async fn add_app(&self, spec: AppSpec) -> SidecarHandle {
        // Ports are picked free, then bound by daprd (as `dapr run` does): another test can
        // take one in between, and daprd then exits at once. Try again on fresh ports.
        let mut attempts = 0;
        let mut daprd = loop {
            attempts += 1;
            let mut daprd = Daprd::start(&self.options, &spec, &self.tasks)
                .await
                .unwrap_or_else(|error| panic!("{}", todo_telemetry::error_chain(&error)));
            match daprd.wait_outbound_ready(READY_DEADLINE).await {
                Ok(()) => break daprd,
                Err(error @ DaprdError::Exited { .. }) if attempts < 3 => {
                    tracing::warn!(error = %error, "daprd exited at start; trying fresh ports");
                }
                Err(error) => panic!("{}", todo_telemetry::error_chain(&error)),
            }
        };
        let instance = AppInstance {
            app_id: spec.app_id.clone(),
            pod_name: spec
                .instance_name
                .clone()
                .unwrap_or_else(|| spec.app_id.clone()),
        };
        let address = spec
            .app_port
            .map(|port| std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        let app = Arc::new(
            AppInstanceHandle::new(instance, address, spec.app_api_token.clone())
                .expect("a valid app spec"),
        );
        let stop = self.stop.child_token();
        if let Some(address) = address {
            self.tasks.spawn(watch_connection(
                app.clone(),
                daprd.http_address,
                address,
                stop.clone(),
            ));
        }
        let handle = SidecarHandle::external(
            daprd.grpc_address,
            daprd.http_address,
            daprd.metrics_address,
            app,
            &spec,
            stop.clone(),
        );
        let app_id = spec.app_id;
        let supervisor = tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {
                    daprd.process().stop(STOP_GRACE).await;
                }
                status = daprd.process().wait() => {
                    tracing::warn!(%app_id, ?status, "daprd exited on its own");
                }
            }
        });
        self.sidecars.lock().unwrap().push(supervisor);
        handle
    }

    /// Stops every daprd (SIGTERM, then SIGKILL after the grace) and waits for them.
    pub(crate) async fn shutdown(&self) {
        self.stop.cancel();
        let sidecars = std::mem::take(&mut *self.sidecars.lock().unwrap());
        for sidecar in sidecars {
            let _ = sidecar.await;
        }
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
    }
}

/// Keeps [`AppInstanceHandle::is_connected`] true while daprd reports healthy (which it does
/// once its app port answered and its subscriptions are read) and the app port accepts
/// connections, as localdapr's own sidecar reports it.
async fn watch_connection(
    app: Arc<AppInstanceHandle>,
    daprd: std::net::SocketAddr,
    app_address: std::net::SocketAddr,
    stop: CancellationToken,
) {
    let mut ready = false;
    while !stop.is_cancelled() {
        ready = ready
            || crate::runner::http_status(daprd, "/v1.0/healthz")
                .await
                .ok()
                == Some(204);
        let up = ready && tokio::net::TcpStream::connect(app_address).await.is_ok();
        app.set_connected(up);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    app.set_connected(false);
}

/// Rewrites one resource document for daprd on this machine (see the module's doc).
fn rewrite(document: &mut Value, data_dir: &Path, brokers: &str) {
    if document.get("kind").and_then(Value::as_str) != Some("Component") {
        return;
    }
    let name = document
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("component")
        .to_string();
    let Some(spec) = document.get_mut("spec").and_then(Value::as_mapping_mut) else {
        return;
    };
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut metadata: Vec<(String, Value)> = spec
        .get("metadata")
        .and_then(Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let name = item.get("name")?.as_str()?.to_string();
                    Some((name, item.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    metadata.retain(|(key, _)| key != "localdaprTopicsOf");
    let has_initial_offset = metadata.iter().any(|(key, _)| key == "initialOffset");
    // Per-instance groups (`{podName}`) stay per instance, within the namespace.
    let consumer = metadata
        .iter()
        .find(|(key, _)| key == "consumerID")
        .and_then(|(_, item)| item.get("value")?.as_str().map(str::to_string));
    let mut set = |key: &str, value: String| {
        metadata.retain(|(existing, _)| existing != key);
        let mut item = Mapping::new();
        item.insert("name".into(), key.into());
        item.insert("value".into(), value.into());
        metadata.push((key.to_string(), Value::Mapping(item)));
    };
    match kind.as_str() {
        "state.sqlite" => set(
            "connectionString",
            data_dir.join(format!("{name}.db")).display().to_string(),
        ),
        "pubsub.in-memory" | "pubsub.kafka" => {
            spec.insert("type".into(), "pubsub.kafka".into());
            set("brokers", brokers.to_string());
            set("authType", "none".into());
            // A Kafka consumer joins its group some time after daprd reports healthy, and
            // daprd gives no signal of it; starting a new group at the oldest message keeps an
            // event published right after the fixture is up. Topics are the fixture's own.
            if !has_initial_offset {
                set("initialOffset", "oldest".into());
            }
            set(
                "consumerID",
                consumer.map_or_else(|| "{namespace}".into(), |id| format!("{{namespace}}-{id}")),
            );
        }
        _ => {}
    }
    spec.insert(
        "metadata".into(),
        Value::Sequence(metadata.into_iter().map(|(_, item)| item).collect()),
    );
}

fn uuid_like() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
