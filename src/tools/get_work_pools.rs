//! `get_work_pools`: the work pools, compact by default, with queues, ONLINE workers and
//! hints when the filter names 1–5 pool ids.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ToolError;
use super::args::{Filter, Limit, WorkspaceId};
use super::pools::WorkPool;
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, filter};
use crate::prefect::paging::Listing;
use crate::prefect::pools;
use crate::prefect::records::PoolRecord;
use crate::upstream::Fetch;

const DESCRIPTION: &str = "List the work pools that workers poll for flow runs, by name: type, status \
(READY when an ONLINE worker polls it, NOT_READY, PAUSED), paused flag and pool concurrency limit. When \
`filter` selects 1 to 5 pools by `id.any_`, each pool also lists its work queues (concurrency limit, \
priority, paused), the number of ONLINE workers, its description and diagnostic hints about paused or \
limited queues; start here when runs stay Late or Scheduled. Optional `filter` uses Prefect's work-pool \
filter: `id` {any_}, `name` {any_: exact names}, `type` {any_, e.g. \"process\", \"kubernetes\"}, and \
`operator` (\"and_\"/\"or_\"). Unknown keys or operators are rejected with the allowed ones. Returns \
`detail` (which mode applied), `count` and `truncated` (more pools match than `limit`).";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Prefect work-pool filter, e.g. {"type": {"any_": ["kubernetes", "process"]}} or
    /// {"id": {"any_": ["<pool id>"]}} for detail.
    #[serde(default)]
    #[schemars(
        example = json!({"type": {"any_": ["kubernetes", "process"]}}),
        example = json!({"name": {"any_": ["default-pool"]}})
    )]
    pub filter: Option<Filter>,
    /// Maximum number of work pools to return.
    #[serde(default)]
    pub limit: Limit<1, 200, 50>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct WorkPools {
    /// True when the filter selected 1–5 ids and the pools carry their detail fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub detail: Option<bool>,
    pub count: usize,
    pub work_pools: Vec<WorkPool>,
    /// True when more pools match than were returned.
    pub truncated: bool,
}

