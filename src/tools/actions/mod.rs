//! The action tools: the few changes to Prefect this server makes. They exist only where the
//! operator set `ALLOW_WRITES=true`, are offered only to callers who may write
//! ([`Writer`]), and always take two calls: without `confirm` an action changes nothing and
//! answers a preview and a `confirm_token` ([`confirm`]); the same call with `confirm` set
//! to that token carries it out. Every attempt leaves an audit record in the request's log
//! line.

pub(crate) mod confirm;
pub(crate) mod deployment_schedules;
pub(crate) mod resume_flow_run;
pub(crate) mod run_deployment;
pub(crate) mod run_state;
mod schema;

use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::args::{self, Id, WorkspaceId};
use super::registry::ToolInfo;
use super::{ToolContext, ToolError, format};
use crate::prefect::records::{DeploymentRecord, FlowRunRecord};
use crate::prefect::{DeploymentRef, Orchestration, PrefectClient};
use crate::upstream::{Counted, Fetch};

/// A caller who may use the action tools: who they are, for the audit record, and the key
/// their confirmation tokens are signed with.
pub struct Writer {
    /// `headers:<hash>`, `token:<hash>` or `grant:<id>`: never a secret.
    id: String,
    key: [u8; 32],
}

impl Writer {
    /// `secrets`: what only this caller's requests bring (their Prefect credentials, their
    /// write token) and the Worker's own secrets.
    pub fn new(id: String, secrets: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new().chain_update(b"prefect-mcp confirmation key v1");
        for secret in secrets {
            hasher.update((secret.len() as u64).to_be_bytes());
            hasher.update(secret);
        }
        Writer { id, key: hasher.finalize().into() }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Why a request may not use the action tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritesDenied {
    /// The Worker does not have `ALLOW_WRITES=true`.
    Disabled,
    /// Writes are on, but this caller reads only (a read-only access token, an OAuth grant
    /// without `prefect:write`, or the Worker's secrets without a write token).
    ReadOnlyCaller,
}

impl WritesDenied {
    /// A fixed word for the audit record.
    pub fn kind(self) -> &'static str {
        match self {
            WritesDenied::Disabled => "writes_disabled",
            WritesDenied::ReadOnlyCaller => "read_only_caller",
        }
    }

    /// What a caller who named action `tool` reads.
    pub fn explain(self, tool: &str) -> String {
        match self {
            WritesDenied::Disabled => format!(
                "{tool} changes Prefect, and this server does not allow changes: its operator has not set \
                 ALLOW_WRITES=true. Nothing was changed; do this in the Prefect UI or CLI instead, or ask the operator \
                 to enable writes"
            ),
            WritesDenied::ReadOnlyCaller => format!(
                "{tool} changes Prefect, and this connection may only read. Nothing was changed. Writes need your own \
                 Prefect credentials in the X-Prefect-Api-* headers, an access token listed in MCP_WRITE_TOKENS, or an \
                 OAuth authorization that included the prefect:write scope"
            ),
        }
    }
}

/// The result of an action tool.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub(crate) struct ActionReport {
    /// `false`: a preview, nothing was changed; `true`: the action was carried out.
    pub executed: bool,
    /// What the action does: its target as Prefect has it now, and the change.
    pub preview: Option<Map<String, Value>>,
    /// On a preview: pass it as `confirm`, with exactly the same other arguments, to carry
    /// the action out.
    pub confirm_token: Option<String>,
    /// When `confirm_token` stops being accepted.
    pub confirm_expires_at: Option<String>,
    /// After the action: what Prefect reports now.
    pub outcome: Option<Map<String, Value>>,
}

/// What an action's planning found: the preview and what carrying it out needs.
pub(crate) struct Plan<T> {
    pub preview: Map<String, Value>,
    /// The ids the action touches, for the audit record.
    pub targets: Map<String, Value>,
    pub then: T,
}

/// The Prefect client of an action: may send its writes.
pub(crate) type ActionClient<'c, 'a, F> = PrefectClient<'c, Counted<'a, F>>;

/// One action attempt. `targets`: the ids the arguments name, for the audit record of a call
/// refused before planning; `plan` reads Prefect and refuses or previews; `act` carries out
/// the plan, once the confirmation checked out.
pub(crate) async fn perform<'a, F: Fetch, P: Serialize, T>(
    ctx: &ToolContext<'a, F>,
    tool: &ToolInfo,
    params: &P,
    (confirm, workspace_id): (Option<&str>, Option<WorkspaceId>),
    targets: Map<String, Value>,
    plan: impl AsyncFnOnce(&ActionClient<'_, 'a, F>) -> Result<Plan<T>, ToolError>,
    act: impl AsyncFnOnce(&ActionClient<'_, 'a, F>, T, confirm::Confirmed) -> Result<Map<String, Value>, ToolError>,
) -> Result<ActionReport, ToolError> {
    let writer = ctx.writer().map_err(|denied| ToolError::NotApplicable(denied.explain(tool.name)))?;
    let audit = |targets: &Map<String, Value>, phase: &str, outcome: Result<(), &ToolError>| {
        let mut record = json!({"action": tool.name, "caller": writer.id(), "targets": targets, "phase": phase});
        match outcome {
            Ok(()) => record["outcome"] = json!("ok"),
            Err(error) => {
                record["outcome"] = json!(if matches!(error, ToolError::Upstream(_)) { "failed" } else { "refused" });
                record["reason"] = json!(error.kind());
            }
        }
        ctx.audit(record);
    };
    let phase = if confirm.is_some() { "execute" } else { "preview" };
    let arguments = confirm::arguments_hash(params);
    let confirmed = match confirm.map(|token| confirm::check(writer, tool.name, &arguments, token, ctx.now)).transpose()
    {
        Ok(confirmed) => confirmed,
        Err(reason) => {
            let error = ToolError::InvalidArguments(reason);
            audit(&targets, phase, Err(&error));
            return Err(error);
        }
    };
    let planned = async {
        let prefect = ctx.prefect(workspace_id).await?.for_actions();
        let planned = plan(&prefect).await?;
        Ok::<_, ToolError>((prefect, planned))
    };
    let (prefect, planned) = match planned.await {
        Ok(planned) => planned,
        Err(error) => {
            audit(&targets, phase, Err(&error));
            return Err(error);
        }
    };
    let Some(confirmed) = confirmed else {
        let (token, expires) = confirm::issue(writer, tool.name, &arguments, ctx.now);
        audit(&planned.targets, phase, Ok(()));
        return Ok(ActionReport {
            executed: false,
            preview: Some(planned.preview),
            confirm_token: Some(token),
            confirm_expires_at: Some(format::datetime(expires)),
            outcome: None,
        });
    };
    let outcome = act(&prefect, planned.then, confirmed).await;
    audit(&planned.targets, phase, outcome.as_ref().map(|_| ()));
    Ok(ActionReport { executed: true, preview: Some(planned.preview), outcome: Some(outcome?), ..Default::default() })
}

