//! `cancel_flow_run`: moves a Scheduled, Pending, Running or Paused run to Cancelling, as
//! Prefect's CLI and UI do; its worker then stops the infrastructure and marks it Cancelled.
//! A run with no infrastructure to stop (Scheduled and not started, or suspended while
//! Paused) Prefect cancels at once: it rejects Cancelling and sets Cancelled instead.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ActionReport, CONFIRM_DOC, Plan, accepted_state, describe_run, flow_run, object, perform, target};
use crate::tools::args::{Id, WorkspaceId};
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, ToolError};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Cancel a flow run that is Scheduled, Pending, Running or Paused. Two steps: \
called without `confirm` it changes nothing and returns a preview (the run and its state change) and a \
confirm_token; called again with the same arguments and `confirm` set to that token it moves the run to \
Cancelling, after which its worker stops the infrastructure and Prefect marks the run Cancelled (a run \
with no infrastructure to stop, e.g. one not started yet, is Cancelled at once). Runs already in a final \
state (Completed, Failed, Cancelled, Crashed) or being cancelled are refused.";

/// States a run can be cancelled from.
const CANCELLABLE: [&str; 4] = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED"];

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The flow run to cancel.
    pub flow_run_id: Id,
    #[serde(default, serialize_with = "super::as_text")]
    pub workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    #[schemars(description = CONFIRM_DOC)]
    pub confirm: Option<String>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "cancel_flow_run",
    title: "Cancel Flow Run",
    description: DESCRIPTION,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: true, idempotent: true },
    failure: "Failed to cancel the flow run: ",
    guide: "cancel_flow_run: stop a scheduled, pending, running or paused run (preview first, then confirm).",
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
            if state == "CANCELLING" {
                return Err(ToolError::NotApplicable(format!(
                    "flow run {id} is already being cancelled (Cancelling); nothing to do"
                )));
            }
            if !CANCELLABLE.contains(&state) {
                return Err(ToolError::NotApplicable(format!(
                    "flow run {id} is {} (a final state) and cannot be cancelled; only Scheduled, Pending, Running \
                     or Paused runs can",
                    run.state_name.as_deref().unwrap_or(state)
                )));
            }
            let shown = run.state_name.as_deref().unwrap_or(state);
            let suspended = run.state.as_ref().and_then(|s| s.state_details.as_ref()).is_some_and(|d| d.pause_reschedule);
            // Prefect's own rule for when there is nothing to stop.
            let at_once = (state == "SCHEDULED" && (run.infrastructure_pid.is_none() || shown == "Resuming"))
                || (state == "PAUSED" && suspended);
            let (next, then) = if at_once {
                ("Cancelled", "nothing to stop: the run has no infrastructure, so Prefect cancels it at once")
            } else {
                ("Cancelling", "the run's worker stops its infrastructure and Prefect marks the run Cancelled")
            };
            let preview = object(json!({
                "flow_run": describe_run(&run),
                "change": format!("{shown} → {next}"),
                "then": then,
            }));
            Ok(Plan { preview, targets: target("flow_run_id", id), then: () })
        },
        async |prefect, (), _| {
            let state = json!({"type": "CANCELLING", "name": "Cancelling", "message": "Cancelled through the Prefect MCP server"});
            let mut result = prefect.set_flow_run_state(id.0, state, false).await?;
            if result.state.as_ref().is_some_and(|s| s.kind.as_deref() == Some("CANCELLED")) {
                // Rejected in favour of Cancelled (nothing to stop): the run is cancelled, as asked.
                result.status = "ACCEPT".to_owned();
            }
            accepted_state(result, "cancel the run")
        },
    )
    .await
}
