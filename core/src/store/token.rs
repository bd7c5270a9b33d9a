//! Minting lease tokens: the secret a holder proves itself with.
//!
//! A token is 32 bytes from the operating system's CSPRNG, written as URL-safe base64 without
//! padding (43 characters), so it fits a header, a query string or a JSON field unchanged. The
//! token leaves the process once, in the answer to the grant; every store keeps only its
//! [`TokenDigest`]. [`LeaseToken`] has no `Display` and a redacted `Debug`, so a token cannot end
//! up in a log line or an error message by accident: reading it takes an explicit call to
//! [`LeaseToken::expose`].

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::ErrorCode;
use crate::token::TokenDigest;

/// Random bytes in a token: 256 bits, well above the 128 the model asks for.
pub const TOKEN_BYTES: usize = 32;

/// A freshly minted lease token: a secret for the holder alone.
///
/// ```
/// use leasekit_core::store::LeaseToken;
///
/// let (token, digest) = LeaseToken::generate().unwrap();
/// assert_eq!(token.expose().len(), 43);
/// assert!(digest.matches(&token.digest()));
/// assert_eq!(format!("{token:?}"), "LeaseToken(..)");
/// ```
#[derive(Clone)]
pub struct LeaseToken(String);

impl LeaseToken {
    /// Draws a new token from the operating system's CSPRNG and returns it with its digest.
    pub fn generate() -> Result<(Self, TokenDigest), EntropyError> {
        let mut secret = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut secret).map_err(EntropyError)?;

        let token = Self(URL_SAFE_NO_PAD.encode(secret));
        let digest = token.digest();
        Ok((token, digest))
    }

    /// The token text, to hand to the holder. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The token text, consuming the wrapper (for a binding that hands it on).
    #[must_use]
    pub fn into_exposed(self) -> String {
        self.0
    }

    /// The SHA-256 digest that stores keep in place of the token.
    ///
    /// # Panics
    ///
    /// Never: base64url text of 32 bytes is 43 visible ASCII characters, a valid token.
    #[must_use]
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of_token(&self.0).expect("a minted token is 43 base64url characters")
    }
}

impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaseToken(..)")
    }
}

/// The operating system's random source failed, so no token could be minted.
#[derive(Debug, thiserror::Error)]
#[error("operating system random source failed: {0}")]
pub struct EntropyError(getrandom::Error);

impl EntropyError {
    /// The stable code: `storage_failure`, the code for a failing environment.
    #[must_use]
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::StorageFailure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_without_padding() {
        let (token, _) = LeaseToken::generate().unwrap();
        let text = token.expose();
        assert_eq!(text.len(), 43);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let decoded = URL_SAFE_NO_PAD.decode(text).unwrap();
        assert_eq!(decoded.len(), TOKEN_BYTES);
    }

    #[test]
    fn each_token_is_new_and_its_digest_is_the_core_digest() {
        let (first, first_digest) = LeaseToken::generate().unwrap();
        let (second, _) = LeaseToken::generate().unwrap();
        assert_ne!(first.expose(), second.expose());
        let recomputed = TokenDigest::of_token(first.expose()).unwrap();
        assert!(first_digest.matches(&recomputed));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let (token, _) = LeaseToken::generate().unwrap();
        let shown = format!("{token:?} {:?}", Some(&token));
        assert!(!shown.contains(token.expose()), "{shown}");
    }
}
