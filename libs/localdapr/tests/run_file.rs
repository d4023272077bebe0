//! `localdapr run -f` as a user runs it: the real binary, as a child process, starting two tiny
//! apps from a run file; an event published by one reaches the other, every app line is
//! prefixed with its id, and SIGTERM stops everything cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod run_support;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use run_support::{DEADLINE, Run, example, free_port, scratch_run};
use tokio::process::Command;

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

#[tokio::test]
async fn run_file_apps_exchange_an_event_and_stop_on_sigterm() {
    let (_dir, run_file) = scratch_run(&format!(
        "  - appID: subscriber\n    appPort: {port}\n    command: [\"{subscriber}\"]\n  - appID: publisher\n    command: [\"{publisher}\"]\n",
        port = free_port(),
        subscriber = example("ping_subscriber").display(),
        publisher = example("ping_publisher").display(),
    ));
    let mut localdapr = Run::start(&run_file, None);
    localdapr
        .wait_printed("== APP - subscriber == received ping")
        .await;
    assert!(
        localdapr.has_printed("== APP - publisher == published ping"),
        "publisher lines are prefixed"
    );

    kill(localdapr.pid(), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(DEADLINE, localdapr.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "localdapr exited with {status}; output:\n{}",
        localdapr.printed()
    );
    assert!(
        localdapr.has_printed("== APP - subscriber == subscriber stopped"),
        "the subscriber was stopped gracefully"
    );
}
