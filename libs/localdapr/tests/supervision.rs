//! `localdapr run` killed with `kill -9`, as a crash or an impatient user does it: no app of the
//! run survives it, and the next run on the same data directory and ports starts.

#![cfg(target_os = "linux")] // the parent-death signal and /proc are Linux's
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

mod run_support;

use std::time::Duration;

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use run_support::{DEADLINE, Run, example, free_port, scratch_run};

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

#[tokio::test]
async fn after_kill_9_of_the_runner_no_app_survives_and_the_next_run_starts() {
    // An app holding a fixed port (a survivor would make the next run fail to bind it), and
    // one that would otherwise sleep on for ever.
    let (dir, run_file) = scratch_run(&format!(
        "  - appID: subscriber\n    appPort: {port}\n    command: [\"{subscriber}\"]\n  - appID: sleeper\n    command: [\"sleep\", \"100000\"]\n",
        port = free_port(),
        subscriber = example("ping_subscriber").display(),
    ));
    let data_dir = dir.path().join("data");

    let mut first = Run::start(&run_file, Some(&data_dir));
    first.wait_printed("all apps are up").await;
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

    let mut second = Run::start(&run_file, Some(&data_dir));
    second.wait_printed("all apps are up").await;
    kill(second.pid(), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(DEADLINE, second.child.wait())
        .await
        .expect("the second run stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}:\n{}", second.printed());
}
