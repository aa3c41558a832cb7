//! One structured (JSON) log line per request, and the request id that ties it to the
//! response (`x-request-id`).
//!
//! The line is built only from values this server chose or checked: the route (not the raw
//! path), known JSON-RPC method and tool names, the protocol era, status, counts and error
//! codes. Bodies, headers, tokens, API keys, URLs and tool arguments never go into it.

use http::{HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Response;

/// Response header carrying the request id, the same as in the log line.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the endpoint learned while answering, attached to the response
/// (`Response::extensions`) for the log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The JSON-RPC method, when it is one this server knows.
    pub rpc_method: Option<&'static str>,
    /// The tool called, only when this server has a tool of that name.
    pub tool: Option<String>,
    /// The protocol version the request was served under.
    pub era: Option<String>,
    /// The JSON-RPC error code of an error answer.
    pub error_code: Option<i32>,
    /// A tool result with `isError`.
    pub tool_error: bool,
    pub upstream_requests: u32,
    /// How the caller was let in: `static` (an MCP_ACCESS_TOKENS token), `oauth` (an OAuth
    /// access token), `headers` (X-Prefect-Api-* credentials) or `none`.
    pub auth: Option<&'static str>,
    /// The audit record of an action tool's attempt (who, which action, which ids, preview
    /// or execute, outcome): built from checked ids and fixed words only.
    pub audit: Option<Value>,
}

/// JSON-RPC methods logged by name; anything else is logged as `other`, so a caller cannot
/// write arbitrary text into the logs.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "logging/setLevel",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "completion/complete",
    "notifications/initialized",
    "notifications/cancelled",
];

pub fn known_method(method: &str) -> &'static str {
    KNOWN_METHODS.iter().find(|m| **m == method).copied().unwrap_or("other")
}

/// The platform's request id (Cloudflare's `cf-ray`) when it looks like one, else a new
/// UUID v4.
pub fn request_id(cf_ray: Option<&str>) -> String {
    cf_ray
        .map(str::trim)
        .filter(|ray| !ray.is_empty() && ray.len() <= 64 && ray.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned)
}

/// The request as the Worker shell saw it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
}

/// Stamps the request id on `response` and returns its log line. `duration_ms` is the
/// wall time the shell measured, if it could.
pub fn finish(response: &mut Response, incoming: Incoming<'_>, duration_ms: Option<f64>) -> String {
    if let Ok(value) = HeaderValue::from_str(incoming.id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let summary = response.extensions().get::<Summary>().cloned().unwrap_or_default();
    line(incoming, response.status(), &summary, duration_ms)
}

fn line(incoming: Incoming<'_>, status: StatusCode, summary: &Summary, duration_ms: Option<f64>) -> String {
    let method = Method::from_bytes(incoming.method.as_bytes()).ok().filter(|m| {
        [Method::GET, Method::POST, Method::OPTIONS, Method::DELETE, Method::PUT, Method::PATCH, Method::HEAD]
            .contains(m)
    });
    let mut entry = Map::new();
    entry.insert("requestId".into(), json!(incoming.id));
    entry.insert("method".into(), json!(method.as_ref().map_or("OTHER", Method::as_str)));
    entry.insert("route".into(), json!(super::route_name(incoming.path)));
    entry.insert("status".into(), json!(status.as_u16()));
    let optional = [
        ("rpcMethod", summary.rpc_method.map(Value::from)),
        ("tool", summary.tool.clone().map(Value::from)),
        ("era", summary.era.clone().map(Value::from)),
        ("auth", summary.auth.map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            entry.insert(key.into(), value);
        }
    }
    entry.insert("upstreamRequests".into(), json!(summary.upstream_requests));
    if let Some(ms) = duration_ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
        entry.insert("durationMs".into(), json!(ms.round() as u64));
    }
    entry.insert("outcome".into(), json!(outcome(status, summary)));
    if let Some(audit) = &summary.audit {
        entry.insert("audit".into(), audit.clone());
    }
    if let Some(code) = summary.error_code {
        entry.insert("errorCode".into(), json!(code));
    }
    Value::Object(entry).to_string()
}

