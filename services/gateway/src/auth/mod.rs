//! Accounts and sessions: `todo.v1.AuthService`, and the access tokens every forwarded call is
//! checked with (ARCHITECTURE.md, "Edge, identity and trust").
//!
//! - `api`: `AuthApi`, the `AuthService` impl: proto in, an `Auth` call, proto out.
//! - this module: `Auth`, the account operations behind it — sign up, sign in (rate limited),
//!   refresh, sign out and `Me` — as plain async functions with no proto types, composed from:
//!   - `credentials`: email, password and display name rules, parsed at the edge;
//!   - `passwords`: argon2id off the runtime, with a dummy hash for unknown emails;
//!   - `accounts`: the account records in the state store;
//!   - [`access_tokens`]: HS256 JWTs, issued here and verified by forwarding too;
//!   - `refresh_tokens`: rotating refresh tokens, families and reuse detection;
//!   - `sign_in_limiter`: failed sign-ins per email and per address (per replica);
//!   - `client_address`: the peer, or `X-Forwarded-For` when trusted, for that limit.
//!
//! Only [`access_tokens`] is public, for tests that forge tokens; the server and config reach
//! the rest through the crate-visible re-exports below.

pub mod access_tokens;
mod accounts;
mod api;
mod client_address;
mod credentials;
mod mapped_argon2;
mod passwords;
mod refresh_tokens;
mod sign_in_limiter;

use std::{net::IpAddr, sync::Arc};

use chrono::{DateTime, Utc};
use todo_core::{UserId, ValidationError};
use uuid::Uuid;

use self::{
    access_tokens::IssuedAccessToken,
    accounts::{Account, Profile},
    credentials::{Email, Password, SignUpForm},
    passwords::Verdict,
    refresh_tokens::IssuedRefreshToken,
};
use crate::{error::Error, metrics};

pub(crate) use self::{
    access_tokens::{AccessTokens, SigningKey},
    accounts::Accounts,
    api::AuthApi,
    passwords::Passwords,
    refresh_tokens::RefreshTokens,
    sign_in_limiter::{SignInLimiter, SignInLimits},
};

/// A fresh pair of tokens.
#[derive(Clone, Debug)]
pub(crate) struct Tokens {
    /// The access token.
    pub access: IssuedAccessToken,
    /// The refresh token.
    pub refresh: IssuedRefreshToken,
}

/// A user who just signed up or in, with their tokens.
#[derive(Clone, Debug)]
pub(crate) struct SignedIn {
    /// The profile.
    pub profile: Profile,
    /// The session's first tokens.
    pub tokens: Tokens,
}

/// Accounts and sessions.
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    accounts: Accounts,
    passwords: Passwords,
    access_tokens: AccessTokens,
    refresh_tokens: RefreshTokens,
    limiter: Arc<SignInLimiter>,
}

impl Auth {
    /// Wires the parts together.
    pub fn new(
        accounts: Accounts,
        passwords: Passwords,
        access_tokens: AccessTokens,
        refresh_tokens: RefreshTokens,
        limiter: SignInLimiter,
    ) -> Self {
        Self {
            accounts,
            passwords,
            access_tokens,
            refresh_tokens,
            limiter: Arc::new(limiter),
        }
    }

    /// The access-token verifier, shared with forwarding.
    pub fn access_tokens(&self) -> &AccessTokens {
        &self.access_tokens
    }

