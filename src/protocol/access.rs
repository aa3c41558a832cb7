//! The access gate: when `MCP_ACCESS_TOKENS` is set, every `/mcp` request (except CORS
//! preflights) must carry `Authorization: Bearer <one of them>`.
//!
//! This bearer token only opens the MCP endpoint. It is never forwarded to Prefect: Prefect
//! credentials come from the `X-Prefect-Api-*` headers or the Worker's secrets.

use http::{HeaderMap, HeaderValue, header};

use crate::auth_tokens::AccessTokens;
use crate::credentials::{CredentialError, Credentials, HEADER_API_KEY, HEADER_API_URL, HEADER_AUTH_STRING, Source};
use crate::crypto;
use crate::settings::Settings;
use crate::tools::actions::{Writer, WritesDenied};

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

/// What an OAuth access token stands for.
#[derive(Debug, Clone)]
pub struct GrantedAccess {
    /// The grant's id: names the caller in audit records (not a secret).
    pub id: String,
    /// The grant's own Prefect credentials, or `None` for a team grant (the Worker secrets).
    pub credentials: Option<Credentials>,
    /// Whether the consent included `prefect:write`.
    pub writes: bool,
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
    /// A live OAuth access token, and what its grant allows.
    Granted(GrantedAccess),
    /// A bearer token that is neither: unknown, expired, revoked or for another audience.
    Rejected,
}

