//! `footprint`: how long `localdapr run` takes until every app answers SERVING, each process's
//! memory idle and after `sign_ups` sign-ups (16 at a time, right after and once settled), and
//! the size of each release binary. Memory under load is measured by `api-mix`.

use std::time::Duration;

use clap::Args;

use crate::{
    memory::snapshot,
    proc::file_mib,
    report::Report,
    scenarios::api_mix::sign_up,
    suite::{APPS, Suite, SuiteOptions},
};

/// The scenario's knobs.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Users to sign up.
    #[arg(long, default_value_t = 200)]
    pub sign_ups: usize,
    /// Seconds to let the suite settle before "idle" and "settled" readings.
    #[arg(long, default_value_t = 3)]
    pub settle_seconds: u64,
}

/// Runs the scenario.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let suite = Suite::start(&SuiteOptions::default()).await?;
    let settle = Duration::from_secs(options.settle_seconds);
    let mut report = Report::new(
        "footprint",
        serde_json::json!({ "sign_ups": options.sign_ups, "settle_seconds": options.settle_seconds }),
    );
    report.figure("ready_ms", suite.ready_after.as_secs_f64() * 1000.0);
    tokio::time::sleep(settle).await;
    let processes = suite.processes();
    snapshot(&processes).report(&mut report, "idle");
    sign_up(&suite, options.sign_ups).await?;
    snapshot(&processes).report(&mut report, "after_sign_ups");
    tokio::time::sleep(settle).await;
    snapshot(&processes).report(&mut report, "after_sign_ups_settled");
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    for binary in std::iter::once("localdapr").chain(APPS) {
        if let Some(mib) = file_mib(&bin_dir.join(binary)) {
            report.figure(&format!("binary_mib_{binary}"), mib);
        }
    }
    suite.stop().await?;
    Ok(report)
}
