//! Access tokens: HS256 JWTs signed with the key from the Dapr secret store, carrying `sub` (the
//! user id), `sid` (the session: the refresh-token family), `iat`, `exp`, `iss` and `aud`.
//! Verification accepts only HS256 and checks the signature, `exp`, `iss` and `aud`.
//!
//! Tokens are stateless: one stays valid until it expires (an hour by default) even after its
//! session signs out; the short lifetime bounds that.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use todo_core::UserId;
use tonic::metadata::MetadataMap;

use super::refresh_tokens::FamilyId;
use crate::{error::AccessTokenError, error::Error};

/// The `iss` of every token.
pub const ISSUER: &str = "todo-suite-gateway";
/// The `aud` of every token: the suite's API.
pub const AUDIENCE: &str = "todo-suite";
/// The shortest signing key accepted, in bytes (HS256's output size).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;
/// Clock skew tolerated on `exp`, in seconds (replicas sign and verify on synchronised clocks).
const LEEWAY_SECONDS: u64 = 5;

/// The HMAC key tokens are signed with.
#[derive(Clone)]
pub struct SigningKey(SecretSlice<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    /// Accepts a key of at least [`MIN_SIGNING_KEY_BYTES`] bytes.
    ///
    /// # Errors
    /// The reason the key is unusable.
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < MIN_SIGNING_KEY_BYTES {
            return Err(format!(
                "it has {} bytes; at least {MIN_SIGNING_KEY_BYTES} are required",
                bytes.len()
            ));
        }
        Ok(Self(SecretSlice::from(bytes)))
    }
}

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session (refresh-token family) the token was issued in.
    pub sid: String,
    /// Issued at, in Unix seconds.
    pub iat: i64,
    /// Expires at, in Unix seconds.
    pub exp: i64,
    /// [`ISSUER`].
    pub iss: String,
    /// [`AUDIENCE`].
    pub aud: String,
}

/// Who a verified token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The user.
    pub user: UserId,
    /// When the token stops being valid (its `exp`).
    pub expires_at: DateTime<Utc>,
}

/// A signed access token and when it expires.
#[derive(Clone, Debug)]
pub struct IssuedAccessToken {
    /// The JWT.
    pub token: String,
    /// Its `exp`.
    pub expires_at: DateTime<Utc>,
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AccessTokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// Signs with `key`; tokens live `ttl`.
    pub fn new(key: &SigningKey, ttl: Duration) -> Self {
        let secret = key.0.expose_secret();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Issues a token for `user` in session `family`, valid from `now` for the configured ttl.
    ///
    /// # Errors
    /// [`Error::Signing`], which only a broken key would cause.
    pub fn issue(
        &self,
        user: &UserId,
        family: &FamilyId,
        now: DateTime<Utc>,
    ) -> Result<IssuedAccessToken, Error> {
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: user.to_string(),
            sid: family.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Error::Signing)?;
        Ok(IssuedAccessToken { token, expires_at })
    }

    /// Verifies a bare token.
    ///
    /// # Errors
    /// [`AccessTokenError::Expired`] or [`AccessTokenError::Invalid`].
    pub fn verify(&self, token: &str) -> Result<VerifiedUser, AccessTokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => AccessTokenError::Expired,
                _ => AccessTokenError::Invalid,
            })?;
        let user = UserId::parse(&data.claims.sub).map_err(|_| AccessTokenError::Invalid)?;
        let expires_at =
            DateTime::<Utc>::from_timestamp(data.claims.exp, 0).ok_or(AccessTokenError::Invalid)?;
        Ok(VerifiedUser { user, expires_at })
    }

    /// Verifies the `authorization: Bearer <token>` of a call.
    ///
    /// # Errors
    /// [`AccessTokenError::Missing`] without a bearer token; otherwise as [`Self::verify`].
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<VerifiedUser, AccessTokenError> {
        let outcome = bearer_token(metadata)
            .ok_or(AccessTokenError::Missing)
            .and_then(|token| self.verify(token));
        if let Err(rejection) = outcome {
            crate::metrics::record_access_token_rejection(rejection);
        }
        outcome
    }

    /// Authenticates a call as [`Self::authenticate`] does, records the user on the current
    /// span's `user_id` field, and answers a rejection with its gRPC status.
    ///
    /// # Errors
    /// `Unauthenticated` (through [`crate::error::Error`]) when the token is missing or invalid.
    pub fn authenticate_call(&self, metadata: &MetadataMap) -> Result<VerifiedUser, tonic::Status> {
        let verified = self
            .authenticate(metadata)
            .map_err(crate::error::Error::from)?;
        tracing::Span::current().record("user_id", tracing::field::display(&verified.user));
        Ok(verified)
    }
}

