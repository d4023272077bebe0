//! What a person types to sign up or sign in, parsed at the edge: [`Email`], [`Password`],
//! [`DisplayName`], and [`SignUpForm`], which reports every invalid field at once with the field
//! paths of `SignUpRequest` (`email`, `password`, `display_name`).
//!
//! Email rule (deliberately simple; delivery is the real test, and we send no mail yet): after
//! trimming and lower-casing, at most 254 characters, no whitespace or control characters,
//! exactly one `@`, a local part of 1 to 64 characters, and a domain of dot-separated, non-empty
//! labels with at least one dot.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use todo_core::{FieldViolation, ValidationError};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted, in characters (argon2 hashes it all; keep the work bounded).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// The longest email address, in characters (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest local part (before the `@`), in characters.
const MAX_LOCAL_PART_CHARS: usize = 64;

/// An email address, trimmed and lower-cased (the account's identity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

/// The SHA-256 of a normalised email: the key of its account and of its sign-in failures, so
/// neither a state key nor the limiter's memory holds the address itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EmailDigest([u8; 32]);

impl EmailDigest {
    /// The digest in lower-case hex.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl Email {
    /// Trims and lower-cases `input` without checking its shape (sign-in looks up whatever
    /// was typed).
    pub fn normalise(input: &str) -> Self {
        Self(input.trim().to_lowercase())
    }

    /// Parses an address for a new account.
    ///
    /// # Errors
    /// A violation of `email` naming the broken rule.
    pub fn parse(input: &str) -> Result<Self, FieldViolation> {
        let email = Self::normalise(input);
        let invalid = |why: &str| FieldViolation::new("email", why);
        let text = email.as_str();
        if text.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if text.chars().count() > MAX_EMAIL_CHARS {
            return Err(invalid("must be at most 254 characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = text.split_once('@') else {
            return Err(invalid("must be an email address such as ada@example.com"));
        };
        let local_ok = !local.is_empty() && local.chars().count() <= MAX_LOCAL_PART_CHARS;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty());
        if !local_ok || !domain_ok {
            return Err(invalid("must be an email address such as ada@example.com"));
        }
        Ok(email)
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address's digest.
    pub fn digest(&self) -> EmailDigest {
        EmailDigest(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// A password, kept out of logs and debug output.
#[derive(Clone, Debug)]
pub struct Password(SecretString);

impl Password {
    /// Accepts a password for a new account: 10 to 1,024 characters, taken exactly as typed.
    ///
    /// # Errors
    /// A violation of `password`.
    pub fn parse(input: &str) -> Result<Self, FieldViolation> {
        let chars = input.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(FieldViolation::new(
                "password",
                "must be at least 10 characters",
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(FieldViolation::new(
                "password",
                "must be at most 1024 characters",
            ));
        }
        Ok(Self(SecretString::from(input)))
    }

    /// Wraps what was typed at sign-in, unchecked (a wrong password is just wrong).
    pub fn typed(input: &str) -> Self {
        Self(SecretString::from(input))
    }

    /// The password's bytes, for hashing.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

/// The name shown in the app: trimmed, 1 to 100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a display name.
    ///
    /// # Errors
    /// A violation of `display_name`.
    pub fn parse(input: &str) -> Result<Self, FieldViolation> {
        let name = input.trim();
        let invalid = |why: &str| FieldViolation::new("display_name", why);
        if name.is_empty() {
            return Err(invalid("must not be blank"));
        }
        if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
            return Err(invalid("must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("must not contain control characters"));
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid sign-up.
#[derive(Clone, Debug)]
pub struct SignUpForm {
    /// The account's email.
    pub email: Email,
    /// The chosen password.
    pub password: Password,
    /// The display name.
    pub display_name: DisplayName,
}

impl SignUpForm {
    /// Parses all three fields.
    ///
    /// # Errors
    /// Every invalid field, in request order.
    pub fn parse(email: &str, password: &str, display_name: &str) -> Result<Self, ValidationError> {
        let email = Email::parse(email);
        let password = Password::parse(password);
        let display_name = DisplayName::parse(display_name);
        match (email, password, display_name) {
            (Ok(email), Ok(password), Ok(display_name)) => Ok(Self {
                email,
                password,
                display_name,
            }),
            (email, password, display_name) => Err(ValidationError {
                violations: [email.err(), password.err(), display_name.err()]
                    .into_iter()
                    .flatten()
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_by_the_documented_rule() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("a@{}.com", "b".repeat(250));
        let cases = [
            ("ordinary", "ada@example.com", true),
            (
                "plus and dots",
                "ada.lovelace+todo@mail.example.co.uk",
                true,
            ),
            ("a pipe is fine", "a|b@example.com", true),
            ("padded and upper case", "  Ada@Example.COM ", true),
            ("empty", "", false),
            ("blank", "   ", false),
            ("no at", "ada.example.com", false),
            ("two ats", "ada@b@example.com", false),
            ("no local part", "@example.com", false),
            ("no dot in domain", "ada@localhost", false),
            ("empty label", "ada@example..com", false),
            ("trailing dot", "ada@example.com.", false),
            ("inner space", "ada love@example.com", false),
            ("control character", "ada\u{7}@example.com", false),
            ("local part over 64", long_local.as_str(), false),
            ("over 254", too_long.as_str(), false),
        ];
        for (case, input, accepted) in cases {
            assert_eq!(Email::parse(input).is_ok(), accepted, "case: {case}");
        }
    }

    #[test]
    fn emails_are_normalised_so_one_address_is_one_account() {
        let email = Email::parse("  Ada@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
        assert_eq!(email.digest(), Email::normalise("ada@example.com").digest());
        assert_eq!(email.digest().to_hex().len(), 64);
    }

    #[test]
    fn passwords_need_10_to_1024_characters() {
        let longest = "p".repeat(MAX_PASSWORD_CHARS);
        let over = "p".repeat(MAX_PASSWORD_CHARS + 1);
        let cases = [
            ("nine", "123456789", false),
            ("ten", "1234567890", true),
            ("ten multibyte characters", "ééééééééé€", true),
            ("spaces count", "          ", true),
            ("longest", longest.as_str(), true),
            ("one over", over.as_str(), false),
        ];
        for (case, input, accepted) in cases {
            assert_eq!(Password::parse(input).is_ok(), accepted, "case: {case}");
        }
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        let longest = "n".repeat(MAX_DISPLAY_NAME_CHARS);
        let over = "n".repeat(MAX_DISPLAY_NAME_CHARS + 1);
        let cases = [
            ("ordinary", "Ada Lovelace", true),
            ("blank", "  \t", false),
            ("longest", longest.as_str(), true),
            ("one over", over.as_str(), false),
            ("newline inside", "Ada\nLovelace", false),
        ];
        for (case, input, accepted) in cases {
            assert_eq!(DisplayName::parse(input).is_ok(), accepted, "case: {case}");
        }
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
    }

    #[test]
    fn a_sign_up_reports_every_invalid_field_at_once() {
        let error = SignUpForm::parse("nope", "short", " ").unwrap_err();
        assert_eq!(error.fields(), ["email", "password", "display_name"]);
        assert!(SignUpForm::parse("ada@example.com", "long enough!", "Ada").is_ok());
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
