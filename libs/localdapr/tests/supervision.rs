//! `localdapr run` killed with `kill -9`, as a crash or an impatient user does it: no app of the
//! run survives it, and the next run on the same data directory and ports starts.

#![cfg(target_os = "linux")] // the parent-death signal and /proc are Linux's
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    task::JoinSet,
};

/// How long the run may take to start, and its apps to die after the runner.
const DEADLINE: Duration = Duration::from_secs(30);

/// A `localdapr run` child process and every line it printed so far.
struct Run {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    _readers: JoinSet<()>,
}

impl Run {
    fn start(run_file: &Path, data_dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_localdapr"))
            .args(["run", "--metrics-port", "0", "-f"])
            .arg(run_file)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = JoinSet::new();
        let streams: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for stream in streams {
            let output = output.clone();
            readers.spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push(line);
                }
            });
        }
        Self {
            child,
            output,
            _readers: readers,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap())
    }

    fn printed(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Waits until the runner reports every app up; fails at the deadline or if it exits.
    async fn wait_all_up(&mut self) {
        let started = tokio::time::Instant::now();
        while !self.printed().contains("all apps are up") {
            assert!(
                started.elapsed() < DEADLINE,
                "the run did not come up within {DEADLINE:?}:\n{}",
                self.printed()
            );
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("localdapr exited ({status}):\n{}", self.printed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The processes whose parent is `parent`, read from /proc.
fn children_of(parent: Pid) -> Vec<Pid> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|pid| status_of(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// A process's state letter and parent, or `None` once it is gone.
fn status_of(pid: Pid) -> Option<(char, Pid)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, Pid::from_raw(ppid)))
}

/// Whether `pid` is gone or a zombie (dead, not yet reaped by whoever adopted it).
fn is_dead(pid: Pid) -> bool {
    status_of(pid).is_none_or(|(state, _)| matches!(state, 'Z' | 'X'))
}

/// Where cargo put the example apps (`cargo test` builds examples beside the test binaries).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn after_kill_9_of_the_runner_no_app_survives_and_the_next_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let resources = dir.path().join("components");
    std::fs::create_dir(&resources).unwrap();
    std::fs::write(
        resources.join("pubsub.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.in-memory\n  version: v1\n",
    )
    .unwrap();
    let run_file = dir.path().join("dapr.yaml");
    // An app holding a fixed port (a survivor would make the next run fail to bind it), and
    // one that would otherwise sleep on for ever.
    std::fs::write(
        &run_file,
        format!(
            "version: 1\ncommon:\n  resourcesPath: ./components\napps:\n  - appID: subscriber\n    appPort: {port}\n    command: [\"{subscriber}\"]\n  - appID: sleeper\n    command: [\"sleep\", \"100000\"]\n",
            port = free_port(),
            subscriber = example("ping_subscriber").display(),
        ),
    )
    .unwrap();
    let data_dir = dir.path().join("data");

    let mut first = Run::start(&run_file, &data_dir);
    first.wait_all_up().await;
    let apps = children_of(first.pid());
    assert_eq!(apps.len(), 2, "two apps run: {apps:?}\n{}", first.printed());

    kill(first.pid(), Signal::SIGKILL).unwrap();
    first.child.wait().await.unwrap();
    let killed = tokio::time::Instant::now();
    while !apps.iter().all(|pid| is_dead(*pid)) {
        let alive: Vec<_> = apps.iter().filter(|pid| !is_dead(**pid)).collect();
        assert!(
            killed.elapsed() < DEADLINE,
            "apps {alive:?} outlived the runner by {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut second = Run::start(&run_file, &data_dir);
    second.wait_all_up().await;
    kill(second.pid(), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(DEADLINE, second.child.wait())
        .await
        .expect("the second run stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}:\n{}", second.printed());
}
