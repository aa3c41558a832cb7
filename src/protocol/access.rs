//! The access gate: when `MCP_ACCESS_TOKENS` is set, every `/mcp` request (except CORS
//! preflights) must carry `Authorization: Bearer <one of them>`.
//!
//! This bearer token only opens the MCP endpoint. It is never forwarded to Prefect: Prefect
//! credentials come from the `X-Prefect-Api-*` headers or the Worker's secrets.

use std::fmt;

use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

use crate::credentials::{Credentials, HEADER_API_KEY, HEADER_API_URL, HEADER_AUTH_STRING};

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

    /// The SHA-256 (hex) of each token: OAuth team grants remember the token they were made
    /// with only by this hash.
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
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return presented.is_empty();
    }
    let mut diff = presented.len() ^ expected.len();
    for (i, byte) in presented.iter().enumerate() {
        diff |= usize::from(byte ^ expected[i % expected.len()]);
    }
    std::hint::black_box(diff) == 0
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No `Authorization` header, or one with another scheme than Bearer.
    Missing,
    /// `Bearer` with an empty token or one that is not configured.
    InvalidToken,
}

impl Denial {
    /// The `WWW-Authenticate` challenge (RFC 6750 §3): an error code only when a bearer
    /// token was actually sent.
    pub fn challenge(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Denial::Missing => "Bearer realm=\"prefect-mcp\"",
            Denial::InvalidToken => "Bearer realm=\"prefect-mcp\", error=\"invalid_token\"",
        })
    }

    /// The JSON-RPC error message: what is missing and how to fix it (never the token).
    pub fn message(self) -> &'static str {
        match self {
            Denial::Missing => {
                "Unauthorized: this MCP server requires an `Authorization: Bearer <token>` header with one of the \
                 access tokens configured in its MCP_ACCESS_TOKENS secret; none was sent. Ask the operator for a \
                 token and add the header to your MCP client configuration"
            }
            Denial::InvalidToken => {
                "Unauthorized: the bearer token sent in the `Authorization` header is not one of the access tokens \
                 configured in this server's MCP_ACCESS_TOKENS secret; check the token in your MCP client \
                 configuration"
            }
        }
    }
}

/// Checks a request against the gate; always passes when no tokens are configured.
pub fn check(headers: &HeaderMap, tokens: &AccessTokens) -> Result<(), Denial> {
    if tokens.is_empty() {
        return Ok(());
    }
    let presented = presented_bearer(headers)?.ok_or(Denial::Missing)?;
    if tokens.contains(presented) { Ok(()) } else { Err(Denial::InvalidToken) }
}

/// The bearer token a request presents: `None` without an `Authorization` header or with
/// another scheme; refused when it is empty or when several `Authorization` headers leave it
/// unclear which one counts.
pub fn presented_bearer(headers: &HeaderMap) -> Result<Option<&str>, Denial> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(Denial::InvalidToken),
        (Some(value), None) => match bearer_token(value.as_bytes()) {
            Some("") => Err(Denial::InvalidToken),
            token => Ok(token),
        },
    }
}

/// What the OAuth layer found out about a `/mcp` request (only on a Worker with OAuth on).
pub struct OAuthCheck {
    /// The protected-resource metadata URL, named in every challenge (RFC 9728 §5.1).
    pub resource_metadata: String,
    pub outcome: OAuthOutcome,
}

pub enum OAuthOutcome {
    /// No bearer token (maybe `X-Prefect-Api-*` headers).
    NoBearer,
    /// One of `MCP_ACCESS_TOKENS`.
    Static,
    /// A live OAuth access token; its grant's own Prefect credentials, or `None` for a team
    /// grant (the Worker secrets).
    Granted(Option<Credentials>),
    /// A bearer token that is neither: unknown, expired, revoked or for another audience.
    Rejected,
}

impl OAuthCheck {
    /// The gate with OAuth on: static tokens and grants pass; header-credential requests are
    /// gated as without OAuth; a request that brings nothing is challenged, so that clients
    /// start the authorization flow. `Ok` carries the grant's credentials, if any.
    pub fn check(&self, headers: &HeaderMap, tokens: &AccessTokens) -> Result<Option<&Credentials>, Denial> {
        match &self.outcome {
            OAuthOutcome::Static => Ok(None),
            OAuthOutcome::Granted(credentials) => Ok(credentials.as_ref()),
            OAuthOutcome::Rejected => Err(Denial::InvalidToken),
            OAuthOutcome::NoBearer => {
                let sends_credentials =
                    [HEADER_API_URL, HEADER_API_KEY, HEADER_AUTH_STRING].iter().any(|h| headers.contains_key(*h));
                if !sends_credentials {
                    return Err(Denial::Missing);
                }
                check(headers, tokens).map(|()| None)
            }
        }
    }

