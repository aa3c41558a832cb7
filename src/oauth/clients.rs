//! OAuth clients: dynamic registration (RFC 7591), Client ID Metadata Documents (an https
//! URL as `client_id`, fetched under the same SSRF rules as `X-Prefect-Api-Url`), redirect
//! URI matching and client authentication at the token endpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::{Host, Url};

use super::store::{Store, StoreError};
use super::{OAuth, SCOPES, TokenError, json_response};
use crate::credentials::check_header_url;
use crate::crypto;
use crate::protocol::Response;
use crate::upstream::{Fetch, UpstreamRequest};

/// Registered clients are dropped after a year; the client registers again.
const CLIENT_TTL_S: u64 = 365 * 24 * 3600;
/// A fetched metadata document is reused this long.
const METADATA_DOCUMENT_TTL_S: u64 = 600;
pub const METADATA_DOCUMENT_MAX_BYTES: usize = 5 * 1024;
const METADATA_DOCUMENT_TIMEOUT_MS: u32 = 5_000;
const MAX_REDIRECT_URIS: usize = 10;
/// Longer client_id URLs are refused before any fetch.
const MAX_METADATA_URL: usize = 2048;
const MAX_TEXT_FIELD: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    /// `none` (public), `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: String,
    pub secret_hash: Option<String>,
    /// Whether the client id is a metadata document URL.
    pub metadata_document: bool,
}

impl Client {
    fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == "none"
    }

    /// The name to show on the consent page: the client's own, marked as self-declared.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }

    /// Exact match, except that loopback redirect URIs match on any port (RFC 8252 §7.3):
    /// native apps listen on whatever port is free.
    pub fn allows_redirect(&self, presented: &str) -> bool {
        self.redirect_uris.iter().any(|registered| registered == presented || loopback_match(registered, presented))
    }
}

fn loopback_match(registered: &str, presented: &str) -> bool {
    let (Ok(mut a), Ok(mut b)) = (Url::parse(registered), Url::parse(presented)) else { return false };
    if a.scheme() != "http" || !is_loopback(&a) || !is_loopback(&b) {
        return false;
    }
    // `localhost` and 127.0.0.1 are different hosts to the browser; only the port is free.
    let _ = a.set_port(None);
    let _ = b.set_port(None);
    a == b
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A redirect URI a client may register: absolute, no fragment, no credentials, and https, a
/// loopback http URL, or a private-use scheme of a native app (`cursor://…`). Schemes that
/// run or read something in the browser are refused.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("redirect URI `{uri}` is not an absolute URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI `{uri}` has a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("redirect URI `{uri}` contains credentials"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!("redirect URI `{uri}` uses http on a non-loopback host; use https")),
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss" => {
            Err(format!("redirect URI `{uri}` has a scheme that cannot receive a code"))
        }
        _ => Ok(()),
    }
}

fn client_key(id: &str) -> String {
    format!("client:{id}")
}

/// Why a client could not be used at `/authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    Unknown,
    /// The metadata document could not be fetched or is not acceptable.
    BadMetadataDocument(String),
    Storage,
}

impl From<StoreError> for ClientError {
    fn from(_: StoreError) -> Self {
        ClientError::Storage
    }
}

/// The RFC 7591 request fields this server uses.
#[derive(Debug, Deserialize)]
struct Registration {
    redirect_uris: Option<Vec<String>>,
    client_name: Option<String>,
    client_uri: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
}

/// Checks registration (or metadata document) fields and builds the client.
fn client_from(registration: Registration, client_id: String, metadata_document: bool) -> Result<Client, TokenError> {
    let redirect_uris = registration.redirect_uris.filter(|uris| !uris.is_empty()).ok_or_else(|| {
        TokenError::new("invalid_redirect_uri", "redirect_uris is required: a list of at least one URI")
    })?;
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(TokenError::new("invalid_redirect_uri", "at most 10 redirect_uris"));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri).map_err(|reason| TokenError::new("invalid_redirect_uri", &reason))?;
    }
    let method = registration.token_endpoint_auth_method.unwrap_or_else(|| {
        // RFC 7591's default; a metadata document has no secret to use.
        if metadata_document { "none" } else { "client_secret_basic" }.to_owned()
    });
    let allowed: &[&str] =
        if metadata_document { &["none"] } else { &["none", "client_secret_basic", "client_secret_post"] };
    if !allowed.contains(&method.as_str()) {
        return Err(TokenError::new(
            "invalid_client_metadata",
            &format!("token_endpoint_auth_method `{method}` is not supported; use one of {}", allowed.join(", ")),
        ));
    }
    let invalid = |field: &str, value: &str| {
        TokenError::new("invalid_client_metadata", &format!("{field} `{value}` is not supported by this server"))
    };
    for grant_type in registration.grant_types.iter().flatten() {
        if !["authorization_code", "refresh_token"].contains(&grant_type.as_str()) {
            return Err(invalid("grant type", grant_type));
        }
    }
    for response_type in registration.response_types.iter().flatten() {
        if response_type != "code" {
            return Err(invalid("response type", response_type));
        }
    }
    for scope in registration.scope.iter().flat_map(|s| s.split_whitespace()) {
        if !SCOPES.contains(&scope) {
            return Err(invalid("scope", scope));
        }
    }
    let short = |text: Option<String>| text.map(|t| t.chars().take(MAX_TEXT_FIELD).collect::<String>());
    Ok(Client {
        client_id,
        client_name: short(registration.client_name),
        client_uri: short(registration.client_uri),
        redirect_uris,
        token_endpoint_auth_method: method,
        secret_hash: None,
        metadata_document,
    })
}

