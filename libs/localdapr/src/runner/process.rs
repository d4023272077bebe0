//! App processes: started with the environment `dapr run` gives them, their output prefixed
//! with their app id, and stopped with SIGTERM (then SIGKILL after a grace period). On Linux
//! each app also dies with the runner, however the runner ends (`kill -9` included), so no
//! orphan keeps its port and blocks the next run.

use std::{
    collections::BTreeMap, net::SocketAddr, path::Path, process::ExitStatus, time::Duration,
};

use nix::{
    errno::Errno,
    sys::signal::{Signal, killpg},
    unistd::Pid,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    time::Instant,
};
use tokio_util::task::TaskTracker;

/// How often `stop` looks whether the rest of a process group has exited.
const GROUP_POLL: Duration = Duration::from_millis(50);

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
    /// Its sidecar's HTTP address (SDKs poll its health endpoint first).
    pub sidecar_http: SocketAddr,
}

impl AppProcess {
    /// Starts the app. Its stdout and stderr are copied line by line, prefixed with
    /// `== APP - <id> ==`, as `dapr run` does; the copying tasks belong to `tasks`.
    ///
    /// # Errors
    /// When the command is empty or cannot be started.
    pub fn start(launch: &Launch<'_>, tasks: &TaskTracker) -> std::io::Result<Self> {
        let mut env: Vec<(String, String)> = launch
            .env
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        env.extend(
            [
                ("APP_ID", launch.app_id.to_string()),
                ("APP_PROTOCOL", "grpc".to_string()),
                ("DAPR_GRPC_PORT", launch.sidecar.port().to_string()),
                ("DAPR_GRPC_ENDPOINT", format!("http://{}", launch.sidecar)),
                ("DAPR_HTTP_PORT", launch.sidecar_http.port().to_string()),
            ]
            .map(|(name, value)| (name.to_string(), value)),
        );
        if let Some(port) = launch.app_port {
            env.push(("APP_PORT".to_string(), port.to_string()));
        }
        let process = Self::spawn(
            launch.app_id,
            &format!("APP - {}", launch.app_id),
            launch.command,
            launch.dir,
            env,
            tasks,
        )?;
        tracing::info!(app_id = launch.app_id, pid = ?process.group, command = ?launch.command, "app started");
        Ok(process)
    }

    /// Starts `command` in `dir` with `env` added to this process's environment, in its own
    /// process group, dying with the runner; its output is copied line by line prefixed with
    /// `== <label> ==` (tasks owned by `tasks`). Apps and real daprd sidecars start this way.
    ///
    /// # Errors
    /// When the command is empty or cannot be started.
    pub fn spawn(
        app_id: &str,
        label: &str,
        command: &[String],
        dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        tasks: &TaskTracker,
    ) -> std::io::Result<Self> {
        let (program, args) = command.split_first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command")
        })?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: Ctrl-C in the terminal reaches localdapr only, which then
            // stops the apps in order.
            .process_group(0);
        die_with_parent(&mut command);
        let mut child = command.spawn()?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        if let Some(stdout) = child.stdout.take() {
            tasks.spawn(prefix_lines(stdout, label.to_string(), false));
        }
        if let Some(stderr) = child.stderr.take() {
            tasks.spawn(prefix_lines(stderr, label.to_string(), true));
        }
        Ok(Self {
            app_id: app_id.to_string(),
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

    /// How the process exited, if it has.
    pub fn try_status(&mut self) -> Option<String> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| status.to_string())
    }

    /// Sends SIGTERM to the process group, waits up to `grace` for the process and the rest of
    /// its group, then SIGKILLs the group. The group is signalled even when the process has
    /// already exited: children it left behind (e.g. `sh -c 'server & exit 0'`) still hold its
    /// stdout open, and its output would never end.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + grace;
        self.signal_group(Signal::SIGTERM);
        let status = match tokio::time::timeout_at(deadline, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => None,
        };
        while self.group_is_alive() && Instant::now() < deadline {
            tokio::time::sleep(GROUP_POLL).await;
        }
        if status.is_none() || self.group_is_alive() {
            tracing::warn!(
                app_id = self.app_id,
                grace_seconds = grace.as_secs(),
                "app did not stop in time, killing its process group"
            );
            self.signal_group(Signal::SIGKILL);
        }
        match status {
            Some(status) => Some(status),
            None => self.child.wait().await.ok(),
        }
    }

    /// Sends `signal` to the process group; a group that is already gone is fine.
    fn signal_group(&self, signal: Signal) {
        let Some(group) = self.group else {
            return;
        };
        match killpg(group, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(error) => {
                tracing::warn!(app_id = self.app_id, %signal, %error, "cannot signal the app")
            }
        }
    }

    /// Whether any process of the group still exists (signal 0 probes without signalling).
    fn group_is_alive(&self) -> bool {
        self.group.is_some_and(|group| killpg(group, None).is_ok())
    }
}

