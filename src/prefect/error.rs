//! One mapping from upstream failures to messages a model can act on.
//!
//! Messages name the status, method and path and summarise the server's own explanation;
//! they never contain the host's credentials, and never echo a whole upstream body.

use std::fmt;

use http::Method;
use serde_json::Value;

use crate::upstream::UpstreamResponse;

/// Longest upstream explanation quoted in an error.
const DETAIL_LIMIT: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefectError {
    Unauthorized {
        method: Method,
        path: String,
    },
    Forbidden {
        method: Method,
        path: String,
        detail: Option<String>,
    },
    NotFound {
        method: Method,
        path: String,
        detail: Option<String>,
    },
    Invalid {
        method: Method,
        path: String,
        status: u16,
        detail: Option<String>,
    },
    RateLimited {
        method: Method,
        path: String,
        retry_after: Option<String>,
    },
    ServerError {
        method: Method,
        path: String,
        status: u16,
        detail: Option<String>,
    },
    Redirected {
        method: Method,
        path: String,
        status: u16,
    },
    Timeout {
        method: Method,
        path: String,
        after_ms: u32,
    },
    Unreachable {
        host: String,
        reason: String,
    },
    InvalidResponse {
        method: Method,
        path: String,
        reason: String,
    },
    ForeignHost {
        host: String,
    },
    TooLarge {
        method: Method,
        path: String,
        limit_bytes: usize,
    },
    /// Not one of the requests this server makes (see the allowlist); never sent.
    NotAllowed {
        method: Method,
        path: String,
    },
    InvalidRequest(String),
}

impl PrefectError {
    pub(crate) fn from_status(method: &Method, path: &str, response: UpstreamResponse) -> Self {
        let (method, path) = (method.clone(), path.to_owned());
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let detail = summarise_body(response.body());
        match status {
            401 => PrefectError::Unauthorized { method, path },
            403 => PrefectError::Forbidden { method, path, detail },
            404 => PrefectError::NotFound { method, path, detail },
            429 => PrefectError::RateLimited { method, path, retry_after },
            300..=399 => PrefectError::Redirected { method, path, status },
            400..=499 => PrefectError::Invalid { method, path, status, detail },
            _ => PrefectError::ServerError { method, path, status, detail },
        }
    }
}

impl fmt::Display for PrefectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = |d: &Option<String>| d.as_ref().map(|d| format!(": {d}")).unwrap_or_default();
        match self {
            PrefectError::Unauthorized { method, path } => write!(
                f,
                "401 Unauthorized from {method} {path}: the Prefect API rejected the credentials; check the API key \
                 (X-Prefect-Api-Key / PREFECT_API_KEY) or auth string (X-Prefect-Api-Auth-String / PREFECT_API_AUTH_STRING)"
            ),
            PrefectError::Forbidden { method, path, detail: d } => write!(
                f,
                "403 Forbidden from {method} {path}{}; the credentials lack permission for this workspace or resource",
                detail(d)
            ),
            PrefectError::NotFound { method, path, detail: d } => write!(
                f,
                "404 Not Found from {method} {path}{}; check the Prefect API URL (it usually ends in /api, or \
                 /api/accounts/<account>/workspaces/<workspace> on Prefect Cloud) and the ids you passed",
                detail(d)
            ),
            PrefectError::Invalid { method, path, status, detail: d } => {
                write!(f, "{status} from {method} {path}{}", detail(d))
            }
            PrefectError::RateLimited { method, path, retry_after } => match retry_after {
                Some(after) => write!(f, "429 Too Many Requests from {method} {path}; retry after {after} seconds"),
                None => write!(f, "429 Too Many Requests from {method} {path}; wait a little before retrying"),
            },
            PrefectError::ServerError { method, path, status, detail: d } => {
                write!(f, "Prefect API unavailable: {status} from {method} {path}{}; retry later", detail(d))
            }
            PrefectError::Redirected { method, path, status } => write!(
                f,
                "{status} redirect from {method} {path} was not followed (credentials are never carried to another \
                 location); use the final API URL directly"
            ),
            PrefectError::Timeout { method, path, after_ms } => {
                write!(f, "Prefect API timed out: {method} {path} got no answer within {after_ms} ms; retry later")
            }
            PrefectError::Unreachable { host, reason } => {
                write!(f, "Prefect API unreachable at {host}: {reason}; check the API URL and that the server is up")
            }
            PrefectError::InvalidResponse { method, path, reason } => {
                write!(f, "unexpected answer from {method} {path} (not the JSON Prefect sends): {reason}")
            }
            PrefectError::ForeignHost { host } => {
                write!(f, "refused to send credentials to {host}, which is not the configured Prefect API host")
            }
            PrefectError::TooLarge { method, path, limit_bytes } => write!(
                f,
                "answer from {method} {path} is larger than {} MB and was not read; ask for less (a smaller limit or a \
                 narrower filter)",
                limit_bytes / (1024 * 1024)
            ),
            PrefectError::NotAllowed { method, path } => write!(
                f,
                "refused to send {method} {path}: this server only reads from Prefect (and writes only through its \
                 action tools), and that request is not one of those it makes (check the ids and names passed)"
            ),
            PrefectError::InvalidRequest(reason) => write!(f, "could not build the Prefect request: {reason}"),
        }
    }
}