impl<F: Fetch, S: Store> OAuth<'_, F, S> {
    /// `POST /register`.
    pub async fn register(&self, body: &[u8]) -> Response {
        let registration: Registration = match serde_json::from_slice(body) {
            Ok(registration) => registration,
            Err(e) => {
                return TokenError::new(
                    "invalid_client_metadata",
                    &format!("the body is not client metadata JSON: {e}"),
                )
                .response();
            }
        };
        let mut client = match client_from(registration, crypto::random_id(), false) {
            Ok(client) => client,
            Err(error) => return error.response(),
        };
        let secret = (!client.is_public()).then(crypto::random_secret);
        client.secret_hash = secret.as_deref().map(crypto::sha256_hex);
        let stored = serde_json::to_string(&client).expect("clients serialise");
        if let Err(e) = self.store.put(&client_key(&client.client_id), &stored, Some(CLIENT_TTL_S)).await {
            return TokenError::from(e).response();
        }
        let mut answer = json!({
            "client_id": client.client_id,
            "client_id_issued_at": self.now,
            "redirect_uris": client.redirect_uris,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        });
        if let Some(name) = &client.client_name {
            answer["client_name"] = json!(name);
        }
        if let Some(secret) = secret {
            answer["client_secret"] = json!(secret);
            answer["client_secret_expires_at"] = json!(0);
        }
        json_response(StatusCode::CREATED, &answer)
    }

    /// The client named by `client_id`: a registered one, or the metadata document at that URL.
    pub async fn client(&self, client_id: &str) -> Result<Client, ClientError> {
        if client_id.starts_with("https://") || client_id.starts_with("http://") {
            if client_id.len() > MAX_METADATA_URL {
                return Err(ClientError::BadMetadataDocument(format!(
                    "the client_id URL is over {MAX_METADATA_URL} bytes"
                )));
            }
            return self.metadata_document_client(client_id).await;
        }
        // Ids this server issues are 22 base64url characters; anything else is unknown without
        // a look-up (KV also refuses keys over 512 bytes).
        let plausible =
            client_id.len() <= 64 && client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plausible {
            return Err(ClientError::Unknown);
        }
        let stored = self.store.get(&client_key(client_id)).await?;
        stored.and_then(|text| serde_json::from_str(&text).ok()).ok_or(ClientError::Unknown)
    }

    async fn metadata_document_client(&self, client_id: &str) -> Result<Client, ClientError> {
        let refuse = |reason: String| ClientError::BadMetadataDocument(reason);
        let url = Url::parse(client_id).map_err(|e| refuse(format!("the client_id is not a URL: {e}")))?;
        if url.path() == "/" || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("a client_id URL needs a path and no fragment or credentials".into()));
        }
        check_header_url(&url, &self.settings.url_policy).map_err(|reason| refuse(metadata_url_reason(&reason)))?;
        let cache_key = format!("cimd:{}", crypto::sha256_hex(client_id));
        if let Some(client) = self.store.get(&cache_key).await?.and_then(|text| serde_json::from_str(&text).ok()) {
            return Ok(client);
        }
        let request: UpstreamRequest = http::Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(header::ACCEPT, "application/json")
            .body(None)
            .map_err(|e| refuse(e.to_string()))?;
        let response = self
            .fetch
            .fetch(request, METADATA_DOCUMENT_TIMEOUT_MS)
            .await
            .map_err(|e| refuse(format!("fetching it failed: {e}")))?;
        if response.status() != StatusCode::OK {
            return Err(refuse(format!(
                "fetching it answered HTTP {} (redirects are not followed)",
                response.status().as_u16()
            )));
        }
        if response.body().len() > METADATA_DOCUMENT_MAX_BYTES {
            return Err(refuse(format!("the document is larger than {METADATA_DOCUMENT_MAX_BYTES} bytes")));
        }
        let document: Value =
            serde_json::from_slice(response.body()).map_err(|e| refuse(format!("the document is not JSON: {e}")))?;
        if document.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(refuse("the document's client_id is not its own URL".into()));
        }
        let registration: Registration = serde_json::from_value(document)
            .map_err(|e| refuse(format!("the document is not client metadata: {e}")))?;
        let client = client_from(registration, client_id.to_owned(), true).map_err(|e| refuse(e.description))?;
        let stored = serde_json::to_string(&client).expect("clients serialise");
        self.store.put(&cache_key, &stored, Some(METADATA_DOCUMENT_TTL_S)).await?;
        Ok(client)
    }

    /// Client authentication at `/token` and `/revoke`: a public client names itself with
    /// `client_id`; a confidential one proves its secret with HTTP Basic or in the body.
    pub async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        fields: &[(String, String)],
    ) -> Result<Client, TokenError> {
        let invalid_client = |text: &str| TokenError::new("invalid_client", text);
        let basic = match headers.get(header::AUTHORIZATION) {
            Some(value) => Some(basic_credentials(value.as_bytes()).ok_or_else(|| {
                invalid_client("unreadable Authorization header; use HTTP Basic with the client id and secret")
            })?),
            None => None,
        };
        let body_id = super::field(fields, "client_id");
        let body_secret = super::field(fields, "client_secret");
        let (client_id, secret, method) = match (&basic, body_id, body_secret) {
            (Some((id, secret)), None, None) => (id.as_str(), Some(secret.as_str()), "client_secret_basic"),
            (Some((id, secret)), Some(body), None) if body == id => {
                (id.as_str(), Some(secret.as_str()), "client_secret_basic")
            }
            (None, Some(id), Some(secret)) => (id, Some(secret), "client_secret_post"),
            (None, Some(id), None) => (id, None, "none"),
            (None, None, _) => return Err(invalid_client("client_id is missing")),
            _ => return Err(TokenError::invalid_request("use one client authentication method")),
        };
        let client = match self.client(client_id).await {
            Ok(client) => client,
            Err(ClientError::Storage) => return Err(StoreError(String::new()).into()),
            Err(_) => return Err(invalid_client("unknown client")),
        };
        if client.token_endpoint_auth_method != method {
            return Err(invalid_client(&format!(
                "this client is registered with token_endpoint_auth_method `{}`",
                client.token_endpoint_auth_method
            )));
        }
        if let (Some(secret), Some(hash)) = (secret, &client.secret_hash)
            && !crypto::same_secret(&crypto::sha256_hex(secret), hash)
        {
            return Err(invalid_client("wrong client secret"));
        }
        Ok(client)
    }
}

