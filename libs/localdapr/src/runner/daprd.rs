//! The real daprd as an app's sidecar, in place of localdapr's own (`localdapr run --daprd`):
//! started with the flags `dapr run` gives it, on free loopback ports, with the run's API tokens
//! and `POD_NAME` (for `{podName}`), its output prefixed `== DAPR - <id> ==`, dying with the
//! runner like the apps. Ready when `GET /v1.0/healthz` answers 204, which daprd does only once
//! its components are loaded and its app port answers.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};
use tokio_util::task::TaskTracker;

use super::process::AppProcess;
use crate::runtime::AppSpec;

/// How often readiness is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the real daprd is and what it reads, for every sidecar of a run.
#[derive(Clone, Debug)]
pub struct DaprdOptions {
    /// The daprd binary (`tools/dapr/build.sh` builds one).
    pub binary: PathBuf,
    /// The components daprd loads (`--resources-path`).
    pub resources_path: PathBuf,
    /// A Configuration file (`--config`), e.g. one naming the name resolver.
    pub config: Option<PathBuf>,
    /// The Scheduler's address (`--scheduler-host-address`), for the Jobs API.
    pub scheduler_host_address: Option<String>,
    /// daprd's `--log-level`.
    pub log_level: String,
    /// The namespace (`NAMESPACE`): jobs and namespaced topics are kept apart by it.
    pub namespace: Option<String>,
}

