//! Page tokens: opaque, tamper-proof cursors for offset paging.
//!
//! A token is URL-safe base64 (no padding) of
//! `version (1 byte) ‖ offset (8 bytes, big-endian) ‖ HMAC-SHA256 tag (32 bytes)`. The tag
//! covers the version, the offset and a *scope*: bytes the caller derives from everything that
//! must not change between pages (the user id, the filter, the query, the sort). A token is
//! thus only accepted for the same user and the same query, and nobody without the key can forge
//! or alter one. The scope itself is not in the token.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + 8 + TAG_LEN;
/// Separates these tags from any other use of the same key.
const DOMAIN: &[u8] = b"todo-core/page-token/v1";

type HmacSha256 = Hmac<Sha256>;

/// The secret that authenticates page tokens; every replica of a service needs the same one.
#[derive(Clone)]
pub struct PageTokenKey(Vec<u8>);

/// Why a page token key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "page token key must be at least {} bytes, got {length}",
    PageTokenKey::MIN_LEN
)]
pub struct PageTokenKeyError {
    /// The length given.
    pub length: usize,
}

/// A page token that was malformed, forged, or made for another scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid page token")]
pub struct InvalidPageToken;

impl PageTokenKey {
    /// The shortest key accepted: as long as the HMAC-SHA256 output.
    pub const MIN_LEN: usize = 32;

    /// Wraps a secret.
    ///
    /// # Errors
    /// [`PageTokenKeyError`] when it is shorter than [`PageTokenKey::MIN_LEN`] bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, PageTokenKeyError> {
        let secret = secret.into();
        if secret.len() < Self::MIN_LEN {
            return Err(PageTokenKeyError {
                length: secret.len(),
            });
        }
        Ok(Self(secret))
    }

    fn tagger(&self, offset: u64, scope: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(DOMAIN);
        mac.update(&[TOKEN_VERSION]);
        mac.update(&offset.to_be_bytes());
        mac.update(scope);
        mac
    }

    /// Returns a token for the page starting at `offset`, valid only with the same `scope`.
    pub fn seal(&self, offset: u64, scope: &[u8]) -> String {
        let tag = self.tagger(offset, scope).finalize().into_bytes();
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.push(TOKEN_VERSION);
        token.extend_from_slice(&offset.to_be_bytes());
        token.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Returns the offset in `token`, if this key sealed it for `scope`.
    ///
    /// # Errors
    /// [`InvalidPageToken`] for anything else; the tag is compared in constant time.
    pub fn open(&self, token: &str, scope: &[u8]) -> Result<u64, InvalidPageToken> {
        // Check the length first so a huge token is not decoded.
        if token.len() > TOKEN_LEN.div_ceil(3) * 4 {
            return Err(InvalidPageToken);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| InvalidPageToken)?;
        let (Some((&version, rest)), true) = (bytes.split_first(), bytes.len() == TOKEN_LEN) else {
            return Err(InvalidPageToken);
        };
        let (offset_bytes, tag) = rest.split_at_checked(8).ok_or(InvalidPageToken)?;
        let offset = u64::from_be_bytes(offset_bytes.try_into().map_err(|_| InvalidPageToken)?);
        if version != TOKEN_VERSION {
            return Err(InvalidPageToken);
        }
        self.tagger(offset, scope)
            .verify_slice(tag)
            .map_err(|_| InvalidPageToken)?;
        Ok(offset)
    }
}

impl fmt::Debug for PageTokenKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("PageTokenKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PageTokenKey {
        PageTokenKey::new(vec![byte; PageTokenKey::MIN_LEN]).unwrap()
    }

    #[test]
    fn a_sealed_offset_opens_with_the_same_key_and_scope() {
        for offset in [0, 50, u64::MAX] {
            let token = key(1).seal(offset, b"scope");
            assert!(
                token
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'),
                "{token}"
            );
            assert_eq!(key(1).open(&token, b"scope"), Ok(offset), "case: {offset}");
        }
    }

    #[test]
    fn tampered_forged_or_foreign_tokens_are_refused() {
        let token = key(1).seal(50, b"scope");
        let mut flipped = URL_SAFE_NO_PAD.decode(&token).unwrap();
        if let Some(byte) = flipped.get_mut(8) {
            *byte ^= 1;
        }
        let flipped = URL_SAFE_NO_PAD.encode(flipped);
        let long = "A".repeat(10_000);
        let cases = [
            ("other scope", key(1).open(&token, b"other")),
            ("other key", key(2).open(&token, b"scope")),
            ("offset changed", key(1).open(&flipped, b"scope")),
            ("truncated", key(1).open(token.get(..20).unwrap(), b"scope")),
            ("not base64", key(1).open("!!!", b"scope")),
            ("empty", key(1).open("", b"scope")),
            ("huge", key(1).open(&long, b"scope")),
        ];
        for (case, opened) in cases {
            assert_eq!(opened, Err(InvalidPageToken), "case: {case}");
        }
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert_eq!(
            PageTokenKey::new(vec![0; 31]).unwrap_err(),
            PageTokenKeyError { length: 31 }
        );
        assert_eq!(format!("{:?}", key(7)), "PageTokenKey(<redacted>)");
    }
}
