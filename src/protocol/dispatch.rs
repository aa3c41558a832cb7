//! JSON-RPC: classify one message, answer it in its era, shape the result for that era.

use http::{HeaderMap, StatusCode};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CompleteResult, CompletionInfo, DiscoverResult, EmptyResult, ErrorCode,
    ErrorData, GetPromptRequestParams, Implementation, InitializeRequestParams, InitializeResult, JsonRpcError,
    JsonRpcResponse, JsonRpcVersion2_0, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, ProtocolVersion, RequestId, ServerCapabilities, ServerResult,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::access::{self, GrantedAccess};
use super::era::{self, Era, SUPPORTED_VERSIONS};
use super::log::{self, Summary};
use crate::credentials;
use crate::prompts;
use crate::settings::Settings;
use crate::tools::toolsets::Selection;
use crate::tools::{self, ToolContext};
use crate::upstream::Fetch;

const SERVER_NAME: &str = "Prefect MCP Server";
const SERVER_INFO_META_KEY: &str = "io.modelcontextprotocol/serverInfo";
/// How long 2026-07-28 clients may reuse a `tools/list` or discover answer. The list
/// depends on the caller's credentials, so it is private to them.
const LIST_TTL_MS: u64 = 300_000;

/// What to send back for one message.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// `None` for notifications and responses (HTTP 202, empty body).
    pub body: Option<Envelope>,
    /// What happened, for the log line; its `upstream_requests` (Prefect requests made
    /// while answering) is also reported in a response header.
    pub summary: Summary,
}

impl Reply {
    fn accepted() -> Self {
        Reply { status: StatusCode::ACCEPTED, body: None, summary: Summary::default() }
    }

    /// 400 for a message that is not a JSON-RPC request this server can take.
    fn invalid_request(id: Option<&Value>, reason: &'static str) -> Self {
        Reply::error(StatusCode::BAD_REQUEST, id, ErrorData::invalid_request(reason, None))
    }

    fn error(status: StatusCode, id: Option<&Value>, error: ErrorData) -> Self {
        let summary = Summary { error_code: Some(error.code.0), ..Default::default() };
        Reply { status, body: Some(Envelope::error(id, error)), summary }
    }
}

/// A JSON-RPC response or error as it goes on the wire, serialised without an intermediate
/// `Value` (a result may hold tens of kilobytes of structured content).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Envelope {
    Response(JsonRpcResponse<Value>),
    Error(JsonRpcError),
    /// What rmcp's envelopes cannot say: an `id` above `i64::MAX` or written as a float
    /// (its `RequestId` holds an `i64` or a string), and the `"id": null` JSON-RPC requires
    /// on errors to requests whose id could not be read.
    Raw(Value),
}

impl Envelope {
    /// The answer to request `id`.
    fn response(id: &Value, result: Value) -> Self {
        match request_id(id) {
            Some(id) => Envelope::Response(JsonRpcResponse { jsonrpc: JsonRpcVersion2_0, id, result }),
            // An id rmcp cannot hold; JSON-RPC echoes every id.
            None => Envelope::Raw(json!({"jsonrpc": "2.0", "id": id, "result": result})),
        }
    }

    /// The error for request `id`, or for a request whose id could not be read.
    pub fn error(id: Option<&Value>, error: ErrorData) -> Self {
        match id.and_then(request_id) {
            Some(id) => Envelope::Error(JsonRpcError::new(Some(id), error)),
            // rmcp would omit a missing id; JSON-RPC wants `"id": null` (or the odd id echoed).
            None => Envelope::Raw(json!({"jsonrpc": "2.0", "id": id, "error": error})),
        }
    }
}

/// The id as rmcp holds it, when that echoes it exactly: not above `i64::MAX`, and not
/// written as a float (`1.0` would come back as `1`).
fn request_id(id: &Value) -> Option<RequestId> {
    match id {
        Value::String(id) => Some(RequestId::String(id.as_str().into())),
        Value::Number(id) => id.as_i64().map(RequestId::Number),
        _ => None,
    }
}

fn server_info() -> Implementation {
    Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION"))
}

/// Nothing changes at run time, so no `listChanged`. Handshake-era clients also get
/// `logging`, which they may set (it is a no-op: this server emits no log messages); it is
/// deprecated and gone from 2026-07-28.
#[allow(deprecated)]
fn capabilities(era: &Era) -> ServerCapabilities {
    let builder = ServerCapabilities::builder().enable_tools().enable_prompts().enable_resources().enable_completions();
    match era {
        Era::Legacy(_) => builder.enable_logging().build(),
        Era::Modern => builder.build(),
    }
}

