//! `get_dashboard`: run counts, work-pool status and every concurrency limit at a glance.

use futures::{TryFutureExt, try_join};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::Duration;

use super::ToolError;
use super::args::WorkspaceId;
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, format};
use crate::prefect::PrefectClient;
use crate::prefect::limits::{self, GlobalLimitRecord, TagLimitRecord};
use crate::prefect::records::{PoolRecord, QueueRecord};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "One-call overview of the Prefect workspace, for spotting trouble and \
diagnosing delayed runs. `flow_runs` gives exact counts: `running` (state RUNNING), `pending` (PENDING \
or SCHEDULED, Late runs included), and for runs that started (or were due to start) in the last hour \
`failed` (FAILED or CRASHED), `completed` and `cancelled`; `total` = running + pending + failed. \
`active_work_pools` lists every work pool by name with its type, status and paused flag. \
`concurrency_limits` lists every global concurrency limit (including the `deployment:<id>` and \
`tag:<tag>` limits Prefect manages) with `over_limit` when all slots are taken, then each work pool \
with a pool limit and every work queue with a queue limit (`<pool>/<queue>`), with the slots in use. \
`truncated` is true only when a list was too long to read completely.";

const HOUR: Duration = Duration::hours(1);
/// The most rows Prefect's filter endpoints return per request.
const PAGE_SIZE: usize = 200;
/// Requests allowed beyond the first page of pools, global limits and queues.
const EXTRA_PAGES: usize = 2;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Dashboard {
    pub flow_runs: FlowRunCounts,
    pub active_work_pools: Vec<WorkPoolInfo>,
    pub concurrency_limits: Vec<ConcurrencyLimitInfo>,
    /// True when a list was cut short at the request budget (hundreds of pools, global limits or queues).
    pub truncated: bool,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct FlowRunCounts {
    /// running + pending + failed.
    pub total: u64,
    /// FAILED or CRASHED runs that started (or were due) in the last hour.
    pub failed: u64,
    /// CANCELLED runs that started (or were due) in the last hour.
    pub cancelled: u64,
    /// COMPLETED runs that started in the last hour.
    pub completed: u64,
    pub running: u64,
    /// PENDING and SCHEDULED runs (Late runs included).
    pub pending: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkPoolInfo {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub pool_type: String,
    pub is_paused: bool,
    pub status: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConcurrencyLimitInfo {
    /// Limit name; `<pool>/<queue>` for work queues.
    pub name: String,
    pub limit: i64,
    pub active_slots: i64,
    /// `global`, `work_pool` or `work_queue`.
    #[serde(rename = "type")]
    pub limit_type: &'static str,
    pub details: Map<String, Value>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_dashboard",
    title: "Get Dashboard",
    description: DESCRIPTION,
    toolset: Some(Toolset::Overview),
    availability: Availability::Always,
    failure: "Failed to fetch dashboard: ",
    guide: "get_dashboard: one-call overview: run counts, work pools, every concurrency limit and who is at it.",
    types: ToolTypes::of::<Params, Envelope<Dashboard>>(),
};

async fn post<F: Fetch, T: DeserializeOwned>(
    prefect: &PrefectClient<'_, F>,
    path: &str,
    body: Value,
) -> Result<T, ToolError> {
    Ok(prefect.post(path, &body).await?)
}

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<Dashboard, ToolError> {
    let prefect = ctx.prefect(params.workspace_id).await?;
    let since = format::datetime(ctx.now - HOUR);
    let count = |states: &[&str], recent: bool| {
        let mut runs = json!({"state": {"type": {"any_": states}}});
        if recent {
            runs["start_time"] = json!({"after_": since});
        }
        post::<_, u64>(&prefect, "flow_runs/count", json!({"flow_runs": runs}))
    };
    let first_page = json!({"limit": PAGE_SIZE, "offset": 0});
    let (running, pending, failed, completed, cancelled, mut pools, mut limits, mut queues, tag_limits) = try_join!(
        count(&["RUNNING"], false),
        count(&["PENDING", "SCHEDULED"], false),
        count(&["FAILED", "CRASHED"], true),
        count(&["COMPLETED"], true),
        count(&["CANCELLED"], true),
        post::<_, Vec<PoolRecord>>(&prefect, "work_pools/filter", first_page.clone()),
        post::<_, Vec<GlobalLimitRecord>>(&prefect, "v2/concurrency_limits/filter", first_page.clone()),
        post::<_, Vec<QueueRecord>>(&prefect, "work_queues/filter", first_page.clone()),
        limits::tag_limits(&prefect).map_err(ToolError::from),
    )?;
    // Rarely more than a page each; further pages within the request budget.
    let mut budget = EXTRA_PAGES;
    let complete = more_pages(&prefect, "work_pools/filter", &mut pools, &mut budget).await?
        & more_pages(&prefect, "v2/concurrency_limits/filter", &mut limits, &mut budget).await?
        & more_pages(&prefect, "work_queues/filter", &mut queues, &mut budget).await?;

    let mut concurrency_limits: Vec<ConcurrencyLimitInfo> = limits
        .into_iter()
        .map(|l| ConcurrencyLimitInfo {
            details: details(json!({"id": l.id, "active": l.active, "over_limit": l.active_slots >= l.limit})),
            name: l.name,
            limit: l.limit,
            active_slots: l.active_slots,
            limit_type: "global",
        })
        .collect();
    concurrency_limits.extend(tag_limits_outside_v2(tag_limits, &concurrency_limits));
    queues.retain(|q| q.concurrency_limit.is_some());
    queues.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    for pool in &pools {
        if let Some(limit) = pool.concurrency_limit {
            concurrency_limits.push(ConcurrencyLimitInfo {
                name: pool.name.clone(),
                limit,
                active_slots: pool.active_slots.unwrap_or(0),
                limit_type: "work_pool",
                details: details(json!({"id": pool.id, "type": pool.kind, "status": pool.status})),
            });
        }
        for queue in queues.iter().filter(|q| q.work_pool_name.as_deref() == Some(pool.name.as_str())) {
            concurrency_limits.push(ConcurrencyLimitInfo {
                name: format!("{}/{}", pool.name, queue.name),
                limit: queue.concurrency_limit.unwrap_or_default(),
                active_slots: queue.active_slots.unwrap_or(0),
                limit_type: "work_queue",
                details: details(json!({"id": queue.id, "work_pool": pool.name, "priority": queue.priority, "is_paused": queue.is_paused})),
            });
        }
    }

    let active_work_pools = pools
        .into_iter()
        .map(|p| WorkPoolInfo { id: p.id, name: p.name, pool_type: p.kind, is_paused: p.is_paused, status: p.status })
        .collect();
    let flow_runs = FlowRunCounts { total: running + pending + failed, failed, cancelled, completed, running, pending };
    Ok(Dashboard { flow_runs, active_work_pools, concurrency_limits, truncated: !complete })
}

/// The tag limits that the V2 table does not already hold as `tag:<tag>`: since Prefect
/// 3.4.19 it holds them all, before that only the V1 table has them.
fn tag_limits_outside_v2(tag_limits: Vec<TagLimitRecord>, v2: &[ConcurrencyLimitInfo]) -> Vec<ConcurrencyLimitInfo> {
    tag_limits
        .into_iter()
        .map(|l| (format!("tag:{}", l.tag), l))
        .filter(|(name, _)| !v2.iter().any(|known| known.name == *name))
        .map(|(name, l)| {
            let active_slots = l.active_slots.len() as i64;
            ConcurrencyLimitInfo {
                // A V1 limit has no switch: it always applies.
                details: details(
                    json!({"id": l.id, "active": true, "over_limit": active_slots >= l.concurrency_limit}),
                ),
                name,
                limit: l.concurrency_limit,
                active_slots,
                limit_type: "global",
            }
        })
        .collect()
}

/// Reads the pages after a full last page while `budget` lasts; false when rows remain unread.
async fn more_pages<G: Fetch, T: DeserializeOwned>(
    prefect: &PrefectClient<'_, G>,
    path: &str,
    rows: &mut Vec<T>,
    budget: &mut usize,
) -> Result<bool, ToolError> {
    while !rows.is_empty() && rows.len().is_multiple_of(PAGE_SIZE) {
        if *budget == 0 {
            return Ok(false);
        }
        *budget -= 1;
        let more: Vec<T> = post(prefect, path, json!({"limit": PAGE_SIZE, "offset": rows.len()})).await?;
        if more.is_empty() {
            break;
        }
        rows.extend(more);
    }
    Ok(true)
}

fn details(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use crate::upstream::FetchError;
    use serde_json::json;

    fn fake() -> FakeUpstream {
        FakeUpstream::new()
            .on("POST", "/api/flow_runs/count", 200, json!(7))
            .on("POST", "/api/work_pools/filter", 200, json!([
                {"id": "p1", "name": "alpha", "type": "process", "is_paused": false, "status": "READY", "concurrency_limit": 4, "active_slots": 1},
                {"id": "p2", "name": "beta", "type": "docker", "is_paused": true, "status": "PAUSED", "concurrency_limit": null, "active_slots": null}
            ]))
            .on("POST", "/api/v2/concurrency_limits/filter", 200, json!([
                {"id": "g1", "name": "full", "limit": 3, "active": true, "active_slots": 3, "slot_decay_per_second": 0.0},
                {"id": "g2", "name": "idle", "limit": 60, "active": false, "active_slots": 0, "slot_decay_per_second": 0.0}
            ]))
            .on("POST", "/api/work_queues/filter", 200, json!([
                {"id": "q1", "name": "default", "work_pool_name": "alpha", "concurrency_limit": null, "priority": 1, "is_paused": false},
                {"id": "q2", "name": "limited", "work_pool_name": "beta", "concurrency_limit": 1, "priority": 2, "is_paused": true, "active_slots": 0},
                {"id": "q3", "name": "slow", "work_pool_name": "alpha", "concurrency_limit": 2, "priority": 5, "is_paused": false, "active_slots": 2}
            ]))
            .on("POST", "/api/concurrency_limits/filter", 200, json!([]))
    }

    #[test]
    fn counts_pools_and_every_limit_in_nine_concurrent_requests() {
        let fake = fake();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_dashboard", json!({}));
        assert_eq!(
            structured(&result),
            &json!({"success": true,
                "flow_runs": {"total": 21, "failed": 7, "cancelled": 7, "completed": 7, "running": 7, "pending": 7},
                "active_work_pools": [
                    {"id": "p1", "name": "alpha", "type": "process", "is_paused": false, "status": "READY"},
                    {"id": "p2", "name": "beta", "type": "docker", "is_paused": true, "status": "PAUSED"}
                ],
                "concurrency_limits": [
                    {"name": "full", "limit": 3, "active_slots": 3, "type": "global", "details": {"id": "g1", "active": true, "over_limit": true}},
                    {"name": "idle", "limit": 60, "active_slots": 0, "type": "global", "details": {"id": "g2", "active": false, "over_limit": false}},
                    {"name": "alpha", "limit": 4, "active_slots": 1, "type": "work_pool", "details": {"id": "p1", "type": "process", "status": "READY"}},
                    {"name": "alpha/slow", "limit": 2, "active_slots": 2, "type": "work_queue", "details": {"id": "q3", "work_pool": "alpha", "priority": 5, "is_paused": false}},
                    {"name": "beta/limited", "limit": 1, "active_slots": 0, "type": "work_queue", "details": {"id": "q2", "work_pool": "beta", "priority": 2, "is_paused": true}}
                ],
                "truncated": false, "error": null})
        );
        assert_eq!(ctx.upstream_requests(), 9);
        let bodies: Vec<_> = (0..5).map(|i| fake.body(i)).collect();
        assert_eq!(bodies[0], json!({"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}));
        assert_eq!(bodies[1], json!({"flow_runs": {"state": {"type": {"any_": ["PENDING", "SCHEDULED"]}}}}));
        assert_eq!(
            bodies[2],
            json!({"flow_runs": {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}, "start_time": {"after_": "2026-11-27T11:00:00+00:00"}}})
        );
        assert_eq!(bodies[4]["flow_runs"]["state"], json!({"type": {"any_": ["CANCELLED"]}}));
        assert_eq!(fake.body(7), json!({"limit": 200, "offset": 0}));
    }

    #[test]
    fn long_lists_are_paged_within_a_budget_and_flagged() {
        let pools: Vec<_> = (0..200)
            .map(|i| json!({"id": format!("p{i}"), "name": format!("pool-{i:03}"), "type": "process", "is_paused": false, "status": "READY", "concurrency_limit": null}))
            .collect();
        let fake = FakeUpstream::new()
            .on("POST", "/api/flow_runs/count", 200, json!(0))
            .on("POST", "/api/work_pools/filter", 200, json!(pools))
            .on("POST", "/api/v2/concurrency_limits/filter", 200, json!([]))
            .on("POST", "/api/work_queues/filter", 200, json!([]))
            .on("POST", "/api/concurrency_limits/filter", 200, json!([]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_dashboard", json!({}));
        assert_eq!(structured(&result)["truncated"], json!(true));
        assert_eq!(structured(&result)["active_work_pools"].as_array().unwrap().len(), 600);
        assert_eq!(ctx.upstream_requests(), 11);
        assert_eq!(fake.body(10), json!({"limit": 200, "offset": 400}));
    }

    #[test]
    fn tag_limits_show_on_servers_that_keep_them_only_in_the_v1_table() {
        let v1 = json!([{"id": "t1", "tag": "etl", "concurrency_limit": 2, "active_slots": ["run-a", "run-b"]}]);
        let limits = |fake: FakeUpstream| {
            let ctx = context(&fake, "http://127.0.0.1:4200/api");
            structured(&run(&ctx, "get_dashboard", json!({})))["concurrency_limits"].clone()
        };
        // Before Prefect 3.4.19: the V2 table holds no tag limits.
        let old = fake().on("POST", "/api/v2/concurrency_limits/filter", 200, json!([])).on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            v1.clone(),
        );
        assert_eq!(
            limits(old)[0],
            json!({"name": "tag:etl", "limit": 2, "active_slots": 2, "type": "global",
                   "details": {"id": "t1", "active": true, "over_limit": true}})
        );
        // Since then: the same limit is a V2 limit too, and is listed once, as V2 shows it.
        let v2 = json!([{"id": "g-etl", "name": "tag:etl", "limit": 2, "active": true, "active_slots": 2}]);
        let new = fake().on("POST", "/api/v2/concurrency_limits/filter", 200, v2).on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            v1,
        );
        let listed = limits(new);
        let tag_limits: Vec<_> = listed.as_array().unwrap().iter().filter(|l| l["name"] == "tag:etl").collect();
        assert_eq!(tag_limits.len(), 1);
        assert_eq!(tag_limits[0]["details"]["id"], "g-etl");
    }

    #[test]
    fn any_failed_request_fails_the_dashboard_with_empty_fields() {
        let fake = FakeUpstream::new()
            .on("POST", "/api/flow_runs/count", 200, json!(1))
            .on("POST", "/api/work_pools/filter", 200, json!([]))
            .on("POST", "/api/work_queues/filter", 200, json!([]))
            .failing("POST", "/api/v2/concurrency_limits/filter", FetchError::Timeout { after_ms: 1000 });
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_dashboard", json!({}));
        assert_eq!(result.is_error, Some(true));
        let envelope = structured(&result);
        assert_eq!(
            envelope["flow_runs"],
            json!({"total": 0, "failed": 0, "cancelled": 0, "completed": 0, "running": 0, "pending": 0})
        );
        assert_eq!(
            (envelope["active_work_pools"].clone(), envelope["concurrency_limits"].clone()),
            (json!([]), json!([]))
        );
        let error = envelope["error"].as_str().unwrap();
        assert!(
            error.starts_with(
                "Failed to fetch dashboard: Prefect API timed out: POST /api/v2/concurrency_limits/filter"
            ),
            "{error}"
        );
    }
}
