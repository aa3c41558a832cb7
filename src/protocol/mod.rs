//! Stateless streamable-HTTP MCP at `/mcp` (and `/mcp/x/<toolsets>`): HTTP rules here,
//! JSON-RPC in `dispatch`, protocol eras in `era`, the access gate in [`access`], rate
//! limiting decisions in [`ratelimit`], log lines in [`log`].
//!
//! No session is ever created: every POST is answered from its own headers and body, so
//! any Worker instance can serve any request and nothing carries over between requests.

pub mod access;
mod dispatch;
mod era;
pub mod log;
pub mod oauth_paths;
pub mod ratelimit;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use rmcp::model::ErrorData;
use serde_json::Value;

use crate::settings::Settings;
use crate::tools::toolsets::{self, Selection};
use crate::upstream::Fetch;
use dispatch::Envelope;

pub const MCP_PATH: &str = "/mcp";
/// `/mcp/x/runs,events` is `/mcp` with `X-MCP-Toolsets: runs,events`, for clients that
/// cannot set headers.
const TOOLSETS_PATH_PREFIX: &str = "/mcp/x/";
/// Larger bodies are refused with 413; real MCP requests are a few kilobytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Response header reporting how many Prefect requests a call made (for benchmarks).
const UPSTREAM_REQUESTS_HEADER: &str = "x-upstream-requests";

const ALLOWED_METHODS: &str = "POST, OPTIONS";
const ALLOWED_HEADERS: &str = "content-type, accept, authorization, mcp-protocol-version, mcp-method, mcp-name, \
    last-event-id, x-prefect-api-url, x-prefect-api-key, x-prefect-api-auth-string, x-mcp-toolsets";

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// Answers one HTTP request.
pub async fn handle<F: Fetch>(request: Request, settings: &Settings, fetch: &F) -> Response {
    handle_with_oauth(request, settings, fetch, None).await
}

/// Answers one HTTP request; `oauth` is what the OAuth layer found out about its bearer
/// token, on a Worker with OAuth on ([`crate::oauth`]).
pub async fn handle_with_oauth<F: Fetch>(
    request: Request,
    settings: &Settings,
    fetch: &F,
    oauth: Option<access::OAuthCheck>,
) -> Response {
    let path_toolsets = match route(request.uri().path()) {
        Route::Mcp { toolsets } => toolsets,
        Route::Root if request.method() == Method::GET => {
            return plain(StatusCode::OK, "Prefect MCP server. Connect MCP clients to /mcp.\n");
        }
        _ => return plain(StatusCode::NOT_FOUND, "Not found. The MCP endpoint is /mcp (or /mcp/x/<toolsets>).\n"),
    };
    if let Err(reason) = check_host(&request, settings) {
        return rpc_error(StatusCode::FORBIDDEN, ErrorData::invalid_request(reason, None));
    }
    let origin = match allowed_origin(&request, settings) {
        Ok(origin) => origin,
        Err(reason) => return rpc_error(StatusCode::FORBIDDEN, ErrorData::invalid_request(reason, None)),
    };
    let gate = match &oauth {
        Some(check) => check.check(request.headers(), &settings.access_tokens),
        None => access::check(request.headers(), &settings.access_tokens).map(|()| None),
    };
    let mut response = match *request.method() {
        Method::OPTIONS => preflight(),
        _ if let Err(denial) = gate => unauthorized(denial, oauth.as_ref()),
        Method::POST => {
            let auth = access::auth_kind(request.headers(), &settings.access_tokens, oauth.as_ref());
            let mut response = post(request, path_toolsets.as_deref(), settings, fetch, gate.ok().flatten()).await;
            if let Some(summary) = response.extensions_mut().get_mut::<log::Summary>() {
                summary.auth = Some(auth);
            }
            response
        }
        _ => {
            let mut response = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "This stateless MCP server answers POST only: no server-initiated stream (GET) and no session to end (DELETE).\n",
            );
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
            response
        }
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-upstream-requests, x-request-id, www-authenticate, retry-after"),
        );
    }
    response
}

