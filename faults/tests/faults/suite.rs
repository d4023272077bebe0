//! The suite as `just up` runs it, from the outside: `localdapr run` on a run file of the six
//! apps, in a scratch directory that outlives each run, so a run started again resumes on the
//! same data. Every port is pinned, so clients reconnect to the same addresses and sync's
//! consumer group (`{podName}`, which localdapr makes `<app id>-<sidecar port>`) is the same
//! after a restart, as a restarted container's would be.
//!
//! `localdapr run` restarts nothing: when an app exits, it stops the run and says which app
//! (`runner/mod.rs`). So a crash is followed by a new run on the same data directory.

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
    time::Instant,
};
use tonic::transport::{Channel, Endpoint};

use crate::wait::{POLL_INTERVAL, wait_until};

/// The apps of `dapr.yaml`, each run from the binary of the same name.
pub const APPS: [&str; 6] = [
    "todo-api",
    "gateway",
    "recurring",
    "notification",
    "audit",
    "sync",
];

/// How long a run may take to report every app ready, or to stop.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a run may take to stop after one of its apps died (it drains, then stops the
/// others with SIGTERM, each within its 10 s grace).
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// How many times a run that cannot bind a port is started.
const BIND_ATTEMPTS: u32 = 5;

/// The ports of one app.
#[derive(Clone, Copy, Debug)]
struct Ports {
    /// Its gRPC port.
    app: u16,
    /// Its sidecar's gRPC port.
    sidecar: u16,
    /// Its admin port (`/readyz`, `/metrics`).
    admin: u16,
}

/// The suite's scratch directory and its current `localdapr run`, if one is up.
pub struct Suite {
    dir: TempDir,
    ports: HashMap<&'static str, Ports>,
    runner: Option<Child>,
    /// Runs started so far; run `n` writes `run-<n>.log`.
    runs: u32,
}

impl Suite {
    /// Prepares a scratch directory: the repository's local components, a secrets file with
    /// fresh keys (audit on `audit.db` beside it), and a run file of the six apps on pinned
    /// ports, with `environment` added to every app's.
    pub fn new(environment: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut free = free_ports(3 * APPS.len()).into_iter();
        let mut next_port = || free.next().expect("enough ports");
        let ports: HashMap<_, _> = APPS
            .iter()
            .map(|app| {
                let ports = Ports {
                    app: next_port(),
                    sidecar: next_port(),
                    admin: next_port(),
                };
                (*app, ports)
            })
            .collect();
        let secrets = dir.path().join("secrets.json");
        write_components(dir.path(), &secrets);
        write_secrets(dir.path(), &secrets);
        write_run_file(dir.path(), &ports, environment);
        Self {
            dir,
            ports,
            runner: None,
            runs: 0,
        }
    }