/// Answers one parsed JSON-RPC message with the tools of the chosen `toolsets`.
pub async fn handle<F: Fetch>(
    message: Value,
    headers: &HeaderMap,
    toolsets: Selection,
    settings: &Settings,
    fetch: &F,
    grant: Option<&GrantedAccess>,
) -> Reply {
    let rpc_method = message.get("method").and_then(Value::as_str).map(log::known_method);
    let mut reply = handle_message(message, headers, toolsets, settings, fetch, grant).await;
    reply.summary.rpc_method = rpc_method;
    reply
}

async fn handle_message<F: Fetch>(
    message: Value,
    headers: &HeaderMap,
    toolsets: Selection,
    settings: &Settings,
    fetch: &F,
    grant: Option<&GrantedAccess>,
) -> Reply {
    if message.is_array() {
        return Reply::invalid_request(None, "batch requests are not supported; send one JSON-RPC message per POST");
    }
    let Some(object) = message.as_object() else {
        return Reply::invalid_request(None, "the body must be a JSON-RPC 2.0 object");
    };
    let id = object.get("id");
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Reply::invalid_request(id, "`jsonrpc` must be \"2.0\"");
    }
    let Some(method) = object.get("method") else {
        // A response to a server request: nothing to do for a server that sends none.
        if id.is_some() && (object.contains_key("result") || object.contains_key("error")) {
            return Reply::accepted();
        }
        return Reply::invalid_request(id, "a request needs a `method`");
    };
    let Some(method) = method.as_str() else {
        return Reply::invalid_request(id, "`method` must be a string");
    };
    let Some(id) = id else {
        return Reply::accepted(); // A notification.
    };
    if !(id.is_string() || id.is_i64() || id.is_u64()) {
        return Reply::invalid_request(None, "`id` must be a string or an integer");
    }
    let params = object.get("params");
    if params.is_some_and(|p| !p.is_object() && !p.is_null()) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            Some(id),
            ErrorData::invalid_params("`params` must be an object", None),
        );
    }

    let era = match era::classify(headers, method, params) {
        Ok(era) => era,
        Err(rejection) => return Reply::error(rejection.status, Some(id), rejection.error),
    };
    let credentials = credentials::resolve_granted(headers, settings, grant.and_then(|g| g.credentials.as_ref()));
    let writes = access::writer(headers, settings, grant, &credentials);
    let ctx = ToolContext::new(credentials, fetch, settings.upstream_timeout_ms, crate::clock::now())
        .with_docs_url(settings.docs_mcp_url.clone())
        .with_toolsets(toolsets)
        .with_writes(writes);
    let outcome = answer(&era, method, params, &ctx).await;
    let mut reply = match outcome {
        Ok(result) => {
            let mut summary = Summary::default();
            if let ServerResult::CallToolResult(call) = &result {
                // Only a tool that exists gets here, so its name is ours, not the caller's text.
                summary.tool = params.and_then(|p| p.get("name")).and_then(Value::as_str).map(str::to_owned);
                summary.tool_error = call.is_error == Some(true);
            }
            let body = Envelope::response(id, shape_for_era(result, &era));
            Reply { status: StatusCode::OK, body: Some(body), summary }
        }
        Err(error) => Reply::error(error_status(&era, &error), Some(id), error),
    };
    reply.summary.era = Some(match &era {
        Era::Legacy(version) if era::is_supported(version) => version.to_string(),
        Era::Legacy(_) => "unsupported".to_owned(),
        Era::Modern => ProtocolVersion::V_2026_07_28.to_string(),
    });
    reply.summary.upstream_requests = ctx.upstream_requests();
    reply.summary.audit = ctx.take_audit();
    reply
}