/// Where a path leads.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Root,
    /// The MCP endpoint, with the toolsets named in the path, if any.
    Mcp {
        toolsets: Option<String>,
    },
    Other,
}

fn route(path: &str) -> Route {
    match path {
        "/" => Route::Root,
        MCP_PATH | "/mcp/" => Route::Mcp { toolsets: None },
        _ => match path.strip_prefix(TOOLSETS_PATH_PREFIX) {
            // Clients may percent-encode the commas.
            Some(sets) => {
                Route::Mcp { toolsets: Some(sets.trim_end_matches('/').replace("%2C", ",").replace("%2c", ",")) }
            }
            None => Route::Other,
        },
    }
}

/// A fixed label for a path, for the log line (the path itself is the caller's text).
fn route_name(path: &str) -> &'static str {
    match route(path) {
        Route::Root => "root",
        Route::Mcp { toolsets: None } => "mcp",
        Route::Mcp { toolsets: Some(_) } => "mcp_toolsets",
        Route::Other => oauth_paths::route_name(path).unwrap_or("other"),
    }
}

/// Whether a declared `Content-Length` is over [`MAX_BODY_BYTES`], so that the body need not
/// be read. Compared as `u64`: a `usize` is 32 bits on wasm32, and a declaration of 5 GB would
/// fail to parse and get through. Digits too many even for `u64` are over the limit too.
pub fn declared_too_large(content_length: Option<&str>) -> bool {
    let Some(value) = content_length.map(str::trim).filter(|v| !v.is_empty()) else {
        return false;
    };
    value.bytes().all(|b| b.is_ascii_digit()) && value.parse::<u64>().map_or(true, |n| n > MAX_BODY_BYTES as u64)
}

/// 400 for a request whose body could not be read (an upload cut short or broken chunked
/// framing) or that does not convert to an HTTP request.
pub fn unreadable_request() -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        ErrorData::invalid_request(
            "the request body could not be read: the upload was cut short or its framing is malformed",
            None,
        ),
    )
}

/// 413 for a body over [`MAX_BODY_BYTES`] (the shell sends it on a declared length,
/// before reading the body, or once a streamed body passes the limit).
pub fn payload_too_large() -> Response {
    rpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorData::invalid_request(format!("request body over {MAX_BODY_BYTES} bytes"), None),
    )
}

async fn post<F: Fetch>(
    request: Request,
    path_toolsets: Option<&str>,
    settings: &Settings,
    fetch: &F,
    grant: Option<&access::GrantedAccess>,
) -> Response {
    let (parts, body) = request.into_parts();
    if body.len() > MAX_BODY_BYTES {
        return payload_too_large();
    }
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE)
        && media_type(content_type).is_none_or(|m| m != "application/json")
    {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorData::invalid_request("Content-Type must be application/json", None),
        );
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, ErrorData::parse_error(format!("Parse error: {e}"), None)),
    };
    let Ok(header_toolsets) = parts.headers.get(toolsets::HEADER).map(|v| v.to_str()).transpose() else {
        let reason = "X-MCP-Toolsets header contains characters other than visible ASCII";
        return rpc_error(StatusCode::BAD_REQUEST, ErrorData::invalid_params(reason, None));
    };
    let toolsets = match Selection::choose(path_toolsets, header_toolsets) {
        Ok(toolsets) => toolsets,
        Err(reason) => return rpc_error(StatusCode::BAD_REQUEST, ErrorData::invalid_params(reason, None)),
    };
    let reply = dispatch::handle(message, &parts.headers, toolsets, settings, fetch, grant).await;
    let mut response = match reply.body {
        None => empty(reply.status),
        Some(body) if wants_event_stream(&parts.headers) => event_stream(reply.status, &body),
        Some(body) => json_response(reply.status, &body),
    };
    if reply.summary.upstream_requests > 0 {
        response.headers_mut().insert(UPSTREAM_REQUESTS_HEADER, HeaderValue::from(reply.summary.upstream_requests));
    }
    response.extensions_mut().insert(reply.summary);
    response
}

