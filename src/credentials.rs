//! Per-request Prefect credentials.
//!
//! Callers may bring their own Prefect credentials in `X-Prefect-Api-*` headers; otherwise
//! the Worker's secrets are used. The two sources are never mixed: a secret key or auth
//! string is only ever sent to the secret URL, so a caller cannot point the Worker at a
//! host of their choosing and collect the operator's credentials.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderMap;
use url::Url;

pub const HEADER_API_URL: &str = "x-prefect-api-url";
pub const HEADER_API_KEY: &str = "x-prefect-api-key";
pub const HEADER_AUTH_STRING: &str = "x-prefect-api-auth-string";

/// Prefect credentials configured as Worker secrets.
#[derive(Clone, Default)]
pub struct SecretCredentials {
    pub api_url: Option<String>,
    pub api_key: Option<String>,
    pub auth_string: Option<String>,
}

impl fmt::Debug for SecretCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCredentials")
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("auth_string", &self.auth_string.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where the credentials of a request came from; error messages name the right knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Headers,
    Secrets,
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
                };
                write!(f, "{knob} is not a usable Prefect API URL: {reason}")
            }
        }
    }
}

impl std::error::Error for CredentialError {}

/// Picks the credentials for one request: any `X-Prefect-Api-*` header switches to header
/// mode, where only header values are used; otherwise the Worker secrets apply.
pub fn resolve(headers: &HeaderMap, secrets: &SecretCredentials) -> Result<Credentials, CredentialError> {
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
        return Ok(Credentials {
            api_url: parse_api_url(url, Source::Headers)?,
            authorization,
            source: Source::Headers,
        });
    }

    let Some(url) = secrets.api_url.as_deref() else {
        return Err(CredentialError::NotConfigured);
    };
    // Secret mode follows Prefect's own settings precedence: the auth string wins.
    let authorization = match (&secrets.auth_string, &secrets.api_key) {
        (Some(auth), _) => Authorization::basic(auth),
        (None, Some(key)) => Authorization::bearer(key),
        (None, None) => Authorization::None,
    };
    Ok(Credentials { api_url: parse_api_url(url, Source::Secrets)?, authorization, source: Source::Secrets })
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
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    fn secrets(url: Option<&str>, key: Option<&str>, auth: Option<&str>) -> SecretCredentials {
        SecretCredentials {
            api_url: url.map(Into::into),
            api_key: key.map(Into::into),
            auth_string: auth.map(Into::into),
        }
    }

    #[test]
    fn secrets_prefer_auth_string_over_key() {
        let creds =
            resolve(&HeaderMap::new(), &secrets(Some("http://127.0.0.1:4200/api/"), Some("k"), Some("alice:pa:ss")))
                .unwrap();
        assert_eq!(creds.api_url.as_str(), "http://127.0.0.1:4200/api");
        assert_eq!(creds.authorization.header_value().unwrap(), "Basic YWxpY2U6cGE6c3M=");
        assert_eq!(creds.source, Source::Secrets);
    }

    #[test]
    fn headers_prefer_key_and_are_case_insensitive() {
        let creds = resolve(
            &headers(&[
                ("X-PREFECT-API-URL", "https://example.com/api"),
                ("x-prefect-api-key", "pnu_abc"),
                ("X-Prefect-Api-Auth-String", "u:p"),
            ]),
            &SecretCredentials::default(),
        )
        .unwrap();
        assert_eq!(creds.authorization.header_value().unwrap(), "Bearer pnu_abc");
        assert_eq!(creds.source, Source::Headers);
    }

    #[test]
    fn header_url_never_receives_secret_credentials() {
        let creds = resolve(
            &headers(&[("x-prefect-api-url", "http://attacker.example/api")]),
            &secrets(Some("http://127.0.0.1:4200/api"), Some("secret-key"), Some("a:b")),
        )
        .unwrap();
        assert_eq!(creds.authorization, Authorization::None);
        assert_eq!(creds.api_url.host_str(), Some("attacker.example"));
    }

    #[test]
    fn credential_headers_without_url_name_the_missing_header() {
        let err =
            resolve(&headers(&[("x-prefect-api-auth-string", "a:b")]), &secrets(Some("http://x/api"), None, None))
                .unwrap_err();
        assert_eq!(err, CredentialError::MissingUrlHeader { sent: "X-Prefect-Api-Auth-String" });
        assert!(err.to_string().contains("X-Prefect-Api-Url header is required"));
    }

    #[test]
    fn nothing_configured_names_header_and_secret() {
        let err = resolve(&HeaderMap::new(), &SecretCredentials::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("X-Prefect-Api-Url") && text.contains("PREFECT_API_URL"), "{text}");
    }

    #[test]
    fn rejects_unusable_urls() {
        for bad in ["ftp://host/api", "not a url", "https://user:pw@host/api"] {
            let err = resolve(&headers(&[("x-prefect-api-url", bad)]), &SecretCredentials::default()).unwrap_err();
            assert!(matches!(err, CredentialError::InvalidUrl { source: Source::Headers, .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = format!("{:?}", secrets(Some("http://x/api"), Some("top-secret"), Some("u:hidden")));
        assert!(!s.contains("top-secret") && !s.contains("hidden"), "{s}");
        assert_eq!(format!("{:?}", Authorization::bearer("top-secret")), "Bearer(<redacted>)");
    }
}
