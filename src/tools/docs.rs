//! `docs_search_prefect` and `docs_get_release_notes`: Prefect's documentation, proxied
//! to the remote docs MCP server (`PREFECT_DOCS_MCP_URL`).
//!
//! Both tools are defined here with the remote's known schemas, so `tools/list` never
//! waits on the docs host. A call is forwarded as one stateless JSON-RPC `tools/call`;
//! a server that insists on a session gets `initialize` + `notifications/initialized`
//! first. JSON and SSE answers are both understood. The whole exchange has
//! [`DOCS_TIMEOUT_MS`]; past that, or on any transport failure, the tool reports the docs
//! service as unavailable. The remote result (content, structured content, `isError`) is
//! returned as it came.

use http::header;
use rmcp::model::{CallToolResult, ContentBlock};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::Duration;
use url::Url;

use super::args::Limit;
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{AnyObject, ToolContext};
use crate::upstream::{Fetch, FetchError, UpstreamResponse};

/// Budget for the whole exchange with the docs server, handshake included.
const DOCS_TIMEOUT_MS: u32 = 5_000;
/// What we offer in `initialize` when the docs server wants a session.
const HANDSHAKE_VERSION: &str = "2025-11-25";

const SEARCH_DESCRIPTION: &str = "Search Prefect's documentation (concepts, how-tos, API and CLI \
usage, best practices) and return the most relevant excerpts with their titles and links. Use it for \
questions about how Prefect works or should be used; use the other tools for the state of this \
workspace. Served by Prefect's remote docs service.";

const RELEASE_NOTES_DESCRIPTION: &str = "Return the release notes of one Prefect version: `version` is \
an exact release such as \"3.4.1\", or \"latest\". Use it to check what changed, was fixed or was \
deprecated in a release (e.g. compare with the server version from get_identity). Served by Prefect's \
remote docs service.";

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// What to look for, in plain words, e.g. "retry a task with exponential backoff".
    pub query: String,
    /// How many excerpts to return (the service's default when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "top_k_schema")]
    pub top_k: Option<Limit<1, 20, 5>>,
}

fn top_k_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 20}, {"type": "null"}],
        "default": null,
        "description": "How many excerpts to return (the service's default when omitted)."
    })
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseNotesParams {
    /// An exact Prefect release such as "3.4.1", or "latest".
    #[schemars(example = &"latest", example = &"3.4.1")]
    pub version: String,
}

pub const SEARCH: ToolInfo = ToolInfo {
    name: "docs_search_prefect",
    title: "Docs Search Prefect",
    description: SEARCH_DESCRIPTION,
    toolset: Some(Toolset::Docs),
    availability: Availability::DocsConfigured,
    failure: "",
    guide: "docs_search_prefect: Prefect's documentation, for how Prefect works or should be used.",
    types: ToolTypes::of::<SearchParams, AnyObject>(),
};

pub const RELEASE_NOTES: ToolInfo = ToolInfo {
    name: "docs_get_release_notes",
    title: "Docs Get Release Notes",
    description: RELEASE_NOTES_DESCRIPTION,
    toolset: Some(Toolset::Docs),
    availability: Availability::DocsConfigured,
    failure: "",
    guide: "docs_get_release_notes: what changed, was fixed or was deprecated in a Prefect release.",
    types: ToolTypes::of::<ReleaseNotesParams, AnyObject>(),
};

pub async fn search<F: Fetch>(ctx: &ToolContext<'_, F>, params: SearchParams) -> CallToolResult {
    forward(ctx, "search_prefect", &params).await
}

pub async fn release_notes<F: Fetch>(ctx: &ToolContext<'_, F>, params: ReleaseNotesParams) -> CallToolResult {
    forward(ctx, "get_release_notes", &params).await
}