/// In 2026-07-28 errors carry HTTP semantics; handshake-era errors travel with 200.
fn error_status(era: &Era, error: &ErrorData) -> StatusCode {
    match (era, error.code) {
        (Era::Legacy(_), _) => StatusCode::OK,
        (Era::Modern, ErrorCode::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
        (Era::Modern, _) => StatusCode::OK,
    }
}

async fn answer<F: Fetch>(
    era: &Era,
    method: &str,
    params: Option<&Value>,
    ctx: &ToolContext<'_, F>,
) -> Result<ServerResult, ErrorData> {
    let legacy = matches!(era, Era::Legacy(_));
    match method {
        "initialize" if let Era::Legacy(version) = era => {
            // Parse to reject malformed handshakes; the answer does not depend on them.
            let _: InitializeRequestParams = parse_params(params)?;
            Ok(ServerResult::InitializeResult(
                InitializeResult::new(capabilities(era))
                    .with_server_info(server_info())
                    .with_protocol_version(version.clone()),
            ))
        }
        "server/discover" => Ok(ServerResult::DiscoverResult(
            DiscoverResult::new(SUPPORTED_VERSIONS.to_vec(), capabilities(era))
                .with_server_info(server_info())
                .with_ttl_ms(LIST_TTL_MS)
                .with_cache_scope(CacheScope::Public),
        )),
        // Handshake-era utilities; 2026-07-28 removed them.
        "ping" | "logging/setLevel" if legacy => Ok(ServerResult::EmptyResult(EmptyResult {})),
        "tools/list" => Ok(ServerResult::ListToolsResult(
            ListToolsResult::with_all_items(tools::definitions(ctx))
                .with_ttl_ms(LIST_TTL_MS)
                .with_cache_scope(CacheScope::Private),
        )),
        "tools/call" => {
            let call: CallToolRequestParams = parse_params(params)?;
            match tools::call(ctx, &call.name, call.arguments).await {
                Some(result) => Ok(ServerResult::CallToolResult(result)),
                None => Err(ErrorData::invalid_params(
                    format!("Unknown tool: '{}'", call.name),
                    Some(
                        json!({"available": tools::definitions(ctx).iter().map(|t| t.name.clone()).collect::<Vec<_>>()}),
                    ),
                )),
            }
        }
        // No resources yet: empty lists, so clients that list everything work.
        "prompts/list" => Ok(ServerResult::ListPromptsResult(
            ListPromptsResult::with_all_items(prompts::list())
                .with_ttl_ms(LIST_TTL_MS)
                .with_cache_scope(CacheScope::Public),
        )),
        "prompts/get" => {
            let request: GetPromptRequestParams = parse_params(params)?;
            prompts::get(&request.name, request.arguments.as_ref()).map(ServerResult::GetPromptResult)
        }
        "resources/list" => Ok(ServerResult::ListResourcesResult(
            ListResourcesResult::with_all_items(Vec::new())
                .with_ttl_ms(LIST_TTL_MS)
                .with_cache_scope(CacheScope::Public),
        )),
        "resources/templates/list" => Ok(ServerResult::ListResourceTemplatesResult(
            ListResourceTemplatesResult::with_all_items(Vec::new())
                .with_ttl_ms(LIST_TTL_MS)
                .with_cache_scope(CacheScope::Public),
        )),
        "resources/read" => {
            let uri = params.and_then(|p| p.get("uri")).cloned().unwrap_or(Value::Null);
            Err(ErrorData::invalid_params(format!("Resource not found: {uri}"), Some(json!({"uri": uri}))))
        }
        "completion/complete" => Ok(ServerResult::CompleteResult(CompleteResult::new(CompletionInfo::default()))),
        _ => {
            Err(ErrorData::new(ErrorCode::METHOD_NOT_FOUND, format!("Method not found: {method}"), Some(json!(method))))
        }
    }
}

fn parse_params<T: serde::de::DeserializeOwned>(params: Option<&Value>) -> Result<T, ErrorData> {
    let value = params.cloned().filter(|p| !p.is_null()).unwrap_or_else(|| json!({}));
    serde_path_to_error::deserialize(value).map_err(|e| ErrorData::invalid_params(format!("invalid params: {e}"), None))
}

/// Handshake-era peers get results without the 2026-07-28 fields; 2026-07-28 peers get
/// `resultType`, cache hints and the server's identity in `_meta` on every result.
fn shape_for_era(mut result: ServerResult, era: &Era) -> Value {
    // A tool's structured content is already a JSON value, often tens of kilobytes: it is set
    // aside and moved back rather than copied into a new tree with the rest of the result.
    let structured = match &mut result {
        ServerResult::CallToolResult(call) => call.structured_content.take(),
        _ => None,
    };
    let mut value = shape_rest_for_era(result, era);
    if let (Some(structured), Some(object)) = (structured, value.as_object_mut()) {
        object.insert("structuredContent".into(), structured);
    }
    value
}

fn shape_rest_for_era(mut result: ServerResult, era: &Era) -> Value {
    match era {
        Era::Legacy(_) => {
            result.strip_result_type_for_legacy_peer();
            let mut value = serde_json::to_value(result).expect("results serialise");
            if let Some(object) = value.as_object_mut() {
                object.remove("ttlMs");
                object.remove("cacheScope");
            }
            value
        }
        Era::Modern => {
            result.fill_missing_cache_hints();
            let mut value = serde_json::to_value(result).expect("results serialise");
            if let Some(object) = value.as_object_mut() {
                let meta = object.entry("_meta").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert(
                        SERVER_INFO_META_KEY.into(),
                        serde_json::to_value(server_info()).expect("serialisable"),
                    );
                }
                object.entry("resultType").or_insert_with(|| json!("complete"));
            }
            value
        }
    }
}
