//! One value of a secret, as a service needs it at startup: "key K of secret S in store T",
//! parsed into the type that uses it, with errors that name all three and say how to fix them.

use std::fmt;

use secrecy::ExposeSecret;

use super::DaprClient;
use crate::DaprError;

/// Names one value in a Dapr secret store, as a Kubernetes `secretKeyRef` does, and says what
/// it is for, so that an error can tell an operator what to put there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// The secret store component, e.g. `secretstore`.
    pub store: String,
    /// The secret in that store, e.g. `todo-suite` (a Kubernetes Secret, or one entry of the
    /// local file store).
    pub secret: String,
    /// The key inside the secret, e.g. `jwt-signing-key`.
    pub key: &'static str,
    /// What the value is and what it must be, e.g. "the JWT signing key (at least 32 random
    /// bytes)".
    pub purpose: String,
}

impl SecretKeyRef {
    /// Names key `key` of secret `secret` in secret store `store`, which holds `purpose`.
    pub fn new(
        store: impl Into<String>,
        secret: impl Into<String>,
        key: &'static str,
        purpose: impl Into<String>,
    ) -> Self {
        Self {
            store: store.into(),
            secret: secret.into(),
            key,
            purpose: purpose.into(),
        }
    }
}

impl fmt::Display for SecretKeyRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} in secret {} of secret store {}",
            self.key, self.secret, self.store
        )
    }
}

/// Why the value a [`SecretKeyRef`] names cannot be used. Every message names the store, the
/// secret and the key, and says what belongs there.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    /// The sidecar could not read the secret: no such store or secret, or the store failed.
    #[error(
        "cannot read secret {} from secret store {}, which must hold {} with {}",
        .at.secret, .at.store, .at.key, .at.purpose
    )]
    Unreadable {
        /// The value that was wanted.
        at: SecretKeyRef,
        /// The sidecar's answer.
        #[source]
        source: DaprError,
    },
    /// The secret exists but lacks the key.
    #[error(
        "secret {} in secret store {} has no {}; add {} under it; just up does this locally",
        .at.secret, .at.store, .at.key, .at.purpose
    )]
    Missing {
        /// The value that was wanted.
        at: SecretKeyRef,
    },
    /// The value is there, but the service cannot use it (too short, malformed).
    #[error("{at} is unusable; it must be {}", .at.purpose)]
    Unusable {
        /// The value that was read.
        at: SecretKeyRef,
        /// Why the service refused it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DaprClient {
    /// Reads the value `at` names and turns it into what the service uses with `parse` (e.g. a
    /// key type that checks its length). The value is exposed to `parse` only.
    ///
    /// # Errors
    /// [`SecretKeyError`]: the secret cannot be read, lacks the key, or `parse` refuses the value.
    #[tracing::instrument(skip_all, fields(store = %at.store, secret = %at.secret, key = at.key))]
    pub async fn read_secret_key<T, E>(
        &self,
        at: &SecretKeyRef,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<T, SecretKeyError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let secret = self
            .get_secret(&at.store, &at.secret)
            .await
            .map_err(|source| SecretKeyError::Unreadable {
                at: at.clone(),
                source,
            })?;
        let value = secret
            .get(at.key)
            .ok_or_else(|| SecretKeyError::Missing { at: at.clone() })?;
        parse(value.expose_secret().as_bytes()).map_err(|source| SecretKeyError::Unusable {
            at: at.clone(),
            source: source.into(),
        })
    }
}
