//! [`LocalDapr`]: one runtime (database, components, pub/sub engine, job scheduler) serving a
//! sidecar per app instance. Tests start it in-process; the `localdapr` binary wraps it.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use tokio::{net::TcpListener, task::JoinError};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    app::{AppInstanceHandle, AppRegistry},
    components::{AppInstance, ResourceError, Resources},
    db::{Db, DbError, Migration},
    http_api,
    jobs::Scheduler,
    pubsub::PubSub,
    sidecar,
};

/// The tables of each module that keeps any, applied in this order when the database opens.
const MIGRATIONS: &[Migration] = &[
    crate::state::MIGRATION,
    crate::pubsub::MIGRATION,
    crate::jobs::MIGRATION,
];

/// How often the database's WAL is checkpointed, off the request path ([`Db::checkpoint`]).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// How long shutdown waits for deliveries in flight, as daprd does (reference §2.3).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The state every sidecar of this runtime shares. The runtime builds the pub/sub engine and
/// the scheduler with the parts they use (database, resources, apps, task owner); they hold
/// no reference back to it.
#[derive(Debug)]
pub struct Runtime {
    /// The database.
    pub db: Db,
    /// The components and resiliency policies.
    pub(crate) resources: Arc<Resources>,
    /// The app instances.
    pub(crate) apps: Arc<AppRegistry>,
    /// The pub/sub engine.
    pub(crate) pubsub: Arc<PubSub>,
    /// The job scheduler.
    pub(crate) jobs: Arc<Scheduler>,
    /// Cancelled when the runtime shuts down; background loops watch it.
    pub(crate) shutdown: CancellationToken,
    /// Owns every background task, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
}

impl Runtime {
    /// Runs `work` as a task the runtime owns and waits for its result (see
    /// [`TaskOwner::run_to_completion`]).
    ///
    /// # Errors
    /// When the task panicked.
    pub(crate) async fn run_to_completion<T, F>(&self, work: F) -> Result<T, JoinError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.tasks.spawn(work).await
    }
}

/// The runtime's shutdown token and task tracker, handed to each part that runs background
/// work, so every task it spawns is owned by the runtime and ended by its shutdown.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskOwner {
    /// Cancelled when the runtime shuts down; background loops watch it.
    pub(crate) shutdown: CancellationToken,
    /// Tracks every task, so shutdown can wait for them.
    tracker: TaskTracker,
}

impl TaskOwner {
    /// Spawns `task`; shutdown waits for it.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Runs `work` as a task the runtime owns and waits for its result. A caller that is
    /// cancelled (a client giving up on its RPC drops the handler's future) no longer stops
    /// the work half way, e.g. between a database commit and the in-memory update or wake-up
    /// that must follow it.
    ///
    /// # Errors
    /// When the task panicked.
    pub(crate) async fn run_to_completion<T, F>(&self, work: F) -> Result<T, JoinError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.tracker.spawn(work).await
    }
}

/// What to start a runtime with.
#[derive(Clone, Debug)]
pub struct LocalDaprConfig {
    /// Where the database lives (`.localdapr/` by default in the binary).
    pub data_dir: PathBuf,
    /// The components and resiliency policies.
    pub resources: Resources,
    /// How long draining waits for deliveries in flight ([`DRAIN_TIMEOUT`], as daprd).
    pub drain_timeout: Duration,
}