    /// The challenge of `denial` with the metadata URL that starts the OAuth flow.
    pub fn challenge(&self, denial: Denial) -> HeaderValue {
        let base = denial.challenge();
        let text = format!("{}, resource_metadata=\"{}\"", base.to_str().unwrap_or_default(), self.resource_metadata);
        HeaderValue::from_str(&text).unwrap_or(base)
    }

    pub fn message(&self, denial: Denial) -> &'static str {
        match denial {
            Denial::Missing => {
                "Unauthorized: this MCP server uses OAuth. Connect with an MCP client that supports the MCP \
                 authorization flow (it starts from the resource_metadata URL in the WWW-Authenticate header), or \
                 send an access token or your own Prefect credentials in X-Prefect-Api-* headers"
            }
            Denial::InvalidToken => {
                "Unauthorized: the bearer token is unknown, expired or revoked, or was issued for another server; \
                 authorize again (your MCP client starts from the resource_metadata URL in the WWW-Authenticate \
                 header)"
            }
        }
    }
}

/// The token of a `Bearer` credential (RFC 6750 §2.1: the scheme name is
/// case-insensitive, then one or more spaces, then the token). `None` for other schemes;
/// the token is returned exactly as sent, so a token with trailing spaces or anything
/// after it does not match.
pub(super) fn bearer_token(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = &value[6..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None; // e.g. `Bearerx …`: another scheme.
    }
    Some(rest.trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[&str]) -> AccessTokens {
        AccessTokens::new(list.iter().map(|t| t.to_string()).collect())
    }

    fn with_authorization(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

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
    fn no_tokens_means_no_gate() {
        assert_eq!(check(&HeaderMap::new(), &tokens(&[])), Ok(()));
        assert_eq!(check(&HeaderMap::new(), &tokens(&["", ""])), Ok(()));
    }

    #[test]
    fn any_configured_token_opens_the_gate() {
        let configured = tokens(&["alpha-123", "beta-456"]);
        for value in
            ["Bearer alpha-123", "Bearer beta-456", "bearer alpha-123", "BEARER beta-456", "Bearer   alpha-123"]
        {
            assert_eq!(check(&with_authorization(&[value]), &configured), Ok(()), "{value}");
        }
    }

    #[test]
    fn missing_or_foreign_scheme_is_missing() {
        let configured = tokens(&["alpha-123"]);
        assert_eq!(check(&HeaderMap::new(), &configured), Err(Denial::Missing));
        for value in ["Basic alpha-123", "alpha-123", "Bearer-alpha-123", "Beareralpha-123", "Token alpha-123", "Bear"]
        {
            assert_eq!(check(&with_authorization(&[value]), &configured), Err(Denial::Missing), "{value}");
        }
    }

    #[test]
    fn wrong_empty_or_altered_tokens_are_invalid() {
        let configured = tokens(&["alpha-123", "beta-456"]);
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Bearer wrong",
            "Bearer ALPHA-123",
            "Bearer alpha-12",
            "Bearer alpha-1234",
            "Bearer alpha-123 ",
            "Bearer alpha-123 beta-456",
            "Bearer alpha-123,beta-456",
            "Bearer \"alpha-123\"",
        ] {
            assert_eq!(check(&with_authorization(&[value]), &configured), Err(Denial::InvalidToken), "{value:?}");
        }
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let configured = tokens(&["alpha-123"]);
        let headers = with_authorization(&["Bearer wrong", "Bearer alpha-123"]);
        assert_eq!(check(&headers, &configured), Err(Denial::InvalidToken));
    }

    #[test]
    fn non_utf8_header_is_missing_not_a_panic() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap());
        assert_eq!(check(&headers, &tokens(&["alpha-123"])), Err(Denial::Missing));
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(Denial::Missing.challenge(), "Bearer realm=\"prefect-mcp\"");
        assert_eq!(Denial::InvalidToken.challenge(), "Bearer realm=\"prefect-mcp\", error=\"invalid_token\"");
        assert!(Denial::Missing.message().contains("MCP_ACCESS_TOKENS"));
    }

    #[test]
    fn debug_output_hides_tokens() {
        assert_eq!(format!("{:?}", tokens(&["alpha-123", "beta-456"])), "AccessTokens(<2 redacted>)");
    }
}