fn outcome(status: StatusCode, summary: &Summary) -> &'static str {
    match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_server_error() => "server_error",
        s if s.is_client_error() => "client_error",
        _ if summary.error_code.is_some() => "rpc_error",
        _ if summary.tool_error => "tool_error",
        _ => "ok",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming<'a>(id: &'a str, method: &'a str, path: &'a str) -> Incoming<'a> {
        Incoming { id, method, path }
    }

    fn finish_json(response: &mut Response, incoming: Incoming<'_>, duration: Option<f64>) -> Value {
        serde_json::from_str(&finish(response, incoming, duration)).unwrap()
    }

    fn response(status: u16, summary: Option<Summary>) -> Response {
        let mut response = http::Response::builder().status(status).body(Vec::new()).unwrap();
        if let Some(summary) = summary {
            response.extensions_mut().insert(summary);
        }
        response
    }

    #[test]
    fn request_id_is_the_ray_or_a_fresh_uuid() {
        assert_eq!(request_id(Some("8c2f1a9e4b7d12ab-LHR")), "8c2f1a9e4b7d12ab-LHR");
        for bad in [None, Some(""), Some("a b"), Some("x\"y"), Some(&*"9".repeat(65))] {
            let id = request_id(bad);
            let uuid = Uuid::parse_str(&id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{bad:?}");
        }
        assert_ne!(request_id(None), request_id(None));
    }

    #[test]
    fn a_tool_call_line_has_every_field_and_the_id_header() {
        let summary = Summary {
            rpc_method: Some("tools/call"),
            tool: Some("get_flows".into()),
            era: Some("2025-11-25".into()),
            upstream_requests: 2,
            ..Default::default()
        };
        let mut response = response(200, Some(summary));
        let entry = finish_json(&mut response, incoming("req-1", "POST", "/mcp/x/runs"), Some(12.4));
        assert_eq!(
            entry,
            json!({"requestId": "req-1", "method": "POST", "route": "mcp_toolsets", "status": 200, "rpcMethod": "tools/call",
                   "tool": "get_flows", "era": "2025-11-25", "upstreamRequests": 2, "durationMs": 12, "outcome": "ok"})
        );
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "req-1");
    }

    #[test]
    fn outcomes_follow_status_error_code_and_is_error() {
        let cases = [
            (429, Summary::default(), "rate_limited"),
            (401, Summary { error_code: Some(-32600), ..Default::default() }, "unauthorized"),
            (403, Summary::default(), "forbidden"),
            (400, Summary { error_code: Some(-32602), ..Default::default() }, "client_error"),
            (500, Summary::default(), "server_error"),
            (200, Summary { error_code: Some(-32601), ..Default::default() }, "rpc_error"),
            (200, Summary { tool_error: true, ..Default::default() }, "tool_error"),
            (202, Summary::default(), "ok"),
        ];
        for (status, summary, expected) in cases {
            let code = summary.error_code;
            let entry = finish_json(&mut response(status, Some(summary)), incoming("r", "POST", "/mcp"), None);
            assert_eq!(entry["outcome"], json!(expected), "{status}");
            assert_eq!(entry.get("errorCode").cloned(), code.map(Value::from), "{status}");
            assert!(entry.get("durationMs").is_none());
        }
    }

    #[test]
    fn caller_chosen_text_never_reaches_the_line() {
        // Unknown methods and paths are reduced to fixed labels; a response without a
        // summary (e.g. the shell's own 413) still logs.
        let secret = "pnu_SECRET_KEY_123";
        let mut response = response(404, None);
        let line = finish(&mut response, incoming("r", &format!("X{secret}"), &format!("/{secret}")), Some(1.0));
        assert!(!line.contains(secret), "{line}");
        let entry: Value = serde_json::from_str(&line).unwrap();
        assert_eq!((entry["method"].clone(), entry["route"].clone()), (json!("OTHER"), json!("other")));
        assert_eq!(known_method(secret), "other");
        assert_eq!(known_method("tools/call"), "tools/call");
    }
}
