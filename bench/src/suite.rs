//! The suite as `just up` runs it: `localdapr run` on a generated run file, in a temporary
//! directory, with the release binaries beside this one. Every app is its own process, so the
//! figures include the real process boundaries and each process's memory can be read.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use nix::{sys::signal, unistd::Pid};
use todo_proto::todo::v1::{self as proto, auth_service_client::AuthServiceClient};
use tokio::{process::Child, time::Instant};
use tonic::{
    Request,
    metadata::AsciiMetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The apps of `dapr.yaml`, in its order.
pub const APPS: [&str; 6] = [
    "todo-api",
    "gateway",
    "recurring",
    "notification",
    "audit",
    "sync",
];

/// How long the suite may take to become ready.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long `localdapr run` may take to drain and exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// How to start the suite.
#[derive(Clone, Debug, Default)]
pub struct SuiteOptions {
    /// More sync instances (same app id, own ports), beside the first.
    pub extra_sync_replicas: usize,
    /// audit's database: a PostgreSQL URL; `None` keeps the local SQLite file.
    pub audit_database_url: Option<String>,
    /// Each app beside the real daprd, with the production components (Kafka, PostgreSQL, the
    /// Scheduler), as `localdapr run --daprd` does under `scripts/with-real-dapr.sh`.
    pub real_dapr: bool,
}

/// The running suite. [`Suite::stop`] drains it; dropping it kills it.
pub struct Suite {
    /// The gateway's public address.
    pub address: SocketAddr,
    /// Each app instance's name (`sync-2` for a replica) and port.
    pub ports: Vec<(String, u16)>,
    /// From spawning `localdapr run` to every app answering SERVING.
    pub ready_after: Duration,
    run: Child,
    dir: tempfile::TempDir,
}

impl Suite {
    /// Starts the suite and waits until every app answers its health check.
    ///
    /// # Errors
    /// When the directory cannot be prepared, `localdapr` cannot be started, or an app is not
    /// SERVING within the deadline.
    pub async fn start(options: &SuiteOptions) -> anyhow::Result<Self> {
        // Ports are picked free and bound by the apps a moment later; on a busy machine another
        // process may take one in between. Such a start is retried, and said so.
        for attempt in 1.. {
            match Self::start_once(options).await {
                Err(error) if attempt < 3 => {
                    eprintln!(
                        "bench: the suite did not start (attempt {attempt}), retrying: {error:#}"
                    );
                }
                started => return started,
            }
        }
        unreachable!("the loop returns")
    }

    async fn start_once(options: &SuiteOptions) -> anyhow::Result<Self> {
        let bin_dir = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("todo-bench-").tempdir()?;
        let repo = repo_root();
        let secrets = dir.path().join("secrets.json");
        let status = std::process::Command::new(repo.join("scripts/local-secrets.sh"))
            .arg(&secrets)
            .stdout(Stdio::null())
            .status()
            .context("running scripts/local-secrets.sh")?;
        anyhow::ensure!(status.success(), "scripts/local-secrets.sh failed");
        let mut daprd_args = Vec::new();
        if options.real_dapr {
            let real = RealDapr::from_env()?;
            // audit keeps its log in PostgreSQL, as in production.
            set_audit_database(&secrets, &real.postgres_url)?;
            let resources = dir.path().join("real-dapr");
            let status = std::process::Command::new(repo.join("scripts/real-dapr-resources.sh"))
                .arg(&resources)
                .arg(&secrets)
                .stdout(Stdio::null())
                .status()
                .context("running scripts/real-dapr-resources.sh")?;
            anyhow::ensure!(status.success(), "scripts/real-dapr-resources.sh failed");
            std::fs::create_dir_all(dir.path().join("components"))?;
            daprd_args = vec![
                "--daprd".into(),
                real.daprd,
                "--daprd-resources-path".into(),
                resources.join("resources").into_os_string(),
                "--daprd-config".into(),
                resources.join("config.yaml").into_os_string(),
            ];
            if let Some(scheduler) = std::env::var_os("TODO_DAPR_SCHEDULER") {
                daprd_args.extend(["--scheduler-host-address".into(), scheduler]);
            }
        } else {
            if let Some(url) = &options.audit_database_url {
                set_audit_database(&secrets, url)?;
            }
            write_components(&repo, dir.path(), &secrets)?;
        }

        let mut ports = Vec::new();
        for app in APPS {
            ports.push((app.to_string(), free_port()?));
        }
        for replica in 0..options.extra_sync_replicas {
            ports.push((format!("sync-{}", replica + 2), free_port()?));
        }
        std::fs::write(dir.path().join("dapr.yaml"), run_file(&ports))?;

        let log = std::fs::File::create(dir.path().join("localdapr.log"))?;
        let path = std::env::join_paths(std::iter::once(bin_dir.clone()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))?;
        let spawned = Instant::now();
        let run = tokio::process::Command::new(bin_dir.join("localdapr"))
            .args([
                "run",
                "-f",
                "dapr.yaml",
                "--data-dir",
                "data",
                "--metrics-port",
                "0",
            ])
            .args(&daprd_args)
            // `localdapr run` takes daprd from the environment too: only the real mode may.
            .env_remove("TODO_DAPRD")
            .env_remove("TODO_DAPR_SCHEDULER")
            .current_dir(dir.path())
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin_dir.join("localdapr").display()))?;
        let gateway = ports
            .iter()
            .find(|(app, _)| app == "gateway")
            .map(|(_, port)| *port)
            .context("no gateway port")?;
        let mut suite = Self {
            address: SocketAddr::from(([127, 0, 0, 1], gateway)),
            ports,
            ready_after: Duration::ZERO,
            run,
            dir,
        };
        suite.wait_ready(spawned).await?;
        suite.ready_after = spawned.elapsed();
        Ok(suite)
    }

    async fn wait_ready(&mut self, spawned: Instant) -> anyhow::Result<()> {
        for (app, port) in self.ports.clone() {
            loop {
                if let Some(status) = self.run.try_wait()? {
                    bail!(
                        "localdapr run exited ({status}) before {app} was ready:\n{}",
                        self.log_tail()
                    );
                }
                if self.serving(&app, port).await {
                    break;
                }
                if spawned.elapsed() > READY_DEADLINE {
                    bail!(
                        "{app} not SERVING within {READY_DEADLINE:?}:\n{}",
                        self.log_tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    async fn serving(&self, app: &str, port: u16) -> bool {
        let Ok(channel) = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .map(|endpoint| endpoint.connect_timeout(Duration::from_secs(1)))
        else {
            return false;
        };
        let Ok(channel) = channel.connect().await else {
            return false;
        };
        let mut request = Request::new(HealthCheckRequest::default());
        if let Some(token) = self.app_token(app) {
            request.metadata_mut().insert("dapr-api-token", token);
        }
        matches!(
            HealthClient::new(channel).check(request).await,
            Ok(response) if response.get_ref().status == ServingStatus::Serving as i32
        )
    }

    /// The `APP_API_TOKEN` the run gave `app` (a replica shares its app's).
    pub fn app_token(&self, app: &str) -> Option<AsciiMetadataValue> {
        let id = app_id(app);
        let tokens = std::fs::read(self.dir.path().join("data/tokens.json")).ok()?;
        let tokens: HashMap<String, HashMap<String, String>> =
            serde_json::from_slice(&tokens).ok()?;
        tokens.get(id)?.get("APP_API_TOKEN")?.parse().ok()
    }

    /// The port of app instance `app`.
    pub fn port(&self, app: &str) -> Option<u16> {
        self.ports
            .iter()
            .find(|(name, _)| name == app)
            .map(|(_, port)| *port)
    }

    /// The last lines `localdapr run` and the apps wrote.
    pub fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("localdapr.log")).unwrap_or_default();
        // Every error and warning, then the last lines.
        let lines: Vec<&str> = log.lines().collect();
        let mut tail: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| {
                line.contains("ERROR") || line.contains("WARN") || line.contains("level=fatal")
            })
            .collect();
        tail.push("...");
        tail.extend(&lines[lines.len().saturating_sub(20)..]);
        tail.join("\n")
    }

    /// Every process of the suite: `localdapr` and each app it started, by name, with its pid.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let Some(run) = self.run.id() else {
            return Vec::new();
        };
        let mut processes = vec![("localdapr".to_string(), run)];
        processes.extend(crate::proc::children(run));
        processes
    }

    /// A new HTTP/2 connection to the gateway.
    ///
    /// # Errors
    /// When it cannot connect.
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(format!("http://{}", self.address))?
            .tcp_nodelay(true)
            .connect()
            .await?)
    }

    /// Signs up a fresh user through the gateway and returns their `authorization` value.
    ///
    /// # Errors
    /// When the sign-up fails.
    pub async fn new_user(&self, channel: Channel) -> anyhow::Result<AsciiMetadataValue> {
        let response = AuthServiceClient::new(channel)
            .sign_up(proto::SignUpRequest {
                email: format!("bench-{}@example.com", uuid::Uuid::new_v4()),
                password: "correct horse battery".into(),
                display_name: "Bench".into(),
            })
            .await?
            .into_inner();
        let token = response
            .tokens
            .map(|tokens| tokens.access_token)
            .context("sign-up returned no tokens")?;
        Ok(format!("Bearer {token}").parse()?)
    }

    /// Drains the suite (SIGTERM to `localdapr run`), killing it at the deadline.
    ///
    /// # Errors
    /// When it does not exit in time (it is then killed).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.run.id() {
            let pid = Pid::from_raw(i32::try_from(pid)?);
            let _ = signal::kill(pid, signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(STOP_DEADLINE, self.run.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                self.run.kill().await?;
                bail!("localdapr run did not exit within {STOP_DEADLINE:?} of SIGTERM; killed")
            }
        }
    }
}

