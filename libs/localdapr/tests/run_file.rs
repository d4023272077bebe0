//! `localdapr run -f` as a user runs it: the real binary, as a child process, starting two tiny
//! apps from a run file; an event published by one reaches the other, every app line is
//! prefixed with its id, and SIGTERM stops everything cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::{
    path::PathBuf,
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
    process::Command,
};

#[tokio::test]
async fn an_app_that_exits_stops_the_run_with_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("components")).unwrap();
    let run_file = dir.path().join("dapr.yaml");
    std::fs::write(
        &run_file,
        "version: 1\ncommon:\n  resourcesPath: ./components\napps:\n  - appID: crasher\n    command: [\"sh\", \"-c\", \"echo starting; exit 3\"]\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_localdapr"))
        .args(["run", "-f"])
        .arg(&run_file)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stdout.contains("== APP - crasher == starting"), "{stdout}");
    assert!(
        stderr.contains("app crasher exited (exit status: 3)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_invalid_run_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let run_file = dir.path().join("dapr.yaml");
    std::fs::write(
        &run_file,
        "apps: [{appID: a, appProtocol: http}]\ncommon: {resourcesPath: .}\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_localdapr"))
        .args(["run", "-f"])
        .arg(&run_file)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("dapr.yaml") && stderr.contains("appProtocol http"),
        "{stderr}"
    );
}

/// Where cargo put the example apps (`cargo test` builds examples beside the test binaries).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = deps.parent().unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo test builds examples; run `cargo build --examples -p localdapr`",
        path.display()
    );
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
async fn run_file_apps_exchange_an_event_and_stop_on_sigterm() {
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
        format!(
            "version: 1\ncommon:\n  resourcesPath: ./components\napps:\n  - appID: subscriber\n    appPort: {port}\n    command: [\"{subscriber}\"]\n  - appID: publisher\n    command: [\"{publisher}\"]\n",
            port = free_port(),
            subscriber = example("ping_subscriber").display(),
            publisher = example("ping_publisher").display(),
        ),
    )
    .unwrap();

    let mut localdapr = Command::new(env!("CARGO_BIN_EXE_localdapr"))
        .args(["run", "-f"])
        .arg(&run_file)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(Vec::<String>::new()));
    for stream in [
        Box::new(localdapr.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(localdapr.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                output.lock().unwrap().push(line);
            }
        });
    }
    let seen = |needle: &str| output.lock().unwrap().iter().any(|l| l.contains(needle));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen("== APP - subscriber == received ping") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ping crossed within 30s; output:\n{}",
            output.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen("== APP - publisher == published ping"),
        "publisher lines are prefixed"
    );

    kill(
        Pid::from_raw(localdapr.id().unwrap() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), localdapr.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "localdapr exited with {status}; output:\n{}",
        output.lock().unwrap().join("\n")
    );
    assert!(
        seen("== APP - subscriber == subscriber stopped"),
        "the subscriber was stopped gracefully"
    );
}
