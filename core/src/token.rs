//! Lease tokens as the core sees them: only as SHA-256 digests, compared in constant time.
//!
//! A token proves that a request comes from the holder of a lease. The core never stores or
//! returns one; it keeps the digest, and compares digests without an early exit so timing
//! reveals nothing about how much of a guessed token was right.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::LeaseError;

/// Longest accepted token, in bytes.
pub const MAX_TOKEN_LEN: usize = 256;

/// The SHA-256 digest of a lease token.
///
/// ```
/// use leasekit_core::TokenDigest;
///
/// let digest = TokenDigest::of_token("test-token-1").unwrap();
/// assert!(digest.matches(&TokenDigest::of_token("test-token-1").unwrap()));
/// assert!(!digest.matches(&TokenDigest::of_token("test-token-2").unwrap()));
/// assert_eq!(format!("{digest:?}"), "TokenDigest(..)");
/// ```
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// Digests a token after checking it is 1 to 256 visible ASCII characters.
    pub fn of_token(token: &str) -> Result<Self, LeaseError> {
        let visible = token.bytes().all(|b| b.is_ascii_graphic());
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || !visible {
            return Err(LeaseError::InvalidToken);
        }
        Ok(Self(Sha256::digest(token.as_bytes()).into()))
    }

    /// Wraps raw digest bytes, as read from storage.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<Self, LeaseError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| LeaseError::InvalidDigest)?;
        Ok(Self(bytes))
    }

    /// The raw digest bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hexadecimal digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Compares two digests in constant time.
    #[must_use]
    pub fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for TokenDigest {}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

impl TryFrom<String> for TokenDigest {
    type Error = LeaseError;

    fn try_from(text: String) -> Result<Self, LeaseError> {
        Self::from_hex(&text)
    }
}

impl From<TokenDigest> for String {
    fn from(digest: TokenDigest) -> Self {
        digest.to_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_of_the_token_bytes() {
        let digest = TokenDigest::of_token("abc").unwrap();
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.to_hex(), expected);
        assert!(TokenDigest::from_hex(expected).unwrap().matches(&digest));
    }

    #[test]
    fn bad_tokens_are_refused_without_quoting_them() {
        let long = "t".repeat(MAX_TOKEN_LEN + 1);
        for bad in ["", "has space", "tab\t", "ü", long.as_str()] {
            let err = TokenDigest::of_token(bad).unwrap_err();
            assert_eq!(err.code().as_str(), "invalid_token");
            assert!(bad.is_empty() || !err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn malformed_hex_is_an_invalid_digest() {
        for bad in ["", "zz", &"a".repeat(63), &"a".repeat(65)] {
            assert_eq!(
                TokenDigest::from_hex(bad).unwrap_err().code().as_str(),
                "invalid_digest"
            );
        }
    }
}