/// What `scripts/with-real-dapr.sh` set up: daprd's binary and PostgreSQL (Kafka and the
/// Scheduler are named in the components `scripts/real-dapr-resources.sh` renders).
struct RealDapr {
    daprd: std::ffi::OsString,
    postgres_url: String,
}

impl RealDapr {
    fn from_env() -> anyhow::Result<Self> {
        let missing =
            "the real Dapr needs scripts/with-real-dapr.sh (TODO_DAPRD, TODO_TEST_POSTGRES_URL)";
        Ok(Self {
            daprd: std::env::var_os("TODO_DAPRD").context(missing)?,
            postgres_url: std::env::var("TODO_TEST_POSTGRES_URL").context(missing)?,
        })
    }
}

/// Whether `scripts/with-real-dapr.sh` runs this process (`TODO_TEST_DAPR=real`).
pub fn real_dapr_available() -> bool {
    std::env::var("TODO_TEST_DAPR").is_ok_and(|value| value == "real")
}

/// The app id of instance `app` (`sync-2` → `sync`).
fn app_id(app: &str) -> &str {
    APPS.iter()
        .copied()
        .find(|id| {
            app == *id
                || app
                    .strip_prefix(id)
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .unwrap_or(app)
}

/// The directory of this executable, where cargo put the suite's binaries of the same profile.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the executable has no directory")?;
    for binary in std::iter::once("localdapr").chain(APPS) {
        anyhow::ensure!(
            dir.join(binary).is_file(),
            "{} is missing: build the suite first (`cargo build --release --bins`, as `just bench` does)",
            dir.join(binary).display()
        );
    }
    Ok(dir.to_path_buf())
}

/// The repository, for its scripts and components.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The local components, with the secret store reading `secrets`.
fn write_components(repo: &Path, dir: &Path, secrets: &Path) -> anyhow::Result<()> {
    let components = dir.join("components");
    std::fs::create_dir_all(&components)?;
    for entry in std::fs::read_dir(repo.join("dapr-components/local"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let text = std::fs::read_to_string(&path)?
                .replace(".localdapr/secrets.json", &secrets.display().to_string());
            std::fs::write(
                components.join(path.file_name().context("a file name")?),
                text,
            )?;
        }
    }
    Ok(())
}

/// Points audit at `url` in the secrets file.
fn set_audit_database(secrets: &Path, url: &str) -> anyhow::Result<()> {
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(secrets)?)?;
    json["todo-suite"]["audit-database-url"] = url.into();
    std::fs::write(secrets, serde_json::to_vec(&json)?)?;
    Ok(())
}