/// The registry only calls the docs tools when a docs server is configured.
async fn forward<F: Fetch, P: Serialize>(ctx: &ToolContext<'_, F>, remote_tool: &str, params: &P) -> CallToolResult {
    let Some(url) = ctx.docs_url.as_ref() else {
        return CallToolResult::error(vec![ContentBlock::text("No Prefect docs server is configured on this server.")]);
    };
    let arguments = serde_json::to_value(params).expect("parameters serialise");
    match DocsSession::new(&ctx.fetch, url).call(remote_tool, arguments).await {
        Ok(result) => result,
        Err(reason) => CallToolResult::error(vec![ContentBlock::text(format!(
            "The Prefect docs service at {} is unavailable: {reason}. Try again later, or answer without \
             the documentation.",
            url.host_str().unwrap_or_default()
        ))]),
    }
}

/// One JSON-RPC exchange with the docs server.
struct Reply {
    status: u16,
    session: Option<String>,
    /// The JSON-RPC response to our request, from a JSON or SSE body.
    message: Option<Value>,
}

struct DocsSession<'a, F> {
    fetch: &'a F,
    url: &'a Url,
    deadline: time::OffsetDateTime,
    session: Option<String>,
    version: Option<String>,
}

impl<'a, F: Fetch> DocsSession<'a, F> {
    fn new(fetch: &'a F, url: &'a Url) -> Self {
        let deadline = crate::clock::now() + Duration::milliseconds(i64::from(DOCS_TIMEOUT_MS));
        DocsSession { fetch, url, deadline, session: None, version: None }
    }

    async fn call(&mut self, tool: &str, arguments: Value) -> Result<CallToolResult, String> {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        let first = self.post(&request).await?;
        // Stateful servers refuse requests outside a session (HTTP 400 or 404).
        let needs_session = (400..500).contains(&first.status) && !has_result(&first);
        let reply = if needs_session {
            self.handshake().await?;
            self.post(&request).await?
        } else {
            first
        };
        match reply.message {
            Some(message) => tool_result(message),
            None => Err(format!("HTTP {} without a JSON-RPC answer", reply.status)),
        }
    }

    async fn handshake(&mut self) -> Result<(), String> {
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "prefect-mcp-worker", "version": env!("CARGO_PKG_VERSION")}
        }});
        let reply = self.post(&initialize).await?;
        let Some(result) = reply.message.as_ref().and_then(|m| m.get("result")) else {
            return Err(format!("initialize failed with HTTP {}{}", reply.status, rpc_error(reply.message.as_ref())));
        };
        self.version = result.get("protocolVersion").and_then(Value::as_str).map(str::to_owned);
        self.session = reply.session;
        // Older servers only serve requests after this notification; its answer is empty.
        self.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
        Ok(())
    }

    async fn post(&self, message: &Value) -> Result<Reply, String> {
        let left = (self.deadline - crate::clock::now()).whole_milliseconds();
        if left <= 0 {
            return Err(format!("no answer within {DOCS_TIMEOUT_MS} ms"));
        }
        let mut request = http::Request::builder()
            .method("POST")
            .uri(self.url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::USER_AGENT, concat!("prefect-mcp-worker/", env!("CARGO_PKG_VERSION")));
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        if let Some(version) = &self.version {
            request = request.header("mcp-protocol-version", version);
        }
        let request = request.body(Some(message.to_string().into_bytes())).map_err(|e| e.to_string())?;
        let response = self.fetch.fetch(request, left as u32).await.map_err(|e| match e {
            FetchError::Timeout { .. } => format!("no answer within {DOCS_TIMEOUT_MS} ms"),
            FetchError::Network(reason) => format!("connection failed ({reason})"),
            FetchError::TooLarge { limit_bytes } => format!("answer larger than {limit_bytes} bytes"),
        })?;
        Ok(Reply {
            status: response.status().as_u16(),
            session: response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
            message: message.get("id").and_then(|id| response_message(&response, id)),
        })
    }
}

fn has_result(reply: &Reply) -> bool {
    reply.message.as_ref().is_some_and(|m| m.get("result").is_some())
}

