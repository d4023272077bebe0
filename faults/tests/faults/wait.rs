//! Waiting for an eventual effect: poll a condition until it holds, and fail at a deadline.

use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is looked at again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `condition` until it holds; panics, naming `description`, once `deadline` passed.
pub async fn wait_until<F, Fut>(description: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < deadline,
            "not within {deadline:?}: {description}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
