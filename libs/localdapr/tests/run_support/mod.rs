//! The real `localdapr run` as a child process, for the tests that run it as a user does
//! (`run_file.rs`, `supervision.rs`): a scratch directory with a run file, the example apps,
//! and the runner's output as it comes.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    task::JoinSet,
};

/// How long a run may take to print what a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A scratch directory holding `components/pubsub.yaml` (in-memory pub/sub) and a run file
/// `dapr.yaml` whose `apps:` list is `apps` (YAML, indented by two spaces).
pub fn scratch_run(apps: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let resources = dir.path().join("components");
    std::fs::create_dir(&resources).unwrap();
    std::fs::write(
        resources.join("pubsub.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.in-memory\n  version: v1\n",
    )
    .unwrap();
    let run_file = dir.path().join("dapr.yaml");
    std::fs::write(
        &run_file,
        format!("version: 1\ncommon:\n  resourcesPath: ./components\napps:\n{apps}"),
    )
    .unwrap();
    (dir, run_file)
}

/// Where cargo put the example app `name` (`cargo test` builds examples beside the test
/// binaries).
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo test builds examples; run `cargo build --examples -p localdapr`",
        path.display()
    );
    path
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `localdapr run` child process and every line it printed so far; its output readers
/// belong to it.
pub struct Run {
    /// The runner's process.
    pub child: Child,
    output: Arc<Mutex<Vec<String>>>,
    _readers: JoinSet<()>,
}

impl Run {
    /// Starts `localdapr run -f run_file` (on `data_dir`, or the default beside the run file).
    pub fn start(run_file: &Path, data_dir: Option<&Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_localdapr"));
        command
            .args(["run", "--metrics-port", "0", "-f"])
            .arg(run_file);
        if let Some(data_dir) = data_dir {
            command.arg("--data-dir").arg(data_dir);
        }
        let mut child = command
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

    /// The runner's process id.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap())
    }

    /// Everything printed so far, one line each.
    pub fn printed(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Whether some line printed so far contains `needle`.
    pub fn has_printed(&self, needle: &str) -> bool {
        self.output
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(needle))
    }

    /// Waits until a printed line contains `needle`; fails at [`DEADLINE`] or if the runner
    /// exits first.
    pub async fn wait_printed(&mut self, needle: &str) {
        let started = tokio::time::Instant::now();
        while !self.has_printed(needle) {
            assert!(
                started.elapsed() < DEADLINE,
                "no {needle:?} within {DEADLINE:?}:\n{}",
                self.printed()
            );
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("localdapr exited ({status}):\n{}", self.printed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