impl LocalDaprConfig {
    /// A configuration with daprd's drain timeout.
    pub fn new(data_dir: PathBuf, resources: Resources) -> Self {
        Self {
            data_dir,
            resources,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }
}

/// Why localdapr could not start or add an app.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error("cannot open the localdapr database")]
    Db(#[from] DbError),
    /// The resources could not be loaded.
    #[error(transparent)]
    Resources(#[from] ResourceError),
    /// A sidecar port could not be bound.
    #[error("cannot bind the sidecar of {app_id} on {address}")]
    Bind {
        /// The app.
        app_id: String,
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The app description is unusable.
    #[error("invalid app {app_id}: {reason}")]
    InvalidApp {
        /// The app.
        app_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// Binds one of `app_id`'s sidecar ports; returns the listener and the address it got.
async fn bind(app_id: &str, address: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind {
        app_id: app_id.to_string(),
        address,
        source,
    };
    // TCP_NODELAY is set on each accepted socket by dapr_kit::net::serve, which serves both.
    let listener = TcpListener::bind(address).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

/// Checkpoints the WAL every [`CHECKPOINT_INTERVAL`] until shutdown.
fn spawn_checkpoints(runtime: &Arc<Runtime>) {
    let db = runtime.db.clone();
    let shutdown = runtime.shutdown.clone();
    runtime.tasks.spawn(async move {
        let mut interval = tokio::time::interval(CHECKPOINT_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            if let Err(error) = db.checkpoint().await {
                tracing::warn!(%error, "cannot checkpoint the database");
            }
        }
    });
}

/// App health checking, when enabled (reference §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheckSpec {
    /// Time between probes.
    pub interval: Duration,
    /// How long one probe may take.
    pub timeout: Duration,
    /// Consecutive failures before the app counts as unhealthy.
    pub threshold: u32,
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_millis(500),
            threshold: 3,
        }
    }
}

/// One app instance to serve a sidecar for.
#[derive(Clone, Debug)]
pub struct AppSpec {
    /// The app id.
    pub app_id: String,
    /// The app's gRPC port on 127.0.0.1, if it serves one.
    pub app_port: Option<u16>,
    /// Where the sidecar's gRPC API listens; port 0 picks a free port.
    pub dapr_grpc_address: SocketAddr,
    /// Where the sidecar's HTTP port (`DAPR_HTTP_PORT`: daprd's health endpoints) listens;
    /// port 0 picks a free port.
    pub dapr_http_address: SocketAddr,
    /// The token apps must send to this sidecar (`DAPR_API_TOKEN`).
    pub api_token: Option<String>,
    /// The token this sidecar sends to the app (`APP_API_TOKEN`).
    pub app_api_token: Option<String>,
    /// App health checks, when enabled.
    pub health_check: Option<HealthCheckSpec>,
    /// The instance name `{podName}` stands for; defaults to `<app_id>-<sidecar port>`
    /// (`localdapr run` names instances `<app_id>-<index in the run file>`).
    pub instance_name: Option<String>,
}

impl AppSpec {
    /// An app on `app_port` with a sidecar on free ports, no tokens, no health checks.
    pub fn new(app_id: impl Into<String>, app_port: Option<u16>) -> Self {
        Self {
            app_id: app_id.into(),
            app_port,
            dapr_grpc_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            dapr_http_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_token: None,
            app_api_token: None,
            health_check: None,
            instance_name: None,
        }
    }
}

/// A running sidecar.
#[derive(Clone, Debug)]
pub struct SidecarHandle {
    /// Where the sidecar's Dapr gRPC API listens.
    pub grpc_address: SocketAddr,
    /// Where the sidecar's HTTP port (`DAPR_HTTP_PORT`) listens.
    pub http_address: SocketAddr,
    /// Where a real daprd of the test fixtures serves `/metrics`; localdapr's own sidecars
    /// record into the process's metrics recorder instead.
    pub metrics_address: Option<SocketAddr>,
    /// The instance it serves.
    pub app: Arc<AppInstanceHandle>,
    /// What callers must send (`DAPR_API_TOKEN`), for [`SidecarHandle::app_env`].
    api_token: Option<SecretString>,
    /// What the sidecar sends its app (`APP_API_TOKEN`), for [`SidecarHandle::app_env`].
    app_api_token: Option<SecretString>,
    stop: CancellationToken,
}

impl SidecarHandle {
    /// A handle of a sidecar served by something else than this runtime (the real daprd of
    /// the test fixtures); `stop` is what ends it.
    #[cfg(feature = "testsuite")]
    pub(crate) fn external(
        grpc_address: SocketAddr,
        http_address: SocketAddr,
        metrics_address: SocketAddr,
        app: Arc<AppInstanceHandle>,
        spec: &AppSpec,
        stop: CancellationToken,
    ) -> Self {
        Self {
            grpc_address,
            http_address,
            metrics_address: Some(metrics_address),
            app,
            api_token: spec.api_token.clone().map(SecretString::from),
            app_api_token: spec.app_api_token.clone().map(SecretString::from),
            stop,
        }
    }

    /// The variables an app of this sidecar needs, as `localdapr run` gives them:
    /// `DAPR_GRPC_PORT`, and `DAPR_API_TOKEN` and `APP_API_TOKEN` when the sidecar has them.
    pub fn app_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("DAPR_GRPC_PORT", self.grpc_address.port().to_string())];
        for (name, token) in [
            ("DAPR_API_TOKEN", &self.api_token),
            ("APP_API_TOKEN", &self.app_api_token),
        ] {
            if let Some(token) = token {
                env.push((name, token.expose_secret().to_string()));
            }
        }
        env
    }

    /// Resolves once the app port accepted a connection and its subscriptions are active.
    pub async fn wait_app_connected(&self) {
        self.app.wait_connected().await;
    }

    /// Stops this sidecar (the app instance goes away; others keep running).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// An embedded Dapr-compatible runtime.
#[derive(Clone, Debug)]
pub struct LocalDapr {
    runtime: Arc<Runtime>,
    drain_timeout: Duration,
}

impl LocalDapr {
    /// Opens the database under `config.data_dir` and starts the pub/sub engine and scheduler.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub async fn start(config: LocalDaprConfig) -> Result<Self, StartError> {
        // Opening runs SQLite and the migrations: blocking work, off the async threads.
        let data_dir = config.data_dir.clone();
        let db = tokio::task::spawn_blocking(move || Db::open(&data_dir, MIGRATIONS))
            .await
            .map_err(DbError::Task)??;
        let owner = TaskOwner::default();
        let resources = Arc::new(config.resources);
        let apps = Arc::new(AppRegistry::default());
        let pubsub = Arc::new(PubSub::new(
            db.clone(),
            resources.clone(),
            apps.clone(),
            owner.clone(),
        ));
        let jobs = Arc::new(Scheduler::new(db.clone(), apps.clone(), owner.clone()));
        let runtime = Arc::new(Runtime {
            pubsub,
            jobs,
            db,
            resources,
            apps,
            shutdown: owner.shutdown.clone(),
            tasks: owner.tracker.clone(),
        });
        spawn_checkpoints(&runtime);
        crate::state::spawn_expiry_cleanup(&runtime);
        runtime.pubsub.start();
        runtime.jobs.start();
        tracing::info!(data_dir = %config.data_dir.display(), "localdapr started");
        Ok(Self {
            runtime,
            drain_timeout: config.drain_timeout,
        })
    }

    /// Serves a sidecar for `spec`. In the background it waits for the app port, then reads
    /// the app's subscriptions once (`ListTopicSubscriptions`) and starts deliveries.
    ///
    /// # Errors
    /// When the sidecar port cannot be bound or the spec is invalid.
    pub async fn add_app(&self, spec: AppSpec) -> Result<SidecarHandle, StartError> {
        let invalid = |reason: String| StartError::InvalidApp {
            app_id: spec.app_id.clone(),
            reason,
        };
        if spec.app_id.is_empty() || spec.app_id.contains("||") {
            return Err(invalid(
                "an app id must be non-empty and must not contain ||".into(),
            ));
        }
        let (listener, grpc_address) = bind(&spec.app_id, spec.dapr_grpc_address).await?;
        let (http_listener, http_address) = bind(&spec.app_id, spec.dapr_http_address).await?;
        let instance = AppInstance {
            app_id: spec.app_id.clone(),
            pod_name: spec
                .instance_name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", spec.app_id, grpc_address.port())),
        };
        let app_address = spec
            .app_port
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
        let app = Arc::new(
            AppInstanceHandle::new(instance, app_address, spec.app_api_token.clone())
                .map_err(|status| invalid(status.message().to_string()))?,
        );
        self.runtime.apps.insert(app.clone());
        let stop = self.runtime.shutdown.child_token();
        sidecar::serve(&self.runtime, app.clone(), &spec, listener, stop.clone());
        http_api::serve(
            &self.runtime,
            app.clone(),
            spec.api_token.clone().map(SecretString::from),
            grpc_address.port(),
            http_listener,
            stop.clone(),
        );
        sidecar::connect_app(&self.runtime, app.clone(), spec.health_check, stop.clone());
        tracing::info!(app_id = %spec.app_id, %grpc_address, %http_address, app_port = ?spec.app_port, "sidecar started");
        Ok(SidecarHandle {
            grpc_address,
            http_address,
            metrics_address: None,
            app,
            api_token: spec.api_token.map(SecretString::from),
            app_api_token: spec.app_api_token.map(SecretString::from),
            stop,
        })
    }

    /// The shared runtime (for the binary's admin endpoints and for tests).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Stops deliveries (waiting up to the configured drain timeout, [`DRAIN_TIMEOUT`] by
    /// default, for those in flight) and job triggers, so apps can be stopped next.
    pub async fn drain(&self) {
        self.runtime.pubsub.drain(self.drain_timeout).await;
        self.runtime.jobs.stop();
    }

    /// Drains, then stops every sidecar and background task.
    pub async fn shutdown(self) {
        self.drain().await;
        self.runtime.shutdown.cancel();
        self.runtime.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.runtime.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within 10s");
        }
        self.runtime.db.release_lock();
        tracing::info!("localdapr stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_runtime_on_the_same_data_directory_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let config = LocalDaprConfig::new(dir.path().to_path_buf(), Resources::default());
        let first = LocalDapr::start(config.clone()).await.unwrap();
        let Err(error) = LocalDapr::start(config.clone()).await else {
            panic!("two runtimes opened one data directory");
        };
        assert!(
            matches!(&error, StartError::Db(DbError::InUse { path, .. }) if path == dir.path()),
            "{error:?}"
        );
        let chain = format!("{:#}", anyhow::Error::from(error));
        assert!(
            chain.contains(&dir.path().display().to_string()) && chain.contains("in use"),
            "{chain}"
        );
        first.shutdown().await;
        LocalDapr::start(config)
            .await
            .expect("after a shutdown the directory is free again")
            .shutdown()
            .await;
    }
}
