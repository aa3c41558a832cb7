//! `resume_flow_run`: resumes a Paused run, with the input it waits for when it asked for
//! some (checked against the schema the run stored, as Prefect checks it).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{ActionReport, CONFIRM_DOC, Plan, accepted_state, describe_run, flow_run, object, perform, schema, target};
use crate::tools::args::{Id, WorkspaceId};
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, ToolError};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Resume a Paused flow run. A run paused to wait for input (pause_flow_run with \
wait_for_input) needs `run_input`, an object that fits the schema the run asked with: the preview shows that \
schema and refuses input that does not fit. Two steps: called without `confirm` it changes nothing and returns \
a preview and a confirm_token; called again with the same arguments and `confirm` set to that token it resumes \
the run (Running again, or Scheduled to be picked up by a worker when it gave up its infrastructure while \
paused).";

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The Paused flow run to resume.
    pub flow_run_id: Id,
    /// The input the run waits for, when it asked for some (the preview shows its schema).
    #[serde(default)]
    pub run_input: Option<Map<String, Value>>,
    #[serde(default, serialize_with = "super::as_text")]
    pub workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    #[schemars(description = CONFIRM_DOC)]
    pub confirm: Option<String>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "resume_flow_run",
    title: "Resume Flow Run",
    description: DESCRIPTION,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: false, idempotent: true },
    failure: "Failed to resume the flow run: ",
    guide: "resume_flow_run: resume a paused run, with the input it asks for (preview first, then confirm).",
    types: ToolTypes::of::<Params, Envelope<ActionReport>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<ActionReport, ToolError> {
    let id = params.flow_run_id;
    let options = (params.confirm.as_deref(), params.workspace_id.clone());
    let run_input = params.run_input.clone();
    perform(
        ctx,
        &TOOL,
        &params,
        options,
        target("flow_run_id", id),
        async |prefect| {
            let run = flow_run(prefect, id).await?;
            let state = run.state.clone().unwrap_or_default();
            if run.state_type.as_deref() != Some("PAUSED") {
                return Err(ToolError::NotApplicable(format!(
                    "flow run {id} is {}, not Paused; only a Paused run can be resumed",
                    run.state_name.as_deref().or(run.state_type.as_deref()).unwrap_or("in no state")
                )));
            }
            let details = state.state_details.unwrap_or_default();
            let schema_key = details.run_input_keyset.as_ref().and_then(|keys| keys.get("schema"));
            let asks_for = match schema_key {
                Some(key) => {
                    let wanted: Value = prefect.flow_run_input(id.0, key).await?;
                    let problems = schema::problems(&wanted, run_input.as_ref().unwrap_or(&Map::new()));
                    if !problems.is_empty() {
                        return Err(ToolError::InvalidArguments(format!(
                            "run_input does not fit what flow run {id} asks for: {}. The schema it asks with: {wanted}",
                            problems.join("; ")
                        )));
                    }
                    Some(wanted)
                }
                None if run_input.is_some() => {
                    return Err(ToolError::InvalidArguments(format!(
                        "flow run {id} did not pause for input; call again without run_input"
                    )));
                }
                None => None,
            };
            let next =
                if details.pause_reschedule { "Scheduled (Resuming), for a worker to pick up" } else { "Running" };
            let preview = object(json!({
                "flow_run": describe_run(&run),
                "change": format!("Paused → {next}"),
                "paused_until": details.pause_timeout,
                "asks_for_input": asks_for,
                "run_input": run_input,
            }));
            Ok(Plan { preview, targets: target("flow_run_id", id), then: run_input })
        },
        async |prefect, run_input, _| {
            let input = run_input.map(Value::Object);
            accepted_state(prefect.resume_flow_run(id.0, input.as_ref()).await?, "resume the run", None)
        },
    )
    .await
}
