//! Per-request Prefect credentials.
//!
//! Callers may bring their own Prefect credentials in `X-Prefect-Api-*` headers; otherwise
//! the Worker's secrets are used. The two sources are never mixed: a secret key or auth
//! string is only ever sent to the secret URL, so a caller cannot point the Worker at a
//! host of their choosing and collect the operator's credentials.
//!
//! Header URLs are also checked against a [`UrlPolicy`] (SSRF guard): `https` to a public
//! host unless the deployment allows private ones, and optionally only listed hosts.
//! Secret credentials are only used when the deployment is gated or explicitly open.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderMap;
use url::{Host, Url};

use crate::settings::{Settings, UrlPolicy};

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
    /// The header URL breaks a rule of the deployment's [`UrlPolicy`].
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
/// [`UrlPolicy`]; otherwise the Worker secrets apply, if the deployment may use them
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

/// The SSRF guard for header URLs (already parsed: http(s), a host, no userinfo). Each
/// reason names the rule and the setting that changes it.
pub(crate) fn check_header_url(url: &Url, policy: &UrlPolicy) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    if !policy.api_hosts.is_empty() && !policy.api_hosts.contains(&host) {
        return Err(format!(
            "host `{host}` is not in this server's PREFECT_API_HOSTS allowlist ({}); use one of those hosts, or ask \
             the operator to add it",
            policy.api_hosts.join(", ")
        ));
    }
    if policy.allow_private {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err(format!(
            "it must use https, not {}; plain http is only accepted when the server sets \
             ALLOW_PRIVATE_PREFECT_URLS=true",
            url.scheme()
        ));
    }
    if let Some(host) = url.host()
        && is_private_host(&host)
    {
        return Err(format!(
            "host `{}` is a loopback, private, link-local or otherwise non-public address; such hosts are only \
             accepted when the server sets ALLOW_PRIVATE_PREFECT_URLS=true",
            url.host_str().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Hosts a public Prefect API never has: loopback, private, link-local (cloud metadata),
/// unspecified, shared, multicast and reserved addresses, and names that are local by
/// definition (`localhost`, `*.localhost`, `*.local`, `*.internal`, single labels). The
/// check is on the host as written; IPv4 written in decimal, hex or octal is normalised
/// by the URL parser first.
fn is_private_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_private_v4(*ip),
        Host::Ipv6(ip) => is_private_v6(*ip),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            !name.contains('.') || [".localhost", ".local", ".internal"].iter().any(|suffix| name.ends_with(suffix))
        }
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 0 // "this network", incl. 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 169 && b == 254) // link-local: cloud metadata at 169.254.169.254
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || a >= 224 // multicast, reserved, broadcast
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, which covers :: and ::1)
    // and NAT64 (64:ff9b::a.b.c.d) addresses reach the embedded IPv4 address.
    if let [0, 0, 0, 0, 0, 0xffff | 0, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] = segments {
        let [.., a, b, c, d] = ip.octets();
        return is_private_v4(Ipv4Addr::new(a, b, c, d));
    }
    (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (segments[0] & 0xff00) == 0xff00 // multicast
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SecretCredentials;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    fn secret_values(url: Option<&str>, key: Option<&str>, auth: Option<&str>) -> SecretCredentials {
        SecretCredentials {
            api_url: url.map(Into::into),
            api_key: key.map(Into::into),
            auth_string: auth.map(Into::into),
        }
    }

    /// A deployment with these secrets that may use them (opted out of the gate) and
    /// accepts private header URLs, like the local-development config.
    fn secrets(url: Option<&str>, key: Option<&str>, auth: Option<&str>) -> Settings {
        Settings {
            secrets: secret_values(url, key, auth),
            allow_unauthenticated: true,
            url_policy: UrlPolicy { allow_private: true, api_hosts: Vec::new() },
            ..Default::default()
        }
    }

    /// A production-like deployment: no secrets, no private URLs.
    fn public() -> Settings {
        Settings::default()
    }

    fn header_url(url: &str, settings: &Settings) -> Result<Credentials, CredentialError> {
        resolve(&headers(&[("x-prefect-api-url", url)]), settings)
    }

    fn refused(url: &str, settings: &Settings) -> String {
        match header_url(url, settings) {
            Err(err @ CredentialError::RefusedUrl { .. }) => err.to_string(),
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn non_text_credential_headers_are_refused_never_read_as_absent() {
        let settings = secrets(Some("http://127.0.0.1:4200/api"), None, Some("user:pass"));
        for (name, shown) in [
            ("x-prefect-api-url", "X-Prefect-Api-Url"),
            ("x-prefect-api-key", "X-Prefect-Api-Key"),
            ("x-prefect-api-auth-string", "X-Prefect-Api-Auth-String"),
        ] {
            let mut map = HeaderMap::new();
            map.insert(name, http::HeaderValue::from_bytes(b"http://x\xe2\x80\xa8y").unwrap());
            let err = resolve(&map, &settings).unwrap_err();
            assert_eq!(err, CredentialError::UnreadableHeader { name: shown });
            assert!(err.to_string().starts_with(&format!("the {shown} header contains characters")), "{err}");
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
            &public(),
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
        let err = resolve(&HeaderMap::new(), &public()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("X-Prefect-Api-Url") && text.contains("PREFECT_API_URL"), "{text}");
    }

    #[test]
    fn rejects_unusable_urls() {
        for bad in ["ftp://host/api", "not a url", "https://user:pw@host/api"] {
            let err = header_url(bad, &public()).unwrap_err();
            assert!(matches!(err, CredentialError::InvalidUrl { source: Source::Headers, .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = format!("{:?}", secret_values(Some("http://x/api"), Some("top-secret"), Some("u:hidden")));
        assert!(!s.contains("top-secret") && !s.contains("hidden"), "{s}");
        assert_eq!(format!("{:?}", Authorization::bearer("top-secret")), "Bearer(<redacted>)");
    }

    #[test]
    fn secrets_are_refused_without_gate_or_opt_out() {
        let mut settings = secrets(Some("http://127.0.0.1:4200/api"), Some("k"), None);
        settings.allow_unauthenticated = false;
        let err = resolve(&HeaderMap::new(), &settings).unwrap_err();
        assert_eq!(err, CredentialError::UngatedSecrets);
        let text = err.to_string();
        assert!(text.contains("MCP_ACCESS_TOKENS") && text.contains("ALLOW_UNAUTHENTICATED=true"), "{text}");

        settings.access_tokens = crate::auth_tokens::AccessTokens::new(vec!["t".into()]);
        assert_eq!(resolve(&HeaderMap::new(), &settings).unwrap().source, Source::Secrets);
    }

    #[test]
    fn header_credentials_need_no_gate() {
        let settings = Settings { secrets: secret_values(Some("http://127.0.0.1:4200/api"), None, None), ..public() };
        let creds = resolve(
            &headers(&[("x-prefect-api-url", "https://prefect.example.com/api"), ("x-prefect-api-key", "pnu_x")]),
            &settings,
        )
        .unwrap();
        assert_eq!(creds.source, Source::Headers);
    }

    #[test]
    fn the_callers_bearer_token_never_becomes_prefect_credentials() {
        let settings = Settings {
            secrets: secret_values(Some("http://127.0.0.1:4200/api"), None, None),
            ..secrets(None, None, None)
        };
        let with_token = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("authorization", "Bearer mcp-access-token")];
            pairs.extend_from_slice(extra);
            resolve(&headers(&pairs), &settings).unwrap()
        };
        assert_eq!(with_token(&[]).authorization, Authorization::None);
        assert_eq!(
            with_token(&[("x-prefect-api-url", "https://prefect.example.com/api")]).authorization,
            Authorization::None
        );
        assert_eq!(
            with_token(&[("x-prefect-api-url", "https://prefect.example.com/api"), ("x-prefect-api-key", "pnu_k")])
                .authorization,
            Authorization::bearer("pnu_k")
        );
    }

    #[test]
    fn public_https_urls_pass() {
        for url in [
            "https://api.prefect.cloud/api/accounts/a/workspaces/w",
            "https://prefect.example.com:8443/api",
            "https://93.184.216.34/api",
            "https://[2606:4700::1111]/api",
            "https://[::ffff:8.8.8.8]/api",
            "https://172.32.0.1/api",
            "https://100.128.0.1/api",
        ] {
            assert_eq!(header_url(url, &public()).unwrap().source, Source::Headers, "{url}");
        }
    }

    #[test]
    fn plain_http_needs_the_private_setting() {
        let text = refused("http://prefect.example.com/api", &public());
        assert!(
            text.contains("X-Prefect-Api-Url")
                && text.contains("https")
                && text.contains("ALLOW_PRIVATE_PREFECT_URLS=true"),
            "{text}"
        );
        assert!(header_url("http://prefect.example.com/api", &secrets(None, None, None)).is_ok());
    }

    #[test]
    fn private_hosts_need_the_private_setting() {
        for url in [
            "https://127.0.0.1/api",
            "https://127.255.255.254/api",
            "https://10.0.0.1/api",
            "https://172.16.0.1/api",
            "https://172.31.255.255/api",
            "https://192.168.1.1/api",
            "https://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/api",
            "https://100.64.0.1/api",
            "https://224.0.0.1/api",
            "https://255.255.255.255/api",
            // Other spellings of 127.0.0.1 and 169.254.169.254 the URL parser normalises.
            "https://2130706433/api",
            "https://0x7f.0.0.1/api",
            "https://0177.0.0.1/api",
            "https://127.1/api",
            "https://0xa9fea9fe/api",
            "https://[::1]/api",
            "https://[::]/api",
            "https://[0:0:0:0:0:0:0:1]/api",
            "https://[fc00::1]/api",
            "https://[fd12:3456::1]/api",
            "https://[fe80::1]/api",
            "https://[febf::1]/api",
            "https://[fec0::1]/api",
            "https://[ff02::1]/api",
            "https://[::ffff:127.0.0.1]/api",
            "https://[::ffff:169.254.169.254]/api",
            "https://[::ffff:a9fe:a9fe]/api",
            "https://[::ffff:10.1.2.3]/api",
            "https://[::127.0.0.1]/api",
            "https://[64:ff9b::a9fe:a9fe]/api",
            "https://localhost/api",
            "https://LOCALHOST./api",
            "https://prefect.localhost/api",
            "https://metadata.google.internal/computeMetadata/v1",
            "https://printer.local/api",
            "https://prefect/api",
        ] {
            let text = refused(url, &public());
            assert!(text.contains("ALLOW_PRIVATE_PREFECT_URLS=true") && text.contains("non-public"), "{url}: {text}");
            assert!(header_url(url, &secrets(None, None, None)).is_ok(), "{url} with private URLs allowed");
        }
    }

    #[test]
    fn userinfo_and_other_schemes_are_always_refused() {
        for url in [
            "https://user:pw@prefect.example.com/api",
            "https://user@prefect.example.com/api",
            "http://user:pw@127.0.0.1/api",
        ] {
            for settings in [public(), secrets(None, None, None)] {
                let err = header_url(url, &settings).unwrap_err();
                assert!(err.to_string().contains("user name or password"), "{url}: {err}");
            }
        }
        for url in [
            "file:///etc/passwd",
            "ftp://prefect.example.com/api",
            "gopher://127.0.0.1:6379/_x",
            "data:text/plain,x",
            "javascript:alert(1)",
        ] {
            for settings in [public(), secrets(None, None, None)] {
                assert!(
                    matches!(
                        header_url(url, &settings),
                        Err(CredentialError::InvalidUrl { source: Source::Headers, .. })
                    ),
                    "{url}"
                );
            }
        }
    }

    #[test]
    fn allowlist_limits_header_hosts() {
        let policy = UrlPolicy { allow_private: false, api_hosts: vec!["api.prefect.cloud".into()] };
        let settings = Settings { url_policy: policy, ..public() };
        assert!(header_url("https://API.Prefect.Cloud./api/accounts/a/workspaces/w", &settings).is_ok());
        let text = refused("https://evil.example.com/api", &settings);
        assert!(
            text.contains("PREFECT_API_HOSTS")
                && text.contains("evil.example.com")
                && text.contains("api.prefect.cloud"),
            "{text}"
        );
        // Suffix and prefix look-alikes are not the listed host.
        refused("https://api.prefect.cloud.evil.example/api", &settings);
        refused("https://xapi.prefect.cloud/api", &settings);
        // The allowlist narrows; it does not lift the private-host rule.
        let settings = Settings {
            url_policy: UrlPolicy { allow_private: false, api_hosts: vec!["localhost".into()] },
            ..public()
        };
        assert!(refused("https://localhost/api", &settings).contains("ALLOW_PRIVATE_PREFECT_URLS"));
    }

    #[test]
    fn the_secret_url_is_exempt_from_the_header_rules() {
        let settings = Settings {
            secrets: secret_values(Some("http://127.0.0.1:4200/api"), None, Some("a:b")),
            allow_unauthenticated: true,
            url_policy: UrlPolicy { allow_private: false, api_hosts: vec!["api.prefect.cloud".into()] },
            ..Default::default()
        };
        let creds = resolve(&HeaderMap::new(), &settings).unwrap();
        assert_eq!(creds.api_url.as_str(), "http://127.0.0.1:4200/api");
        assert_eq!(creds.source, Source::Secrets);
    }
}
