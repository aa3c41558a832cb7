//! `retry_flow_run`: schedules a Failed, Crashed or Cancelled deployment run again, as the
//! Retry of Prefect's UI does (an AwaitingRetry state, past the orchestration rules that
//! keep a finished run finished); a worker of its pool then runs it again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ActionReport, CONFIRM_DOC, Plan, accepted_state, describe_run, flow_run, object, perform, target};
use crate::tools::args::{Id, WorkspaceId};
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, ToolError};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Retry a Failed, Crashed or Cancelled flow run of a deployment, like the Retry \
button of Prefect's UI: the same run (same id and parameters) is scheduled again and a worker of its work \
pool runs it. Two steps: called without `confirm` it changes nothing and returns a preview and a \
confirm_token; called again with the same arguments and `confirm` set to that token it schedules the retry. \
Runs in other states, and runs without a deployment (no worker could pick them up), are refused; to start a \
new run of a deployment use run_deployment.";

/// States a run can be retried from.
const RETRYABLE: [&str; 3] = ["FAILED", "CRASHED", "CANCELLED"];

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The flow run to retry.
    pub flow_run_id: Id,
    #[serde(default, serialize_with = "super::as_text")]
    pub workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    #[schemars(description = CONFIRM_DOC)]
    pub confirm: Option<String>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "retry_flow_run",
    title: "Retry Flow Run",
    description: DESCRIPTION,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: true, idempotent: false },
    failure: "Failed to retry the flow run: ",
    guide: "retry_flow_run: run a failed, crashed or cancelled deployment run again (preview first, then confirm).",
    types: ToolTypes::of::<Params, Envelope<ActionReport>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<ActionReport, ToolError> {
    let id = params.flow_run_id;
    let options = (params.confirm.as_deref(), params.workspace_id.clone());
    perform(
        ctx,
        &TOOL,
        &params,
        options,
        target("flow_run_id", id),
        async |prefect| {
            let run = flow_run(prefect, id).await?;
            let state = run.state_type.as_deref().unwrap_or("UNKNOWN");
            let shown = run.state_name.as_deref().unwrap_or(state);
            if !RETRYABLE.contains(&state) {
                return Err(ToolError::NotApplicable(format!(
                    "flow run {id} is {shown}; only Failed, Crashed or Cancelled runs can be retried{}",
                    if state == "COMPLETED" { " (to run its deployment again, use run_deployment)" } else { "" }
                )));
            }
            if run.deployment_id.is_none() {
                return Err(ToolError::NotApplicable(format!(
                    "flow run {id} has no deployment, so no worker can run it again; re-run the flow where it ran"
                )));
            }
            let preview = object(json!({
                "flow_run": describe_run(&run),
                "change": format!("{shown} → Scheduled (AwaitingRetry), to start now"),
                "then": "a worker of the run's work pool picks it up and runs it again, with the same parameters",
            }));
            Ok(Plan { preview, targets: target("flow_run_id", id), then: () })
        },
        async |prefect, (), _| {
            let state = json!({"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retried through the Prefect MCP server"});
            accepted_state(prefect.set_flow_run_state(id.0, state, true).await?, "schedule the retry")
        },
    )
    .await
}
