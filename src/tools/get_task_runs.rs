//! `get_task_runs`: task runs (the steps inside flow runs), latest scheduled first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ToolError;
use super::args::{Filter, Limit, WorkspaceId};
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::runs::duration;
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, filter, format};
use crate::prefect::paging::Listing;
use crate::prefect::records::TaskRunRecord;
use crate::upstream::Fetch;

const DESCRIPTION: &str = "List task runs (the individual task executions inside flow runs), latest \
expected start first, with state type/name/message, timestamps, duration in seconds, tags, cache key \
and expiration, `retry_count` (runs beyond the first) and `max_retries` (the task's retry setting). \
`task_inputs` is always {}: Prefect records there which upstream task runs fed each argument, not the \
argument values. Optional `filter` uses Prefect's task-run filter: `id` {any_}, `name` {any_, like_ \
(case-insensitive substring)}, `tags` {all_, is_null_}, `state` {type {any_}, name {any_}}, `start_time` and `end_time` \
{before_, after_, is_null_}, `expected_start_time` {before_, after_}, `subflow_runs` {exists_}, \
`flow_run_id` {any_, is_null_}, and `operator` (\"and_\"/\"or_\"). State types: SCHEDULED, PENDING, \
RUNNING, COMPLETED, FAILED, CANCELLED, CRASHED, PAUSED, CANCELLING. Times are ISO 8601, e.g. \
\"2024-01-01T00:00:00Z\". Unknown keys or operators are rejected with the list of allowed ones. Returns \
`count` and `truncated` (more task runs match than `limit`).";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Prefect task-run filter, e.g. {"state": {"type": {"any_": ["FAILED"]}}}.
    #[serde(default)]
    #[schemars(
        example = json!({"state": {"type": {"any_": ["FAILED", "CRASHED"]}}}),
        example = json!({"name": {"like_": "process"}}),
        example = json!({"flow_run_id": {"any_": ["068adce4-aeec-7e9b-8000-97b7feeb70fa"]}})
    )]
    pub filter: Option<Filter>,
    /// Maximum number of task runs to return.
    #[serde(default)]
    pub limit: Limit<1, 200, 50>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct TaskRuns {
    pub count: usize,
    pub task_runs: Vec<TaskRunDetail>,
    /// True when more task runs match than were returned.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskRunDetail {
    pub id: String,
    pub name: Option<String>,
    pub task_key: Option<String>,
    pub flow_run_id: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    /// The state's message; null when it has none.
    pub state_message: Option<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Seconds from start to end; null until the run has both.
    pub duration: Option<f64>,
    /// Always {}: Prefect's upstream-dependency records are not included.
    pub task_inputs: Map<String, Value>,
    pub tags: Vec<String>,
    pub cache_expiration: Option<String>,
    pub cache_key: Option<String>,
    /// How many times the task was retried (runs beyond the first).
    pub retry_count: i64,
    /// The task's configured number of retries.
    pub max_retries: Option<i64>,
}

