//! The access gate: when `MCP_ACCESS_TOKENS` is set, every `/mcp` request (except CORS
//! preflights) must carry `Authorization: Bearer <one of them>`.
//!
//! This bearer token only opens the MCP endpoint. It is never forwarded to Prefect: Prefect
//! credentials come from the `X-Prefect-Api-*` headers or the Worker's secrets.

use http::{HeaderMap, HeaderValue, header};

use crate::credentials::{Credentials, HEADER_API_KEY, HEADER_API_URL, HEADER_AUTH_STRING};

use crate::auth_tokens::AccessTokens;

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

/// How a request that passed the gate was let in, for the log line.
pub fn auth_kind(headers: &HeaderMap, tokens: &AccessTokens, oauth: Option<&OAuthCheck>) -> &'static str {
    let static_token = match oauth {
        Some(check) if matches!(check.outcome, OAuthOutcome::Granted(_)) => return "oauth",
        Some(check) => matches!(check.outcome, OAuthOutcome::Static),
        None => !tokens.is_empty(),
    };
    if static_token {
        "static"
    } else if [HEADER_API_URL, HEADER_API_KEY, HEADER_AUTH_STRING].iter().any(|h| headers.contains_key(*h)) {
        "headers"
    } else {
        "none"
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
}
