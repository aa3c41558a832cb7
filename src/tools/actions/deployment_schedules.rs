//! `pause_deployment` and `resume_deployment`: switch a deployment's schedules off and on,
//! as Prefect's UI toggle does. Pausing also makes Prefect delete the Scheduled runs its
//! schedules created and that have not started; the preview counts them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ActionClient, ActionReport, CONFIRM_DOC, Plan, deployment, object, perform, target};
use crate::tools::args::{Id, WorkspaceId};
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, ToolError};
use crate::upstream::Fetch;

const PAUSE: &str = "Pause a deployment's schedules: no new runs are scheduled until it is resumed, and \
Prefect deletes the runs its schedules already created that have not started (the preview counts them; runs \
created by hand stay). Name the deployment by deployment_id or deployment_name (<flow>/<deployment>). Two \
steps: called without `confirm` it changes nothing and returns a preview and a confirm_token; called again \
with the same arguments and `confirm` set to that token it pauses the deployment.";

const RESUME: &str = "Resume a paused deployment's schedules: Prefect schedules its runs again from now on. \
Name the deployment by deployment_id or deployment_name (<flow>/<deployment>). Two steps: called without \
`confirm` it changes nothing and returns a preview and a confirm_token; called again with the same arguments \
and `confirm` set to that token it resumes the deployment.";

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The deployment, by id.
    #[serde(default)]
    pub deployment_id: Option<Id>,
    /// The deployment, by name: "<flow name>/<deployment name>".
    #[serde(default)]
    pub deployment_name: Option<String>,
    #[serde(default, serialize_with = "super::as_text")]
    pub workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    #[schemars(description = CONFIRM_DOC)]
    pub confirm: Option<String>,
}

pub const PAUSE_TOOL: ToolInfo = ToolInfo {
    name: "pause_deployment",
    title: "Pause Deployment",
    description: PAUSE,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: true, idempotent: true },
    failure: "Failed to pause the deployment: ",
    guide: "pause_deployment / resume_deployment: switch a deployment's schedules off and on (preview first, then confirm).",
    types: ToolTypes::of::<Params, Envelope<ActionReport>>(),
};

pub const RESUME_TOOL: ToolInfo = ToolInfo {
    name: "resume_deployment",
    title: "Resume Deployment",
    description: RESUME,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: false, idempotent: true },
    failure: "Failed to resume the deployment: ",
    guide: "",
    types: ToolTypes::of::<Params, Envelope<ActionReport>>(),
};

pub async fn pause<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<ActionReport, ToolError> {
    switch(ctx, &PAUSE_TOOL, params, true).await
}

pub async fn resume<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<ActionReport, ToolError> {
    switch(ctx, &RESUME_TOOL, params, false).await
}

async fn switch<F: Fetch>(
    ctx: &ToolContext<'_, F>,
    tool: &ToolInfo,
    params: Params,
    pause: bool,
) -> Result<ActionReport, ToolError> {
    let options = (params.confirm.as_deref(), params.workspace_id.clone());
    let known = params.deployment_id.map(|id| target("deployment_id", id)).unwrap_or_default();
    perform(
        ctx,
        tool,
        &params,
        options,
        known,
        async |prefect| {
            // Named by id, the runs pausing would delete are read alongside the deployment.
            let deleted = async {
                match (pause, params.deployment_id) {
                    (true, Some(id)) => deleted_by_pausing(prefect, id).await.map(Some),
                    _ => Ok(None),
                }
            };
            let (found, deleted) =
                futures::join!(deployment(prefect, params.deployment_id, params.deployment_name.as_deref()), deleted);
            let found = found?;
            if found.record.paused == pause {
                return Err(ToolError::NotApplicable(format!(
                    "deployment {} is already {}; nothing to do",
                    found.name,
                    if pause { "paused" } else { "active (not paused)" }
                )));
            }
            let mut preview = json!({"deployment": found.describe()});
            if pause {
                let deleted = match deleted? {
                    Some(deleted) => deleted,
                    None => deleted_by_pausing(prefect, found.id).await?,
                };
                preview["change"] = json!("schedules paused: no new scheduled runs until resume_deployment");
                preview["scheduled_runs_deleted"] = json!(deleted);
            } else {
                preview["change"] = json!("schedules active again: Prefect schedules runs from now on");
            }
            Ok(Plan { preview: object(preview), targets: target("deployment_id", found.id), then: found.id })
        },
        async |prefect, id: Id, _| {
            prefect.set_deployment_paused(id.0, pause).await?;
            Ok(object(json!({"deployment_id": id.to_string(), "paused": pause})))
        },
    )
    .await
}

/// How many runs pausing deletes: Scheduled runs its schedules created that never ran and
/// are not waiting for a concurrency slot (Prefect's rule), among the first 200.
async fn deleted_by_pausing<F: Fetch>(prefect: &ActionClient<'_, '_, F>, deployment: Id) -> Result<usize, ToolError> {
    #[derive(Deserialize)]
    struct ScheduledRun {
        #[serde(default)]
        auto_scheduled: bool,
        #[serde(default)]
        run_count: i64,
        state_name: Option<String>,
    }
    let body = json!({"flow_runs": {"deployment_id": {"any_": [deployment.to_string()]},
                                    "state": {"type": {"any_": ["SCHEDULED"]}}}, "limit": 200});
    let runs: Vec<ScheduledRun> = prefect.post("flow_runs/filter", &body).await?;
    Ok(runs
        .iter()
        .filter(|r| r.auto_scheduled && r.run_count == 0 && r.state_name.as_deref() != Some("AwaitingConcurrencySlot"))
        .count())
}