const LISTING: Listing = Listing { path: "task_runs/filter", key: "task_runs", sort: Some("EXPECTED_START_TIME_DESC") };

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_task_runs",
    title: "Get Task Runs",
    description: DESCRIPTION,
    toolset: Some(Toolset::Runs),
    availability: Availability::Always,
    failure: "Failed to fetch task runs: ",
    guide: "get_task_runs: the task runs inside flow runs, filterable by flow_run_id.",
    types: ToolTypes::of::<Params, Envelope<TaskRuns>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<TaskRuns, ToolError> {
    let filter = filter::checked(params.filter, &filter::TASK_RUN_FILTER)?;
    let prefect = ctx.prefect(params.workspace_id).await?;
    let (records, truncated): (Vec<TaskRunRecord>, bool) =
        LISTING.first_page(&prefect, filter, params.limit.get() as usize).await?;
    let task_runs: Vec<TaskRunDetail> = records
        .into_iter()
        .map(|task| TaskRunDetail {
            duration: duration(task.start_time.as_deref(), task.end_time.as_deref()),
            id: task.id,
            name: task.name,
            task_key: task.task_key,
            flow_run_id: task.flow_run_id,
            state_type: task.state_type,
            state_name: task.state_name,
            state_message: task.state.and_then(|s| s.message),
            created: format::optional_timestamp(task.created.as_deref()),
            updated: format::optional_timestamp(task.updated.as_deref()),
            start_time: format::optional_timestamp(task.start_time.as_deref()),
            end_time: format::optional_timestamp(task.end_time.as_deref()),
            task_inputs: Map::new(),
            tags: task.tags.unwrap_or_default(),
            cache_expiration: format::optional_timestamp(task.cache_expiration.as_deref()),
            cache_key: task.cache_key,
            retry_count: task.run_count.filter(|&n| n > 0).map_or(0, |n| n - 1),
            max_retries: task.empirical_policy.and_then(|p| p.retries),
        })
        .collect();
    Ok(TaskRuns { count: task_runs.len(), task_runs, truncated })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::{Value, json};

    fn task_run(name: &str, run_count: Value, message: Value) -> Value {
        json!({"id": format!("44444444-0000-4000-8000-{:012}", name.len()), "name": name, "task_key": "fetch-abc",
               "flow_run_id": "33333333-0000-4000-8000-000000000001", "state_type": "COMPLETED", "state_name": "Completed",
               "state": {"type": "COMPLETED", "message": message}, "created": "2026-11-27T10:00:00Z",
               "updated": "2026-11-27T10:00:02Z", "start_time": "2026-11-27T10:00:00Z", "end_time": "2026-11-27T10:00:01.25Z",
               "tags": null, "cache_expiration": null, "cache_key": null, "run_count": run_count,
               "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 2, "retry_delay": 0},
               "task_inputs": {"rows": [{"input_type": "task_run", "id": "x"}]}})
    }

    #[test]
    fn shapes_task_runs_with_retry_counts() {
        let fake = FakeUpstream::new().on(
            "POST",
            "/api/task_runs/filter",
            200,
            json!([task_run("fetch-rows", json!(3), json!(null)), task_run("load", json!(0), json!("done"))]),
        );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_task_runs", json!({"filter": {"name": {"like_": "fetch"}}}));
        let envelope = structured(&result);
        assert_eq!(
            envelope["task_runs"][0],
            json!({"id": "44444444-0000-4000-8000-000000000010", "name": "fetch-rows", "task_key": "fetch-abc",
                   "flow_run_id": "33333333-0000-4000-8000-000000000001", "state_type": "COMPLETED", "state_name": "Completed",
                   "state_message": null, "created": "2026-11-27T10:00:00+00:00", "updated": "2026-11-27T10:00:02+00:00",
                   "start_time": "2026-11-27T10:00:00+00:00", "end_time": "2026-11-27T10:00:01.250000+00:00", "duration": 1.25,
                   "task_inputs": {}, "tags": [], "cache_expiration": null, "cache_key": null, "retry_count": 2, "max_retries": 2})
        );
        assert_eq!(
            (&envelope["task_runs"][1]["retry_count"], &envelope["task_runs"][1]["state_message"]),
            (&json!(0), &json!("done"))
        );
        let keys: Vec<_> = envelope.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["success", "count", "task_runs", "truncated", "error"]);
        assert_eq!((&envelope["count"], &envelope["truncated"]), (&json!(2), &json!(false)));
        assert_eq!(
            fake.body(0),
            json!({"task_runs": {"name": {"like_": "fetch"}}, "sort": "EXPECTED_START_TIME_DESC", "limit": 51, "offset": 0})
        );
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn limit_probe_reports_truncation() {
        let fake = FakeUpstream::new().on(
            "POST",
            "/api/task_runs/filter",
            200,
            json!([task_run("a", json!(1), json!(null)), task_run("bb", json!(null), json!(null))]),
        );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_task_runs", json!({"limit": 1}));
        assert_eq!((&structured(&result)["count"], &structured(&result)["truncated"]), (&json!(1), &json!(true)));
        assert_eq!(fake.body(0)["task_runs"], json!(null));
    }

    #[test]
    fn bad_filters_fail_before_any_request() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        for (filter, named) in
            [(json!({"state": {"kind": "FAILED"}}), "`state.kind`"), (json!({"id": {"any_": ["x"]}}), "`id.any_`")]
        {
            let result = run(&ctx, "get_task_runs", json!({"filter": filter}));
            let envelope = structured(&result);
            assert_eq!((&envelope["success"], &envelope["task_runs"]), (&json!(false), &json!([])));
            let error = envelope["error"].as_str().unwrap();
            assert!(error.starts_with("Failed to fetch task runs: ") && error.contains(named), "{error}");
        }
        assert!(fake.requests().is_empty());
    }
}