/// The client id and secret of an HTTP Basic header (RFC 6749 §2.3.1: both form-encoded).
fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape =
        |s: &str| url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

/// The header-URL refusal reasons name X-Prefect-Api-Url settings; for a client id the rule is the same.
fn metadata_url_reason(reason: &str) -> String {
    format!("the client_id URL is refused by this server's outbound URL rules: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            client_name: None,
            client_uri: None,
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            token_endpoint_auth_method: "none".into(),
            secret_hash: None,
            metadata_document: false,
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = client(&["https://app.example.com/callback", "cursor://anysphere.cursor/oauth"]);
        assert!(c.allows_redirect("https://app.example.com/callback"));
        assert!(c.allows_redirect("cursor://anysphere.cursor/oauth"));
        for other in [
            "https://app.example.com/callback/",
            "https://app.example.com/callback?x=1",
            "https://app.example.com:444/callback",
            "https://app.example.com.evil.example/callback",
            "http://app.example.com/callback",
            "https://APP.example.com/callbacK",
        ] {
            assert!(!c.allows_redirect(other), "{other}");
        }
    }

    #[test]
    fn loopback_redirect_uris_match_on_any_port_only() {
        let c = client(&["http://127.0.0.1/callback", "http://localhost:3000/cb", "http://[::1]:1/cb"]);
        assert!(c.allows_redirect("http://127.0.0.1:53124/callback"));
        assert!(c.allows_redirect("http://localhost:9/cb"));
        assert!(c.allows_redirect("http://[::1]:8080/cb"));
        for other in [
            "http://127.0.0.1:53124/other",
            "http://localhost:9/cb?x=1",
            "http://127.0.0.1:9/cb", // another host than the registered localhost
            "https://localhost:3000/cb",
            "http://localhost.evil.example:3000/cb",
        ] {
            assert!(!c.allows_redirect(other), "{other}");
        }
        // The port freedom is for loopback only.
        assert!(!client(&["https://app.example.com/cb"]).allows_redirect("https://app.example.com:8443/cb"));
    }

    #[test]
    fn registrable_redirect_uris() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "cursor://x/y",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "https://a.example/cb#f",
            "https://u:p@a.example/cb",
            "/relative",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", BASE64.encode("my%20client:s%3Acret"));
        assert_eq!(basic_credentials(header.as_bytes()), Some(("my client".into(), "s:cret".into())));
        assert_eq!(basic_credentials(b"Bearer x"), None);
    }
}
