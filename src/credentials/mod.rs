//! Per-request Prefect credentials.
//!
//! Callers may bring their own Prefect credentials in `X-Prefect-Api-*` headers; otherwise
//! the Worker's secrets are used. The two sources are never mixed: a secret key or auth
//! string is only ever sent to the secret URL, so a caller cannot point the Worker at a
//! host of their choosing and collect the operator's credentials.
//!
//! Header URLs are also checked against a [`UrlPolicy`](crate::settings::UrlPolicy) (SSRF guard): `https` to a public
//! host unless the deployment allows private ones, and optionally only listed hosts.
//! Secret credentials are only used when the deployment is gated or explicitly open.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderMap;
use url::Url;

use crate::settings::Settings;

mod url_policy;
pub(crate) use url_policy::check_header_url;

pub const HEADER_API_URL: &str = "x-prefect-api-url";
pub const HEADER_API_KEY: &str = "x-prefect-api-key";
pub const HEADER_AUTH_STRING: &str = "x-prefect-api-auth-string";

/// Where the credentials of a request came from; error messages name the right knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Headers,
    Secrets,
    /// Entered on the OAuth consent page and stored (encrypted) with the grant.
    Grant,
}

/// The `Authorization` header value sent to Prefect, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub enum Authorization {
    None,
    Bearer(String),
    /// Already encoded `base64(user:password)`.
    Basic(String),
}

impl Authorization {
    pub(crate) fn bearer(key: &str) -> Self {
        Authorization::Bearer(key.to_owned())
    }

    /// Prefect's auth string is `user:password`; the user ends at the first colon and
    /// the password keeps any further colons, which is exactly what Basic auth encodes.
    pub(crate) fn basic(auth_string: &str) -> Self {
        Authorization::Basic(BASE64.encode(auth_string))
    }

    pub fn header_value(&self) -> Option<String> {
        match self {
            Authorization::None => None,
            Authorization::Bearer(key) => Some(format!("Bearer {key}")),
            Authorization::Basic(encoded) => Some(format!("Basic {encoded}")),
        }
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Authorization::None => "None",
            Authorization::Bearer(_) => "Bearer(<redacted>)",
            Authorization::Basic(_) => "Basic(<redacted>)",
        })
    }
}

/// Resolved credentials for one request.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The workspace API URL without a trailing slash, e.g. `http://127.0.0.1:4200/api`.
    pub api_url: Url,
    pub authorization: Authorization,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// Header credentials were sent without `X-Prefect-Api-Url`.
    MissingUrlHeader {
        sent: &'static str,
    },
    /// No headers and no `PREFECT_API_URL` secret.
    NotConfigured,
    InvalidUrl {
        source: Source,
        reason: String,
    },
    /// The header URL breaks a rule of the deployment's [`UrlPolicy`](crate::settings::UrlPolicy).
    RefusedUrl {
        reason: String,
    },
    /// Secret mode on a deployment without access tokens and without the explicit opt-out.
    UngatedSecrets,
    /// An `X-Prefect-Api-*` header whose value is not text: refused, never read as absent
    /// (which would fall back to the Worker secrets).
    UnreadableHeader {
        name: &'static str,
    },
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::MissingUrlHeader { sent } => write!(
                f,
                "the X-Prefect-Api-Url header is required when {sent} is sent; add it with your \
                 Prefect API URL (e.g. https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace> \
                 or http://<host>:4200/api)"
            ),
            CredentialError::NotConfigured => f.write_str(
                "no Prefect API configured: send the X-Prefect-Api-Url header (plus X-Prefect-Api-Key \
                 or X-Prefect-Api-Auth-String when the server needs auth), or set the PREFECT_API_URL \
                 secret on the Worker",
            ),
            CredentialError::InvalidUrl { source, reason } => {
                let knob = match source {
                    Source::Headers => "the X-Prefect-Api-Url header",
                    Source::Secrets => "the PREFECT_API_URL secret",
                    Source::Grant => "the Prefect API URL saved with this OAuth authorization",
                };
                write!(f, "{knob} is not a usable Prefect API URL: {reason}")
            }
            CredentialError::RefusedUrl { reason } => write!(f, "the X-Prefect-Api-Url header is refused: {reason}"),
            CredentialError::UnreadableHeader { name } => write!(
                f,
                "the {name} header contains characters other than visible ASCII; send it as plain text (a host \
                 name with non-ASCII letters in its xn-- form)"
            ),
            CredentialError::UngatedSecrets => f.write_str(
                "this server holds Prefect credentials in its Worker secrets but has no access control, so anyone \
                 who knows its URL could use them; they are not used until the operator either sets the \
                 MCP_ACCESS_TOKENS secret (clients then send `Authorization: Bearer <token>`) or sets \
                 ALLOW_UNAUTHENTICATED=true for a deployment that is private by other means. Alternatively send \
                 your own Prefect credentials in the X-Prefect-Api-Url and X-Prefect-Api-Key (or \
                 X-Prefect-Api-Auth-String) headers",
            ),
        }
    }
}

