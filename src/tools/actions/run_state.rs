//! `cancel_flow_run` and `retry_flow_run`: each moves a run from some states into one other,
//! as Prefect's CLI and UI do. The two differ only in the [`StateChange`] they declare.
//!
//! A run with no infrastructure to stop (Scheduled and not started, or suspended while
//! Paused) Prefect cancels at once: it rejects Cancelling and sets Cancelled instead.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ActionReport, CONFIRM_DOC, Plan, accepted_state, describe_run, flow_run, object, perform, target};
use crate::prefect::records::FlowRunRecord;
use crate::tools::args::{Id, WorkspaceId};
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, ToolError};
use crate::upstream::Fetch;

const CANCEL: &str = "Cancel a flow run that is Scheduled, Pending, Running or Paused. Two steps: \
called without `confirm` it changes nothing and returns a preview (the run and its state change) and a \
confirm_token; called again with the same arguments and `confirm` set to that token it moves the run to \
Cancelling, after which its worker stops the infrastructure and Prefect marks the run Cancelled (a run \
with no infrastructure to stop, e.g. one not started yet, is Cancelled at once). Runs already in a final \
state (Completed, Failed, Cancelled, Crashed) or being cancelled are refused.";

const RETRY: &str = "Retry a Failed, Crashed or Cancelled flow run of a deployment, like the Retry \
button of Prefect's UI: the same run (same id and parameters) is scheduled again and a worker of its work \
pool runs it. Two steps: called without `confirm` it changes nothing and returns a preview and a \
confirm_token; called again with the same arguments and `confirm` set to that token it schedules the retry. \
Runs in other states, and runs without a deployment (no worker could pick them up), are refused; to start a \
new run of a deployment use run_deployment.";

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The flow run to act on, by id (get_flow_runs lists them).
    pub flow_run_id: Id,
    #[serde(default, serialize_with = "super::as_text")]
    pub workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    #[schemars(description = CONFIRM_DOC)]
    pub confirm: Option<String>,
}

/// One state change of a run.
struct StateChange {
    /// The state types it applies to, and how the refusal names them.
    from: &'static [&'static str],
    from_text: &'static str,
    /// What the refusal adds for a particular state type.
    notes: &'static [(&'static str, &'static str)],
    /// What the run becomes: the state sent to Prefect.
    into: (&'static str, &'static str),
    /// What the preview says it becomes and what follows, for this run.
    forecast: fn(&FlowRunRecord) -> (&'static str, &'static str),
    /// A state Prefect may set instead of `into` that also does what was asked.
    instead: Option<&'static str>,
    /// Past Prefect's orchestration rules, which keep a finished run finished.
    force: bool,
    /// Only a run of a deployment: a worker has to pick it up.
    needs_deployment: bool,
    /// "cancelled", "retried"; "cancel the run", "schedule the retry".
    done: &'static str,
    attempt: &'static str,
    message: &'static str,
}

const CANCELLING: StateChange = StateChange {
    from: &["SCHEDULED", "PENDING", "RUNNING", "PAUSED"],
    from_text: "Scheduled, Pending, Running or Paused",
    notes: &[
        ("CANCELLING", " (already being cancelled: nothing to do)"),
        ("COMPLETED", " (a final state)"),
        ("FAILED", " (a final state)"),
        ("CANCELLED", " (a final state)"),
        ("CRASHED", " (a final state)"),
    ],
    into: ("CANCELLING", "Cancelling"),
    forecast: cancelling,
    instead: Some("CANCELLED"),
    force: false,
    needs_deployment: false,
    done: "cancelled",
    attempt: "cancel the run",
    message: "Cancelled through the Prefect MCP server",
};

const RETRYING: StateChange = StateChange {
    from: &["FAILED", "CRASHED", "CANCELLED"],
    from_text: "Failed, Crashed or Cancelled",
    notes: &[("COMPLETED", " (to run its deployment again, use run_deployment)")],
    into: ("SCHEDULED", "AwaitingRetry"),
    forecast: |_| {
        (
            "Scheduled (AwaitingRetry), to start now",
            "a worker of the run's work pool picks it up and runs it again, with the same parameters",
        )
    },
    instead: None,
    force: true,
    needs_deployment: true,
    done: "retried",
    attempt: "schedule the retry",
    message: "Retried through the Prefect MCP server",
};