/// The token of an `authorization: Bearer <token>` entry (the scheme is case-insensitive).
fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn tokens(key: &[u8]) -> AccessTokens {
        AccessTokens::new(
            &SigningKey::new(key.to_vec()).unwrap(),
            Duration::from_secs(3600),
        )
    }

    fn mint(key: &[u8], claims: &Claims, algorithm: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    }

    fn claims(user: &UserId) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub: user.to_string(),
            sid: FamilyId::new().to_string(),
            iat: now,
            exp: now + 600,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        }
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_token_verifies_as_its_user() {
        let tokens = tokens(KEY);
        let user = UserId::parse("0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d").unwrap();
        let issued = tokens.issue(&user, &FamilyId::new(), Utc::now()).unwrap();
        let verified = tokens.verify(&issued.token).unwrap();
        assert_eq!(verified.user, user);
        assert_eq!(
            verified.expires_at.timestamp(),
            issued.expires_at.timestamp()
        );
    }

    #[test]
    fn tokens_that_are_not_ours_are_refused() {
        let tokens = tokens(KEY);
        let user = UserId::parse("0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d").unwrap();
        let valid = claims(&user);
        let now = Utc::now().timestamp();
        let other_key = b"another key of at least 32 bytes!!";
        let cases = [
            (
                "expired",
                mint(
                    KEY,
                    &Claims {
                        iat: now - 7200,
                        exp: now - 3600,
                        ..valid.clone()
                    },
                    Algorithm::HS256,
                ),
                AccessTokenError::Expired,
            ),
            (
                "other key",
                mint(other_key, &valid, Algorithm::HS256),
                AccessTokenError::Invalid,
            ),
            (
                "other algorithm",
                mint(KEY, &valid, Algorithm::HS512),
                AccessTokenError::Invalid,
            ),
            (
                "wrong audience",
                mint(
                    KEY,
                    &Claims {
                        aud: "someone-else".into(),
                        ..valid.clone()
                    },
                    Algorithm::HS256,
                ),
                AccessTokenError::Invalid,
            ),
            (
                "wrong issuer",
                mint(
                    KEY,
                    &Claims {
                        iss: "mallory".into(),
                        ..valid.clone()
                    },
                    Algorithm::HS256,
                ),
                AccessTokenError::Invalid,
            ),
            (
                "subject not a user id",
                mint(
                    KEY,
                    &Claims {
                        sub: "admin".into(),
                        ..valid.clone()
                    },
                    Algorithm::HS256,
                ),
                AccessTokenError::Invalid,
            ),
            (
                "garbage",
                "not.a.jwt".to_string(),
                AccessTokenError::Invalid,
            ),
        ];
        for (case, token, expected) in cases {
            assert_eq!(tokens.verify(&token), Err(expected), "case: {case}");
        }
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let tokens = tokens(KEY);
        let user = UserId::parse("0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d").unwrap();
        let signed = mint(KEY, &claims(&user), Algorithm::HS256);
        let mut parts = signed.split('.');
        let (_, payload) = (parts.next(), parts.next().unwrap());
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        let unsigned = format!("{none_header}.{payload}.");
        assert_eq!(tokens.verify(&unsigned), Err(AccessTokenError::Invalid));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_metadata() {
        let cases = [
            ("bearer", Some("Bearer abc"), Some("abc")),
            ("lower-case scheme", Some("bearer abc"), Some("abc")),
            ("basic", Some("Basic abc"), None),
            ("no token", Some("Bearer "), None),
            ("absent", None, None),
        ];
        for (case, value, expected) in cases {
            let mut metadata = MetadataMap::new();
            if let Some(value) = value {
                metadata.insert("authorization", value.parse().unwrap());
            }
            assert_eq!(bearer_token(&metadata), expected, "case: {case}");
        }
    }

    #[test]
    fn short_signing_keys_are_refused() {
        assert!(SigningKey::new(vec![7; 31]).is_err());
        assert!(SigningKey::new(vec![7; 32]).is_ok());
    }

    #[test]
    fn a_token_expires_after_its_ttl() {
        let user = UserId::parse("0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d").unwrap();
        let issued = tokens(KEY)
            .issue(&user, &FamilyId::new(), Utc::now() - TimeDelta::hours(2))
            .unwrap();
        assert_eq!(
            tokens(KEY).verify(&issued.token),
            Err(AccessTokenError::Expired),
            "issued two hours ago"
        );
    }
}
