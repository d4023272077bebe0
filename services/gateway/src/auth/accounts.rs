//! Accounts in the Dapr state store. Two records per user, written together in one transaction:
//!
//! - `user-email-<hex sha256 of the normalised email>` → the profile and the argon2id hash, for
//!   sign-in. Written first-write-wins, so a second sign-up with the email fails as a conflict.
//! - `user-<user_id>` → the profile, for `Me`.
//!
//! ARCHITECTURE.md names the key `user||<email>`; Dapr refuses `||` in state keys (reference
//! §5.2), and hashing keeps any character of an address (`|` included) out of the key.

use chrono::{DateTime, Utc};
use dapr_kit::{DaprClient, StateOperation};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use todo_core::UserId;

use super::credentials::Email;
use crate::error::Error;

/// What anyone signed in as the user may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The user id.
    pub user_id: UserId,
    /// The normalised email.
    pub email: String,
    /// The display name.
    pub display_name: String,
    /// When the account was created.
    pub create_time: DateTime<Utc>,
}

/// The sign-in record: the profile and the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The profile.
    #[serde(flatten)]
    pub profile: Profile,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// Reads and creates accounts.
#[derive(Clone, Debug)]
pub struct Accounts {
    dapr: DaprClient,
    store: String,
}

impl Accounts {
    /// Keeps accounts in `store`.
    pub fn new(dapr: DaprClient, store: String) -> Self {
        Self { dapr, store }
    }

    /// Creates `account` unless its email already has one.
    ///
    /// # Errors
    /// [`Error::EmailTaken`] when the email is taken; [`Error::Store`] when the store fails.
    #[tracing::instrument(skip_all, fields(user_id = %account.profile.user_id))]
    pub async fn create(&self, account: &Account) -> Result<(), Error> {
        let email = Email::normalise(&account.profile.email);
        let operations = vec![
            StateOperation::upsert(email_key(&email), to_json(account)).with_etag(None),
            StateOperation::upsert(
                profile_key(&account.profile.user_id),
                to_json(&account.profile),
            )
            .with_etag(None),
        ];
        match self.dapr.transact(&self.store, operations).await {
            Ok(()) => Ok(()),
            Err(conflict) if conflict.is_etag_conflict() => Err(Error::EmailTaken),
            Err(source) => Err(Error::Store {
                operation: "create account",
                source,
            }),
        }
    }

    /// The account of `email`, if there is one.
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::CorruptRecord`].
    #[tracing::instrument(skip_all)]
    pub async fn by_email(&self, email: &Email) -> Result<Option<Account>, Error> {
        self.read(&email_key(email), "read account").await
    }

    /// The profile of `user`, if the account exists.
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::CorruptRecord`].
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn profile(&self, user: &UserId) -> Result<Option<Profile>, Error> {
        self.read(&profile_key(user), "read profile").await
    }

    async fn read<T: DeserializeOwned>(
        &self,
        key: &str,
        operation: &'static str,
    ) -> Result<Option<T>, Error> {
        let entry = self
            .dapr
            .get_state(&self.store, key)
            .await
            .map_err(|source| Error::Store { operation, source })?;
        entry
            .map(|entry| {
                serde_json::from_slice(&entry.value).map_err(|source| Error::CorruptRecord {
                    key: key.to_string(),
                    source,
                })
            })
            .transpose()
    }
}

fn email_key(email: &Email) -> String {
    format!("user-email-{}", email.digest().to_hex())
}

fn profile_key(user: &UserId) -> String {
    format!("user-{user}")
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("an account always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_legal_dapr_keys_whatever_the_email() {
        let key = email_key(&Email::normalise("A||b|c@Example.com"));
        assert!(key.starts_with("user-email-"));
        assert!(!key.contains('|'), "{key}");
        assert_eq!(key, email_key(&Email::normalise("a||b|c@example.com ")));
    }

    #[test]
    fn an_account_stores_its_profile_beside_the_hash() {
        let account = Account {
            profile: Profile {
                user_id: UserId::parse("0190b6d2-8f3e-7c4a-9d2b-5e6f7a8b9c0d").unwrap(),
                email: "ada@example.com".into(),
                display_name: "Ada".into(),
                create_time: Utc::now(),
            },
            password_hash: "$argon2id$v=19$...".into(),
        };
        let json: serde_json::Value = serde_json::from_slice(&to_json(&account)).unwrap();
        assert_eq!(json["email"], "ada@example.com");
        assert_eq!(json["password_hash"], "$argon2id$v=19$...");
        let parsed: Account = serde_json::from_value(json).unwrap();
        assert_eq!(parsed, account);
    }
}
