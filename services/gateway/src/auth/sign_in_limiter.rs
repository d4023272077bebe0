//! The sign-in rate limit: failed sign-ins are counted per email address and per client address
//! in fixed windows, and once either count reaches its limit, sign-ins for that email or from
//! that address are refused until the window ends, even with the right password.
//!
//! The counts live in this replica's memory: with N replicas behind a load balancer an attacker
//! gets up to N times the limit. Memory is bounded: each table keeps at most
//! [`MAX_TRACKED_KEYS`] keys, dropping expired windows first and then the oldest.

use std::{collections::HashMap, hash::Hash, net::IpAddr, sync::Mutex, time::Duration};

use tokio::time::Instant;

use super::credentials::EmailDigest;

/// The most emails (and, separately, addresses) one replica tracks.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// How many failures each key may have in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInLimits {
    /// Failures per email address.
    pub failures_per_email: u32,
    /// Failures per client address.
    pub failures_per_address: u32,
    /// Sign-ups (each one hashes a password) per client address.
    pub sign_ups_per_address: u32,
    /// The length of a window, which starts at a key's first failure.
    pub window: Duration,
}

/// A refused sign-in: when the caller may try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

/// Counts failed sign-ins; shared by every call (a std mutex, never held across an await).
#[derive(Debug)]
pub struct SignInLimiter {
    limits: SignInLimits,
    tables: Mutex<Tables>,
}

#[derive(Debug)]
struct Tables {
    by_email: FailureTable<EmailDigest>,
    by_address: FailureTable<IpAddr>,
    sign_ups_by_address: FailureTable<IpAddr>,
}

impl SignInLimiter {
    /// A limiter with nothing counted yet.
    pub fn new(limits: SignInLimits) -> Self {
        Self::with_capacity(limits, MAX_TRACKED_KEYS)
    }

    fn with_capacity(limits: SignInLimits, capacity: usize) -> Self {
        Self {
            limits,
            tables: Mutex::new(Tables {
                by_email: FailureTable::new(capacity),
                by_address: FailureTable::new(capacity),
                sign_ups_by_address: FailureTable::new(capacity),
            }),
        }
    }

    /// Admits a sign-in attempt for `email` from `address` at `now` and counts it as a failure
    /// at once, so attempts running concurrently cannot slip past the limit together; the
    /// caller then reports [`SignInLimiter::succeeded`] or [`SignInLimiter::abandoned`].
    ///
    /// # Errors
    /// [`RetryAfter`] with the longer wait when the email or the address is at its limit.
    pub fn begin_attempt(
        &self,
        email: &EmailDigest,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), RetryAfter> {
        let address = address.map(limit_key);
        let mut tables = self.lock();
        let window = self.limits.window;
        let by_email =
            tables
                .by_email
                .blocked_for(email, self.limits.failures_per_email, window, now);
        let by_address = address.and_then(|address| {
            tables
                .by_address
                .blocked_for(&address, self.limits.failures_per_address, window, now)
        });
        if let Some(wait) = by_email.max(by_address) {
            return Err(RetryAfter(wait));
        }
        tables.by_email.record(*email, window, now);
        if let Some(address) = address {
            tables.by_address.record(address, window, now);
        }
        Ok(())
    }

    /// Admits a sign-up from `address` at `now`, counting it: each one costs an argon2 hash, so
    /// one client may not flood them.
    ///
    /// # Errors
    /// [`RetryAfter`] when the address is at its limit.
    pub fn begin_sign_up(&self, address: Option<IpAddr>, now: Instant) -> Result<(), RetryAfter> {
        let Some(address) = address.map(limit_key) else {
            return Ok(());
        };
        let mut tables = self.lock();
        let window = self.limits.window;
        if let Some(wait) = tables.sign_ups_by_address.blocked_for(
            &address,
            self.limits.sign_ups_per_address,
            window,
            now,
        ) {
            return Err(RetryAfter(wait));
        }
        tables.sign_ups_by_address.record(address, window, now);
        Ok(())
    }

    /// The attempt signed in: the email's failures are forgotten and the attempt no longer
    /// counts against the address (whose earlier failures stay: one good account must not
    /// unlock guessing at others).
    pub fn succeeded(&self, email: &EmailDigest, address: Option<IpAddr>) {
        let mut tables = self.lock();
        tables.by_email.forget(email);
        if let Some(address) = address.map(limit_key) {
            tables.by_address.undo(&address);
        }
    }

