//! The tools: one module per tool (parameters, definition, handler, result shape), plus
//! the registry that lists and dispatches them.
//!
//! Response contract (all Prefect-backed tools): `structuredContent` is an envelope
//! `{success, …tool fields…, error}` whose tool fields are always present (`[]`, `0` or
//! `null` on failure), and the text content is the same JSON. Failures set `isError`
//! and say in `error` what went wrong and what to do about it.

pub mod actions;
mod args;
mod budget;
mod diagnose;
mod filter;
mod format;
mod pools;
mod runs;
pub mod toolsets;

mod error;
mod registry;
pub use error::ToolError;
pub use registry::{call, definitions};

mod docs;
mod get_automations;
mod get_dashboard;
mod get_deployments;
mod get_flow_run_logs;
mod get_flow_runs;
mod get_flows;
mod get_identity;
mod get_object_schema;
mod get_task_runs;
mod get_work_pools;
#[cfg(test)]
mod hostile_tests;
mod list_workspaces;
mod orientation;
mod read_events;
mod review_rate_limits;

use std::borrow::Cow;
use std::cell::RefCell;

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use crate::credentials::{CredentialError, Credentials};
use crate::prefect::{CloudWorkspace, PrefectClient, WorkspaceAccess, reachable_workspaces};
use crate::upstream::{Counted, Fetch};
use args::WorkspaceId;
use toolsets::Selection;

/// What a tool call gets from its request: the resolved credentials, the upstream, and
/// the time the request arrived (default time windows are relative to it).
pub struct ToolContext<'a, F: Fetch> {
    credentials: Result<Credentials, CredentialError>,
    fetch: Counted<'a, F>,
    timeout_ms: u32,
    /// The remote docs MCP server behind the `docs_*` tools; `None` turns them off.
    docs_url: Option<Url>,
    toolsets: Selection,
    /// Whether this request may use the action tools, and as whom.
    writes: Result<actions::Writer, actions::WritesDenied>,
    /// What an action attempt records for the request's log line.
    audit: RefCell<Option<Value>>,
    pub now: OffsetDateTime,
}

impl<'a, F: Fetch> ToolContext<'a, F> {
    pub fn new(
        credentials: Result<Credentials, CredentialError>,
        fetch: &'a F,
        timeout_ms: u32,
        now: OffsetDateTime,
    ) -> Self {
        ToolContext {
            credentials,
            fetch: Counted::new(fetch),
            timeout_ms,
            docs_url: None,
            toolsets: Selection::default(),
            writes: Err(actions::WritesDenied::Disabled),
            audit: RefCell::new(None),
            now,
        }
    }

    /// Lets this request use the action tools as `writer`, or says why not.
    pub fn with_writes(mut self, writes: Result<actions::Writer, actions::WritesDenied>) -> Self {
        self.writes = writes;
        self
    }

    /// The caller, when this request may use the action tools.
    pub fn writer(&self) -> Result<&actions::Writer, actions::WritesDenied> {
        self.writes.as_ref().map_err(|denied| *denied)
    }

    fn audit(&self, record: Value) {
        *self.audit.borrow_mut() = Some(record);
    }

    fn has_audit(&self) -> bool {
        self.audit.borrow().is_some()
    }

    /// The audit record of this request's action attempt, if it made one.
    pub fn take_audit(&self) -> Option<Value> {
        self.audit.borrow_mut().take()
    }

    /// Limits the tools of this request to the connection's chosen toolsets.
    pub fn with_toolsets(mut self, toolsets: Selection) -> Self {
        self.toolsets = toolsets;
        self
    }

    /// Enables the `docs_*` tools, proxied to the docs MCP server at `url`.
    pub fn with_docs_url(mut self, url: Option<Url>) -> Self {
        self.docs_url = url;
        self
    }

    /// Whether this request's Prefect API is a Prefect Cloud workspace, which the
    /// Cloud-only tools need.
    fn is_cloud(&self) -> bool {
        self.credentials.as_ref().is_ok_and(|c| CloudWorkspace::from_api_url(&c.api_url).is_some())
    }

    /// Upstream requests made so far in this call.
    pub fn upstream_requests(&self) -> u32 {
        self.fetch.count()
    }