impl OAuthCheck {
    /// The gate with OAuth on: static tokens and grants pass; header-credential requests are
    /// gated as without OAuth; a request that brings nothing is challenged, so that clients
    /// start the authorization flow. `Ok` carries the grant, if any.
    pub fn check(&self, headers: &HeaderMap, tokens: &AccessTokens) -> Result<Option<&GrantedAccess>, Denial> {
        match &self.outcome {
            OAuthOutcome::Static => Ok(None),
            OAuthOutcome::Granted(grant) => Ok(Some(grant)),
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

/// Whether this request may use the action tools, and as whom: only with `ALLOW_WRITES=true`,
/// and then callers who bring their own Prefect credentials (X-Prefect-Api-* headers: Prefect
/// itself decides what they may do), holders of an `MCP_WRITE_TOKENS` token, and OAuth
/// grants whose consent included `prefect:write`. Their confirmation keys depend on their
/// Prefect credentials, their own secret and the Worker's secrets.
pub fn writer(
    headers: &HeaderMap,
    settings: &Settings,
    grant: Option<&GrantedAccess>,
    credentials: &Result<Credentials, CredentialError>,
) -> Result<Writer, WritesDenied> {
    if !settings.allow_writes {
        return Err(WritesDenied::Disabled);
    }
    let credentials = credentials.as_ref().map_err(|_| WritesDenied::ReadOnlyCaller)?;
    let authorization = credentials.authorization.header_value().unwrap_or_default();
    let prefect = [credentials.api_url.as_str(), "\0", &authorization].concat();
    let (id, own_secret) = match (credentials.source, grant) {
        (Source::Headers, _) => (format!("headers:{}", &crypto::sha256_hex(&prefect)[..12]), String::new()),
        (_, Some(grant)) if grant.writes => (format!("grant:{}", grant.id), grant.id.clone()),
        (Source::Secrets, None) => match presented_bearer(headers) {
            Ok(Some(token)) if settings.write_tokens.contains(token) => {
                (format!("token:{}", &crypto::sha256_hex(token)[..12]), token.to_owned())
            }
            _ => return Err(WritesDenied::ReadOnlyCaller),
        },
        _ => return Err(WritesDenied::ReadOnlyCaller),
    };
    Ok(Writer::new(id, &[own_secret.as_bytes(), prefect.as_bytes(), &settings.secret_material()]))
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

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    /// Who may write, as `writer` decides it from the request and the resolved credentials.
    fn writer_of(
        settings: &Settings,
        headers: &HeaderMap,
        grant: Option<&GrantedAccess>,
    ) -> Result<String, WritesDenied> {
        let credentials = match grant.and_then(|g| g.credentials.clone()) {
            Some(granted) if !headers.contains_key(HEADER_API_URL) => Ok(granted),
            _ => crate::credentials::resolve(headers, settings),
        };
        writer(headers, settings, grant, &credentials).map(|w| w.id().to_owned())
    }

    #[test]
    fn writers_are_header_callers_write_token_holders_and_write_grants() {
        let secrets = [
            ("PREFECT_API_URL", "http://127.0.0.1:4200/api"),
            ("PREFECT_API_KEY", "pnu_worker"),
            ("MCP_ACCESS_TOKENS", "read-tok"),
            ("MCP_WRITE_TOKENS", "write-tok"),
            ("ALLOW_PRIVATE_PREFECT_URLS", "true"),
        ];
        let on = settings(&[secrets.as_slice(), &[("ALLOW_WRITES", "true")]].concat());
        let off = settings(&secrets);
        let mut own = with_authorization(&["Bearer read-tok"]);
        own.insert(HEADER_API_URL, HeaderValue::from_static("http://127.0.0.1:4300/api"));
        own.insert(HEADER_API_KEY, HeaderValue::from_static("pnu_mine"));

        assert!(writer_of(&on, &own, None).unwrap().starts_with("headers:"));
        let token = writer_of(&on, &with_authorization(&["Bearer write-tok"]), None).unwrap();
        assert_eq!(token, format!("token:{}", &crypto::sha256_hex("write-tok")[..12]));
        assert_eq!(writer_of(&on, &with_authorization(&["Bearer read-tok"]), None), Err(WritesDenied::ReadOnlyCaller));
        // ALLOW_UNAUTHENTICATED opens the Worker's secrets to reads only.
        let open = settings(&[
            ("PREFECT_API_URL", "http://127.0.0.1:4200/api"),
            ("ALLOW_UNAUTHENTICATED", "true"),
            ("ALLOW_WRITES", "true"),
        ]);
        assert_eq!(writer_of(&open, &HeaderMap::new(), None), Err(WritesDenied::ReadOnlyCaller));
        for headers in [own.clone(), with_authorization(&["Bearer write-tok"])] {
            assert_eq!(writer_of(&off, &headers, None), Err(WritesDenied::Disabled));
        }
        // A write token is also an access token: it opens the gate.
        assert!(check(&with_authorization(&["Bearer write-tok"]), &on.access_tokens).is_ok());

        let grant = |writes: bool| GrantedAccess { id: "g1".into(), credentials: None, writes };
        let bearer = with_authorization(&["Bearer oauth-token"]);
        assert_eq!(writer_of(&on, &bearer, Some(&grant(true))), Ok("grant:g1".to_owned()));
        assert_eq!(writer_of(&on, &bearer, Some(&grant(false))), Err(WritesDenied::ReadOnlyCaller));
    }

    #[test]
    fn confirmation_keys_differ_between_callers_and_workers() {
        let make = |worker_key: &str, caller: &str| {
            let settings = settings(&[
                ("PREFECT_API_URL", "http://127.0.0.1:4200/api"),
                ("PREFECT_API_KEY", worker_key),
                ("MCP_WRITE_TOKENS", "tok-a,tok-b"),
                ("ALLOW_WRITES", "true"),
            ]);
            let headers = with_authorization(&[&format!("Bearer {caller}")]);
            let credentials = crate::credentials::resolve(&headers, &settings);
            writer(&headers, &settings, None, &credentials).unwrap()
        };
        let token = |w: &Writer| crate::tools::actions::confirm::issue(w, "t", "a", crate::clock::now()).0;
        let issued = token(&make("k1", "tok-a"));
        let now = crate::clock::now();
        assert!(crate::tools::actions::confirm::check(&make("k1", "tok-a"), "t", "a", &issued, now).is_ok());
        assert!(crate::tools::actions::confirm::check(&make("k1", "tok-b"), "t", "a", &issued, now).is_err());
        assert!(crate::tools::actions::confirm::check(&make("k2", "tok-a"), "t", "a", &issued, now).is_err());
    }
}
