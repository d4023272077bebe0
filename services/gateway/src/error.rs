//! The gateway's own errors (accounts and tokens) and their one mapping to gRPC statuses.
//! Validation errors become `todo_proto::status::bad_request`; internal failures
//! `dapr_kit::unavailable_or_internal`, which logs the cause once; it never reaches the client.
//! Errors of forwarded calls are not here: they pass through unchanged (see `forwarding`).

use std::time::Duration;

use dapr_kit::DaprError;
use todo_core::ValidationError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Why an access token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    /// No `authorization: Bearer <token>` metadata.
    #[error("missing bearer token")]
    Missing,
    /// The token's `exp` has passed.
    #[error("access token expired")]
    Expired,
    /// Forged, signed with another key, for another audience or issuer, or malformed.
    #[error("invalid access token")]
    Invalid,
}

impl AccessTokenError {
    /// A bounded label for metrics.
    pub fn as_label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Expired => "expired",
            Self::Invalid => "invalid",
        }
    }
}

/// Why an account or token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks a rule; every violation is listed.
    #[error("invalid request")]
    Validation(#[from] ValidationError),
    /// Sign-up with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Unknown email or wrong password: deliberately the same answer.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failed sign-ins for this email or from this address, or too many sign-ups
    /// from this address.
    #[error("too many {what}; retry in {} seconds", .retry_after.as_secs().max(1))]
    RateLimited {
        /// What was limited, e.g. "failed sign-ins".
        what: &'static str,
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// Every password-hashing slot stayed busy: shed the request rather than queue it.
    #[error("too many sign-ins and sign-ups in progress; retry shortly")]
    Overloaded,
    /// A refresh token that is unknown, expired, already used or revoked.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// The access token was refused.
    #[error(transparent)]
    AccessToken(#[from] AccessTokenError),
    /// The token names an account that does not exist.
    #[error("the account no longer exists")]
    AccountGone,
    /// The state store failed.
    #[error("{operation} failed")]
    Store {
        /// What was being done, e.g. "read account".
        operation: &'static str,
        /// The sidecar's error.
        #[source]
        source: DaprError,
    },
    /// A stored record does not parse.
    #[error("stored record {key} is corrupt")]
    CorruptRecord {
        /// Its key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// argon2 failed, or its task did.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// A token could not be signed.
    #[error("token signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Validation(validation) => todo_proto::status::bad_request(&validation),
            Error::EmailTaken => Status::already_exists(error.to_string()),
            Error::InvalidCredentials
            | Error::InvalidRefreshToken
            | Error::AccessToken(_)
            | Error::AccountGone => Status::unauthenticated(error.to_string()),
            Error::RateLimited { retry_after, .. } => {
                let details = ErrorDetails::with_retry_info(Some(retry_after));
                Status::with_error_details(Code::ResourceExhausted, error.to_string(), details)
            }
            Error::Overloaded => Status::unavailable(error.to_string()),
            Error::Store { .. }
            | Error::CorruptRecord { .. }
            | Error::Hashing(_)
            | Error::Signing(_) => dapr_kit::unavailable_or_internal("the account store", &error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_grpc_code() {
        let store = |status| Error::Store {
            operation: "read account",
            source: DaprError::Call {
                operation: "GetState",
                status: Box::new(status),
            },
        };
        let cases = [
            (
                "validation",
                Error::Validation(ValidationError::single("email", "must not be empty")),
                Code::InvalidArgument,
            ),
            ("taken", Error::EmailTaken, Code::AlreadyExists),
            (
                "credentials",
                Error::InvalidCredentials,
                Code::Unauthenticated,
            ),
            ("refresh", Error::InvalidRefreshToken, Code::Unauthenticated),
            (
                "access",
                Error::AccessToken(AccessTokenError::Expired),
                Code::Unauthenticated,
            ),
            ("gone", Error::AccountGone, Code::Unauthenticated),
            (
                "limited",
                Error::RateLimited {
                    what: "failed sign-ins",
                    retry_after: Duration::from_secs(3),
                },
                Code::ResourceExhausted,
            ),
            (
                "store down",
                store(Status::unavailable("down")),
                Code::Unavailable,
            ),
            (
                "store broken",
                store(Status::invalid_argument("bad key")),
                Code::Internal,
            ),
            ("hashing", Error::Hashing("boom".into()), Code::Internal),
            ("overloaded", Error::Overloaded, Code::Unavailable),
        ];
        for (case, error, code) in cases {
            assert_eq!(Status::from(error).code(), code, "case: {case}");
        }
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let status = Status::from(Error::Hashing("salt shaker jammed".into()));
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let status = Status::from(Error::RateLimited {
            what: "failed sign-ins",
            retry_after: Duration::from_secs(840),
        });
        assert_eq!(
            status.message(),
            "too many failed sign-ins; retry in 840 seconds"
        );
        let retry = status.get_details_retry_info().unwrap();
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(840)));
    }
}