fn rpc_error(message: Option<&Value>) -> String {
    message
        .and_then(|m| m.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(|text| format!(": {text}"))
        .unwrap_or_default()
}

/// The JSON-RPC response with `id` in a JSON body or in the `data:` of an SSE stream.
fn response_message(response: &UpstreamResponse, id: &Value) -> Option<Value> {
    let body = String::from_utf8_lossy(response.body());
    let is_ours = |message: &Value| {
        message.get("id") == Some(id) && (message.get("result").is_some() || message.get("error").is_some())
    };
    if let Ok(message) = serde_json::from_str::<Value>(&body) {
        return is_ours(&message).then_some(message);
    }
    // SSE: events are separated by blank lines; an event's data lines join with "\n".
    body.replace("\r\n", "\n").split("\n\n").find_map(|event| {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|data| data.strip_prefix(' ').unwrap_or(data))
            .collect();
        let message: Value = serde_json::from_str(&data.join("\n")).ok()?;
        is_ours(&message).then_some(message)
    })
}

/// The remote tool result as it came (text content, structured content, `isError`); a
/// JSON-RPC error becomes an error result. Non-text content blocks, which docs tools do not
/// produce, are passed on as their JSON text: mapping the JSON by hand keeps rmcp's full
/// content deserialiser (about 70 KB of wasm) out of the Worker.
fn tool_result(message: Value) -> Result<CallToolResult, String> {
    if let Some(error) = message.get("error") {
        let text = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
        return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
            "The Prefect docs service refused the call: {text}"
        ))]));
    }
    let Some(result) = message.get("result").and_then(Value::as_object) else {
        return Err("its answer is not an MCP tool result".into());
    };
    let texts: Vec<String> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .map(|block| {
                    match (block.get("type").and_then(Value::as_str), block.get("text").and_then(Value::as_str)) {
                        (Some("text"), Some(text)) => text.to_owned(),
                        _ => block.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let is_error = result.get("isError").and_then(Value::as_bool) == Some(true);
    let content = texts.iter().map(|text| ContentBlock::text(text.clone())).collect();
    let mut shaped = if is_error { CallToolResult::error(content) } else { CallToolResult::success(content) };
    shaped.structured_content = match result.get("structuredContent").filter(|v| v.is_object()) {
        Some(structured) => Some(structured.clone()),
        // The tools declare an object output, so a successful result needs structured
        // content: the text when it is a JSON object, else the text under `result`.
        None if !is_error => {
            let joined = texts.join("\n");
            Some(
                serde_json::from_str::<Value>(&joined)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({"result": joined})),
            )
        }
        None => None,
    };
    Ok(shaped)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::credentials::CredentialError;
    use crate::tools::testing::{structured, text};
    use crate::upstream::UpstreamRequest;

    /// A docs server scripted by a function of the request.
    struct Docs<H> {
        handler: H,
        sent: RefCell<Vec<UpstreamRequest>>,
    }

    impl<H: Fn(&UpstreamRequest, &Value) -> Result<UpstreamResponse, FetchError>> Docs<H> {
        fn new(handler: H) -> Self {
            Docs { handler, sent: RefCell::new(Vec::new()) }
        }

        fn bodies(&self) -> Vec<Value> {
            self.sent.borrow().iter().map(|r| serde_json::from_slice(r.body().as_deref().unwrap()).unwrap()).collect()
        }
    }

    impl<H: Fn(&UpstreamRequest, &Value) -> Result<UpstreamResponse, FetchError>> Fetch for Docs<H> {
        async fn fetch(&self, request: UpstreamRequest, _timeout_ms: u32) -> Result<UpstreamResponse, FetchError> {
            let body: Value = serde_json::from_slice(request.body().as_deref().unwrap()).unwrap();
            let answer = (self.handler)(&request, &body);
            self.sent.borrow_mut().push(request);
            answer
        }
    }

    fn respond(status: u16, content_type: &str, body: String) -> Result<UpstreamResponse, FetchError> {
        Ok(http::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(body.into_bytes())
            .unwrap())
    }

    fn search_result() -> Value {
        json!({"content": [{"type": "text", "text": "{\"query\":\"work pools\"}"}],
               "structuredContent": {"query": "work pools", "namespace": "docs", "results": [{"snippet": "…", "id": "1", "score": 0.9}]},
               "isError": false})
    }

    fn url() -> Url {
        Url::parse("http://127.0.0.1:9000/mcp").unwrap()
    }

    fn run<F: Fetch>(fetch: &F, name: &str, arguments: Value) -> CallToolResult {
        let ctx = ToolContext::new(Err(CredentialError::NotConfigured), fetch, 1000, crate::clock::now())
            .with_docs_url(Some(url()));
        super::super::testing::run(&ctx, name, arguments)
    }

    #[test]
    fn stateless_servers_answer_the_call_directly() {
        let docs = Docs::new(|_, body| {
            assert_eq!(body["method"], json!("tools/call"));
            respond(
                200,
                "application/json",
                json!({"jsonrpc": "2.0", "id": body["id"], "result": search_result()}).to_string(),
            )
        });
        let result = run(&docs, SEARCH.name, json!({"query": "work pools", "top_k": 1}));
        assert_eq!(result.is_error, Some(false));
        assert_eq!(structured(&result), &search_result()["structuredContent"]);
        assert_eq!(docs.bodies().len(), 1);
        assert_eq!(
            docs.bodies()[0]["params"],
            json!({"name": "search_prefect", "arguments": {"query": "work pools", "top_k": 1}})
        );
        let sent = docs.sent.borrow();
        assert_eq!(sent[0].headers()["accept"], "application/json, text/event-stream");
        assert!(sent[0].headers().get("mcp-session-id").is_none());
    }

    #[test]
    fn stateful_servers_get_a_handshake_and_may_answer_in_sse() {
        let docs = Docs::new(|request, body| {
            let session = request.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
            let sse = |message: Value| format!("event: message\r\ndata: {message}\r\n\r\n");
            match (body["method"].as_str().unwrap(), session.as_deref()) {
                ("initialize", None) => {
                    let result = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "docs", "version": "1"}});
                    let mut response = respond(200, "text/event-stream", sse(json!({"jsonrpc": "2.0", "id": body["id"], "result": result})))?;
                    response.headers_mut().insert("mcp-session-id", "s-1".parse().unwrap());
                    Ok(response)
                }
                ("notifications/initialized", Some("s-1")) => respond(202, "application/json", String::new()),
                ("tools/call", Some("s-1")) => {
                    assert_eq!(request.headers()["mcp-protocol-version"], "2025-06-18");
                    let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}});
                    let reply = json!({"jsonrpc": "2.0", "id": body["id"], "result": {"content": [{"type": "text", "text": "notes"}],
                                       "structuredContent": {"version": "3.4.1", "notes_markdown": "notes"}, "isError": false}});
                    respond(200, "text/event-stream", format!("{}{}", sse(progress), sse(reply)))
                }
                ("tools/call", None) => respond(
                    400,
                    "application/json",
                    json!({"jsonrpc": "2.0", "id": "server-error", "error": {"code": -32600, "message": "Bad Request: Missing session ID"}}).to_string(),
                ),
                other => panic!("unexpected {other:?}"),
            }
        });
        let result = run(&docs, RELEASE_NOTES.name, json!({"version": "3.4.1"}));
        assert_eq!(structured(&result), &json!({"version": "3.4.1", "notes_markdown": "notes"}));
        let methods: Vec<_> = docs.bodies().iter().map(|b| b["method"].as_str().unwrap().to_owned()).collect();
        assert_eq!(methods, ["tools/call", "initialize", "notifications/initialized", "tools/call"]);
        assert_eq!(docs.bodies()[3]["params"]["arguments"], json!({"version": "3.4.1"}));
    }

    #[test]
    fn remote_tool_errors_pass_through() {
        let docs = Docs::new(|_, body| {
            let result = json!({"content": [{"type": "text", "text": "Error calling tool 'search_prefect': Query must not be empty."}], "isError": true});
            respond(200, "application/json", json!({"jsonrpc": "2.0", "id": body["id"], "result": result}).to_string())
        });
        let result = run(&docs, SEARCH.name, json!({"query": " "}));
        assert_eq!(result.is_error, Some(true));
        assert_eq!(text(&result), "Error calling tool 'search_prefect': Query must not be empty.");
        assert!(result.structured_content.is_none());
    }

    #[test]
    fn json_rpc_errors_and_text_only_results_are_shaped() {
        let refused = Docs::new(|_, body| {
            let error = json!({"code": -32602, "message": "Unknown tool: get_release_notes"});
            respond(200, "application/json", json!({"jsonrpc": "2.0", "id": body["id"], "error": error}).to_string())
        });
        let result = run(&refused, RELEASE_NOTES.name, json!({"version": "latest"}));
        assert_eq!(result.is_error, Some(true));
        assert!(text(&result).contains("Unknown tool: get_release_notes"), "{}", text(&result));

        let plain = Docs::new(|_, body| {
            let result = json!({"content": [{"type": "text", "text": "no structure"}]});
            respond(200, "application/json", json!({"jsonrpc": "2.0", "id": body["id"], "result": result}).to_string())
        });
        assert_eq!(structured(&run(&plain, SEARCH.name, json!({"query": "x"}))), &json!({"result": "no structure"}));

        let image = Docs::new(|_, body| {
            let result = json!({"content": [{"type": "image", "data": "AA==", "mimeType": "image/png"}], "structuredContent": {"a": 1}});
            respond(200, "application/json", json!({"jsonrpc": "2.0", "id": body["id"], "result": result}).to_string())
        });
        let result = run(&image, SEARCH.name, json!({"query": "x"}));
        assert_eq!(text(&result), r#"{"type":"image","data":"AA==","mimeType":"image/png"}"#);
        assert_eq!(structured(&result), &json!({"a": 1}));
    }

    #[test]
    fn unreachable_or_slow_services_are_reported_as_unavailable() {
        let down = Docs::new(|_, _| Err(FetchError::Network("connection refused".into())));
        let result = run(&down, SEARCH.name, json!({"query": "x"}));
        assert_eq!(result.is_error, Some(true));
        assert!(
            text(&result).starts_with("The Prefect docs service at 127.0.0.1 is unavailable: connection failed"),
            "{}",
            text(&result)
        );

        let slow = Docs::new(|_, _| Err(FetchError::Timeout { after_ms: DOCS_TIMEOUT_MS }));
        assert!(text(&run(&slow, SEARCH.name, json!({"query": "x"}))).contains("no answer within 5000 ms"));

        let broken = Docs::new(|_, _| respond(502, "text/html", "<html>bad gateway</html>".into()));
        assert!(text(&run(&broken, SEARCH.name, json!({"query": "x"}))).contains("HTTP 502 without a JSON-RPC answer"));
    }

    #[test]
    fn arguments_are_checked_before_forwarding() {
        let docs = Docs::new(|_, _| panic!("nothing should be sent"));
        for (name, arguments, named) in [
            (SEARCH.name, json!({"query": "x", "top_k": 21}), "top_k: expected an integer from 1 to 20, got 21"),
            (SEARCH.name, json!({}), "missing field `query`"),
            (RELEASE_NOTES.name, json!({}), "missing field `version`"),
            (RELEASE_NOTES.name, json!({"version": "latest", "x": 1}), "unknown field `x`"),
        ] {
            let result = run(&docs, name, arguments);
            assert_eq!(result.is_error, Some(true));
            assert!(text(&result).contains(named), "{}", text(&result));
        }
    }

    #[test]
    fn schemas_match_the_remote_tools() {
        let tools = [(SEARCH.types.definition)(&SEARCH), (RELEASE_NOTES.types.definition)(&RELEASE_NOTES)];
        let search = &tools[0].input_schema;
        assert_eq!(search["required"], json!(["query"]));
        assert_eq!(search["properties"]["top_k"]["anyOf"][0], json!({"type": "integer", "minimum": 1, "maximum": 20}));
        assert_eq!(tools[1].input_schema["required"], json!(["version"]));
        assert_eq!(tools[1].output_schema.as_ref().unwrap()["additionalProperties"], json!(true));
    }
}