    /// The attempt could not be judged (the store failed): it counts against neither key.
    pub fn abandoned(&self, email: &EmailDigest, address: Option<IpAddr>) {
        let mut tables = self.lock();
        tables.by_email.undo(email);
        if let Some(address) = address.map(limit_key) {
            tables.by_address.undo(&address);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // The tables stay consistent even if a holder panicked: every update is one insert.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The key an address is limited under: IPv4 addresses as they are, IPv6 addresses by their /64
/// prefix, since every IPv6 client can rotate through at least a /64.
fn limit_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Debug)]
struct FailureTable<K> {
    windows: HashMap<K, Window>,
    capacity: usize,
}

impl<K: Eq + Hash + Copy> FailureTable<K> {
    fn new(capacity: usize) -> Self {
        Self {
            windows: HashMap::new(),
            capacity,
        }
    }

    fn blocked_for(&self, key: &K, limit: u32, window: Duration, now: Instant) -> Option<Duration> {
        let current = self.windows.get(key)?;
        let ends = current.started + window;
        (current.failures >= limit && ends > now).then(|| ends - now)
    }

    fn record(&mut self, key: K, window: Duration, now: Instant) {
        if let Some(current) = self.windows.get_mut(&key) {
            if current.started + window > now {
                current.failures = current.failures.saturating_add(1);
            } else {
                *current = Window {
                    started: now,
                    failures: 1,
                };
            }
            return;
        }
        if self.windows.len() >= self.capacity {
            self.make_room(window, now);
        }
        self.windows.insert(
            key,
            Window {
                started: now,
                failures: 1,
            },
        );
    }

    fn forget(&mut self, key: &K) {
        self.windows.remove(key);
    }

    fn undo(&mut self, key: &K) {
        if let Some(current) = self.windows.get_mut(key) {
            current.failures = current.failures.saturating_sub(1);
        }
    }

