//! `get_flow_runs`: flow runs, newest first; compact summaries, or full detail for a few ids.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ToolError;
use super::args::{Filter, Limit, WorkspaceId};
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::runs::duration;
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, filter, format, unique};
use crate::prefect::PrefectClient;
use crate::prefect::flow_names::FlowNames;
use crate::prefect::paging::Listing;
use crate::prefect::records::FlowRunRecord;
use crate::upstream::Fetch;

const DESCRIPTION: &str = "List flow runs (executions of flows), most recent first: runs that started \
are ordered by start time, runs that have not started by their scheduled time, so upcoming scheduled \
runs come first. Each run is a compact summary: state type/name/message, timestamps, duration in \
seconds, tags, flow name, deployment id, work pool and queue, and parent task run (set for subflow \
runs). Filter by `id` with 1 to 5 run ids (`{\"id\": {\"any_\": [...]}}`) to get full detail instead: \
parameters, infrastructure pid, and a summary of the run's deployment and work pool. Optional `filter` \
uses Prefect's flow-run filter: `id` {any_, not_any_}, `name` {any_, like_ (case-insensitive substring)}, `tags` \
{all_, any_, is_null_}, `deployment_id` {any_, is_null_}, `work_queue_name` {any_, is_null_}, `state` \
{type {any_, not_any_}, name {any_, not_any_}}, `flow_version` {any_}, `start_time` and `end_time` \
{before_, after_, is_null_}, `expected_start_time` and `next_scheduled_start_time` {before_, after_}, \
`parent_flow_run_id` {any_}, `parent_task_run_id` {any_, is_null_}, `idempotency_key` {any_, not_any_}, \
`created_by` {id_, type_, is_null_}, and `operator` (\"and_\"/\"or_\"). State types: SCHEDULED, PENDING, \
RUNNING, COMPLETED, FAILED, CANCELLED, CRASHED, PAUSED, CANCELLING (\"Late\" is a state name of type \
SCHEDULED, \"TimedOut\" one of type FAILED). Times are ISO 8601, e.g. \"2024-01-01T00:00:00Z\"; \
`start_time.after_` also matches runs not started yet whose scheduled time is later. Unknown keys or \
operators are rejected with the list of allowed ones. Returns `detail` (which form the runs have), \
`count` and `truncated` (more runs match than `limit`).";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Prefect flow-run filter, e.g. {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}}.
    #[serde(default)]
    #[schemars(
        example = json!({"state": {"type": {"any_": ["FAILED", "CRASHED"]}}}),
        example = json!({"deployment_id": {"is_null_": false}, "tags": {"all_": ["production"]}}),
        example = json!({"name": {"like_": "etl-"}, "start_time": {"after_": "2024-01-01T00:00:00Z"}}),
        example = json!({"id": {"any_": ["068adce4-aeec-7e9b-8000-97b7feeb70fa"]}})
    )]
    pub filter: Option<Filter>,
    /// Maximum number of flow runs to return.
    #[serde(default)]
    pub limit: Limit<1, 200, 50>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct FlowRuns {
    /// True when the runs carry full detail (an id filter with 1 to 5 ids).
    pub detail: bool,
    pub count: usize,
    pub flow_runs: Vec<FlowRunSummary>,
    /// True when more runs match than were returned.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FlowRunSummary {
    pub id: String,
    pub name: Option<String>,
    pub flow_name: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    pub state_message: Option<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Seconds from start to end; null until the run has both.
    pub duration: Option<f64>,
    pub tags: Vec<String>,
    pub deployment_id: Option<String>,
    pub work_pool_name: Option<String>,
    pub work_queue_name: Option<String>,
    /// Set for subflow runs: the parent flow's task run that started this run.
    pub parent_task_run_id: Option<String>,
    /// Present in detail mode only.
    #[serde(flatten)]
    pub detail: Option<FlowRunDetail>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FlowRunDetail {
    pub parameters: Option<Map<String, Value>>,
    pub infrastructure_pid: Option<String>,
    /// The run's deployment; null for ad-hoc runs.
    pub deployment: Option<DeploymentInfo>,
    /// The work pool the run was submitted to; null when it has none.
    pub work_pool: Option<WorkPoolInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentInfo {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub flow_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WorkPoolInfo {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub pool_type: String,
    /// READY, NOT_READY or PAUSED.
    pub status: Option<String>,
    #[serde(default)]
    pub is_paused: bool,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

const LISTING: Listing = Listing { path: "flow_runs/filter", key: "flow_runs", sort: Some("START_TIME_DESC") };

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_flow_runs",
    title: "Get Flow Runs",
    description: DESCRIPTION,
    toolset: Some(Toolset::Runs),
    availability: Availability::Always,
    failure: "Failed to fetch flow runs: ",
    guide: "get_flow_runs: flow runs, most recent first; 1 to 5 ids give full detail (parameters, deployment and work pool).",
    types: ToolTypes::of::<Params, Envelope<FlowRuns>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<FlowRuns, ToolError> {
    let filter = filter::checked(params.filter, &filter::FLOW_RUN_FILTER)?;
    let detail = filter::is_detail_query(filter.as_ref());
    let prefect = ctx.prefect(params.workspace_id).await?;
    // The runs, and alongside them the flows having a matching run (for the flow names).
    let (page, flows) = futures::join!(
        LISTING.first_page::<FlowRunRecord, _>(&prefect, filter.clone(), params.limit.get() as usize),
        FlowNames::of_matching(&prefect, "flow_runs", filter.as_ref()),
    );
    let (runs, truncated) = page?;

    // Names and summaries of what the runs refer to, one request per kind, concurrently.
    let flow_ids = unique(runs.iter().filter_map(|r| r.flow_id.as_deref()));
    let (deployment_ids, pool_names) = if detail {
        (
            unique(runs.iter().filter_map(|r| r.deployment_id.as_deref())),
            unique(runs.iter().filter_map(|r| r.work_pool_name.as_deref())),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let (flow_names, deployments, pools) = futures::try_join!(
        async { flows?.covering(&prefect, &flow_ids).await },
        lookup::<DeploymentInfo, _>(&prefect, "deployments", "id", &deployment_ids),
        lookup::<WorkPoolInfo, _>(&prefect, "work_pools", "name", &pool_names),
    )?;
    let deployments: HashMap<String, DeploymentInfo> = deployments.into_iter().map(|d| (d.id.clone(), d)).collect();
    let pools: HashMap<String, WorkPoolInfo> = pools.into_iter().map(|p| (p.name.clone(), p)).collect();

    let flow_runs: Vec<FlowRunSummary> = runs
        .into_iter()
        .map(|run| {
            let detail = detail.then(|| FlowRunDetail {
                parameters: run.parameters.and_then(|raw| serde_json::from_str(raw.get()).ok()),
                infrastructure_pid: run.infrastructure_pid,
                deployment: run.deployment_id.as_ref().and_then(|id| deployments.get(id)).cloned(),
                work_pool: run.work_pool_name.as_ref().and_then(|name| pools.get(name)).cloned(),
            });
            FlowRunSummary {
                flow_name: run.flow_id.as_ref().and_then(|id| flow_names.get(id)).cloned(),
                duration: duration(run.start_time.as_deref(), run.end_time.as_deref()),
                id: run.id,
                name: run.name,
                state_type: run.state_type,
                state_name: run.state_name,
                state_message: run.state.and_then(|s| s.message),
                created: format::optional_timestamp(run.created.as_deref()),
                updated: format::optional_timestamp(run.updated.as_deref()),
                start_time: format::optional_timestamp(run.start_time.as_deref()),
                end_time: format::optional_timestamp(run.end_time.as_deref()),
                tags: run.tags.unwrap_or_default(),
                deployment_id: run.deployment_id,
                work_pool_name: run.work_pool_name,
                work_queue_name: run.work_queue_name,
                parent_task_run_id: run.parent_task_run_id,
                detail,
            }
        })
        .collect();
    Ok(FlowRuns { detail, count: flow_runs.len(), flow_runs, truncated })
}

/// `POST {kind}/filter` for the objects whose `field` is one of `keys`; no request without keys.
async fn lookup<T: DeserializeOwned, F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    kind: &str,
    field: &str,
    keys: &[&str],
) -> Result<Vec<T>, crate::prefect::PrefectError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let body = json!({kind: {field: {"any_": keys}}, "limit": keys.len(), "offset": 0});
    prefect.post(&format!("{kind}/filter"), &body).await
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use crate::upstream::FetchError;
    use serde_json::{Value, json};

    const FLOW: &str = "11111111-0000-4000-8000-000000000001";
    const DEPLOYMENT: &str = "22222222-0000-4000-8000-000000000001";
    const RUN_A: &str = "33333333-0000-4000-8000-000000000001";
    const RUN_B: &str = "33333333-0000-4000-8000-000000000002";

    fn run(id: &str, deployment: Option<&str>, pool: Option<&str>) -> Value {
        json!({"id": id, "name": format!("run-{}", &id[id.len() - 1..]), "flow_id": FLOW, "state_type": "FAILED",
               "state_name": "Failed", "state": {"type": "FAILED", "name": "Failed", "message": "Flow run encountered an exception: ValueError: boom"},
               "created": "2026-11-27T10:00:00.478Z", "updated": "2026-11-27T10:00:05Z",
               "start_time": "2026-11-27T10:00:01Z", "end_time": "2026-11-27T10:00:03.5Z", "tags": ["prod"],
               "deployment_id": deployment, "work_pool_name": pool, "work_queue_name": pool.map(|_| "default"),
               "parent_task_run_id": null, "parameters": {"x": 1}, "infrastructure_pid": null, "labels": {}})
    }

    fn upstream(runs: Value) -> FakeUpstream {
        FakeUpstream::new()
            .on("POST", "/api/flow_runs/filter", 200, runs)
            .on("POST", "/api/flows/filter", 200, json!([{"id": FLOW, "name": "etl", "tags": []}]))
            .on(
                "POST",
                "/api/deployments/filter",
                200,
                json!([{"id": DEPLOYMENT, "name": "nightly", "description": null,
                "flow_id": FLOW, "tags": null, "paused": true, "parameters": {}}]),
            )
            .on(
                "POST",
                "/api/work_pools/filter",
                200,
                json!([{"id": "p1", "name": "pool", "type": "process",
                "status": "READY", "is_paused": false, "concurrency_limit": null}]),
            )
    }

    #[test]
    fn compact_runs_carry_flow_names_and_exact_truncation() {
        let fake = upstream(json!([run(RUN_A, Some(DEPLOYMENT), Some("pool")), run(RUN_B, None, None)]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = super::super::testing::run(
            &ctx,
            "get_flow_runs",
            json!({"limit": 1, "filter": {"state": {"type": {"any_": ["FAILED"]}}}}),
        );
        let envelope = structured(&result);
        assert_eq!(
            envelope,
            &json!({"success": true, "detail": false, "count": 1, "flow_runs": [{
                "id": RUN_A, "name": "run-1", "flow_name": "etl", "state_type": "FAILED", "state_name": "Failed",
                "state_message": "Flow run encountered an exception: ValueError: boom",
                "created": "2026-11-27T10:00:00.478000+00:00", "updated": "2026-11-27T10:00:05+00:00",
                "start_time": "2026-11-27T10:00:01+00:00", "end_time": "2026-11-27T10:00:03.500000+00:00",
                "duration": 2.5, "tags": ["prod"], "deployment_id": DEPLOYMENT, "work_pool_name": "pool",
                "work_queue_name": "default", "parent_task_run_id": null}], "truncated": true, "error": null})
        );
        let keys: Vec<_> = envelope.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["success", "detail", "count", "flow_runs", "truncated", "error"]);
        assert_eq!(
            fake.body(0),
            json!({"flow_runs": {"state": {"type": {"any_": ["FAILED"]}}}, "sort": "START_TIME_DESC", "limit": 2, "offset": 0})
        );
        assert_eq!(
            fake.body(1),
            json!({"flow_runs": {"state": {"type": {"any_": ["FAILED"]}}}, "limit": 200, "offset": 0}),
            "the flows having a matching run, read alongside the runs"
        );
        assert_eq!(ctx.upstream_requests(), 2);
    }

    #[test]
    fn detail_by_id_summarises_deployment_and_pool_in_four_requests() {
        let fake = upstream(json!([run(RUN_A, Some(DEPLOYMENT), Some("pool")), run(RUN_B, None, None)]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result =
            super::super::testing::run(&ctx, "get_flow_runs", json!({"filter": {"id": {"any_": [RUN_A, RUN_B]}}}));
        let envelope = structured(&result);
        assert_eq!(envelope["detail"], json!(true));
        let first = &envelope["flow_runs"][0];
        let keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 20);
        assert_eq!(&keys[16..], ["parameters", "infrastructure_pid", "deployment", "work_pool"]);
        assert_eq!(first["parameters"], json!({"x": 1}));
        assert_eq!(
            first["deployment"],
            json!({"id": DEPLOYMENT, "name": "nightly", "description": null, "flow_id": FLOW, "tags": [], "paused": true})
        );
        assert_eq!(
            first["work_pool"],
            json!({"id": "p1", "name": "pool", "type": "process", "status": "READY", "is_paused": false})
        );
        let adhoc = &envelope["flow_runs"][1];
        assert_eq!((&adhoc["deployment"], &adhoc["work_pool"]), (&json!(null), &json!(null)));
        assert_eq!(ctx.upstream_requests(), 4);
        let bodies: Vec<Value> = (1..4).map(|i| fake.body(i)).collect();
        assert!(bodies.contains(&json!({"deployments": {"id": {"any_": [DEPLOYMENT]}}, "limit": 1, "offset": 0})));
        assert!(bodies.contains(&json!({"work_pools": {"name": {"any_": ["pool"]}}, "limit": 1, "offset": 0})));
    }

    #[test]
    fn ad_hoc_detail_and_empty_results_need_no_lookups_after_the_first_round() {
        let fake = upstream(json!([run(RUN_B, None, None)]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        super::super::testing::run(&ctx, "get_flow_runs", json!({"filter": {"id": {"any_": [RUN_B]}}}));
        assert_eq!(ctx.upstream_requests(), 2);

        let empty = upstream(json!([]));
        let ctx = context(&empty, "http://127.0.0.1:4200/api");
        let result = super::super::testing::run(&ctx, "get_flow_runs", json!({"filter": {"id": {"any_": [RUN_A]}}}));
        assert_eq!(structured(&result)["detail"], json!(true));
        assert_eq!(structured(&result)["count"], json!(0));
        assert_eq!(ctx.upstream_requests(), 2);
    }

    #[test]
    fn bad_filters_fail_before_any_request() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        for (filter, named) in [
            (json!({"bogus": {}}), "`bogus`"),
            (json!({"start_time": {"gt_": "2024-01-01"}}), "`start_time.gt_`"),
            (json!({"state": {"kind": "FAILED"}}), "`state.kind`"),
            (json!({"state": {"type": {"any_": ["EXPLODED"]}}}), "`state.type.any_`"),
            (json!({"start_time": {"after_": "yesterday"}}), "`start_time.after_`"),
            (json!({"id": {"any_": ["nope"]}}), "`id.any_`"),
        ] {
            let result = super::super::testing::run(&ctx, "get_flow_runs", json!({"filter": filter}));
            let envelope = structured(&result);
            assert_eq!(result.is_error, Some(true));
            assert_eq!(
                (&envelope["success"], &envelope["count"], &envelope["flow_runs"]),
                (&json!(false), &json!(0), &json!([]))
            );
            let error = envelope["error"].as_str().unwrap();
            assert!(error.starts_with("Failed to fetch flow runs: ") && error.contains(named), "{error}");
        }
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn lookup_failures_fail_the_call() {
        let fake = FakeUpstream::new()
            .on("POST", "/api/flow_runs/filter", 200, json!([run(RUN_A, None, None)]))
            .failing("POST", "/api/flows/filter", FetchError::Network("reset".into()));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = super::super::testing::run(&ctx, "get_flow_runs", json!({}));
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("Failed to fetch flow runs: Prefect API unreachable"), "{error}");
    }
}