const LISTING: Listing = Listing { path: "work_pools/filter", key: "work_pools", sort: None };

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_work_pools",
    title: "Get Work Pools",
    description: DESCRIPTION,
    toolset: Some(Toolset::Infrastructure),
    availability: Availability::Always,
    failure: "Failed to fetch work pools: ",
    guide: "get_work_pools: work pools; 1 to 5 ids give full detail (work queues and workers).",
    types: ToolTypes::of::<Params, Envelope<WorkPools>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<WorkPools, ToolError> {
    let filter = filter::checked(params.filter, &filter::WORK_POOL_FILTER)?;
    let detail = filter::is_detail_query(filter.as_ref());
    let prefect = ctx.prefect(params.workspace_id).await?;
    let (records, truncated): (Vec<PoolRecord>, bool) =
        LISTING.first_page(&prefect, filter, params.limit.get() as usize).await?;
    let work_pools = if detail {
        let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
        let contents = pools::contents_of_each(&prefect, &names).await;
        records
            .iter()
            .cloned()
            .zip(contents)
            .map(|(record, contents)| contents.map(|contents| WorkPool::detailed(record, contents)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        records.into_iter().map(WorkPool::compact).collect()
    };
    Ok(WorkPools { detail: Some(detail), count: work_pools.len(), work_pools, truncated })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::{Value, json};

    const POOL_ID: &str = "11111111-0000-4000-8000-000000000001";

    fn pool(name: &str, status: &str, limit: Value) -> Value {
        json!({"id": POOL_ID, "name": name, "type": "process", "status": status, "is_paused": false,
               "concurrency_limit": limit, "description": null, "base_job_template": {}, "created": "2026-11-27T10:00:00Z"})
    }

    #[test]
    fn compact_by_default_with_exact_truncation() {
        let fake = FakeUpstream::new().on(
            "POST",
            "/api/work_pools/filter",
            200,
            json!([pool("a", "READY", json!(5)), pool("b", "NOT_READY", json!(null))]),
        );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_work_pools", json!({"limit": 1, "filter": {"type": {"any_": ["process"]}}}));
        assert_eq!(
            structured(&result),
            &json!({"success": true, "detail": false, "count": 1, "truncated": true, "error": null, "work_pools": [
                {"id": POOL_ID, "name": "a", "type": "process", "status": "READY", "is_paused": false, "concurrency_limit": 5}
            ]})
        );
        assert_eq!(fake.body(0), json!({"work_pools": {"type": {"any_": ["process"]}}, "limit": 2, "offset": 0}));
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn detail_reads_queues_and_workers_per_pool() {
        let fake = FakeUpstream::new()
            .on("POST", "/api/work_pools/filter", 200, json!([pool("my pool", "READY", json!(null))]))
            .on("POST", "/api/work_pools/my%20pool/queues/filter", 200, json!([
                {"id": "q1", "name": "critical", "concurrency_limit": 2, "priority": 1, "is_paused": false, "work_pool_id": POOL_ID},
                {"id": "q2", "name": "backlog", "concurrency_limit": null, "priority": 5, "is_paused": true},
            ]))
            .on("POST", "/api/work_pools/my%20pool/workers/filter", 200, json!([
                {"name": "w1", "status": "ONLINE"}, {"name": "w2", "status": "OFFLINE"},
            ]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_work_pools", json!({"filter": {"id": {"any_": [POOL_ID]}}}));
        let envelope = structured(&result);
        assert_eq!(envelope["detail"], json!(true));
        let item = &envelope["work_pools"][0];
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "type",
                "status",
                "is_paused",
                "concurrency_limit",
                "work_queues",
                "work_queue_count",
                "active_workers",
                "diagnostic_hints",
                "description"
            ]
        );
        assert_eq!(
            item["work_queues"][0],
            json!({"id": "q1", "name": "critical", "concurrency_limit": 2, "priority": 1, "is_paused": false})
        );
        assert_eq!(item["work_queue_count"], json!(2));
        assert_eq!(item["active_workers"], json!(1));
        assert_eq!(item["description"], json!(null));
        let hints = item["diagnostic_hints"].as_array().unwrap();
        assert_eq!(hints.len(), 2);
        assert!(hints[0].as_str().unwrap().contains("likely bottleneck"));
        assert!(hints[1].as_str().unwrap().contains("'backlog' is paused"));
        assert_eq!(ctx.upstream_requests(), 3);
        assert_eq!(fake.body(2), json!({"limit": 200, "offset": 0}));
    }

    #[test]
    fn unknown_ids_are_an_empty_detail_result() {
        let fake = FakeUpstream::new().on("POST", "/api/work_pools/filter", 200, json!([]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_work_pools", json!({"filter": {"id": {"any_": [POOL_ID]}}}));
        assert_eq!(structured(&result)["detail"], json!(true));
        assert_eq!(structured(&result)["count"], json!(0));
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn unsupported_filters_fail_before_any_request_without_a_detail_key() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_work_pools", json!({"filter": {"name": {"like_": "prod-%"}}}));
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            structured(&result),
            &json!({"success": false, "count": 0, "work_pools": [], "truncated": false,
                    "error": "Failed to fetch work pools: unknown filter key `name.like_`; allowed under `name`: any_"})
        );
        let result = run(&ctx, "get_work_pools", json!({"filter": {"id": {"any_": ["nope"]}}}));
        assert!(structured(&result)["error"].as_str().unwrap().contains("not a valid UUID"));
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn a_failing_queue_read_fails_the_detail_call() {
        let fake =
            FakeUpstream::new().on("POST", "/api/work_pools/filter", 200, json!([pool("a", "READY", json!(null))]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_work_pools", json!({"filter": {"id": {"any_": [POOL_ID]}}}));
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("Failed to fetch work pools: 404 Not Found from POST /api/work_pools/a/"), "{error}");
    }
}
