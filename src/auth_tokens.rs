//! The bearer tokens that open `/mcp` (`MCP_ACCESS_TOKENS`), kept apart from the gate that
//! checks them so that settings can hold them without depending on the protocol.

use std::fmt;

use sha2::{Digest, Sha256};

/// The configured access tokens, kept out of `Debug` output.
#[derive(Clone, Default)]
pub struct AccessTokens(Vec<String>);

impl AccessTokens {
    /// Empty entries are dropped: an empty token would otherwise match an empty `Bearer`.
    pub fn new(tokens: Vec<String>) -> Self {
        AccessTokens(tokens.into_iter().filter(|t| !t.is_empty()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `presented` is one of the tokens. Every configured token is compared, each
    /// in time that depends only on the presented token's length.
    pub fn contains(&self, presented: &str) -> bool {
        self.0.iter().fold(false, |found, token| found | constant_time_eq(presented.as_bytes(), token.as_bytes()))
    }

    /// The SHA-256 (hex) of each token: OAuth grants remember the team token they were
    /// made with only by this hash.
    pub fn hashes(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|t| Sha256::digest(t.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessTokens(<{} redacted>)", self.0.len())
    }
}

/// Compares a presented secret with an expected one without an early exit: the loop runs
/// over every byte of `presented` (which the caller already knows), pairing it with the
/// expected bytes cyclically, so neither the position of the first difference nor the
/// expected length shows in the timing.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return presented.is_empty();
    }
    let mut diff = presented.len() ^ expected.len();
    for (i, byte) in presented.iter().enumerate() {
        diff |= usize::from(byte ^ expected[i % expected.len()]);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_matches_only_identical_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        // Prefixes, extensions and cyclic repeats of the expected value differ in length.
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcabc", b"abc"));
        assert!(!constant_time_eq(b"abc ", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"abc", b""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn debug_output_hides_tokens() {
        assert_eq!(
            format!("{:?}", AccessTokens::new(vec!["alpha-123".into(), "beta-456".into()])),
            "AccessTokens(<2 redacted>)"
        );
    }
}
