//! The tool registry: every tool is one [`ToolInfo`] declaration in its own module plus one
//! line in [`registry!`]'s list, which generates the definitions, the call dispatch, the
//! toolset membership and `orientation`'s guide.

use std::future::Future;
use std::pin::Pin;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::toolsets::Toolset;
use super::{ToolContext, ToolError, args, respond};
use crate::upstream::Fetch;

/// When a tool is listed for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Always,
    /// Listed only when the request's API URL is a Prefect Cloud workspace, but callable on
    /// any URL, so that an OSS caller learns why it does not apply.
    PrefectCloud,
    /// Listed and callable only when a docs MCP server is configured.
    DocsConfigured,
    /// Changes Prefect: listed only to callers who may write (see [`super::actions`]);
    /// anyone else who names it learns why not. The hints are its `tools/list` annotations.
    Action {
        destructive: bool,
        idempotent: bool,
    },
}

/// One tool: what `tools/list` shows of it and where it belongs. Its handler is the
/// `call` named beside it in the [`registry!`] list.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the Worker lists definitions.json; its generator reads title and description")
)]
pub struct ToolInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// The toolset a connection chooses it by; `None` keeps it in every selection.
    pub toolset: Option<Toolset>,
    pub availability: Availability,
    /// How the `error` of a failed call begins, e.g. "Failed to fetch flows: "; empty for
    /// tools without the envelope.
    pub failure: &'static str,
    /// `orientation`'s line about the tool; empty for none.
    pub guide: &'static str,
    /// What follows from the parameter and output types.
    pub types: ToolTypes,
}

/// The parts of a tool that its parameter and output types decide.
pub struct ToolTypes {
    /// The definition, with the schemas of both types (tests only, see [`generate`]).
    #[cfg(test)]
    pub definition: fn(&ToolInfo) -> Tool,
    /// The result of a call whose arguments were refused before it ran.
    refusal: fn(ToolError) -> CallToolResult,
}

impl ToolTypes {
    #[cfg_attr(not(test), expect(clippy::extra_unused_type_parameters, reason = "only tests generate P's schema"))]
    pub const fn of<P: JsonSchema + 'static, O: ToolOutput>() -> Self {
        ToolTypes {
            #[cfg(test)]
            definition: generate::described::<P, O>,
            refusal: O::refusal,
        }
    }
}

/// What a handler returns: a finished result, or the outcome to wrap in the envelope.
pub trait Answer {
    fn into_result(self, failure: &str) -> CallToolResult;
}

impl Answer for CallToolResult {
    fn into_result(self, _: &str) -> CallToolResult {
        self
    }
}

impl<T: Serialize + Default> Answer for Result<T, ToolError> {
    fn into_result(self, failure: &str) -> CallToolResult {
        respond(failure, self)
    }
}

/// A tool's result type.
pub trait ToolOutput: JsonSchema + 'static {
    /// The result of a failed call: by default an `isError` text, which tools whose result
    /// has a failure form (the envelope) replace with that form.
    fn refusal(error: ToolError) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(error.to_string())])
    }
}

impl ToolInfo {
    /// Whether the tool is on offer to this request: chosen by its toolsets and applicable to
    /// its Prefect API and configuration.
    pub fn offered<F: Fetch>(&self, ctx: &ToolContext<'_, F>) -> bool {
        self.callable(ctx)
            && match self.availability {
                Availability::PrefectCloud => ctx.is_cloud(),
                Availability::Action { .. } => ctx.writer().is_ok(),
                Availability::Always | Availability::DocsConfigured => true,
            }
    }

    fn callable<F: Fetch>(&self, ctx: &ToolContext<'_, F>) -> bool {
        ctx.toolsets.allows(self.name) && (self.availability != Availability::DocsConfigured || ctx.docs_url.is_some())
    }
}

