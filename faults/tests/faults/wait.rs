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

/// Polls `probe` until the state it reads satisfies `is_done`; panics once `deadline` passed,
/// naming `description` and the last state read.
pub async fn wait_for_state<S, F, Fut>(
    description: &str,
    deadline: Duration,
    mut probe: F,
    is_done: impl Fn(&S) -> bool,
) -> S
where
    S: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let started = Instant::now();
    loop {
        let state = probe().await;
        if is_done(&state) {
            return state;
        }
        assert!(
            started.elapsed() < deadline,
            "not within {deadline:?}: {description}; last seen: {state:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