/// Makes the app die with the runner: the kernel sends it SIGKILL when its parent goes away
/// (`PR_SET_PDEATHSIG`, kept across `exec`). Only the app itself: what it starts in turn
/// (e.g. under `cargo run`) is left to notice its sidecar is gone (dapr-kit's sidecar watch).
///
/// "Parent" is the *thread* that spawned it: [`AppProcess::start`] runs on a runtime worker
/// thread, which lives as long as the runner (never on a blocking-pool thread, which may exit).
/// If the runner died between fork and `prctl`, the app was already reparented and no signal
/// will come, so it checks its parent and refuses to start.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let runner = nix::unistd::getpid();
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // work is allowed. It makes two system calls through nix (prctl, getppid), which neither
    // allocate nor lock, and turns an errno into io::Error with from_raw_os_error, which does
    // not allocate either. It captures only a Pid (Copy) and touches no shared state.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            if nix::unistd::getppid() != runner {
                return Err(Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal; dapr-kit's sidecar watch still ends the app.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

async fn prefix_lines(stream: impl AsyncRead + Unpin, label: String, is_stderr: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if is_stderr {
            eprintln!("== {label} == {line}");
        } else {
            println!("== {label} == {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_what_an_exited_app_left_running_so_its_output_closes() {
        let tasks = TaskTracker::new();
        let command: Vec<String> = ["sh", "-c", "sleep 1000 & exit 0"].map(String::from).into();
        let env = BTreeMap::new();
        let launch = Launch {
            app_id: "leaver",
            command: &command,
            dir: Path::new("."),
            env: &env,
            app_port: None,
            sidecar: SocketAddr::from(([127, 0, 0, 1], 50001)),
            sidecar_http: SocketAddr::from(([127, 0, 0, 1], 3500)),
        };
        let mut process = AppProcess::start(&launch, &tasks).unwrap();
        assert!(process.wait().await.unwrap().success(), "sh exits at once");
        tasks.close();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), tasks.wait())
                .await
                .is_err(),
            "the sleep it left behind still holds its stdout"
        );

        process.stop(Duration::from_secs(2)).await;

        tokio::time::timeout(Duration::from_secs(5), tasks.wait())
            .await
            .expect("the output ends once the group is gone");
    }

    /// The parent-death signal follows the spawning thread, so a thread that exits stands in
    /// for a runner killed with `kill -9` (the real one: `tests/supervision.rs`).
    #[cfg(target_os = "linux")]
    #[test]
    fn an_app_is_killed_when_its_parent_goes_away() {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

        let pid = std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let tasks = TaskTracker::new();
                let command: Vec<String> = ["sleep", "1000"].map(String::from).into();
                let env = BTreeMap::new();
                let launch = Launch {
                    app_id: "orphan",
                    command: &command,
                    dir: Path::new("."),
                    env: &env,
                    app_port: None,
                    sidecar: SocketAddr::from(([127, 0, 0, 1], 50001)),
                    sidecar_http: SocketAddr::from(([127, 0, 0, 1], 3500)),
                };
                let process = AppProcess::start(&launch, &tasks).unwrap();
                let pid = process.group.unwrap();
                // Not dropped: kill_on_drop would kill it and prove nothing.
                std::mem::forget(process);
                pid
            })
        })
        .join()
        .unwrap();

        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::Signaled(_, Signal::SIGKILL, _) => break,
                WaitStatus::StillAlive => {}
                other => panic!("the app ended otherwise: {other:?}"),
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the app outlived its parent by 10s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