/// Generates [`TOOLS`] and [`dispatch`] from one list of `info => handler` pairs.
macro_rules! registry {
    ($($info:path => $handler:path),* $(,)?) => {
        /// Every tool, in `tools/list` order.
        pub const TOOLS: &[&ToolInfo] = &[$(&$info),*];

        /// Runs the tool named `name`; `None` when there is none.
        async fn dispatch<F: Fetch>(
            ctx: &ToolContext<'_, F>,
            name: &str,
            arguments: Option<JsonObject>,
        ) -> Option<CallToolResult> {
            $(if name == $info.name {
                // Behind a pointer each tool's call (argument parsing, handler, result) is its
                // own code rather than one arm of a state machine holding every tool's: V8
                // compiles wasm functions on their first call, and the first call of a fresh
                // isolate then compiles only the tool it runs.
                let running: Pin<Box<dyn Future<Output = CallToolResult> + '_>> =
                    Box::pin(invoke(&$info, arguments, |p| $handler(ctx, p)));
                return Some(running.await);
            })*
            None
        }
    };
}

use super::actions::{deployment_schedules, resume_flow_run, run_deployment, run_state};
use super::{
    diagnose, docs, get_automations, get_dashboard, get_deployments, get_flow_run_logs, get_flow_runs, get_flows,
    get_identity, get_object_schema, get_task_runs, get_work_pools, list_workspaces, orientation, read_events,
    review_rate_limits,
};

registry! {
    orientation::TOOL => orientation::call,
    get_identity::TOOL => get_identity::call,
    get_dashboard::TOOL => get_dashboard::call,
    get_deployments::TOOL => get_deployments::call,
    get_flows::TOOL => get_flows::call,
    get_flow_runs::TOOL => get_flow_runs::call,
    get_flow_run_logs::TOOL => get_flow_run_logs::call,
    get_task_runs::TOOL => get_task_runs::call,
    get_work_pools::TOOL => get_work_pools::call,
    read_events::TOOL => read_events::call,
    get_automations::TOOL => get_automations::call,
    get_object_schema::TOOL => get_object_schema::call,
    diagnose::flow_run::TOOL => diagnose::flow_run::call,
    diagnose::deployment::TOOL => diagnose::deployment::call,
    review_rate_limits::TOOL => review_rate_limits::call,
    list_workspaces::TOOL => list_workspaces::call,
    docs::SEARCH => docs::search,
    docs::RELEASE_NOTES => docs::release_notes,
    run_deployment::TOOL => run_deployment::call,
    run_state::CANCEL_TOOL => run_state::cancel,
    run_state::RETRY_TOOL => run_state::retry,
    resume_flow_run::TOOL => resume_flow_run::call,
    deployment_schedules::PAUSE_TOOL => deployment_schedules::pause,
    deployment_schedules::RESUME_TOOL => deployment_schedules::resume,
}

/// Definitions with the schemas of the parameter and output types, generated by tests into
/// definitions.json: in the Worker the schema generator would add about 450 KB of wasm.
#[cfg(test)]
pub(super) mod generate {
    use std::sync::Arc;

    use rmcp::model::{JsonObject, Tool, ToolAnnotations};
    use schemars::JsonSchema;

    use super::{Availability, TOOLS, ToolInfo};

    /// Every tool's definition, in `tools/list` order, with schemas generated from its parameter
    /// and result types: the source of `definitions.json` (a unit test keeps the two equal, and
    /// rewrites the file with `UPDATE_DEFINITIONS=1 cargo test definitions_json`).
    pub fn definitions() -> Vec<Tool> {
        TOOLS.iter().map(|info| (info.types.definition)(info)).collect()
    }

    /// The definition of a tool whose parameters are `P` and whose result is `O`: read-only
    /// unless it is an action.
    pub fn described<P: JsonSchema + 'static, O: JsonSchema + 'static>(info: &ToolInfo) -> Tool {
        let (read_only, destructive, idempotent) = match info.availability {
            Availability::Action { destructive, idempotent } => (false, destructive, idempotent),
            _ => (true, false, true),
        };
        let mut tool = Tool::new(info.name, info.description, Arc::new(JsonObject::new()))
            .with_input_schema::<P>()
            .with_output_schema::<O>()
            .with_title(info.title)
            .with_annotations(
                ToolAnnotations::with_title(info.title)
                    .read_only(read_only)
                    .destructive(destructive)
                    .idempotent(idempotent)
                    .open_world(false),
            );
        drop_numeric_formats(Arc::make_mut(&mut tool.input_schema));
        if let Some(output) = tool.output_schema.as_mut() {
            drop_numeric_formats(Arc::make_mut(output));
        }
        tool
    }

