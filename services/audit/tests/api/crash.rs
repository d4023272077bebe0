//! The real `audit` binary, launched as a process behind a localdapr sidecar, killed with
//! SIGKILL while 1,000 task events are published: after it is launched again on the same
//! database, every event is in `audit_logs` exactly once.
//!
//! Nothing is acknowledged before audit answered, so an event in flight at the kill is delivered
//! again (it may already have its row: insert-or-ignore keeps it single), and the suite's
//! Resiliency policy (`dapr-components/local/resiliency.yaml`, loaded as is) retries deliveries
//! that failed against the dead process instead of dead-lettering them.

use std::{
    net::SocketAddr,
    process::Stdio,
    time::{Duration, Instant},
};

use audit::testsuite::TestDatabase;
use chrono::Utc;
use localdapr::{
    AppSpec,
    testsuite::{AppLaunch, STARTUP_DEADLINE, wait_serving, wait_until},
};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::process::{Child, Command};

use crate::test_app::{
    created_event, new_task, new_user, publish, publisher, start_dapr_with_resiliency,
};

const EVENTS: usize = 1_000;
/// Rows recorded before the kill: enough that the kill lands mid-stream.
const KILL_AFTER_ROWS: i64 = 100;

/// The `audit` binary on `launch`'s ports and environment, logging to `log`.
async fn spawn_process(launch: AppLaunch, log: &std::path::Path) -> (Child, SocketAddr) {
    let app = launch.listeners.app_address().unwrap();
    let admin = launch.listeners.admin_address().unwrap();
    // The process binds the ports itself.
    drop(launch.listeners);
    let child = Command::new(env!("CARGO_BIN_EXE_audit"))
        .envs(&launch.env)
        .env("TODO_ADMIN_PORT", admin.port().to_string())
        .env("TODO_LISTEN_HOST", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_serving(app, "todo.v1.AuditService", STARTUP_DEADLINE).await;
    let sidecar = launch.sidecar.clone();
    wait_until(
        "audit's sidecar connects to it",
        STARTUP_DEADLINE,
        || async { sidecar.app.is_connected() },
    )
    .await;
    (child, app)
}

#[tokio::test]
async fn after_kill_9_mid_stream_a_restarted_audit_has_every_event_once() {
    for database in TestDatabase::each().await {
        let secrets_dir = tempfile::tempdir().unwrap();
        let process_log = secrets_dir.path().join("audit.log");
        let dapr = start_dapr_with_resiliency(&database, &secrets_dir).await;
        let first_launch = dapr.launch(AppSpec::new("audit", None)).await;
        let first_sidecar = first_launch.sidecar.clone();
        let (mut first, _) = spawn_process(first_launch, &process_log).await;

        let publisher = publisher(&dapr).await;
        let events: Vec<_> = (0..EVENTS)
            .map(|i| created_event(&new_task(&new_user(), &format!("task {i}")), Utc::now()))
            .collect();
        let publishing = tokio::spawn({
            let events = events.clone();
            async move {
                for event in &events {
                    publish(&publisher, event).await;
                }
            }
        });

        let log = database.open().await;
        wait_until(
            "audit records its first events",
            Duration::from_secs(60),
            || async {
                log.count_rows()
                    .await
                    .is_ok_and(|(rows, _)| rows >= KILL_AFTER_ROWS)
            },
        )
        .await;
        let pid = Pid::from_raw(i32::try_from(first.id().unwrap()).unwrap());
        kill(pid, Signal::SIGKILL).unwrap();
        let rows_at_kill = log.count_rows().await.unwrap().0;
        let status = first.wait().await.unwrap();
        assert_eq!(status.to_string(), "signal: 9 (SIGKILL)");
        // The pod is gone, sidecar and all.
        first_sidecar.stop();
        assert!(
            rows_at_kill < EVENTS as i64,
            "the kill came after the stream ended ({rows_at_kill} rows): it proves nothing"
        );

        let restarted_at = Instant::now();
        let second_launch = dapr.launch(AppSpec::new("audit", None)).await;
        let (_second, _) = spawn_process(second_launch, &process_log).await;
        publishing.await.unwrap();
        let every_event = EVENTS as i64;
        wait_until(
            "every event is recorded",
            Duration::from_secs(120),
            || async {
                log.count_rows()
                    .await
                    .is_ok_and(|(rows, _)| rows >= every_event)
            },
        )
        .await;
        assert_eq!(
            log.count_rows().await.unwrap(),
            (every_event, every_event),
            "database: {database:?}"
        );
        eprintln!(
            "{database:?}: killed at {rows_at_kill} rows; all {EVENTS} recorded {:?} after the restart",
            restarted_at.elapsed()
        );
    }
}