    /// Creates an account and signs it in.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when `client` signed up too often; [`Error::EmailTaken`]; store
    /// and hashing failures.
    pub async fn sign_up(
        &self,
        form: SignUpForm,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, Error> {
        if let Err(retry) = self
            .limiter
            .begin_sign_up(client, tokio::time::Instant::now())
        {
            metrics::record_sign_up("rate_limited");
            return Err(Error::RateLimited {
                what: "sign-ups",
                retry_after: retry.0,
            });
        }
        let now = Utc::now();
        let password_hash = self.passwords.hash(&form.password).await?;
        let profile = Profile {
            user_id: UserId::from_uuid(Uuid::new_v4()),
            email: form.email.as_str().to_string(),
            display_name: form.display_name.as_str().to_string(),
            create_time: now,
        };
        let account = Account {
            profile,
            password_hash,
        };
        let created = self.accounts.create(&account).await;
        metrics::record_sign_up(match &created {
            Ok(()) => "created",
            Err(Error::EmailTaken) => "email_taken",
            Err(_) => "error",
        });
        created?;
        tracing::info!(user_id = %account.profile.user_id, "account created");
        self.start_session(account.profile, now).await
    }

    /// Checks an email and password from `client`, and signs the account in.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when the email or the client has failed too often;
    /// [`Error::InvalidCredentials`] for an unknown email or a wrong password, alike.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, Error> {
        let missing: Vec<_> = [("email", email.trim()), ("password", password)]
            .into_iter()
            .filter(|(_, value)| value.is_empty())
            .map(|(field, _)| todo_core::FieldViolation::new(field, "must not be empty"))
            .collect();
        if !missing.is_empty() {
            return Err(ValidationError {
                violations: missing,
            }
            .into());
        }
        let email = Email::normalise(email);
        let digest = email.digest();
        if let Err(retry) = self
            .limiter
            .begin_attempt(&digest, client, tokio::time::Instant::now())
        {
            metrics::record_sign_in("rate_limited");
            return Err(Error::RateLimited {
                what: "failed sign-ins",
                retry_after: retry.0,
            });
        }
        // A password no account can have is not worth a hash (sign-up caps the length).
        if password.chars().count() > credentials::MAX_PASSWORD_CHARS {
            metrics::record_sign_in("invalid_credentials");
            return Err(Error::InvalidCredentials);
        }
        let judged = async {
            let account = self.accounts.by_email(&email).await?;
            let verdict = self
                .passwords
                .verify(
                    &Password::typed(password),
                    account.as_ref().map(|a| a.password_hash.as_str()),
                )
                .await?;
            Ok::<_, Error>((verdict, account))
        }
        .await;
        let (verdict, account) = judged.inspect_err(|_| self.limiter.abandoned(&digest, client))?;
        let (Verdict::Matches, Some(account)) = (verdict, account) else {
            metrics::record_sign_in("invalid_credentials");
            return Err(Error::InvalidCredentials);
        };
        self.limiter.succeeded(&digest, client);
        metrics::record_sign_in("success");
        self.start_session(account.profile, Utc::now()).await
    }

    /// Exchanges a refresh token for new tokens (rotation).
    ///
    /// # Errors
    /// [`Error::InvalidRefreshToken`] (a reused token also revokes its session).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Error> {
        let now = Utc::now();
        let rotated = self.refresh_tokens.rotate(refresh_token, now).await?;
        let access = self
            .access_tokens
            .issue(&rotated.user, &rotated.family, now)?;
        Ok(Tokens {
            access,
            refresh: rotated.refresh,
        })
    }

    /// Ends the session of `refresh_token`.
    ///
    /// # Errors
    /// Store failures only: an unknown token is already signed out.
    pub async fn sign_out(&self, refresh_token: &str) -> Result<(), Error> {
        self.refresh_tokens.revoke_family_of(refresh_token).await
    }

    /// The profile of the signed-in `user`.
    ///
    /// # Errors
    /// [`Error::AccountGone`] when the account does not exist.
    pub async fn me(&self, user: &UserId) -> Result<Profile, Error> {
        self.accounts.profile(user).await?.ok_or(Error::AccountGone)
    }

    async fn start_session(&self, profile: Profile, now: DateTime<Utc>) -> Result<SignedIn, Error> {
        let (family, refresh) = self
            .refresh_tokens
            .start_family(&profile.user_id, now)
            .await?;
        let access = self.access_tokens.issue(&profile.user_id, &family, now)?;
        Ok(SignedIn {
            profile,
            tokens: Tokens { access, refresh },
        })
    }
}