/// The run file: each app instance on its port, logs at warn (as a loaded production would run),
/// and the gateway's per-address sign-up limit raised: every bench user signs up from 127.0.0.1.
fn run_file(ports: &[(String, u16)]) -> String {
    let mut file = String::from(
        "version: 1\ncommon:\n  resourcesPath: ./components\n  env:\n    RUST_LOG: warn\n    \
         TODO_LISTEN_HOST: \"127.0.0.1\"\n    TODO_SIGN_UPS_PER_ADDRESS: \"100000\"\napps:\n",
    );
    for (app, port) in ports {
        let id = app_id(app);
        file.push_str(&format!(
            "  - appID: {id}\n    appPort: {port}\n    command: [\"{id}\"]\n    env: {{ TODO_ADMIN_PORT: \"0\" }}\n"
        ));
    }
    file
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_run_as_their_app() {
        assert_eq!(app_id("sync-2"), "sync");
        assert_eq!(app_id("todo-api"), "todo-api");
        let file = run_file(&[("todo-api".into(), 7001), ("sync-2".into(), 7009)]);
        assert!(
            file.contains("appID: todo-api\n    appPort: 7001"),
            "{file}"
        );
        assert!(file.contains("appID: sync\n    appPort: 7009"), "{file}");
    }
}
