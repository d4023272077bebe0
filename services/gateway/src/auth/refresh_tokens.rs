//! Refresh tokens: 32 random bytes (base64url), stored only as their SHA-256 under
//! `refresh-<hex>` → `{user_id, family_id, expires_at, used}` with a state TTL, so the store
//! forgets them when they expire.
//!
//! Every sign-in starts a family (the session, `sid` in access tokens). `Refresh` rotates: in one
//! transaction it marks the presented token used (conditional on the etag it read) and stores
//! its successor in the same family. Presenting a used token again is reuse (a stolen token, or
//! the thief's copy already rotated), so the whole family is revoked: `refresh-family-<id>` is
//! written, and every token of the family is refused from then on. Sign-out revokes the family.
//!
//! A used token presented again within the reuse grace (30 s by default) of its rotation is
//! refused without
//! revoking anything: that is a client retrying after a lost reply, or two tabs refreshing at
//! once, not a thief (who gains nothing either way: no tokens are issued).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use dapr_kit::{DaprClient, StateOperation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use todo_core::UserId;
use uuid::Uuid;

use crate::error::Error;

/// Dapr state metadata that sets a key's time to live.
const TTL_IN_SECONDS: &str = "ttlInSeconds";
/// The longest string worth looking up: our tokens are 43 characters.
const MAX_TOKEN_CHARS: usize = 128;

/// A session: the refresh tokens descending from one sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FamilyId(Uuid);

impl FamilyId {
    /// A new random family id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for FamilyId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for FamilyId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(formatter)
    }
}

/// What is stored for one refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RefreshRecord {
    user_id: UserId,
    family_id: FamilyId,
    expires_at: DateTime<Utc>,
    used: bool,
    /// When it was rotated; records written before this field existed have none.
    #[serde(default)]
    used_at: Option<DateTime<Utc>>,
}

impl RefreshRecord {
    /// Whether it was rotated within `grace` of `now`: presenting it again is a retry, not a
    /// theft.
    fn rotated_within(&self, grace: Duration, now: DateTime<Utc>) -> bool {
        self.used_at
            .is_some_and(|at| (now - at).to_std().is_ok_and(|since| since < grace))
    }
}

/// A new refresh token, to hand to the client once.
#[derive(Clone, Debug)]
pub struct IssuedRefreshToken {
    /// The token.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The outcome of a rotation.
#[derive(Clone, Debug)]
pub struct Rotated {
    /// The token's user.
    pub user: UserId,
    /// The session, unchanged by rotation.
    pub family: FamilyId,
    /// The successor token.
    pub refresh: IssuedRefreshToken,
}

/// Issues, rotates and revokes refresh tokens in the state store.
#[derive(Clone, Debug)]
pub struct RefreshTokens {
    dapr: DaprClient,
    store: String,
    ttl: Duration,
    reuse_grace: Duration,
}

impl RefreshTokens {
    /// Keeps tokens in `store`; each lives `ttl`; a used token presented again within
    /// `reuse_grace` of its rotation is refused without ending its session.
    pub fn new(dapr: DaprClient, store: String, ttl: Duration, reuse_grace: Duration) -> Self {
        Self {
            dapr,
            store,
            ttl,
            reuse_grace,
        }
    }

    /// Starts a session for `user` with its first token.
    ///
    /// # Errors
    /// [`Error::Store`] when the token cannot be stored.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn start_family(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<(FamilyId, IssuedRefreshToken), Error> {
        let family = FamilyId::new();
        let (issued, operation) = self.mint(user, &family, now);
        self.dapr
            .transact(&self.store, vec![operation])
            .await
            .map_err(|source| Error::Store {
                operation: "store refresh token",
                source,
            })?;
        Ok((family, issued))
    }

