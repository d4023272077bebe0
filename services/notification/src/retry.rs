//! The bounded, jittered retry of etag conflicts that every read-modify-write here uses.

use std::time::Duration;

use rand::Rng;

/// Attempts of one read-modify-write before giving up: a task's or a user's state has few
/// concurrent writers (a task event, a trigger, a MarkRead).
pub const MAX_ATTEMPTS: u32 = 16;

/// Jittered exponential backoff: 2 ms doubling to 64 ms, times a random factor in [0.5, 1.5),
/// so writers that collided do not collide again in lockstep.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(2u64 << attempt.min(5));
    base.mul_f64(rand::rng().random_range(0.5..1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..=MAX_ATTEMPTS {
            let delay = backoff(attempt);
            assert!(
                delay <= Duration::from_millis(96),
                "attempt {attempt}: {delay:?}"
            );
            assert!(
                delay >= Duration::from_millis(2),
                "attempt {attempt}: {delay:?}"
            );
        }
    }
}