    /// Starts `localdapr run` and waits until every app reports ready on its admin port.
    ///
    /// The ports are picked once and kept across restarts, so another process's socket (an
    /// outgoing connection's ephemeral port, say) may hold one when a run starts again: a run
    /// that stops because it cannot bind is started again, a few times, after a pause.
    pub async fn start(&mut self) {
        assert!(self.runner.is_none(), "a run is already up");
        for attempt in 1..=BIND_ATTEMPTS {
            match self.start_once().await {
                Ok(()) => return,
                Err(output)
                    if attempt < BIND_ATTEMPTS
                        && (output.contains("Address already in use")
                            || output.contains("cannot bind")) =>
                {
                    eprintln!("a port of the run is taken (attempt {attempt}); starting again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(output) => panic!("{output}"),
            }
        }
    }

    /// One start: `Err` with what the run said when it stopped before every app was ready.
    async fn start_once(&mut self) -> Result<(), String> {
        self.runs += 1;
        let log = fs::File::create(self.log_path()).unwrap();
        let runner = Command::new(binary("localdapr"))
            .args([
                "run",
                "-f",
                "dapr.yaml",
                "--data-dir",
                "data",
                "--metrics-port",
                "0",
            ])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.runner = Some(runner);
        let deadline = Instant::now() + START_DEADLINE;
        for app in APPS {
            let admin = self.ports[app].admin;
            while http_get(admin, "/readyz")
                .await
                .is_none_or(|(status, _)| status != 200)
            {
                if let Some(status) = self.runner.as_mut().unwrap().try_wait().unwrap() {
                    self.runner = None;
                    return Err(format!(
                        "localdapr run exited ({status}) before {app} was ready:\n{}",
                        self.output()
                    ));
                }
                assert!(
                    Instant::now() < deadline,
                    "{app} not ready within {START_DEADLINE:?}:\n{}",
                    self.output()
                );
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        Ok(())
    }

    /// Kills `app` with SIGKILL, then waits for the run to stop (it stops when an app exits)
    /// and checks that it said why.
    pub async fn kill_app(&mut self, app: &str) {
        let pid = self.pid_of(app);
        kill(pid, Signal::SIGKILL).unwrap();
        let runner = self.runner.as_mut().expect("a run is up");
        let status = tokio::time::timeout(STOP_DEADLINE, runner.wait())
            .await
            .unwrap_or_else(|_| {
                panic!("the run did not stop within {STOP_DEADLINE:?} after {app} was killed")
            })
            .unwrap();
        self.runner = None;
        assert!(!status.success(), "the run stopped as if asked: {status}");
        let output = self.output();
        assert!(
            output.contains(&format!("app {app} exited")),
            "the run did not report {app}'s death:\n{output}"
        );
    }

    /// Kills `localdapr run` itself with SIGKILL and waits until none of its apps is left
    /// (they die with it, by their parent-death signal).
    pub async fn kill_runner(&mut self) {
        let mut runner = self.runner.take().expect("a run is up");
        let apps = APPS.map(|app| self.pid_of_child(&runner, app));
        runner.start_kill().unwrap();
        runner.wait().await.unwrap();
        let apps = &apps;
        wait_until(
            "every app gone after kill -9 of localdapr",
            STOP_DEADLINE,
            || async move { apps.iter().all(|pid| is_dead(*pid)) },
        )
        .await;
    }

    /// Stops `app` with SIGSTOP: alive, connected, answering nothing.
    pub fn stall(&self, app: &str) {
        kill(self.pid_of(app), Signal::SIGSTOP).unwrap();
    }

    /// Lets a stalled `app` go on (SIGCONT).
    pub fn resume(&self, app: &str) {
        kill(self.pid_of(app), Signal::SIGCONT).unwrap();
    }

    /// Stops the run as Ctrl-C does, and checks that it stopped cleanly.
    pub async fn stop(&mut self) {
        let mut runner = self.runner.take().expect("a run is up");
        kill(pid_of_child(&runner), Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(STOP_DEADLINE, runner.wait())
            .await
            .expect("the run stops on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}:\n{}", self.output());
    }

    /// A channel to the gateway; it reconnects by itself after a restart.
    pub fn gateway(&self) -> Channel {
        Endpoint::from_shared(format!("http://127.0.0.1:{}", self.ports["gateway"].app))
            .unwrap()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(10))
            .connect_lazy()
    }

    /// A channel to `app`'s sidecar, and the token it wants (from the run's `tokens.json`).
    pub fn sidecar(&self, app: &str) -> (Channel, String) {
        let channel =
            Endpoint::from_shared(format!("http://127.0.0.1:{}", self.ports[app].sidecar))
                .unwrap()
                .connect_lazy();
        let tokens: serde_json::Value =
            serde_json::from_slice(&fs::read(self.data_dir().join("tokens.json")).unwrap())
                .unwrap();
        let token = tokens[app]["DAPR_API_TOKEN"].as_str().unwrap().to_string();
        (channel, token)
    }

    /// `app`'s `todo_events_handled_total` of `topic` (every outcome, or only `outcome`) in
    /// this run; 0 until it handled one.
    pub async fn events_handled(&self, app: &str, topic: &str, outcome: Option<&str>) -> u64 {
        let (status, body) = http_get(self.ports[app].admin, "/metrics")
            .await
            .unwrap_or_else(|| panic!("no /metrics from {app}"));
        assert_eq!(status, 200, "/metrics of {app}: {body}");
        let topic = format!("topic=\"{topic}\"");
        let outcome = outcome.map(|outcome| format!("outcome=\"{outcome}\""));
        body.lines()
            .filter(|line| line.starts_with("todo_events_handled_total{") && line.contains(&topic))
            .filter(|line| {
                outcome
                    .as_ref()
                    .is_none_or(|outcome| line.contains(outcome))
            })
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .map(|count| count as u64)
            .sum()
    }

    /// localdapr's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// audit's SQLite file.
    pub fn audit_db(&self) -> PathBuf {
        self.dir.path().join("audit.db")
    }

    /// What the current (or last) run printed, for failure messages: its last 80 lines.
    pub fn output(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<_> = text.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("run-{}.log", self.runs))
    }

    fn pid_of(&self, app: &str) -> Pid {
        self.pid_of_child(self.runner.as_ref().expect("a run is up"), app)
    }

    fn pid_of_child(&self, runner: &Child, app: &str) -> Pid {
        children_of(pid_of_child(runner))
            .into_iter()
            .find(|pid| command_name(*pid).as_deref() == Some(app))
            .unwrap_or_else(|| panic!("no process of {app} under the run:\n{}", self.output()))
    }
}

/// The binary `name` in the target directory this test was built in.
fn binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let path = test.parent().and_then(Path::parent).unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

fn write_components(dir: &Path, secrets: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dapr-components/local");
    let target = dir.join("components");
    fs::create_dir(&target).unwrap();
    for entry in fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let text = fs::read_to_string(&path)
                .unwrap()
                .replace(".localdapr/secrets.json", secrets.to_str().unwrap());
            fs::write(target.join(path.file_name().unwrap()), text).unwrap();
        }
    }
}

/// What `scripts/local-secrets.sh` writes: random keys, and audit on a SQLite file (0600).
fn write_secrets(dir: &Path, secrets: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let audit_db = dir.join("audit.db");
    fs::write(&audit_db, b"").unwrap();
    fs::set_permissions(&audit_db, fs::Permissions::from_mode(0o600)).unwrap();
    let key = || {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    };
    let secrets_json = serde_json::json!({"todo-suite": {
        "jwt-signing-key": key(),
        "page-token-key": key(),
        "audit-database-url": format!("sqlite://{}", audit_db.display()),
    }});
    fs::write(secrets, secrets_json.to_string()).unwrap();
    fs::set_permissions(secrets, fs::Permissions::from_mode(0o600)).unwrap();
}

fn write_run_file(dir: &Path, ports: &HashMap<&str, Ports>, environment: &[(&str, &str)]) {
    let mut run_file = String::from(
        "version: 1\ncommon:\n  resourcesPath: ./components\n  env:\n    RUST_LOG: warn\n    TODO_LISTEN_HOST: \"127.0.0.1\"\n",
    );
    for (name, value) in environment {
        run_file.push_str(&format!("    {name}: \"{value}\"\n"));
    }
    run_file.push_str("apps:\n");
    for app in APPS {
        let Ports {
            app: app_port,
            sidecar,
            admin,
        } = ports[app];
        run_file.push_str(&format!(
            "  - appID: {app}\n    appPort: {app_port}\n    daprGRPCPort: {sidecar}\n    command: [\"{}\"]\n    env: {{ TODO_ADMIN_PORT: \"{admin}\" }}\n",
            binary(app).display()
        ));
    }
    fs::write(dir.join("dapr.yaml"), run_file).unwrap();
}

/// `count` distinct ports free on 127.0.0.1 right now (all held until each is known).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().unwrap().port())
        .collect()
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0, so the server closes when done): the status
/// and body, or `None` when nothing answers within 2 s.
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n")?.1.to_string();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}

fn pid_of_child(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id().expect("the run is up")).unwrap())
}

/// The processes whose parent is `parent`, read from /proc.
fn children_of(parent: Pid) -> Vec<Pid> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|pid| status_of(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// A process's command name (`comm`: its binary's name, cut at 15 bytes).
fn command_name(pid: Pid) -> Option<String> {
    Some(
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()?
            .trim_end()
            .to_string(),
    )
}

/// A process's state letter and parent, or `None` once it is gone.
fn status_of(pid: Pid) -> Option<(char, Pid)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, Pid::from_raw(ppid)))
}

/// Whether `pid` is gone or a zombie.
fn is_dead(pid: Pid) -> bool {
    status_of(pid).is_none_or(|(state, _)| matches!(state, 'Z' | 'X'))
}

/// Seconds since `start`, for progress lines.
pub fn elapsed(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}