    /// A Prefect client for this call; `workspace_id` switches to another Prefect Cloud
    /// workspace, with the same API key. Handles cost one request to find the workspace.
    async fn prefect(&self, workspace_id: Option<WorkspaceId>) -> Result<PrefectClient<'_, Counted<'a, F>>, ToolError> {
        let mut credentials = self.credentials.clone()?;
        if let Some(workspace_id) = workspace_id {
            let cloud = CloudWorkspace::from_api_url(&credentials.api_url).ok_or_else(|| {
                ToolError::NotApplicable(format!(
                    "workspace_id only applies to Prefect Cloud, but the API URL {} is not a Cloud workspace URL \
                     (…/accounts/<account>/workspaces/<workspace>); call again without workspace_id",
                    credentials.api_url
                ))
            })?;
            credentials.api_url = match workspace_id {
                WorkspaceId::Id(id) => cloud.workspace_api_url(&id.to_string()),
                WorkspaceId::Handles { account, workspace } => {
                    let current = PrefectClient::new(&self.fetch, credentials.clone(), self.timeout_ms);
                    let found = find_workspace(&current, &cloud, &account, &workspace).await?;
                    cloud.api_url_of(&found.account_id, &found.workspace_id)
                }
            };
        }
        Ok(PrefectClient::new(&self.fetch, credentials, self.timeout_ms))
    }
}

/// The workspace with handles `account`/`workspace` among those the API key reaches; when
/// there is none, the error lists the handles there are.
async fn find_workspace<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    cloud: &CloudWorkspace,
    account: &str,
    workspace: &str,
) -> Result<WorkspaceAccess, ToolError> {
    require_cloud_api_key(prefect)?;
    let reachable = reachable_workspaces(prefect, cloud).await?;
    if let Some(found) = reachable.iter().find(|w| w.has_handles(account, workspace)) {
        return Ok(found.clone());
    }
    let choices: Vec<String> = reachable.iter().map(WorkspaceAccess::handle).collect();
    Err(ToolError::NotFound(format!(
        "workspace_id: the API key reaches no workspace {account}/{workspace}; it reaches {}. Call again with \
         one of these, or with a workspace UUID",
        if choices.is_empty() { "none".to_owned() } else { choices.join(", ") }
    )))
}

/// Prefect Cloud's account-level endpoints need an API key; never send them anything else.
fn require_cloud_api_key<F: Fetch>(prefect: &PrefectClient<'_, F>) -> Result<(), ToolError> {
    if prefect.has_api_key() {
        return Ok(());
    }
    Err(ToolError::Credentials(
        "Prefect Cloud needs an API key: send the X-Prefect-Api-Key header (or set the PREFECT_API_KEY \
         secret) together with the Cloud workspace URL"
            .into(),
    ))
}

/// Output type of the tools whose result is an arbitrary JSON object.
#[derive(Debug, Serialize)]
struct AnyObject;

impl JsonSchema for AnyObject {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "AnyObject".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "additionalProperties": true})
    }
}

impl registry::ToolOutput for AnyObject {}

/// The result envelope shared by the Prefect-backed tools.
#[derive(Debug, Serialize, JsonSchema)]
struct Envelope<T> {
    pub success: bool,
    #[serde(flatten)]
    pub data: T,
    pub error: Option<String>,
}

/// Refused arguments get the failure envelope like any other failure.
impl<T: Serialize + Default + JsonSchema + 'static> registry::ToolOutput for Envelope<T> {
    fn refusal(error: ToolError) -> CallToolResult {
        respond::<T>("", Err(error))
    }
}

/// The items' first occurrences, in order: the distinct ids or names to look up.
fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|item| seen.insert(*item)).collect()
}

/// Wraps a tool outcome in its envelope; `prefix` says what failed, e.g.
/// "Failed to fetch flows: ".
fn respond<T: Serialize + Default>(prefix: &str, outcome: Result<T, ToolError>) -> CallToolResult {
    respond_or(prefix, outcome, T::default)
}