    /// schemars describes Rust integer widths as `format: "uint32"` and the like; JSON Schema
    /// has no such formats and validators (the TypeScript SDK's among them) warn about each.
    fn drop_numeric_formats(schema: &mut JsonObject) {
        let numeric = |v: &serde_json::Value| {
            v.as_str().is_some_and(|f| f.starts_with("int") || f.starts_with("uint") || f == "float" || f == "double")
        };
        if schema.get("format").is_some_and(numeric) {
            schema.remove("format");
        }
        for value in schema.values_mut() {
            match value {
                serde_json::Value::Object(inner) => drop_numeric_formats(inner),
                serde_json::Value::Array(items) => {
                    items.iter_mut().filter_map(serde_json::Value::as_object_mut).for_each(drop_numeric_formats)
                }
                _ => {}
            }
        }
    }
}

/// [`generate::definitions`]' output, as served. Generating the schemas at run time cost a
/// fresh isolate about 25 ms of CPU on its first `tools/list` (mostly V8 compiling the
/// schema generator) and 350 KB of wasm.
pub(super) const DEFINITIONS: &str = include_str!("definitions.json");

thread_local! {
    /// Every tool, parsed once per isolate, in [`TOOLS`] order.
    pub(super) static ALL_TOOLS: Vec<Tool> =
        serde_json::from_str(DEFINITIONS).expect("definitions.json holds tool definitions");
}

/// The tools this request can use, in the order `tools/list` shows them: the Cloud-only
/// ones only when the request's API URL is a Prefect Cloud workspace, the docs proxies
/// only when a docs server is configured, and only those of the chosen toolsets.
pub fn definitions<F: Fetch>(ctx: &ToolContext<'_, F>) -> Vec<Tool> {
    ALL_TOOLS
        .with(|all| TOOLS.iter().zip(all).filter(|(info, _)| info.offered(ctx)).map(|(_, tool)| tool.clone()).collect())
}

/// Runs tool `name`; `None` when this request has no such tool.
pub async fn call<F: Fetch>(
    ctx: &ToolContext<'_, F>,
    name: &str,
    arguments: Option<JsonObject>,
) -> Option<CallToolResult> {
    let info = TOOLS.iter().find(|info| info.name == name).filter(|info| info.callable(ctx))?;
    if !matches!(info.availability, Availability::Action { .. }) {
        return dispatch(ctx, name, arguments).await;
    }
    // Every action attempt leaves an audit record; the action records its own once it has
    // checked its arguments, this one says why it never got that far.
    let (result, reason) = match ctx.writer() {
        Err(denied) => ((info.types.refusal)(ToolError::NotApplicable(denied.explain(info.name))), denied.kind()),
        Ok(_) => (dispatch(ctx, name, arguments).await?, "invalid_arguments"),
    };
    if !ctx.has_audit() {
        let caller = ctx.writer().ok().map(|writer| writer.id().to_owned());
        ctx.audit(serde_json::json!({"action": info.name, "caller": caller, "outcome": "refused", "reason": reason}));
    }
    Some(result)
}

async fn invoke<P: DeserializeOwned, A: Answer, Fut: Future<Output = A>>(
    info: &ToolInfo,
    arguments: Option<JsonObject>,
    handler: impl FnOnce(P) -> Fut,
) -> CallToolResult {
    match args::parse::<P>(arguments) {
        Ok(params) => handler(params).await.into_result(info.failure),
        Err(reason) => (info.types.refusal)(ToolError::InvalidArguments(format!(
            "Invalid arguments for tool {}: {reason}. Fix the argument and call again; the tool's inputSchema \
             lists the accepted arguments.",
            info.name
        ))),
    }
}