/// Prefect's own rule for a run with nothing to stop: it goes straight to Cancelled.
fn cancelling(run: &FlowRunRecord) -> (&'static str, &'static str) {
    let state = run.state.as_ref();
    let suspended = state.and_then(|s| s.state_details.as_ref()).is_some_and(|d| d.pause_reschedule);
    let at_once = match run.state_type.as_deref() {
        Some("SCHEDULED") => run.infrastructure_pid.is_none() || run.state_name.as_deref() == Some("Resuming"),
        Some("PAUSED") => suspended,
        _ => false,
    };
    if at_once {
        ("Cancelled", "nothing to stop: the run has no infrastructure, so Prefect cancels it at once")
    } else {
        ("Cancelling", "the run's worker stops its infrastructure and Prefect marks the run Cancelled")
    }
}

pub const CANCEL_TOOL: ToolInfo = ToolInfo {
    name: "cancel_flow_run",
    title: "Cancel Flow Run",
    description: CANCEL,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: true, idempotent: true },
    failure: "Failed to cancel the flow run: ",
    guide: "cancel_flow_run: stop a scheduled, pending, running or paused run (preview first, then confirm).",
    types: ToolTypes::of::<Params, Envelope<ActionReport>>(),
};

pub const RETRY_TOOL: ToolInfo = ToolInfo {
    name: "retry_flow_run",
    title: "Retry Flow Run",
    description: RETRY,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: true, idempotent: false },
    failure: "Failed to retry the flow run: ",
    guide: "retry_flow_run: run a failed, crashed or cancelled deployment run again (preview first, then confirm).",
    types: ToolTypes::of::<Params, Envelope<ActionReport>>(),
};

pub async fn cancel<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<ActionReport, ToolError> {
    change(ctx, &CANCEL_TOOL, &CANCELLING, params).await
}

pub async fn retry<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<ActionReport, ToolError> {
    change(ctx, &RETRY_TOOL, &RETRYING, params).await
}

async fn change<F: Fetch>(
    ctx: &ToolContext<'_, F>,
    tool: &ToolInfo,
    change: &StateChange,
    params: Params,
) -> Result<ActionReport, ToolError> {
    let id = params.flow_run_id;
    let options = (params.confirm.as_deref(), params.workspace_id.clone());
    perform(
        ctx,
        tool,
        &params,
        options,
        target("flow_run_id", id),
        async |prefect| {
            let run = flow_run(prefect, id).await?;
            let state = run.state_type.as_deref().unwrap_or("UNKNOWN");
            let shown = run.state_name.as_deref().unwrap_or(state);
            if !change.from.contains(&state) {
                let note = change.notes.iter().find(|(s, _)| *s == state).map_or("", |(_, note)| note);
                return Err(ToolError::NotApplicable(format!(
                    "flow run {id} is {shown}{note}; only {} runs can be {}",
                    change.from_text, change.done
                )));
            }
            if change.needs_deployment && run.deployment_id.is_none() {
                return Err(ToolError::NotApplicable(format!(
                    "flow run {id} has no deployment, so no worker can run it again; re-run the flow where it ran"
                )));
            }
            let (next, then) = (change.forecast)(&run);
            let preview = object(json!({
                "flow_run": describe_run(&run),
                "change": format!("{shown} → {next}"),
                "then": then,
            }));
            Ok(Plan { preview, targets: target("flow_run_id", id), then: () })
        },
        async |prefect, (), _| {
            let (kind, name) = change.into;
            let state = json!({"type": kind, "name": name, "message": change.message});
            let result = prefect.set_flow_run_state(id.0, state, change.force).await?;
            accepted_state(result, change.attempt, change.instead)
        },
    )
    .await
}