/// Serialises an optional argument by its text (for the arguments hash).
pub(crate) fn as_text<S: serde::Serializer, T: fmt::Display>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

/// `{name: id}`, for the audit record.
pub(crate) fn target(name: &str, id: impl fmt::Display) -> Map<String, Value> {
    Map::from_iter([(name.to_owned(), json!(id.to_string()))])
}

/// The fields of a JSON object literal, e.g. a preview.
pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("object() takes a JSON object literal"),
    }
}

/// What every action's parameter description says about `confirm`.
pub(crate) const CONFIRM_DOC: &str = "Leave out first: the call then changes nothing and returns a preview and a confirm_token. \
To carry the action out, call again with the same arguments and confirm set to that token (valid 5 minutes).";

/// The flow run `id`, or an error saying there is none.
pub(crate) async fn flow_run<F: Fetch>(prefect: &ActionClient<'_, '_, F>, id: Id) -> Result<FlowRunRecord, ToolError> {
    prefect.find_one("flow_runs", "id", &id.to_string()).await?.ok_or_else(|| {
        ToolError::NotFound(format!(
            "there is no flow run with id {id} in this workspace; get_flow_runs lists the runs and their ids"
        ))
    })
}

/// The run as a preview shows it.
pub(crate) fn describe_run(run: &FlowRunRecord) -> Value {
    json!({
        "id": run.id,
        "name": run.name,
        "state_type": run.state_type,
        "state_name": run.state_name,
        "deployment_id": run.deployment_id,
        "work_pool_name": run.work_pool_name,
    })
}

/// The run's new state when Prefect accepted the change, or set state type `instead`, which
/// does what was asked too; else why it did not.
pub(crate) fn accepted_state(
    result: Orchestration,
    what: &str,
    instead: Option<&str>,
) -> Result<Map<String, Value>, ToolError> {
    let reached_instead = instead.is_some() && result.state.as_ref().and_then(|s| s.kind.as_deref()) == instead;
    if !result.accepted() && !reached_instead {
        return Err(ToolError::NotApplicable(format!(
            "Prefect did not {what}: its orchestration answered {}{}; get_flow_runs shows the run's state now",
            result.status,
            result.details.reason.map(|reason| format!(" ({reason})")).unwrap_or_default()
        )));
    }
    let state = result.state.unwrap_or_default();
    Ok(object(json!({"state_type": state.kind, "state_name": state.name, "timestamp": state.timestamp})))
}

/// A deployment named by id or as `<flow>/<deployment>` (exactly one of them).
pub(crate) async fn deployment<F: Fetch>(
    prefect: &ActionClient<'_, '_, F>,
    id: Option<Id>,
    name: Option<&str>,
) -> Result<NamedDeployment, ToolError> {
    let wanted = args::deployment_ref(id.map(|id| id.to_string()), name)?;
    let record = prefect.deployment(&wanted).await?.ok_or_else(|| {
        ToolError::NotFound(format!("{wanted} not found; get_deployments lists the existing deployments"))
    })?;
    // By name the flow's name is known; by id it takes one more read.
    let flow = match wanted {
        DeploymentRef::Name { flow, .. } => Some(flow),
        DeploymentRef::Id(_) => prefect.flow_name(record.flow_id.as_deref()).await?,
    };
    let id = uuid::Uuid::parse_str(&record.id)
        .map(Id)
        .map_err(|_| ToolError::UnusableAnswer(format!("Prefect gave deployment id {:?}, not a UUID", record.id)))?;
    Ok(NamedDeployment { id, name: format!("{}/{}", flow.as_deref().unwrap_or("?"), record.name), record })
}

/// A deployment with its id checked and its full `<flow>/<deployment>` name.
pub(crate) struct NamedDeployment {
    pub id: Id,
    pub name: String,
    pub record: DeploymentRecord,
}

impl NamedDeployment {
    /// The deployment as a preview shows it.
    pub fn describe(&self) -> Value {
        json!({
            "id": self.record.id,
            "name": self.name,
            "paused": self.record.paused,
            "work_pool_name": self.record.work_pool_name,
            "work_queue_name": self.record.work_queue_name,
        })
    }
}

#[cfg(test)]
mod tests;
