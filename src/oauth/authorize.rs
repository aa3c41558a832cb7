//! The authorization endpoint: `GET /authorize` checks the request and answers a consent
//! page; `POST /authorize` takes the page's form, checks what the person entered, and
//! redirects back to the client with a code.
//!
//! The form carries the authorization request in a signed hidden field (`request`), so the
//! submission is bound to the request the page was made for without cookies or server-side
//! state. The signing key is 32 random bytes created on first use and kept in the store
//! (`config:form-key`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::clients::{Client, ClientError};
use super::grants::{Approval, Granted, PersonalCredentials};
use super::store::{Store, exclusive};
use super::{OAuth, SCOPE_READ, SCOPES, StoreError, field, form_fields};
use crate::credentials::{self, HEADER_API_KEY, HEADER_API_URL, HEADER_AUTH_STRING};
use crate::crypto;
use crate::prefect::PrefectClient;
use crate::protocol::{Request, Response};
use crate::upstream::Fetch;

const FORM_KEY: &str = "config:form-key";
/// How long a consent page may stay open before its form is refused.
const FORM_TTL_S: i64 = 600;
/// Failed entries allowed per client and IP address within [`ATTEMPT_WINDOW_S`].
pub const MAX_FAILED_ATTEMPTS: u32 = 10;
/// Failed entries allowed per IP address over all clients (registering new clients is free).
pub const MAX_FAILED_ATTEMPTS_PER_ADDRESS: u32 = 30;
const ATTEMPT_WINDOW_S: u64 = 600;

/// The authorization request, as signed into the consent form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    redirect_uri_sent: bool,
    code_challenge: String,
    state: Option<String>,
    scope: Vec<String>,
    resource: String,
    expires_at: i64,
}

/// Which ways of granting access the Worker offers.
#[derive(Debug, Clone, Copy)]
struct Modes {
    /// One of `MCP_ACCESS_TOKENS` unlocks the Worker's Prefect secrets.
    team: bool,
    /// The person enters their own Prefect API URL and key.
    personal: bool,
    /// A personal grant also needs a team token: the operator gated the Worker with
    /// `MCP_ACCESS_TOKENS` and did not open it to personal credentials.
    personal_needs_token: bool,
    /// The Worker allows the action tools (`ALLOW_WRITES=true`).
    writes: bool,
}

/// What went wrong, for the page or the redirect.
enum Refusal {
    /// Shown as a page: there is no trustworthy place to redirect to.
    Page(StatusCode, String),
    /// Sent back to the client's redirect URI (RFC 6749 §4.1.2.1).
    Redirect { redirect_uri: String, state: Option<String>, error: &'static str, description: String },
}

impl<F: Fetch, S: Store> OAuth<'_, F, S> {
    fn modes(&self) -> Modes {
        let settings = self.settings;
        let has_secrets = settings.secrets.api_url.is_some();
        let tokens = !settings.access_tokens.is_empty();
        let allow_personal = settings.oauth.allow_personal_credentials;
        Modes {
            team: tokens && has_secrets,
            personal: !has_secrets || allow_personal,
            personal_needs_token: tokens && !allow_personal,
            writes: settings.allow_writes,
        }
    }

    /// `GET /authorize`.
    pub async fn authorize_page(&self, request: &Request) -> Response {
        let query = request.uri().query().unwrap_or_default();
        match self.check_authorization_request(query.as_bytes()).await {
            Ok((client, auth)) => match self.form_key().await {
                Ok(key) => consent_page(&client, &auth, &sign_request(&key, &auth), self.modes(), None, StatusCode::OK),
                Err(_) => unavailable(),
            },
            Err(refusal) => self.refuse(refusal),
        }
    }

