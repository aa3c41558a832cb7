//! Unit tests of credential resolution and the header-URL policy.

use super::*;
use crate::settings::{SecretCredentials, UrlPolicy};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    map
}

fn secret_values(url: Option<&str>, key: Option<&str>, auth: Option<&str>) -> SecretCredentials {
    SecretCredentials { api_url: url.map(Into::into), api_key: key.map(Into::into), auth_string: auth.map(Into::into) }
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
    let err = resolve(&headers(&[("x-prefect-api-auth-string", "a:b")]), &secrets(Some("http://x/api"), None, None))
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
    let settings =
        Settings { secrets: secret_values(Some("http://127.0.0.1:4200/api"), None, None), ..secrets(None, None, None) };
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
                matches!(header_url(url, &settings), Err(CredentialError::InvalidUrl { source: Source::Headers, .. })),
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
        text.contains("PREFECT_API_HOSTS") && text.contains("evil.example.com") && text.contains("api.prefect.cloud"),
        "{text}"
    );
    // Suffix and prefix look-alikes are not the listed host.
    refused("https://api.prefect.cloud.evil.example/api", &settings);
    refused("https://xapi.prefect.cloud/api", &settings);
    // The allowlist narrows; it does not lift the private-host rule.
    let settings =
        Settings { url_policy: UrlPolicy { allow_private: false, api_hosts: vec!["localhost".into()] }, ..public() };
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