impl std::error::Error for CredentialError {}

/// Picks the credentials for one request: any `X-Prefect-Api-*` header switches to header
/// mode, where only header values are used and the URL must pass the deployment's
/// [`UrlPolicy`](crate::settings::UrlPolicy); otherwise the Worker secrets apply, if the deployment may use them
/// ([`Settings::secrets_usable`]). The caller's own `Authorization` header (the MCP access
/// token) is never read here, so it never reaches Prefect.
pub fn resolve(headers: &HeaderMap, settings: &Settings) -> Result<Credentials, CredentialError> {
    for (name, shown) in [
        (HEADER_API_URL, "X-Prefect-Api-Url"),
        (HEADER_API_KEY, "X-Prefect-Api-Key"),
        (HEADER_AUTH_STRING, "X-Prefect-Api-Auth-String"),
    ] {
        if headers.get_all(name).iter().any(|v| v.to_str().is_err()) {
            return Err(CredentialError::UnreadableHeader { name: shown });
        }
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let (url, key, auth_string) = (header(HEADER_API_URL), header(HEADER_API_KEY), header(HEADER_AUTH_STRING));

    if url.is_some() || key.is_some() || auth_string.is_some() {
        let Some(url) = url else {
            let sent = if key.is_some() { "X-Prefect-Api-Key" } else { "X-Prefect-Api-Auth-String" };
            return Err(CredentialError::MissingUrlHeader { sent });
        };
        // Header mode mirrors the Prefect client's precedence for explicit settings:
        // an API key wins over an auth string.
        let authorization = match (key, auth_string) {
            (Some(key), _) => Authorization::bearer(key),
            (None, Some(auth)) => Authorization::basic(auth),
            (None, None) => Authorization::None,
        };
        let api_url = parse_api_url(url, Source::Headers)?;
        check_header_url(&api_url, &settings.url_policy).map_err(|reason| CredentialError::RefusedUrl { reason })?;
        return Ok(Credentials { api_url, authorization, source: Source::Headers });
    }

    let secrets = &settings.secrets;
    let Some(url) = secrets.api_url.as_deref() else {
        return Err(CredentialError::NotConfigured);
    };
    if !settings.secrets_usable() {
        return Err(CredentialError::UngatedSecrets);
    }
    // Secret mode follows Prefect's own settings precedence: the auth string wins.
    let authorization = match (&secrets.auth_string, &secrets.api_key) {
        (Some(auth), _) => Authorization::basic(auth),
        (None, Some(key)) => Authorization::bearer(key),
        (None, None) => Authorization::None,
    };
    Ok(Credentials { api_url: parse_api_url(url, Source::Secrets)?, authorization, source: Source::Secrets })
}

/// [`resolve`] for a request authorized by an OAuth grant that carries its own Prefect
/// credentials: they stand in for the Worker secrets, and `X-Prefect-Api-*` headers still
/// take precedence, as they do over the secrets.
pub fn resolve_granted(
    headers: &HeaderMap,
    settings: &Settings,
    granted: Option<&Credentials>,
) -> Result<Credentials, CredentialError> {
    let sends_headers = [HEADER_API_URL, HEADER_API_KEY, HEADER_AUTH_STRING].iter().any(|h| headers.contains_key(*h));
    match granted {
        Some(credentials) if !sends_headers => Ok(credentials.clone()),
        _ => resolve(headers, settings),
    }
}

fn parse_api_url(raw: &str, source: Source) -> Result<Url, CredentialError> {
    let invalid = |reason: String| CredentialError::InvalidUrl { source, reason };
    let mut url = Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("scheme `{}` is not http or https", url.scheme())));
    }
    if url.host_str().is_none() {
        return Err(invalid("it has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it must not contain a user name or password; send credentials in their own header".into(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

#[cfg(test)]
mod tests;
