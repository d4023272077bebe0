//! Test fixtures (feature `testsuite`) every crate's tests share: [`wait_until`], the one way a
//! test waits for an eventual effect. It lives here because this crate is the root of the
//! workspace graph, so `dapr-kit`, `localdapr` and the services reach it without cycles;
//! `localdapr::testsuite` re-exports it.

use std::{future::Future, time::Duration};

/// How often a condition is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `condition` every 10 ms until it holds, failing the test with `description` once
/// `deadline` has passed.
///
/// The deadline is measured on Tokio's clock, so a test with a paused clock can still reach it.
///
/// # Panics
/// When `condition` still does not hold at `deadline`: the wait fails instead of falling through.
pub async fn wait_until<F, Fut>(description: &str, deadline: Duration, condition: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting until {description}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