impl std::error::Error for PrefectError {}

/// Pulls the human part out of a Prefect error body: `detail` (string or FastAPI-style
/// list), `exception_message` with its `exception_detail`, or short plain text.
fn summarise_body(body: &[u8]) -> Option<String> {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(json) => summarise_json(&json)?,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() || text.starts_with('<') {
                return None;
            }
            text.to_owned()
        }
    };
    Some(truncate(&text.split_whitespace().collect::<Vec<_>>().join(" "), DETAIL_LIMIT))
}

fn summarise_json(json: &Value) -> Option<String> {
    match json {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => {
            let validation = map.get("exception_detail").or_else(|| map.get("detail").filter(|d| d.is_array()));
            let message = map
                .get("detail")
                .and_then(Value::as_str)
                .or_else(|| map.get("exception_message").and_then(Value::as_str))
                .map(str::to_owned);
            let problems = validation.and_then(Value::as_array).map(|items| {
                items.iter().take(3).filter_map(describe_validation_problem).collect::<Vec<_>>().join("; ")
            });
            match (message, problems.filter(|p| !p.is_empty())) {
                (Some(m), Some(p)) => Some(format!("{m} ({p})")),
                (m, p) => m.or(p),
            }
        }
        _ => None,
    }
}

/// `{"loc": ["body", "filter", "since"], "msg": "…"}` → `filter.since: …`.
fn describe_validation_problem(item: &Value) -> Option<String> {
    let msg = item.get("msg").and_then(Value::as_str)?;
    let loc = item
        .get("loc")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.as_str() != Some("body"))
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default();
    Some(if loc.is_empty() { msg.to_owned() } else { format!("{loc}: {msg}") })
}

fn truncate(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(status: u16, body: &[u8]) -> UpstreamResponse {
        http::Response::builder().status(status).header("retry-after", "7").body(body.to_vec()).unwrap()
    }

    fn error(status: u16, body: Value) -> PrefectError {
        PrefectError::from_status(&Method::POST, "/api/logs/filter", response(status, body.to_string().as_bytes()))
    }

    #[test]
    fn validation_errors_quote_the_server_detail_without_python_reprs() {
        let text = error(422, json!({"detail": "Invalid limit: must be less than or equal to 200."})).to_string();
        assert_eq!(text, "422 from POST /api/logs/filter: Invalid limit: must be less than or equal to 200.");
        let text = error(
            422,
            json!({"exception_message": "Invalid request received.",
                   "exception_detail": [{"loc": ["body", "filter", "occurred", "since"], "msg": "Unable to parse string [yesterday]"}]}),
        )
        .to_string();
        assert!(text.contains("filter.occurred.since: Unable to parse string [yesterday]"), "{text}");
    }

    #[test]
    fn statuses_map_to_actionable_messages() {
        assert!(error(401, json!({"detail": "x"})).to_string().contains("check the API key"));
        assert!(error(429, json!({})).to_string().contains("retry after 7 seconds"));
        assert!(error(503, json!({})).to_string().starts_with("Prefect API unavailable: 503"));
        assert!(matches!(error(404, json!({})), PrefectError::NotFound { .. }));
    }

    #[test]
    fn html_and_huge_bodies_are_not_echoed() {
        let html = PrefectError::from_status(&Method::GET, "/api/x", response(502, b"<html>bad gateway</html>"));
        assert_eq!(html.to_string(), "Prefect API unavailable: 502 from GET /api/x; retry later");
        let long = "x".repeat(5000);
        let text = PrefectError::from_status(&Method::GET, "/api/x", response(500, long.as_bytes())).to_string();
        assert!(text.len() < DETAIL_LIMIT + 100, "{}", text.len());
    }
}
