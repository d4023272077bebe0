//! Password hashing: argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's
//! baseline), off the async runtime in `spawn_blocking`, with a bounded number at a time (one
//! per core) so a burst of sign-ins cannot exhaust memory. Each hash maps its 19 MiB and unmaps
//! them when it ends ([`MappedArgon2`]), so the memory a burst used goes back to the OS.
//!
//! An unknown email is verified against a dummy hash made with the same parameters, so it takes
//! as long as a wrong password and the two cannot be told apart by timing.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{credentials::Password, mapped_argon2::MappedArgon2};
use crate::error::Error;

/// What verifying a password found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The password matches the stored hash.
    Matches,
    /// It does not, or there was no account to check against.
    Rejected,
}

/// Hashes and verifies passwords.
#[derive(Clone, Debug)]
pub struct Passwords {
    dummy_hash: Arc<str>,
    permits: Arc<Semaphore>,
}

impl Passwords {
    /// Prepares the dummy hash; at most `concurrency` hashes run at once.
    ///
    /// # Errors
    /// [`Error::Hashing`] if argon2 fails, which only a broken build would do.
    pub async fn new(concurrency: usize) -> Result<Self, Error> {
        let random: [u8; 32] = rand::random();
        let dummy = run_blocking(move || hash(&random)).await?;
        Ok(Self {
            dummy_hash: dummy.into(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        })
    }

    /// Hashes `password` with a fresh salt into a PHC string (`$argon2id$v=19$...`).
    ///
    /// # Errors
    /// [`Error::Hashing`] when argon2 fails.
    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let permit = self.permit().await?;
        let password = password.clone();
        run_blocking(move || {
            let _permit = permit;
            hash(password.expose())
        })
        .await
    }

    /// Checks `password` against `stored`; with no stored hash (no such account) it does the
    /// same work against the dummy hash and rejects.
    ///
    /// # Errors
    /// [`Error::Hashing`] when a stored hash cannot be parsed.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verdict, Error> {
        let permit = self.permit().await?;
        let is_real = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_string);
        let password = password.clone();
        let matches = run_blocking(move || {
            let _permit = permit;
            let parsed = PasswordHash::new(&hash).map_err(|e| Error::Hashing(e.to_string()))?;
            Ok(MappedArgon2
                .verify_password(password.expose(), &parsed)
                .is_ok())
        })
        .await?;
        Ok(if matches && is_real {
            Verdict::Matches
        } else {
            Verdict::Rejected
        })
    }

    /// A permit to hash, moved into the blocking task so it is held until argon2 finishes even
    /// if the caller gave up waiting. A caller waits at most [`MAX_PERMIT_WAIT`]: under a flood
    /// the request is shed rather than queued without bound.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, Error> {
        match tokio::time::timeout(MAX_PERMIT_WAIT, Arc::clone(&self.permits).acquire_owned()).await
        {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::Hashing("the hashing pool is closed".into())),
            Err(_) => Err(Error::Overloaded),
        }
    }
}

/// The longest a request waits for a hashing slot before it is answered `Unavailable`.
pub const MAX_PERMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn hash(password: &[u8]) -> Result<String, Error> {
    MappedArgon2
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Hashing(e.to_string()))
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Hashing(format!("hashing task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(2).await.unwrap();
        let right = Password::typed("correct horse battery");
        let hash = passwords.hash(&right).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        let cases = [
            ("right", "correct horse battery", Verdict::Matches),
            ("wrong", "correct horse battery!", Verdict::Rejected),
            ("empty", "", Verdict::Rejected),
        ];
        for (case, typed, verdict) in cases {
            let outcome = passwords
                .verify(&Password::typed(typed), Some(&hash))
                .await
                .unwrap();
            assert_eq!(outcome, verdict, "case: {case}");
        }
    }

    #[tokio::test]
    async fn no_account_is_always_rejected() {
        let passwords = Passwords::new(1).await.unwrap();
        let outcome = passwords
            .verify(&Password::typed("anything at all"), None)
            .await
            .unwrap();
        assert_eq!(outcome, Verdict::Rejected);
    }

    #[tokio::test]
    async fn the_dummy_hash_uses_the_same_parameters_as_real_ones() {
        let passwords = Passwords::new(1).await.unwrap();
        let real = passwords
            .hash(&Password::typed("0123456789"))
            .await
            .unwrap();
        let parameters = |hash: &str| hash.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(parameters(&passwords.dummy_hash), parameters(&real));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_cannot_get_a_hashing_slot_in_time_is_shed() {
        let passwords = Passwords::new(1).await.unwrap();
        let _busy = Arc::clone(&passwords.permits)
            .acquire_owned()
            .await
            .unwrap();
        let outcome = passwords
            .verify(&Password::typed("anything at all"), None)
            .await;
        assert!(matches!(outcome, Err(Error::Overloaded)), "{outcome:?}");
    }
}