    async fn check_authorization_request(&self, query: &[u8]) -> Result<(Client, AuthRequest), Refusal> {
        let page = |text: String| Refusal::Page(StatusCode::BAD_REQUEST, text);
        let fields = form_fields(query).map_err(|e| page(e.description))?;
        let client_id = field(&fields, "client_id").ok_or_else(|| page("client_id is missing".into()))?;
        let client = match self.client(client_id).await {
            Ok(client) => client,
            Err(ClientError::Unknown) => {
                return Err(page(format!(
                    "Unknown client `{client_id}`. The application must register with this server first."
                )));
            }
            Err(ClientError::BadMetadataDocument(reason)) => {
                return Err(page(format!("The client's metadata document cannot be used: {reason}")));
            }
            Err(ClientError::Storage) => {
                return Err(Refusal::Page(StatusCode::SERVICE_UNAVAILABLE, STORAGE_DOWN.into()));
            }
        };
        let (redirect_uri, redirect_uri_sent) = match field(&fields, "redirect_uri") {
            Some(uri) if client.allows_redirect(uri) => (uri.to_owned(), true),
            Some(uri) => return Err(page(format!("The redirect URI `{uri}` is not registered for this client."))),
            None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
            None => return Err(page("redirect_uri is missing and the client registered several".into())),
        };
        let state = field(&fields, "state").map(str::to_owned);
        let redirect = |error: &'static str, description: &str| Refusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description: description.to_owned(),
        };
        if field(&fields, "response_type") != Some("code") {
            return Err(redirect("unsupported_response_type", "response_type must be code"));
        }
        let Some(code_challenge) = field(&fields, "code_challenge") else {
            return Err(redirect(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        };
        if field(&fields, "code_challenge_method") != Some("S256") {
            return Err(redirect("invalid_request", "code_challenge_method must be S256"));
        }
        let well_formed = (43..=128).contains(&code_challenge.len())
            && code_challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !well_formed {
            return Err(redirect("invalid_request", "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]"));
        }
        let mut scope: Vec<String> = Vec::new();
        for requested in field(&fields, "scope").unwrap_or(SCOPE_READ).split_whitespace() {
            if !SCOPES.contains(&requested) {
                return Err(redirect("invalid_scope", &format!("unknown scope `{requested}`")));
            }
            if !scope.iter().any(|s| s == requested) {
                scope.push(requested.to_owned());
            }
        }
        if !scope.iter().any(|s| s == SCOPE_READ) {
            scope.insert(0, SCOPE_READ.to_owned());
        }
        if field(&fields, "resource").is_some_and(|resource| resource != self.resource()) {
            return Err(redirect("invalid_target", "resource must be this server's /mcp URL"));
        }
        let modes = self.modes();
        if !modes.team && !modes.personal {
            return Err(Refusal::Page(
                StatusCode::SERVICE_UNAVAILABLE,
                "This server holds Prefect credentials but no MCP_ACCESS_TOKENS, so it has nothing to authorize \
                 with. The operator can set MCP_ACCESS_TOKENS (team access) or OAUTH_ALLOW_PERSONAL_CREDENTIALS=true."
                    .into(),
            ));
        }
        let auth = AuthRequest {
            client_id: client.client_id.clone(),
            redirect_uri,
            redirect_uri_sent,
            code_challenge: code_challenge.to_owned(),
            state,
            scope,
            resource: self.resource(),
            expires_at: self.now + FORM_TTL_S,
        };
        Ok((client, auth))
    }

    fn refuse(&self, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Page(status, text) => error_page(status, &text),
            Refusal::Redirect { redirect_uri, state, error, description } => {
                let mut pairs = vec![("error", error.to_owned()), ("error_description", description)];
                pairs.extend(state.map(|s| ("state", s)));
                redirect(&redirect_uri, pairs, &self.issuer)
            }
        }
    }