/// DNS-rebinding guard: when hosts are configured, the Host header must be one of them
/// (`host` matches any port, `host:port` that port only).
pub(crate) fn check_host(request: &Request, settings: &Settings) -> Result<(), String> {
    if settings.allowed_hosts.is_empty() {
        return Ok(());
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host.as_str(), |(n, _)| n);
    let allowed = settings.allowed_hosts.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == host || a == name
    });
    if allowed { Ok(()) } else { Err(format!("Host `{host}` is not served here")) }
}

/// Browsers send `Origin`; it must be a loopback origin (local tools) or a configured one.
/// The request's own Host is deliberately not trusted: under DNS rebinding a hostile page
/// reaches this server with a matching Host and Origin. Requests without `Origin` (every
/// non-browser client) pass.
fn allowed_origin(request: &Request, settings: &Settings) -> Result<Option<HeaderValue>, String> {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return Ok(None);
    };
    let text = origin.to_str().unwrap_or_default().trim_end_matches('/').to_ascii_lowercase();
    let loopback = url::Url::parse(&text).ok().is_some_and(|url| {
        matches!(url.host(), Some(url::Host::Domain("localhost")))
            || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    });
    let configured = settings.allowed_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(&text));
    if loopback || configured {
        Ok(Some(origin.clone()))
    } else {
        Err(format!(
            "Origin `{text}` is not allowed; add it to MCP_ALLOWED_ORIGINS to let that web page call this server"
        ))
    }
}

/// 401 with a Bearer challenge and a JSON-RPC error saying what is missing.
fn unauthorized(denial: access::Denial, oauth: Option<&access::OAuthCheck>) -> Response {
    let (message, challenge) = match oauth {
        Some(check) => (check.message(denial), check.challenge(denial)),
        None => (denial.message(), denial.challenge()),
    };
    let mut response = rpc_error(StatusCode::UNAUTHORIZED, ErrorData::invalid_request(message, None));
    response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    response
}

fn preflight() -> Response {
    let mut response = empty(StatusCode::NO_CONTENT);
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

fn media_type(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    Some(text.split(';').next()?.trim().to_ascii_lowercase())
}

/// JSON unless the client accepts only `text/event-stream`. A missing or partial `Accept`
/// gets JSON: some clients have shipped without one.
fn wants_event_stream(headers: &HeaderMap) -> bool {
    let accepted: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .collect();
    accepted.iter().any(|m| m == "text/event-stream")
        && !accepted.iter().any(|m| m == "application/json" || m == "application/*" || m == "*/*")
}

fn plain(status: StatusCode, text: &str) -> Response {
    with_type(status, "text/plain; charset=utf-8", text.as_bytes().to_vec())
}

fn empty(status: StatusCode) -> Response {
    http::Response::builder().status(status).body(Vec::new()).expect("valid response")
}

fn json_response(status: StatusCode, body: &Envelope) -> Response {
    with_type(status, "application/json", serde_json::to_vec(body).expect("JSON serialises"))
}

fn event_stream(status: StatusCode, body: &Envelope) -> Response {
    let mut frame = b"event: message\ndata: ".to_vec();
    serde_json::to_writer(&mut frame, body).expect("JSON serialises");
    frame.extend_from_slice(b"\n\n");
    let mut response = with_type(status, "text/event-stream", frame);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn rpc_error(status: StatusCode, error: ErrorData) -> Response {
    let code = error.code.0;
    let mut response = json_response(status, &Envelope::error(None, error));
    response.extensions_mut().insert(log::Summary { error_code: Some(code), ..Default::default() });
    response
}

fn with_type(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .expect("valid response")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