    /// Exchanges `presented` for its successor.
    ///
    /// # Errors
    /// [`Error::InvalidRefreshToken`] when the token is unknown, expired, revoked or reused (a
    /// reuse also revokes its family); [`Error::Store`] when the store fails.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn rotate(&self, presented: &str, now: DateTime<Utc>) -> Result<Rotated, Error> {
        let key = token_key(presented);
        let Some((record, etag)) = self.read(presented, &key).await? else {
            return Err(Error::InvalidRefreshToken);
        };
        tracing::Span::current().record("user_id", tracing::field::display(&record.user_id));
        if record.expires_at <= now || self.is_revoked(&record.family_id).await? {
            return Err(Error::InvalidRefreshToken);
        }
        if record.used {
            return Err(self.refuse_used(&record, now).await);
        }
        let (refresh, successor) = self.mint(&record.user_id, &record.family_id, now);
        let remaining = (record.expires_at - now).num_seconds().max(1);
        let used = RefreshRecord {
            used: true,
            used_at: Some(now),
            ..record.clone()
        };
        let mark_used = StateOperation::upsert(key, to_json(&used))
            .with_etag(etag.as_ref())
            .with_metadata(TTL_IN_SECONDS, &remaining.to_string());
        match self
            .dapr
            .transact(&self.store, vec![mark_used, successor])
            .await
        {
            Ok(()) => Ok(Rotated {
                user: record.user_id,
                family: record.family_id,
                refresh,
            }),
            Err(conflict) if conflict.is_etag_conflict() => {
                // Another rotation of this token won the race: judge it as it is now.
                let current = self.read(presented, &token_key(presented)).await?;
                let current = current.map_or(record, |(current, _)| current);
                Err(self.refuse_used(&current, now).await)
            }
            Err(source) => Err(Error::Store {
                operation: "rotate refresh token",
                source,
            }),
        }
    }

    /// Refuses a used token: a retry within the reuse grace revokes nothing, anything else is
    /// reuse and revokes the session.
    async fn refuse_used(&self, record: &RefreshRecord, now: DateTime<Utc>) -> Error {
        if record.rotated_within(self.reuse_grace, now) {
            tracing::info!(
                "a just-rotated refresh token was presented again; refused, session kept"
            );
            return Error::InvalidRefreshToken;
        }
        self.revoke_reused(record).await
    }

    /// Revokes the session of `presented`; an unknown token is already as good as revoked.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn revoke_family_of(&self, presented: &str) -> Result<(), Error> {
        let key = token_key(presented);
        let Some((record, _)) = self.read(presented, &key).await? else {
            return Ok(());
        };
        tracing::Span::current().record("user_id", tracing::field::display(&record.user_id));
        self.revoke(&record.family_id).await
    }

    /// The token's record and etag, or `None` when it is not one of ours.
    async fn read(
        &self,
        presented: &str,
        key: &str,
    ) -> Result<Option<(RefreshRecord, Option<dapr_kit::Etag>)>, Error> {
        if presented.is_empty() || presented.chars().count() > MAX_TOKEN_CHARS {
            return Ok(None);
        }
        let Some(entry) = self
            .dapr
            .get_state(&self.store, key)
            .await
            .map_err(|source| Error::Store {
                operation: "read refresh token",
                source,
            })?
        else {
            return Ok(None);
        };
        let record =
            serde_json::from_slice(&entry.value).map_err(|source| Error::CorruptRecord {
                key: key.to_string(),
                source,
            })?;
        Ok(Some((record, entry.etag)))
    }

    async fn is_revoked(&self, family: &FamilyId) -> Result<bool, Error> {
        self.dapr
            .get_state(&self.store, &family_key(family))
            .await
            .map(|entry| entry.is_some())
            .map_err(|source| Error::Store {
                operation: "read refresh family",
                source,
            })
    }

    /// Revokes the family of a reused token and returns the error to answer with.
    async fn revoke_reused(&self, record: &RefreshRecord) -> Error {
        tracing::warn!(
            user_id = %record.user_id,
            "refresh token reused; revoking its session"
        );
        crate::metrics::record_refresh_token_reuse();
        match self.revoke(&record.family_id).await {
            Ok(()) => Error::InvalidRefreshToken,
            Err(error) => error,
        }
    }

    /// Marks `family` revoked for as long as any of its tokens could still be valid.
    async fn revoke(&self, family: &FamilyId) -> Result<(), Error> {
        let marker = StateOperation::upsert(family_key(family), b"{\"revoked\":true}".to_vec())
            .with_metadata(TTL_IN_SECONDS, &self.ttl.as_secs().to_string());
        self.dapr
            .transact(&self.store, vec![marker])
            .await
            .map_err(|source| Error::Store {
                operation: "revoke refresh family",
                source,
            })
    }

    /// A new token of `family` and the first-write operation that stores it.
    fn mint(
        &self,
        user: &UserId,
        family: &FamilyId,
        now: DateTime<Utc>,
    ) -> (IssuedRefreshToken, StateOperation) {
        let bytes: [u8; 32] = rand::random();
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let expires_at = now + self.ttl;
        let record = RefreshRecord {
            user_id: *user,
            family_id: *family,
            expires_at,
            used: false,
            used_at: None,
        };
        let operation = StateOperation::upsert(token_key(&token), to_json(&record))
            .with_etag(None)
            .with_metadata(TTL_IN_SECONDS, &self.ttl.as_secs().to_string());
        (IssuedRefreshToken { token, expires_at }, operation)
    }
}

fn token_key(token: &str) -> String {
    format!("refresh-{}", hex::encode(Sha256::digest(token.as_bytes())))
}

fn family_key(family: &FamilyId) -> String {
    format!("refresh-family-{family}")
}

fn to_json(record: &RefreshRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("a refresh record always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_under_their_hash_never_themselves() {
        let token = "c29tZSByYW5kb20gYnl0ZXMgZm9yIGEgcmVmcmVzaCB0b2tlbg";
        let key = token_key(token);
        assert!(key.starts_with("refresh-") && key.len() == "refresh-".len() + 64);
        assert!(!key.contains(token));
        assert!(!key.contains("||"), "dapr refuses || in keys");
    }

    #[test]
    fn records_round_trip_through_json() {
        let record = RefreshRecord {
            user_id: UserId::parse("0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d").unwrap(),
            family_id: FamilyId::new(),
            expires_at: Utc::now(),
            used: true,
            used_at: Some(Utc::now()),
        };
        let parsed: RefreshRecord = serde_json::from_slice(&to_json(&record)).unwrap();
        assert_eq!(parsed, record);
    }

    #[test]
    fn only_a_recent_rotation_counts_as_a_retry() {
        let now = Utc::now();
        let record = |used_at| RefreshRecord {
            user_id: UserId::parse("0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d").unwrap(),
            family_id: FamilyId::new(),
            expires_at: now,
            used: true,
            used_at,
        };
        let cases = [
            (
                "just rotated",
                Some(now - chrono::TimeDelta::seconds(5)),
                true,
            ),
            (
                "rotated long ago",
                Some(now - chrono::TimeDelta::seconds(60)),
                false,
            ),
            ("an old record without a time", None, false),
        ];
        for (case, used_at, recent) in cases {
            let grace = Duration::from_secs(30);
            assert_eq!(
                record(used_at).rotated_within(grace, now),
                recent,
                "case: {case}"
            );
        }
    }
}
