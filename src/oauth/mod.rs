//! The Worker as its own OAuth 2.1 authorization server for `/mcp` (on when the KV
//! namespace `OAUTH_KV` is bound): discovery ([`metadata`]), clients by registration or
//! metadata document ([`clients`]), the consent page ([`authorize`]), the token and
//! revocation endpoints ([`token`]), grants and tokens ([`grants`]) and storage ([`store`]);
//! the cryptography behind them is [`crate::crypto`].
//!
//! The issuer is the origin the request came to, and the protected resource is that
//! origin's `/mcp`: a grant is bound to it and useless at any other Worker.

pub mod authorize;
pub mod clients;
pub mod grants;
pub mod metadata;
pub mod store;
pub mod token;

#[cfg(test)]
mod tests;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::protocol::access::{self, OAuthCheck, OAuthOutcome};
use crate::protocol::oauth_paths::{
    AUTHORIZATION_SERVER_PATH, AUTHORIZE_PATH, PROTECTED_RESOURCE_PATH, REGISTER_PATH, REVOKE_PATH, TOKEN_PATH,
    is_oauth_path,
};
use crate::protocol::{self, MCP_PATH, Request, Response};
use crate::settings::Settings;
use crate::upstream::Fetch;
pub use store::{Store, StoreError};

/// The name of the KV binding that turns OAuth on.
pub const BINDING: &str = "OAUTH_KV";
pub const SCOPE_READ: &str = "prefect:read";
/// Recorded on grants for a later write feature; no tool writes yet.
pub const SCOPE_WRITE: &str = "prefect:write";
pub const SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_WRITE];

/// One request's view of the authorization server.
pub struct OAuth<'a, F, S> {
    pub settings: &'a Settings,
    pub fetch: &'a F,
    pub store: &'a S,
    /// `scheme://host[:port]` of the request.
    pub issuer: String,
    /// Unix seconds.
    pub now: i64,
}

impl<F: Fetch, S: Store> OAuth<'_, F, S> {
    /// The protected resource, this Worker's MCP endpoint: every grant's audience.
    pub fn resource(&self) -> String {
        format!("{}{MCP_PATH}", self.issuer)
    }

    fn resource_metadata_url(&self) -> String {
        format!("{}{PROTECTED_RESOURCE_PATH}{MCP_PATH}", self.issuer)
    }
}

/// The origin of an absolute request URI (the Worker always sees one).
pub fn issuer(request: &Request) -> String {
    let uri = request.uri();
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    format!("{scheme}://{authority}")
}

/// Answers one request on a Worker with OAuth on: the OAuth endpoints here, everything else
/// through the MCP endpoint with the request's bearer token checked against the grants.
pub async fn handle<F: Fetch, S: Store>(
    request: Request,
    settings: &Settings,
    fetch: &F,
    store: &S,
    now: i64,
) -> Response {
    let oauth = OAuth { settings, fetch, store, issuer: issuer(&request), now };
    let path = request.uri().path();
    if !is_oauth_path(path) {
        let outcome = oauth.check_bearer(request.headers()).await;
        let check = OAuthCheck { resource_metadata: oauth.resource_metadata_url(), outcome };
        return protocol::handle_with_oauth(request, settings, fetch, Some(check)).await;
    }
    if let Err(reason) = protocol::check_host(&request, settings) {
        return text(StatusCode::FORBIDDEN, &reason);
    }
    let public = path != AUTHORIZE_PATH;
    let mut response = match (request.method().clone(), path) {
        (Method::OPTIONS, _) if public => preflight(),
        (Method::GET, AUTHORIZATION_SERVER_PATH) => metadata::authorization_server(&oauth),
        (Method::GET, _) if path.starts_with(PROTECTED_RESOURCE_PATH) => metadata::protected_resource(&oauth),
        (Method::GET, AUTHORIZE_PATH) => oauth.authorize_page(&request).await,
        (Method::POST, AUTHORIZE_PATH) => oauth.authorize_submit(&request).await,
        (Method::POST, TOKEN_PATH) => oauth.token(&request).await,
        (Method::POST, REGISTER_PATH) => oauth.register(request.body()).await,
        (Method::POST, REVOKE_PATH) => oauth.revoke_endpoint(&request).await,
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this OAuth endpoint"),
    };
    if public {
        // Browser-based MCP clients read metadata and call these endpoints cross-origin; they
        // carry no cookies and no ambient authority, so any origin may.
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("www-authenticate"));
    }
    response
}

impl<F: Fetch, S: Store> OAuth<'_, F, S> {
    /// What a `/mcp` request's bearer token is: a static `MCP_ACCESS_TOKENS` token, an OAuth
    /// access token (with the credentials of its grant), or neither.
    async fn check_bearer(&self, headers: &HeaderMap) -> OAuthOutcome {
        match access::presented_bearer(headers) {
            Err(_) => OAuthOutcome::Rejected,
            Ok(None) => OAuthOutcome::NoBearer,
            Ok(Some(token)) if self.settings.access_tokens.contains(token) => OAuthOutcome::Static,
            // A store failure answers 401 too: the client re-authorizes rather than proceeding.
            Ok(Some(token)) => match self.authenticate(token).await {
                Ok(Some(grant)) => OAuthOutcome::Granted(grant),
                _ => OAuthOutcome::Rejected,
            },
        }
    }
}

/// An error of the token, registration or revocation endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub code: &'static str,
    pub description: String,
}

impl TokenError {
    pub fn new(code: &'static str, description: &str) -> Self {
        TokenError { code, description: description.to_owned() }
    }

    pub fn invalid_grant(description: &str) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_request(description: &str) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn response(&self) -> Response {
        let status = match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = json_response(status, &json!({"error": self.code, "error_description": self.description}));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oauth\""));
        }
        response
    }
}

impl From<StoreError> for TokenError {
    fn from(_: StoreError) -> Self {
        TokenError::new("temporarily_unavailable", "the authorization storage did not answer; try again")
    }
}

/// The fields of an `application/x-www-form-urlencoded` body. A repeated field is refused
/// (RFC 6749 §3.1: parameters must not be included more than once).
pub fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, TokenError> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    for (i, (name, _)) in fields.iter().enumerate() {
        if fields[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(TokenError::invalid_request(&format!("parameter `{name}` is repeated")));
        }
    }
    Ok(fields)
}

/// A non-empty field of a parsed form or query.
pub fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(serde_json::to_vec(body).expect("JSON serialises"))
        .expect("valid response")
}

fn text(status: StatusCode, message: &str) -> Response {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(format!("{message}\n").into_bytes())
        .expect("valid response")
}

fn preflight() -> Response {
    http::Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS")
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type, mcp-protocol-version")
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .body(Vec::new())
        .expect("valid response")
}
