//! `run_deployment`: creates a flow run of a deployment, with its parameters checked against
//! the deployment's parameter schema before anything is sent. The run carries an
//! idempotency key derived from the confirmation, so a replayed confirmation gets the same
//! run back instead of a second one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ActionReport, CONFIRM_DOC, Plan, deployment, object, perform, schema, target};
use crate::tools::args::{Id, WorkspaceId};
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, ToolError, format};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Start a new flow run of a deployment. Name it by deployment_id or \
deployment_name (<flow>/<deployment>). `parameters` override the deployment's defaults and are checked \
against its parameter schema first (a wrong type, a missing required parameter or an unknown name is \
refused, naming the parameter); optional `scheduled_time` (ISO 8601, default now), extra `tags` and \
`job_variables` for the work pool. Two steps: called without `confirm` it changes nothing and returns a \
preview (the deployment, the resolved parameters, tags and start time) and a confirm_token; called again with \
the same arguments and `confirm` set to that token it creates the run. Confirming twice creates one run.";

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The deployment, by id.
    #[serde(default)]
    pub deployment_id: Option<Id>,
    /// The deployment, by name: "<flow name>/<deployment name>".
    #[serde(default)]
    pub deployment_name: Option<String>,
    /// Flow parameters; those left out keep the deployment's defaults.
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// When the run should start (ISO 8601 with a time zone); default now.
    #[serde(default)]
    pub scheduled_time: Option<String>,
    /// Tags for the run, besides the deployment's own.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Job variables for the run's infrastructure, over the deployment's (the work pool checks them).
    #[serde(default)]
    pub job_variables: Option<Map<String, Value>>,
    #[serde(default, serialize_with = "super::as_text")]
    pub workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    #[schemars(description = CONFIRM_DOC)]
    pub confirm: Option<String>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "run_deployment",
    title: "Run Deployment",
    description: DESCRIPTION,
    toolset: Some(Toolset::Actions),
    availability: Availability::Action { destructive: false, idempotent: false },
    failure: "Failed to run the deployment: ",
    guide: "run_deployment: start a run of a deployment with checked parameters (preview first, then confirm).",
    types: ToolTypes::of::<Params, Envelope<ActionReport>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<ActionReport, ToolError> {
    let options = (params.confirm.as_deref(), params.workspace_id.clone());
    let known = params.deployment_id.map(|id| target("deployment_id", id)).unwrap_or_default();
    let scheduled = params
        .scheduled_time
        .as_deref()
        .map(|raw| {
            OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| {
                ToolError::InvalidArguments(format!(
                    "scheduled_time: expected an ISO 8601 date-time with a time zone, e.g. 2026-12-24T08:00:00Z, got {raw:?}"
                ))
            })
        })
        .transpose()?;
    perform(
        ctx,
        &TOOL,
        &params,
        options,
        known,
        async |prefect| {
            let found = deployment(prefect, params.deployment_id, params.deployment_name.as_deref()).await?;
            let defaults = found.record.parameters.as_deref().and_then(|raw| serde_json::from_str(raw.get()).ok());
            let mut resolved: Map<String, Value> = defaults.unwrap_or_default();
            resolved.extend(params.parameters.clone().unwrap_or_default());
            let parameter_schema: Option<Value> =
                found.record.parameter_openapi_schema.as_deref().and_then(|raw| serde_json::from_str(raw.get()).ok());
            let checked = match parameter_schema.filter(|s| s.is_object()) {
                Some(wanted) if found.record.enforce_parameter_schema => {
                    let problems = schema::problems(&wanted, &resolved);
                    if !problems.is_empty() {
                        return Err(ToolError::InvalidArguments(format!(
                            "parameters do not fit deployment {}: {}. get_deployments shows its parameter schema",
                            found.name,
                            problems.join("; ")
                        )));
                    }
                    "fit the deployment's parameter schema"
                }
                _ => "not checked: the deployment does not enforce a parameter schema",
            };
            let mut tags = found.record.tags.clone().unwrap_or_default();
            for tag in params.tags.iter().flatten() {
                if !tags.contains(tag) {
                    tags.push(tag.clone());
                }
            }
            let mut notes = Vec::new();
            if found.record.paused {
                notes.push("the deployment is paused: its schedules create no runs, but this run is created anyway");
            }
            if found.record.work_pool_name.is_none() {
                notes.push("the deployment has no work pool: only a process serving it (flow.serve) will run it");
            }
            let preview = object(json!({
                "deployment": found.describe(),
                "parameters": resolved,
                "parameter_check": checked,
                "tags": tags,
                "job_variables": params.job_variables,
                "scheduled_time": scheduled.map_or_else(|| "now".to_owned(), format::datetime),
                "notes": notes,
            }));
            Ok(Plan { preview, targets: target("deployment_id", found.id), then: found.id })
        },
        async |prefect, id: Id, confirmed| {
            let mut body = json!({
                "parameters": params.parameters.clone().unwrap_or_default(),
                "tags": params.tags.clone().unwrap_or_default(),
                "idempotency_key": confirmed.idempotency_key(),
            });
            if let Some(job_variables) = &params.job_variables {
                body["job_variables"] = json!(job_variables);
            }
            if let Some(at) = scheduled {
                body["state"] = json!({"type": "SCHEDULED", "state_details": {"scheduled_time": format::datetime(at)}});
            }
            let (run, created) = prefect.create_flow_run(id.0, &body).await?;
            let mut outcome = json!({
                "flow_run_id": run.id,
                "flow_run_name": run.name,
                "state_type": run.state_type,
                "state_name": run.state_name,
                "expected_start_time": run.expected_start_time.as_deref().map(format::timestamp),
                "created": created,
            });
            if !created {
                outcome["note"] = json!("this confirmation had already created this run; no second run was created");
            }
            Ok(object(outcome))
        },
    )
    .await
}