    /// `POST /authorize`: the consent form.
    pub async fn authorize_submit(&self, request: &Request) -> Response {
        let Ok(fields) = form_fields(request.body()) else {
            return error_page(StatusCode::BAD_REQUEST, "The form was sent with a field repeated.");
        };
        let key = match self.form_key().await {
            Ok(key) => key,
            Err(_) => return unavailable(),
        };
        let Some(auth) = field(&fields, "request").and_then(|signed| open_request(&key, signed)) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This form is not one this server made, or it was altered. Start the connection again from your application.",
            );
        };
        if auth.expires_at <= self.now || auth.resource != self.resource() {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This form expired. Start the connection again from your application.",
            );
        }
        let client = match self.client(&auth.client_id).await {
            Ok(client) => client,
            Err(_) => return error_page(StatusCode::BAD_REQUEST, "The client of this form is no longer known."),
        };
        if field(&fields, "action") == Some("deny") {
            let denied =
                vec![("error", "access_denied".into()), ("error_description", "the request was denied".into())];
            return self.back_to_client(&auth, denied);
        }
        // Guesses are counted per client and address, and per address over all clients (anyone
        // may register clients); one address's entries are evaluated one at a time, a second
        // one meanwhile is turned away.
        let ip = request.headers().get("cf-connecting-ip").and_then(|v| v.to_str().ok()).unwrap_or("unknown");
        let counters = [
            (format!("attempts:{}", crypto::sha256_hex(&format!("{}|{ip}", auth.client_id))), MAX_FAILED_ATTEMPTS),
            (format!("attempts-ip:{}", crypto::sha256_hex(ip)), MAX_FAILED_ATTEMPTS_PER_ADDRESS),
        ];
        exclusive(&counters[1].0, self.now, self.evaluate_entry(&fields, &client, &auth, &counters))
            .await
            .unwrap_or_else(|_| {
                error_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Another entry from this address is being checked. Wait a moment and try again.",
                )
            })
    }

    async fn evaluate_entry(
        &self,
        fields: &[(String, String)],
        client: &Client,
        auth: &AuthRequest,
        counters: &[(String, u32); 2],
    ) -> Response {
        let mut failures = [0u32; 2];
        for (count, (key, _)) in failures.iter_mut().zip(counters) {
            match self.store.get(key).await {
                Ok(value) => *count = value.and_then(|c| c.parse().ok()).unwrap_or(0),
                Err(_) => return unavailable(),
            }
        }
        if failures.iter().zip(counters).any(|(count, (_, limit))| count >= limit) {
            return error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many wrong entries from this address. Wait ten minutes and try again.",
            );
        }
        let modes = self.modes();
        let granted = match self.check_entry(fields, modes).await {
            Ok(granted) => granted,
            Err(message) => {
                // The window starts again with every failure.
                for (count, (key, _)) in failures.iter().zip(counters) {
                    if self.store.put(key, &(count + 1).to_string(), Some(ATTEMPT_WINDOW_S)).await.is_err() {
                        return unavailable();
                    }
                }
                let signed = field(fields, "request").unwrap_or_default();
                return consent_page(client, auth, signed, modes, Some(&message), StatusCode::BAD_REQUEST);
            }
        };
        let approval = Approval {
            client_id: auth.client_id.clone(),
            scope: auth.scope.clone(),
            resource: auth.resource.clone(),
            code_challenge: auth.code_challenge.clone(),
            redirect_uri: auth.redirect_uri.clone(),
            redirect_uri_sent: auth.redirect_uri_sent,
        };
        match self.issue_code(approval, granted).await {
            Ok(code) => self.back_to_client(auth, vec![("code", code)]),
            Err(_) => unavailable(),
        }
    }

    /// 302 to the client's redirect URI with `pairs`, the request's state and the issuer.
    fn back_to_client(&self, auth: &AuthRequest, mut pairs: Vec<(&'static str, String)>) -> Response {
        pairs.extend(auth.state.clone().map(|s| ("state", s)));
        redirect(&auth.redirect_uri, pairs, &self.issuer)
    }

    /// Checks what the person entered; the message says what to correct.
    async fn check_entry(&self, fields: &[(String, String)], modes: Modes) -> Result<Granted, String> {
        let token = field(fields, "access_token");
        let personal_fields = ["prefect_api_url", "prefect_api_key", "prefect_auth_string"];
        let mode = match field(fields, "mode") {
            Some(mode) => mode,
            None if personal_fields.iter().any(|f| field(fields, f).is_some()) => "personal",
            None => "team",
        };
        let token_ok = |token: Option<&str>| token.is_some_and(|t| self.settings.access_tokens.contains(t));
        match mode {
            "team" if modes.team => {
                let token = token.ok_or("Enter one of this server's access tokens.")?;
                if !token_ok(Some(token)) {
                    return Err("That access token is not one of this server's tokens.".into());
                }
                Ok(Granted::Team { token: token.to_owned() })
            }
            "personal" if modes.personal => {
                let team_token = if modes.personal_needs_token {
                    if !token_ok(token) {
                        return Err(
                            "Enter one of this server's access tokens as well as your Prefect credentials.".into()
                        );
                    }
                    token.map(str::to_owned)
                } else {
                    None
                };
                let personal = PersonalCredentials {
                    api_url: field(fields, "prefect_api_url").ok_or("Enter your Prefect API URL.")?.trim().to_owned(),
                    api_key: field(fields, "prefect_api_key").map(|k| k.trim().to_owned()),
                    auth_string: field(fields, "prefect_auth_string").map(|a| a.trim().to_owned()),
                };
                if personal.api_key.is_some() && personal.auth_string.is_some() {
                    return Err("Enter either an API key or an auth string, not both.".into());
                }
                let api_url = self.check_personal_credentials(&personal).await?;
                Ok(Granted::Personal { credentials: PersonalCredentials { api_url, ..personal }, team_token })
            }
            _ => Err("That way of connecting is not offered by this server.".into()),
        }
    }

    /// The header-URL rules and one Prefect request that needs the credentials; returns the
    /// API URL as the Worker will use it.
    async fn check_personal_credentials(&self, personal: &PersonalCredentials) -> Result<String, String> {
        let mut headers = HeaderMap::new();
        let pairs = [
            (HEADER_API_URL, Some(&personal.api_url)),
            (HEADER_API_KEY, personal.api_key.as_ref()),
            (HEADER_AUTH_STRING, personal.auth_string.as_ref()),
        ];
        for (name, value) in pairs {
            if let Some(value) = value {
                let value = HeaderValue::from_str(value).map_err(|_| "Enter the values as plain text.".to_owned())?;
                headers.insert(name, value);
            }
        }
        let credentials = credentials::resolve(&headers, self.settings)
            .map_err(|e| format!("Those Prefect credentials cannot be used: {e}"))?;
        let api_url = credentials.api_url.to_string();
        let prefect = PrefectClient::new(self.fetch, credentials, self.settings.upstream_timeout_ms);
        prefect
            .post::<Value, _>("flow_runs/count", &json!({}))
            .await
            .map_err(|e| format!("Prefect did not accept those credentials: {e}"))?;
        Ok(api_url)
    }

    async fn form_key(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(key) = self.store.get(FORM_KEY).await?.and_then(|k| B64.decode(k).ok()).filter(|k| k.len() == 32) {
            return Ok(key);
        }
        // Two first requests may race; the later write wins and a form signed with the other
        // key is refused once (the person starts again).
        let key = crypto::random_bytes::<32>();
        self.store.put(FORM_KEY, &B64.encode(key), None).await?;
        Ok(key.to_vec())
    }
}