    /// Drops expired windows; if none had expired, drops the oldest one.
    fn make_room(&mut self, window: Duration, now: Instant) {
        self.windows.retain(|_, w| w.started + window > now);
        if self.windows.len() < self.capacity {
            return;
        }
        let oldest = self
            .windows
            .iter()
            .min_by_key(|(_, w)| w.started)
            .map(|(key, _)| *key);
        if let Some(oldest) = oldest {
            self.windows.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credentials::Email;

    const LIMITS: SignInLimits = SignInLimits {
        failures_per_email: 5,
        failures_per_address: 20,
        sign_ups_per_address: 3,
        window: Duration::from_secs(900),
    };

    fn email(text: &str) -> EmailDigest {
        Email::normalise(text).digest()
    }

    fn address(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn the_sixth_attempt_for_an_email_is_refused_until_the_window_ends() {
        let limiter = SignInLimiter::new(LIMITS);
        let start = Instant::now();
        let alice = email("alice@example.com");
        for attempt in 0..5 {
            assert_eq!(
                limiter.begin_attempt(&alice, address(attempt), start),
                Ok(()),
                "attempt {attempt}"
            );
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(
            limiter.begin_attempt(&alice, address(99), later),
            Err(RetryAfter(Duration::from_secs(840))),
            "refused from any address, with the time left"
        );
        assert_eq!(
            limiter.begin_attempt(&email("bob@example.com"), address(99), later),
            Ok(())
        );
        assert_eq!(
            limiter.begin_attempt(&alice, address(99), start + LIMITS.window),
            Ok(()),
            "the window is over"
        );
    }

    #[test]
    fn attempts_in_flight_count_so_a_burst_cannot_pass_the_limit() {
        let limiter = SignInLimiter::new(LIMITS);
        let now = Instant::now();
        let alice = email("alice@example.com");
        let admitted = (0..40)
            .filter(|i| limiter.begin_attempt(&alice, address(*i), now).is_ok())
            .count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn an_address_is_refused_after_twenty_failures_across_emails() {
        let limiter = SignInLimiter::new(LIMITS);
        let now = Instant::now();
        for i in 0..20 {
            let victim = email(&format!("user{i}@example.com"));
            assert_eq!(
                limiter.begin_attempt(&victim, address(1), now),
                Ok(()),
                "try {i}"
            );
        }
        let fresh = email("fresh@example.com");
        assert_eq!(
            limiter.begin_attempt(&fresh, address(1), now),
            Err(RetryAfter(LIMITS.window))
        );
        assert_eq!(limiter.begin_attempt(&fresh, address(2), now), Ok(()));
        assert_eq!(
            limiter.begin_attempt(&fresh, None, now),
            Ok(()),
            "no address, no address limit"
        );
    }

    #[test]
    fn ipv6_addresses_share_a_limit_per_64_prefix() {
        let limiter = SignInLimiter::new(LIMITS);
        let now = Instant::now();
        let in_prefix = |host: u16| Some(IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, host]));
        for host in 0..20 {
            let victim = email(&format!("user{host}@example.com"));
            assert_eq!(limiter.begin_attempt(&victim, in_prefix(host), now), Ok(()));
        }
        let other_host = limiter.begin_attempt(&email("x@example.com"), in_prefix(999), now);
        assert!(
            other_host.is_err(),
            "another address in the same /64 is limited too"
        );
        let other_prefix = Some(IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]));
        assert_eq!(
            limiter.begin_attempt(&email("x@example.com"), other_prefix, now),
            Ok(())
        );
    }

    #[test]
    fn a_success_clears_the_email_and_does_not_count_against_the_address() {
        let limits = SignInLimits {
            failures_per_address: 4,
            ..LIMITS
        };
        let limiter = SignInLimiter::new(limits);
        let now = Instant::now();
        let alice = email("alice@example.com");
        for _ in 0..3 {
            limiter.begin_attempt(&alice, address(1), now).unwrap();
        }
        limiter.begin_attempt(&alice, address(1), now).unwrap();
        limiter.succeeded(&alice, address(1));
        assert_eq!(
            limiter.begin_attempt(&alice, address(1), now),
            Ok(()),
            "3 failures + 1 success"
        );
        assert!(
            limiter.begin_attempt(&alice, address(1), now).is_err(),
            "now 4 failures"
        );
        assert_eq!(
            limiter.begin_attempt(&alice, address(2), now),
            Ok(()),
            "the email was cleared"
        );
    }

    #[test]
    fn sign_ups_are_limited_per_address() {
        let limiter = SignInLimiter::new(LIMITS);
        let now = Instant::now();
        for i in 0..3 {
            assert_eq!(
                limiter.begin_sign_up(address(1), now),
                Ok(()),
                "sign-up {i}"
            );
        }
        assert_eq!(
            limiter.begin_sign_up(address(1), now),
            Err(RetryAfter(LIMITS.window))
        );
        assert_eq!(limiter.begin_sign_up(address(2), now), Ok(()));
    }

    #[test]
    fn an_abandoned_attempt_counts_against_nobody() {
        let limits = SignInLimits {
            failures_per_email: 1,
            ..LIMITS
        };
        let limiter = SignInLimiter::new(limits);
        let now = Instant::now();
        let alice = email("alice@example.com");
        limiter.begin_attempt(&alice, address(1), now).unwrap();
        limiter.abandoned(&alice, address(1));
        assert_eq!(limiter.begin_attempt(&alice, address(1), now), Ok(()));
    }

    #[test]
    fn a_window_restarts_after_it_ends() {
        let limiter = SignInLimiter::new(LIMITS);
        let start = Instant::now();
        let alice = email("alice@example.com");
        for _ in 0..5 {
            limiter.begin_attempt(&alice, None, start).unwrap();
        }
        let next_window = start + LIMITS.window;
        assert_eq!(
            limiter.begin_attempt(&alice, None, next_window),
            Ok(()),
            "old failures do not count"
        );
    }

    #[test]
    fn memory_stays_bounded_by_dropping_expired_then_oldest_windows() {
        let limiter = SignInLimiter::with_capacity(LIMITS, 3);
        let start = Instant::now();
        for i in 0..4 {
            let at = start + Duration::from_secs(i);
            limiter
                .begin_attempt(&email(&format!("u{i}@example.com")), None, at)
                .unwrap();
        }
        let tables = limiter.lock();
        assert_eq!(tables.by_email.windows.len(), 3);
        assert!(
            !tables
                .by_email
                .windows
                .contains_key(&email("u0@example.com")),
            "the oldest window went"
        );
        drop(tables);
        let after_expiry = start + LIMITS.window + Duration::from_secs(10);
        limiter
            .begin_attempt(&email("u4@example.com"), None, after_expiry)
            .unwrap();
        assert_eq!(
            limiter.lock().by_email.windows.len(),
            1,
            "expired windows went first"
        );
    }
}
