//! The Prefect objects a diagnosis reads and the reads it shares: one record by id or name,
//! a flow's name, the runs holding a scope's slots.

use super::*;

/// A flow run named in evidence (a slot holder, the oldest Late run, …).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunRef {
    pub id: String,
    pub name: Option<String>,
    pub state_name: Option<String>,
    // The published output schema gives this field `"default": null`.
    #[serde(default)]
    pub expected_start_time: Option<String>,
}

impl From<FlowRunRecord> for RunRef {
    fn from(run: FlowRunRecord) -> Self {
        RunRef {
            id: run.id,
            name: run.name,
            state_name: run.state_name,
            expected_start_time: format::optional_timestamp(run.expected_start_time.as_deref()),
        }
    }
}

impl RunRef {
    /// `<name> (<id>)`.
    pub(super) fn label(&self) -> String {
        format!("{} ({})", self.name.as_deref().unwrap_or("unnamed"), self.id)
    }
}

/// How many slot holders a finding names (it shows three and counts the rest).
pub(super) const NAMED_HOLDERS: usize = 3;

/// Where Pending, Running and Cancelling runs take concurrency slots (Prefect's slot states).
#[derive(Debug, Clone, Copy)]
pub(super) enum SlotScope<'a> {
    /// A deployment, by id.
    Deployment(&'a str),
    /// A work pool, by name.
    Pool(&'a str),
    /// A work queue, by id.
    Queue(&'a str),
}

/// Up to `limit` runs holding slots in `scope`, most recently started first: one request.
pub(super) async fn active_runs<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    scope: SlotScope<'_>,
    limit: usize,
) -> Result<Vec<RunRef>, PrefectError> {
    let mut body = json!({
        "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}},
        "sort": "START_TIME_DESC", "limit": limit, "offset": 0,
    });
    match scope {
        SlotScope::Deployment(id) => body["flow_runs"]["deployment_id"] = json!({"any_": [id]}),
        SlotScope::Pool(name) => body["work_pools"] = json!({"name": {"any_": [name]}}),
        SlotScope::Queue(id) => body["work_pool_queues"] = json!({"id": {"any_": [id]}}),
    }
    let runs: Vec<FlowRunRecord> = prefect.post("flow_runs/filter", &body).await?;
    Ok(runs.into_iter().map(RunRef::from).collect())
}

/// The runs a full limit's finding names: none, and no request, without a scope.
pub(super) async fn named_holders<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    scope: Option<SlotScope<'_>>,
) -> Result<Vec<RunRef>, PrefectError> {
    match scope {
        Some(scope) => active_runs(prefect, scope, NAMED_HOLDERS).await,
        None => Ok(Vec::new()),
    }
}

/// `<name> (<id>)` of each run.
pub(super) fn labels(runs: &[RunRef]) -> Vec<String> {
    runs.iter().map(RunRef::label).collect()
}
