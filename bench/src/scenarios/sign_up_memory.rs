//! `sign-up-memory`: a burst of sign-ups through the gateway, many in flight, and the resident
//! memory of the suite's process before, at the peak of and after it. Each sign-up hashes a
//! password with argon2id (19 MiB of working memory), so this is where the gateway's memory
//! grows. The suite runs in this one process (localdapr, todo-api and the gateway), so the
//! figures bound the gateway's own: what the burst adds is almost all argon2's.
//!
//! The baseline, measured in the same run, is the process's RSS at rest before the burst:
//! `after_ratio_to_idle` is what the burst left behind (1.0 = all of it given back). The peak is
//! the kernel's high-water mark (`VmHWM`), reset just before the burst (`/proc/self/clear_refs`).
//! A sign-up the gateway sheds (`Unavailable`: no hashing slot within its wait) is counted in
//! `sign_ups_shed`, not timed; any other error fails the run. Linux only.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use todo_proto::todo::v1::{self as proto, auth_service_client::AuthServiceClient};
use tokio::time::Instant;
use tonic::Code;

use localdapr::{AppSpec, testsuite::TestDapr};
use tonic::transport::Endpoint;

use crate::report::Report;

/// The gateway's sign-up limit per client address, raised: every sign-up comes from 127.0.0.1.
const SIGN_UPS_PER_ADDRESS: &str = "1000000";

/// How long the process is left alone before "idle" and "after" are read.
const SETTLE: Duration = Duration::from_secs(2);

/// The scenario's knobs.
#[derive(Args, Debug)]
pub struct Options {
    /// How many users sign up.
    #[arg(long, default_value_t = 200)]
    sign_ups: usize,
    /// How many sign-ups are in flight at once (a burst, as from many browsers).
    #[arg(long, default_value_t = 32)]
    in_flight: usize,
    /// How many HTTP/2 connections carry them.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    // The suite of `Suite::start`, but with the gateway's sign-up limit raised.
    let dapr = TestDapr::start_suite().await;
    let _todo_api = todo_api::testsuite::spawn(&dapr).await;
    let gateway = gateway::testsuite::spawn_with(
        &dapr,
        AppSpec::new(gateway::testsuite::APP_ID, None),
        &[(
            gateway::config::ENV_SIGN_UPS_PER_ADDRESS,
            SIGN_UPS_PER_ADDRESS,
        )],
    )
    .await;
    let mut clients = Vec::with_capacity(options.connections.max(1));
    for _ in 0..options.connections.max(1) {
        let channel = Endpoint::from_shared(format!("http://{}", gateway.address()))?
            .connect()
            .await?;
        clients.push(AuthServiceClient::new(channel));
    }
    let mut report = Report::new(
        "sign-up-memory",
        serde_json::json!({
            "sign_ups": options.sign_ups,
            "in_flight": options.in_flight,
            "connections": options.connections,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        }),
    );

    tokio::time::sleep(SETTLE).await;
    let idle = memory()?;
    reset_peak()?;
    let started = Instant::now();
    let outcomes: Vec<Option<Duration>> = futures::stream::iter(0..options.sign_ups)
        .map(|n| {
            let mut client = clients[n % clients.len()].clone();
            async move {
                let started = Instant::now();
                let answer = client
                    .sign_up(proto::SignUpRequest {
                        email: format!("burst-{n}-{}@example.com", uuid::Uuid::new_v4()),
                        password: "correct horse battery".into(),
                        display_name: "Burst".into(),
                    })
                    .await;
                match answer {
                    Ok(_) => Ok(Some(started.elapsed())),
                    // Shed by the gateway: it waited too long for a hashing slot.
                    Err(status) if status.code() == Code::Unavailable => Ok(None),
                    Err(status) => Err(status).context("a sign-up failed"),
                }
            }
        })
        .buffer_unordered(options.in_flight.max(1))
        .try_collect()
        .await?;
    let mut latencies: Vec<Duration> = outcomes.iter().copied().flatten().collect();
    #[allow(clippy::cast_precision_loss)]
    let shed = (outcomes.len() - latencies.len()) as f64;
    let burst = started.elapsed();
    let peak = memory()?;
    tokio::time::sleep(SETTLE).await;
    let after = memory()?;

    report.figure("idle_rss_mib", idle.resident_mib);
    report.figure("peak_rss_mib", peak.peak_mib);
    report.figure("after_rss_mib", after.resident_mib);
    report.figure(
        "after_ratio_to_idle",
        after.resident_mib / idle.resident_mib,
    );
    report.figure("peak_ratio_to_idle", peak.peak_mib / idle.resident_mib);
    #[allow(clippy::cast_precision_loss)]
    report.figure(
        "sign_ups_per_second",
        options.sign_ups as f64 / burst.as_secs_f64(),
    );
    report.figure("sign_ups_shed", shed);
    report.latencies("sign_up", &mut latencies);
    Ok(report)
}

/// The process's resident memory now and its high-water mark, from `/proc/self/status`.
struct Memory {
    resident_mib: f64,
    peak_mib: f64,
}

fn memory() -> anyhow::Result<Memory> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kib = |field: &str| -> anyhow::Result<f64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse::<f64>().ok())
            .with_context(|| format!("no {field} in /proc/self/status"))
    };
    Ok(Memory {
        resident_mib: kib("VmRSS:")? / 1024.0,
        peak_mib: kib("VmHWM:")? / 1024.0,
    })
}

/// Resets the high-water mark to the current RSS (`clear_refs`, value 5; Linux 4.0+).
fn reset_peak() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")
}