/// [`respond`] for envelopes whose failure form is not `T::default()` (e.g. it echoes arguments).
fn respond_or<T: Serialize>(
    prefix: &str,
    outcome: Result<T, ToolError>,
    on_failure: impl FnOnce() -> T,
) -> CallToolResult {
    let (envelope, failed) = match outcome {
        Ok(data) => (Envelope { success: true, data, error: None }, false),
        Err(reason) => {
            (Envelope { success: false, data: on_failure(), error: Some(format!("{prefix}{reason}")) }, true)
        }
    };
    let mut value = serde_json::to_value(&envelope).expect("tool results serialise to JSON");
    // The text twin of the structured content, serialised once (rmcp's `structured` would
    // serialise it again).
    let content = vec![ContentBlock::text(budget::fit(&mut value))];
    let mut result = if failed { CallToolResult::error(content) } else { CallToolResult::success(content) };
    result.structured_content = Some(value);
    result
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::credentials::{Authorization, Source};
    use crate::prefect::testing::FakeUpstream;
    use serde_json::Value;

    pub fn context<'a>(fake: &'a FakeUpstream, url: &str) -> ToolContext<'a, FakeUpstream> {
        let credentials = Credentials {
            api_url: url::Url::parse(url).unwrap(),
            authorization: Authorization::None,
            source: Source::Secrets,
        };
        ToolContext::new(Ok(credentials), fake, 1000, time::macros::datetime!(2026-11-27 12:00 UTC))
    }

    pub fn run<F: Fetch>(ctx: &ToolContext<'_, F>, name: &str, arguments: Value) -> CallToolResult {
        let arguments = match arguments {
            Value::Object(map) => Some(map),
            _ => None,
        };
        futures::executor::block_on(call(ctx, name, arguments)).expect("tool exists")
    }

    pub fn structured(result: &CallToolResult) -> &Value {
        result.structured_content.as_ref().expect("structured content")
    }

    pub fn text(result: &CallToolResult) -> String {
        result.content[0].as_text().expect("text content").text.clone()
    }

    /// `fake` answering for a READY process pool `pool-a` whose limit of `pool_slots` is full,
    /// and its queue `default` with one slot, taken.
    pub fn full_pool_and_queue(fake: FakeUpstream, pool_slots: i64) -> FakeUpstream {
        let pool = serde_json::json!([{"id": "pool-id", "name": "pool-a", "type": "process", "status": "READY",
            "is_paused": false, "concurrency_limit": pool_slots, "active_slots": pool_slots}]);
        let queue = serde_json::json!([{"id": "q-id", "name": "default", "concurrency_limit": 1, "active_slots": 1}]);
        fake.on("POST", "/api/work_pools/filter", 200, pool).on(
            "POST",
            "/api/work_pools/pool-a/queues/filter",
            200,
            queue,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::registry::generate::definitions as generate_definitions;
    use super::registry::{ALL_TOOLS, DEFINITIONS};
    use super::testing::*;
    use super::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::json;

    #[test]
    fn every_tool_is_read_only_with_closed_schemas() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "https://api.prefect.cloud/api/accounts/a/workspaces/w")
            .with_docs_url(Some(url::Url::parse("http://127.0.0.1:9/mcp").unwrap()));
        let tools = definitions(&ctx);
        let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "orientation",
                "get_identity",
                "get_dashboard",
                "get_deployments",
                "get_flows",
                "get_flow_runs",
                "get_flow_run_logs",
                "get_task_runs",
                "get_work_pools",
                "read_events",
                "get_automations",
                "get_object_schema",
                "diagnose_flow_run",
                "diagnose_deployment",
                "review_rate_limits",
                "list_workspaces",
                "docs_search_prefect",
                "docs_get_release_notes"
            ]
        );
        for tool in &tools {
            let annotations = tool.annotations.as_ref().unwrap();
            assert_eq!(annotations.read_only_hint, Some(true), "{}", tool.name);
            assert_eq!(annotations.destructive_hint, Some(false));
            assert_eq!(annotations.idempotent_hint, Some(true));
            assert_eq!(annotations.open_world_hint, Some(false));
            assert_eq!(tool.input_schema["additionalProperties"], json!(false), "{}", tool.name);
            assert_eq!(tool.output_schema.as_ref().unwrap()["type"], json!("object"), "{}", tool.name);
            assert!(tool.title.as_deref().is_some_and(|t| !t.is_empty()));
            let schemas = serde_json::to_string(&(&tool.input_schema, &tool.output_schema)).unwrap();
            assert!(!schemas.contains(r#""format":"uint"#) && !schemas.contains(r#""format":"int"#), "{}", tool.name);
        }
    }

    #[test]
    fn definitions_json_is_generated_from_the_tool_types() {
        let generated = serde_json::to_string_pretty(&generate_definitions()).unwrap() + "\n";
        if std::env::var_os("UPDATE_DEFINITIONS").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/src/tools/definitions.json"), &generated).unwrap();
            return;
        }
        assert!(
            generated == DEFINITIONS,
            "src/tools/definitions.json is stale: rewrite it with `UPDATE_DEFINITIONS=1 cargo test definitions_json`"
        );
        let served = ALL_TOOLS.with(|all| serde_json::to_value(all).unwrap());
        assert_eq!(served, serde_json::to_value(generate_definitions()).unwrap(), "parsing keeps every field");
    }

    #[test]
    fn cloud_and_docs_tools_are_listed_per_request() {
        let names = |ctx: &ToolContext<'_, FakeUpstream>| {
            definitions(ctx).iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
        };
        let fake = FakeUpstream::new();
        let oss = names(&context(&fake, "http://127.0.0.1:4200/api"));
        assert_eq!(oss.len(), 14);
        assert_eq!(oss.last().map(String::as_str), Some("diagnose_deployment"));
        let cloud = names(&context(&fake, "https://cloud.test/api/accounts/a/workspaces/w"));
        assert_eq!(cloud[cloud.len() - 2..], ["review_rate_limits", "list_workspaces"]);
        let unconfigured = ToolContext::new(Err(CredentialError::NotConfigured), &fake, 1000, crate::clock::now());
        assert!(!names(&unconfigured).iter().any(|name| name == "review_rate_limits" || name == "list_workspaces"));
        // Without a docs server the docs tools are unknown, not failing.
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        assert!(futures::executor::block_on(call(&ctx, "docs_search_prefect", None)).is_none());
    }

    #[test]
    fn invalid_arguments_are_tool_errors_naming_the_argument() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_flows", json!({"limit": 0}));
        assert_eq!(result.is_error, Some(true));
        assert!(text(&result).contains("limit: expected an integer from 1 to 200, got 0"), "{}", text(&result));
        // The response contract's failure envelope, like every other failure of the tool.
        let envelope = structured(&result);
        assert_eq!(
            (&envelope["success"], &envelope["flows"], &envelope["count"]),
            (&json!(false), &json!([]), &json!(0))
        );
        let error = envelope["error"].as_str().unwrap();
        assert!(error.starts_with("Invalid arguments for tool get_flows: limit: expected an integer"), "{error}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text(&result)).unwrap(), *envelope);
        // Tools without an envelope answer in plain text.
        let result = run(&ctx, "get_object_schema", json!({"object_type": "flow"}));
        assert_eq!((result.is_error, &result.structured_content), (Some(true), &None));
        assert!(text(&result).starts_with("Invalid arguments for tool get_object_schema: "), "{}", text(&result));
        assert_eq!(ctx.upstream_requests(), 0);
    }

    #[test]
    fn oversized_arguments_are_refused_before_any_request() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let deep = (0..9).fold(json!("x"), |inner, _| json!({"any_": inner}));
        let wide: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        let cases = [
            (json!({"flow_run_id": "x".repeat(4097)}), "get_flow_run_logs", "flow_run_id: a string longer than 4096"),
            (json!({"filter": {"name": {"any_": wide}}}), "get_flows", "filter: too large (more than 200 values)"),
            (json!({"filter": {"name": deep}}), "get_flows", "filter: nested deeper than 8 levels"),
        ];
        for (arguments, tool, message) in cases {
            let result = run(&ctx, tool, arguments);
            assert_eq!(result.is_error, Some(true));
            assert!(text(&result).contains(message), "{}", text(&result));
        }
        let fine = (0..6).fold(json!(["x"]), |inner, _| json!({"any_": inner}));
        assert!(
            args::parse::<serde_json::Value>(Some(
                json!({"filter": fine, "q": "x".repeat(4096)}).as_object().unwrap().clone()
            ))
            .is_ok()
        );
        assert_eq!(ctx.upstream_requests(), 0);
    }

    #[test]
    fn missing_credentials_are_tool_errors_naming_header_and_secret() {
        let fake = FakeUpstream::new();
        let ctx = ToolContext::new(Err(CredentialError::NotConfigured), &fake, 1000, crate::clock::now());
        let result = run(&ctx, "get_flows", json!({}));
        assert_eq!(result.is_error, Some(true));
        let envelope = structured(&result);
        assert_eq!(envelope["success"], json!(false));
        assert_eq!(envelope["flows"], json!([]));
        let error = envelope["error"].as_str().unwrap();
        assert!(error.starts_with("Failed to fetch flows: ") && error.contains("X-Prefect-Api-Url"), "{error}");
        assert!(error.contains("PREFECT_API_URL"), "{error}");
    }

    #[test]
    fn workspace_id_needs_a_cloud_url() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_flows", json!({"workspace_id": "5f3b3c1e-8f7a-4c2e-9d7b-1a2b3c4d5e6f"}));
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert!(error.contains("only applies to Prefect Cloud"), "{error}");
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn workspace_id_switches_cloud_workspace() {
        let fake = FakeUpstream::new().on(
            "POST",
            "/api/accounts/acc/workspaces/5f3b3c1e-8f7a-4c2e-9d7b-1a2b3c4d5e6f/flows/filter",
            200,
            json!([]),
        );
        let ctx = context(&fake, "https://api.prefect.cloud/api/accounts/acc/workspaces/ws");
        let result = run(&ctx, "get_flows", json!({"workspace_id": "5f3b3c1e-8f7a-4c2e-9d7b-1a2b3c4d5e6f"}));
        assert_eq!(structured(&result)["success"], json!(true), "{:?}", result);
    }

    #[test]
    fn unknown_tools_are_reported_as_absent() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        assert!(futures::executor::block_on(call(&ctx, "nope", None)).is_none());
    }
}