const STORAGE_DOWN: &str = "The authorization storage did not answer. Try again in a moment.";

fn sign_request(key: &[u8], auth: &AuthRequest) -> String {
    use base64::Engine;
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(auth).expect("serialises"));
    let signature = crypto::sign(key, payload.as_bytes());
    format!("{payload}.{signature}")
}

fn open_request(key: &[u8], signed: &str) -> Option<AuthRequest> {
    let (payload, signature) = signed.split_once('.')?;
    if !crypto::verify(key, payload.as_bytes(), signature) {
        return None;
    }
    serde_json::from_slice(&B64.decode(payload).ok()?).ok()
}

/// 302 to `redirect_uri` with `pairs` and `iss` (RFC 9207) added to its query.
fn redirect(redirect_uri: &str, pairs: Vec<(&'static str, String)>, issuer: &str) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "The redirect URI is not a URL.");
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in &pairs {
            query.append_pair(name, value);
        }
        query.append_pair("iss", issuer);
    }
    http::Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, url.as_str())
        .header(header::CACHE_CONTROL, "no-store")
        .body(Vec::new())
        .expect("valid response")
}

fn unavailable() -> Response {
    error_page(StatusCode::SERVICE_UNAVAILABLE, STORAGE_DOWN)
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,sans-serif;max-width:34rem;margin:0 auto;padding:1rem;\
line-height:1.5;color:#1a1a1a}h1{font-size:1.4rem}fieldset{border:1px solid #ccc;border-radius:8px;margin:1rem 0;\
padding:1rem}label{display:block;margin:.6rem 0 .2rem;font-weight:600}input[type=text],input[type=password],\
input[type=url]{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #999;border-radius:6px}\
button{font-size:1rem;padding:.6rem 1.2rem;margin-top:.8rem;border-radius:6px;border:1px solid #333;background:#1a1a1a;\
color:#fff}button.secondary{background:#fff;color:#1a1a1a}.error{background:#fde8e8;border:1px solid #e0a0a0;\
padding:.6rem;border-radius:6px}.note{color:#555;font-size:.9rem}code{word-break:break-all}";

fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-frame-options", "DENY")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        )
        .header("referrer-policy", "no-referrer")
        .header("x-content-type-options", "nosniff")
        .body(html.into_bytes())
        .expect("valid response")
}

fn error_page(status: StatusCode, message: &str) -> Response {
    html_page(status, "Authorization failed", &format!("<h1>Authorization failed</h1><p>{}</p>", escape(message)))
}

/// Where the code goes, as a person can judge it: the host, or the scheme of a native app.
fn redirect_target(redirect_uri: &str) -> String {
    match Url::parse(redirect_uri) {
        Ok(url) => url.host_str().map_or_else(|| format!("{}:", url.scheme()), |h| h.to_owned()),
        Err(_) => redirect_uri.to_owned(),
    }
}

fn consent_page(
    client: &Client,
    auth: &AuthRequest,
    signed: &str,
    modes: Modes,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let hidden = format!("<input type=\"hidden\" name=\"request\" value=\"{}\">", escape(signed));
    let token_input = |id: &str| {
        format!(
            "<label for=\"{id}\">Access token</label>\
             <input type=\"password\" id=\"{id}\" name=\"access_token\" autocomplete=\"off\" required>"
        )
    };
    let mut forms = String::new();
    if modes.team {
        forms += &format!(
            "<form method=\"post\" action=\"/authorize\"><fieldset><legend>Team access</legend>{hidden}\
             <input type=\"hidden\" name=\"mode\" value=\"team\">\
             <p class=\"note\">Use one of this server's access tokens (from its operator). The application then \
             reads the Prefect workspace configured on this server, until that token is withdrawn.</p>{}\
             <button type=\"submit\">Allow</button></fieldset></form>",
            token_input("team-token")
        );
    }
    if modes.personal {
        let token = if modes.personal_needs_token { token_input("personal-token") } else { String::new() };
        forms += &format!(
            "<form method=\"post\" action=\"/authorize\"><fieldset><legend>Your own Prefect credentials</legend>{hidden}\
             <input type=\"hidden\" name=\"mode\" value=\"personal\">{token}\
             <label for=\"api-url\">Prefect API URL</label>\
             <input type=\"url\" id=\"api-url\" name=\"prefect_api_url\" required \
             placeholder=\"https://api.prefect.cloud/api/accounts/…/workspaces/…\">\
             <label for=\"api-key\">API key (Prefect Cloud)</label>\
             <input type=\"password\" id=\"api-key\" name=\"prefect_api_key\" autocomplete=\"off\">\
             <label for=\"auth-string\">or auth string <span class=\"note\">(user:password, self-hosted)</span></label>\
             <input type=\"password\" id=\"auth-string\" name=\"prefect_auth_string\" autocomplete=\"off\">\
             <p class=\"note\">Checked with one request to Prefect, then stored only encrypted; only this \
             application's tokens can open them.</p>\
             <button type=\"submit\">Allow</button></fieldset></form>"
        );
    }
    let asks_write = auth.scope.iter().any(|s| s == super::SCOPE_WRITE);
    let write = match (asks_write, modes.writes) {
        (true, true) => {
            "<li>It also asks for <code>prefect:write</code>: it may run deployments, cancel, retry and resume flow \
             runs, and pause and resume deployments. It must show each change as a preview first and confirm it in a \
             second step. With your own credentials Prefect's own permissions apply; team access writes only with \
             a write token (MCP_WRITE_TOKENS).</li>"
        }
        (true, false) => {
            "<li>It also asked for <code>prefect:write</code>; this is recorded, but this server does not allow \
             changes (its operator has not turned them on), so it cannot change anything through this server.</li>"
        }
        (false, _) => "<li>It cannot change anything in Prefect through this server.</li>",
    };
    let error = message.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<h1>Allow {name} to {verb} your Prefect workspace?</h1>{error}\
         <p><strong>{name}</strong> <span class=\"note\">(name given by the application; client id \
         <code>{id}</code>)</span> asks to use this Prefect MCP server. After you allow it, you are sent back to \
         <strong>{target}</strong>.</p>\
         <ul><li>It can read flows, flow and task runs, deployments, work pools, logs, events, automations and \
         concurrency limits, and this server's diagnoses of them.</li>{write}</ul>\
         {forms}\
         <form method=\"post\" action=\"/authorize\">{hidden}\
         <button class=\"secondary\" type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
        name = escape(client.display_name()),
        id = escape(&client.client_id),
        target = escape(&redirect_target(&auth.redirect_uri)),
        verb = if asks_write && modes.writes { "use and change" } else { "read" },
    );
    html_page(status, "Authorize access to Prefect", &body)
}