/// Why a daprd sidecar did not come up.
#[derive(Debug, thiserror::Error)]
pub enum DaprdError {
    /// No free port could be found for it.
    #[error("no free port for daprd of {app_id}")]
    Ports {
        /// The app.
        app_id: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The binary could not be started.
    #[error("cannot start daprd ({binary}) for {app_id}")]
    Spawn {
        /// The app.
        app_id: String,
        /// The binary.
        binary: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It exited before it was ready.
    #[error("daprd of {app_id} exited before it was ready ({status})")]
    Exited {
        /// The app.
        app_id: String,
        /// How it exited.
        status: String,
    },
    /// It was not ready by the deadline.
    #[error("daprd of {app_id} was not ready within {deadline:?} (last: {last})")]
    NotReady {
        /// The app.
        app_id: String,
        /// The deadline.
        deadline: Duration,
        /// The last probe's answer.
        last: String,
    },
}

/// A running daprd.
#[derive(Debug)]
pub struct Daprd {
    /// Its gRPC API (`DAPR_GRPC_PORT`).
    pub grpc_address: SocketAddr,
    /// Its HTTP API (`DAPR_HTTP_PORT`).
    pub http_address: SocketAddr,
    /// Its metrics endpoint.
    pub metrics_address: SocketAddr,
    process: AppProcess,
}

impl Daprd {
    /// Starts daprd for the app `spec` describes (its app id, app port, ports when pinned,
    /// tokens, health check and instance name), as `dapr run` would.
    ///
    /// # Errors
    /// When no ports are free or the binary cannot be started.
    pub async fn start(
        options: &DaprdOptions,
        spec: &AppSpec,
        tasks: &TaskTracker,
    ) -> Result<Self, DaprdError> {
        let app_id = &spec.app_id;
        let ports_error = |source| DaprdError::Ports {
            app_id: app_id.clone(),
            source,
        };
        let grpc_address = pinned_or_free(spec.dapr_grpc_address)
            .await
            .map_err(ports_error)?;
        let http_address = pinned_or_free(spec.dapr_http_address)
            .await
            .map_err(ports_error)?;
        let internal_port = free_port().await.map_err(ports_error)?;
        let metrics_address =
            SocketAddr::from((Ipv4Addr::LOCALHOST, free_port().await.map_err(ports_error)?));

        let mut command: Vec<String> = vec![options.binary.display().to_string()];
        let mut flag = |name: &str, value: String| {
            command.push(format!("--{name}"));
            command.push(value);
        };
        flag("app-id", app_id.clone());
        flag("dapr-listen-addresses", "127.0.0.1".into());
        flag("dapr-grpc-port", grpc_address.port().to_string());
        flag("dapr-http-port", http_address.port().to_string());
        flag("dapr-internal-grpc-listen-address", "127.0.0.1".into());
        flag("dapr-internal-grpc-port", internal_port.to_string());
        flag("metrics-listen-address", "127.0.0.1".into());
        flag("metrics-port", metrics_address.port().to_string());
        flag(
            "resources-path",
            options.resources_path.display().to_string(),
        );
        flag("log-level", options.log_level.clone());
        if let Some(config) = &options.config {
            flag("config", config.display().to_string());
        }
        if let Some(scheduler) = &options.scheduler_host_address {
            flag("scheduler-host-address", scheduler.clone());
        }
        if let Some(port) = spec.app_port {
            flag("app-port", port.to_string());
            flag("app-protocol", "grpc".into());
            flag("app-channel-address", "127.0.0.1".into());
        }
        if let Some(check) = &spec.health_check {
            command.push("--enable-app-health-check".into());
            command.push("--app-health-probe-interval".into());
            command.push(check.interval.as_secs().max(1).to_string());
            command.push("--app-health-probe-timeout".into());
            command.push(check.timeout.as_millis().to_string());
            command.push("--app-health-threshold".into());
            command.push(check.threshold.to_string());
        }

        // daprd reads its tokens from the environment, as in a pod; `{podName}` needs POD_NAME.
        let mut env = vec![(
            "POD_NAME".to_string(),
            spec.instance_name.clone().unwrap_or_else(|| app_id.clone()),
        )];
        if let Some(namespace) = &options.namespace {
            env.push(("NAMESPACE".to_string(), namespace.clone()));
        }
        if let Some(token) = &spec.api_token {
            env.push(("DAPR_API_TOKEN".to_string(), token.clone()));
        }
        if let Some(token) = &spec.app_api_token {
            env.push(("APP_API_TOKEN".to_string(), token.clone()));
        }
        let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let process = AppProcess::spawn(
            app_id,
            &format!("DAPR - {app_id}"),
            &command,
            &dir,
            env,
            tasks,
        )
        .map_err(|source| DaprdError::Spawn {
            app_id: app_id.clone(),
            binary: options.binary.display().to_string(),
            source,
        })?;
        tracing::info!(%app_id, grpc = %grpc_address, http = %http_address, "daprd started");
        Ok(Self {
            grpc_address,
            http_address,
            metrics_address,
            process,
        })
    }

    /// Waits until daprd reports healthy (`GET /v1.0/healthz` → 204: components loaded, app
    /// port answering).
    ///
    /// # Errors
    /// When daprd exits first, or is not healthy by `deadline`.
    pub async fn wait_ready(&mut self, deadline: Duration) -> Result<(), DaprdError> {
        self.wait_for(deadline, "/v1.0/healthz").await
    }

    /// Waits until daprd's API serves (`GET /v1.0/healthz/outbound` → 204: components loaded),
    /// whether or not its app is up yet.
    ///
    /// # Errors
    /// When daprd exits first, or is not ready by `deadline`.
    pub async fn wait_outbound_ready(&mut self, deadline: Duration) -> Result<(), DaprdError> {
        self.wait_for(deadline, "/v1.0/healthz/outbound").await
    }

    async fn wait_for(&mut self, deadline: Duration, path: &str) -> Result<(), DaprdError> {
        let until = Instant::now() + deadline;
        loop {
            let last = match http_status(self.http_address, path).await {
                Ok(204) => return Ok(()),
                Ok(status) => format!("HTTP {status}"),
                Err(error) => error.to_string(),
            };
            if let Some(status) = self.process.try_status() {
                return Err(DaprdError::Exited {
                    app_id: self.process.app_id.clone(),
                    status,
                });
            }
            if Instant::now() >= until {
                return Err(DaprdError::NotReady {
                    app_id: self.process.app_id.clone(),
                    deadline,
                    last,
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// The process, to wait for its exit or stop it.
    pub fn process(&mut self) -> &mut AppProcess {
        &mut self.process
    }
}

/// `address` when its port is pinned, else a free loopback port.
async fn pinned_or_free(address: SocketAddr) -> std::io::Result<SocketAddr> {
    if address.port() != 0 {
        return Ok(address);
    }
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port().await?)))
}

/// A port that was free a moment ago (daprd binds it itself; `dapr run` picks ports this way).
async fn free_port() -> std::io::Result<u16> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    Ok(listener.local_addr()?.port())
}

/// The status code of `GET path` on `address` (HTTP/1.1, no body read).
pub(crate) async fn http_status(address: SocketAddr, path: &str) -> std::io::Result<u16> {
    tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut stream = TcpStream::connect(address).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut head = [0_u8; 12];
        stream.read_exact(&mut head).await?;
        std::str::from_utf8(&head[9..12])
            .ok()
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other("not an HTTP/1.1 status line"))
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}
