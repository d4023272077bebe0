//! App processes: started with the environment `dapr run` gives them, their output prefixed
//! with their app id, and stopped with SIGTERM (then SIGKILL after a grace period).

use std::{
    collections::BTreeMap, net::SocketAddr, path::Path, process::ExitStatus, time::Duration,
};

use nix::{
    sys::signal::{Signal, killpg},
    unistd::Pid,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
};
use tokio_util::task::TaskTracker;

/// A started app process.
#[derive(Debug)]
pub struct AppProcess {
    /// The app id.
    pub app_id: String,
    child: Child,
    /// The process group, so signals reach what the command started too (e.g. `cargo run`).
    group: Option<Pid>,
}

/// What an app process is given.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The app id.
    pub app_id: &'a str,
    /// The command and arguments.
    pub command: &'a [String],
    /// Its working directory.
    pub dir: &'a Path,
    /// The run file's environment for it.
    pub env: &'a BTreeMap<String, String>,
    /// Its app port.
    pub app_port: Option<u16>,
    /// Its sidecar's gRPC address.
    pub sidecar: SocketAddr,
}

impl AppProcess {
    /// Starts the app. Its stdout and stderr are copied line by line, prefixed with
    /// `== APP - <id> ==`, as `dapr run` does; the copying tasks belong to `tasks`.
    ///
    /// # Errors
    /// When the command is empty or cannot be started.
    pub fn start(launch: &Launch<'_>, tasks: &TaskTracker) -> std::io::Result<Self> {
        let (program, args) = launch.command.split_first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command")
        })?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(launch.dir)
            .envs(launch.env)
            .env("APP_ID", launch.app_id)
            .env("APP_PROTOCOL", "grpc")
            .env("DAPR_GRPC_PORT", launch.sidecar.port().to_string())
            .env("DAPR_GRPC_ENDPOINT", format!("http://{}", launch.sidecar))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: Ctrl-C in the terminal reaches localdapr only, which then
            // stops the apps in order.
            .process_group(0);
        if let Some(port) = launch.app_port {
            command.env("APP_PORT", port.to_string());
        }
        let mut child = command.spawn()?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        if let Some(stdout) = child.stdout.take() {
            tasks.spawn(prefix_lines(stdout, launch.app_id.to_string(), false));
        }
        if let Some(stderr) = child.stderr.take() {
            tasks.spawn(prefix_lines(stderr, launch.app_id.to_string(), true));
        }
        tracing::info!(app_id = launch.app_id, pid = ?group, command = ?launch.command, "app started");
        Ok(Self {
            app_id: launch.app_id.to_string(),
            child,
            group,
        })
    }

    /// Waits for the process to exit on its own.
    ///
    /// # Errors
    /// When waiting fails.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Sends SIGTERM, waits up to `grace`, then kills the process group.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        if let Some(group) = self.group
            && let Err(error) = killpg(group, Signal::SIGTERM)
        {
            tracing::warn!(app_id = self.app_id, %error, "cannot send SIGTERM");
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                tracing::warn!(
                    app_id = self.app_id,
                    grace_seconds = grace.as_secs(),
                    "app did not stop in time, killing it"
                );
                if let Some(group) = self.group {
                    let _ = killpg(group, Signal::SIGKILL);
                }
                self.child.wait().await.ok()
            }
        }
    }
}

async fn prefix_lines(stream: impl AsyncRead + Unpin, app_id: String, is_stderr: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if is_stderr {
            eprintln!("== APP - {app_id} == {line}");
        } else {
            println!("== APP - {app_id} == {line}");
        }
    }
}
