//! `get_deployments`: deployments with their flow, schedules and concurrency settings;
//! with 1–5 ids, also parameters, recent runs, the full work pool and hints.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::ToolError;
use super::args::{Filter, Limit, WorkspaceId};
use super::pools::WorkPool;
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, filter, format, unique};
use crate::prefect::flow_names::FlowNames;
use crate::prefect::limits::{self, TagLimitRecord};
use crate::prefect::paging::{Listing, SERVER_PAGE_MAX};
use crate::prefect::pools;
use crate::prefect::records::{DeploymentRecord, FlowRunRecord, PoolRecord};
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "List deployments (a flow made runnable: schedules, work pool and queue, \
concurrency settings), by name. Each item has its flow's name, `slug` (\"<flow>/<deployment>\"), \
schedules (active flag plus cron/interval/rrule text and raw JSON), paused flag, the deployment \
concurrency limit with `over_limit`, and the tag concurrency limits of its tags. When `filter` selects 1 \
to 5 deployments by `id.any_`, each also carries parameters, parameter schema, job variables, its 10 most \
recent runs (newest first), its work pool in full (queues, ONLINE workers, hints), diagnostic hints about \
a blocking concurrency limit, pull steps and entrypoint. Optional `filter` uses Prefect's deployment \
filter: `id` {any_, not_any_}, `name` {any_, like_: case-insensitive substring}, \
`flow_or_deployment_name` {like_}, `paused` {eq_: true/false}, `tags` {all_, any_, is_null_, operator}, \
`work_queue_name` {any_}, and `operator` (\"and_\"/\"or_\"). Unknown keys or operators are rejected with \
the allowed ones. Returns `detail` (which mode applied), `count` and `truncated` (more deployments match \
than `limit`).";

/// Recent runs shown per detail deployment.
const RECENT_RUNS: usize = 10;
/// Most per-deployment follow-up reads when the shared recent-runs page was full.
const RECENT_RUN_FALLBACKS: usize = 10;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Prefect deployment filter, e.g. {"paused": {"eq_": false}, "tags": {"all_": ["production"]}}
    /// or {"id": {"any_": ["<deployment id>"]}} for detail.
    #[serde(default)]
    #[schemars(
        example = json!({"name": {"like_": "prod"}}),
        example = json!({"paused": {"eq_": false}, "tags": {"all_": ["production"]}}),
        example = json!({"work_queue_name": {"any_": ["critical", "default"]}})
    )]
    pub filter: Option<Filter>,
    /// Maximum number of deployments to return.
    #[serde(default)]
    pub limit: Limit<1, 200, 50>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Deployments {
    /// True when the filter selected 1–5 ids and the deployments carry their detail fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub detail: Option<bool>,
    pub count: usize,
    pub deployments: Vec<Deployment>,
    /// True when more deployments match than were returned.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    /// "<flow name>/<deployment name>".
    pub slug: Option<String>,
    pub description: Option<String>,
    pub flow_id: Option<String>,
    pub flow_name: Option<String>,
    pub tags: Vec<String>,
    pub work_pool_name: Option<String>,
    pub work_queue_name: Option<String>,
    pub schedules: Vec<ScheduleInfo>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub paused: bool,
    pub enforce_parameter_schema: bool,
    /// The deployment-level concurrency limit (named "deployment:<id>").
    pub global_concurrency_limit: Option<ConcurrencyLimitInfo>,
    /// Tag concurrency limits (V1) on the deployment's tags.
    pub tag_concurrency_limits: Vec<ConcurrencyLimitInfo>,
    pub concurrency_options: Option<ConcurrencyOptions>,
    #[serde(flatten)]
    pub detail: Option<DeploymentDetail>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ScheduleInfo {
    pub active: bool,
    /// Readable form, e.g. `cron "0 6 * * *", timezone Europe/Berlin, day_or true`.
    pub schedule: String,
    /// The schedule as Prefect stores it.
    pub schedule_json: Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConcurrencyLimitInfo {
    pub id: String,
    pub name: String,
    pub limit: i64,
    pub active: bool,
    pub active_slots: i64,
    pub slot_decay_per_second: f64,
    /// `active_slots >= limit`: new runs wait (or are cancelled) until a slot frees.
    pub over_limit: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConcurrencyOptions {
    /// ENQUEUE or CANCEL_NEW.
    #[schemars(with = "String")]
    pub collision_strategy: Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeploymentDetail {
    #[schemars(with = "Map<String, Value>")]
    pub parameters: Value,
    #[schemars(with = "Map<String, Value>")]
    pub parameter_openapi_schema: Value,
    #[schemars(with = "Map<String, Value>")]
    pub job_variables: Value,
    /// Up to 10 most recent runs, newest (start or expected start) first.
    pub recent_runs: Vec<RecentRun>,
    pub work_pool: Option<WorkPool>,
    pub diagnostic_hints: Vec<String>,
    /// Present only when the deployment has pull steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<Map<String, Value>>")]
    pub pull_steps: Option<Vec<Value>>,
    /// `<path>:<function>`; present only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub entrypoint: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RecentRun {
    pub id: String,
    pub name: Option<String>,
    /// State name, e.g. "Late", "Running", "Completed".
    pub state: Option<String>,
    pub created: Option<String>,
    pub start_time: Option<String>,
}

const LISTING: Listing = Listing { path: "deployments/filter", key: "deployments", sort: Some("NAME_ASC") };

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_deployments",
    title: "Get Deployments",
    description: DESCRIPTION,
    toolset: Some(Toolset::Deployments),
    availability: Availability::Always,
    failure: "Failed to fetch deployments: ",
    guide: "get_deployments: deployments (schedules, work pool and queue, concurrency); 1 to 5 ids in `filter.id.any_` give full detail (parameters, recent runs, diagnostic hints).",
    types: ToolTypes::of::<Params, Envelope<Deployments>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<Deployments, ToolError> {
    let filter = filter::checked(params.filter, &filter::DEPLOYMENT_FILTER)?;
    let detail = filter::is_detail_query(filter.as_ref());
    let prefect = ctx.prefect(params.workspace_id).await?;

    // Round 1: the deployments, the tag limits and the flows of matching deployments do not
    // depend on each other.
    let (page, tag_limits, flows) = futures::join!(
        LISTING.first_page::<DeploymentRecord, _>(&prefect, filter.clone(), params.limit.get() as usize),
        limits::tag_limits(&prefect),
        FlowNames::of_matching(&prefect, "deployments", filter.as_ref()),
    );
    let (records, truncated) = page?;
    let tag_limits = tag_limits?;

    // Round 2, when needed: flow names the first page missed, and in detail mode recent
    // runs and work pools.
    let flow_ids = unique(records.iter().filter_map(|d| d.flow_id.as_deref()));
    let (flows, extra) = futures::join!(async { flows?.covering(&prefect, &flow_ids).await }, async {
        if detail { Some(read_details(&prefect, &records).await) } else { None }
    });
    let flow_names = flows?;
    let mut extra = extra.transpose()?;

    let deployments: Vec<Deployment> = records
        .into_iter()
        .map(|record| {
            let detail = extra.as_mut().map(|extra| extra.take(&record));
            shape(record, &flow_names, &tag_limits, detail)
        })
        .collect();
    Ok(Deployments { detail: Some(detail), count: deployments.len(), deployments, truncated })
}

/// What detail mode adds, keyed by deployment id and pool name.
struct Details {
    runs: HashMap<String, Vec<FlowRunRecord>>,
    pools: HashMap<String, Result<WorkPool, String>>,
}

/// One deployment's recent runs and its pool (or why the pool could not be read).
type DetailParts = (Vec<FlowRunRecord>, Option<Result<WorkPool, String>>);

impl Details {
    fn take(&mut self, record: &DeploymentRecord) -> DetailParts {
        let runs = self.runs.remove(&record.id).unwrap_or_default();
        let pool = record.work_pool_name.as_ref().and_then(|name| self.pools.get(name).cloned());
        (runs, pool)
    }
}

/// Recent runs and work pools of the detail deployments, read concurrently.
async fn read_details<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    records: &[DeploymentRecord],
) -> Result<Details, PrefectError> {
    let ids: Vec<&str> = records.iter().map(|d| d.id.as_str()).collect();
    let pool_names = unique(records.iter().filter_map(|d| d.work_pool_name.as_deref()));
    let (runs, pools) = futures::join!(read_recent_runs(prefect, &ids), read_pools(prefect, &pool_names));
    Ok(Details { runs: runs?, pools })
}

/// Each deployment's [`RECENT_RUNS`] newest runs. One shared query serves them all unless
/// its page comes back full; then deployments short of their budget are read one by one.
async fn read_recent_runs<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    ids: &[&str],
) -> Result<HashMap<String, Vec<FlowRunRecord>>, PrefectError> {
    let query = |ids: &[&str], limit: usize| json!({"flow_runs": {"deployment_id": {"any_": ids}}, "sort": "START_TIME_DESC", "limit": limit, "offset": 0});
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let limit = if ids.len() == 1 { RECENT_RUNS } else { SERVER_PAGE_MAX };
    let runs: Vec<FlowRunRecord> = prefect.post("flow_runs/filter", &query(ids, limit)).await?;
    let complete = runs.len() < limit;
    let mut by_deployment: HashMap<String, Vec<FlowRunRecord>> = HashMap::new();
    for run in runs {
        if let Some(id) = run.deployment_id.clone() {
            let runs = by_deployment.entry(id).or_default();
            if runs.len() < RECENT_RUNS {
                runs.push(run);
            }
        }
    }
    if !complete {
        let short: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| by_deployment.get(*id).map_or(0, Vec::len) < RECENT_RUNS)
            .take(RECENT_RUN_FALLBACKS)
            .collect();
        let bodies: Vec<Value> = short.iter().map(|id| query(std::slice::from_ref(id), RECENT_RUNS)).collect();
        let reads = bodies.iter().map(|body| prefect.post::<Vec<FlowRunRecord>, _>("flow_runs/filter", body));
        for (id, runs) in short.iter().zip(futures::future::join_all(reads).await) {
            let mut runs = runs?;
            runs.truncate(RECENT_RUNS);
            by_deployment.insert((*id).to_owned(), runs);
        }
    }
    Ok(by_deployment)
}

/// The pools by name with their queues and workers; a failure is kept per pool so the
/// deployments still come back, with the reason in their hints.
async fn read_pools<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    names: &[&str],
) -> HashMap<String, Result<WorkPool, String>> {
    if names.is_empty() {
        return HashMap::new();
    }
    let body = json!({"work_pools": {"name": {"any_": names}}, "limit": names.len(), "offset": 0});
    let (records, contents) = futures::join!(
        prefect.post::<Vec<PoolRecord>, _>("work_pools/filter", &body),
        pools::contents_of_each(prefect, names)
    );
    let mut records: HashMap<String, PoolRecord> = match records {
        Ok(records) => records.into_iter().map(|r| (r.name.clone(), r)).collect(),
        Err(e) => return names.iter().map(|n| ((*n).to_owned(), Err(e.to_string()))).collect(),
    };
    names
        .iter()
        .zip(contents)
        .map(|(name, contents)| {
            let pool = match (records.remove(*name), contents) {
                (None, _) => Err("the work pool does not exist".to_owned()),
                (Some(record), Ok(contents)) => Ok(WorkPool::detailed(record, contents)),
                (Some(_), Err(e)) => Err(e.to_string()),
            };
            ((*name).to_owned(), pool)
        })
        .collect()
}

fn shape(
    record: DeploymentRecord,
    flow_names: &HashMap<String, String>,
    tag_limits: &[TagLimitRecord],
    detail: Option<DetailParts>,
) -> Deployment {
    let flow_name = record.flow_id.as_ref().and_then(|id| flow_names.get(id)).cloned();
    let tags = record.tags.unwrap_or_default();
    let global_concurrency_limit = record.global_concurrency_limit.map(|l| ConcurrencyLimitInfo {
        over_limit: l.active_slots >= l.limit,
        id: l.id,
        name: l.name,
        limit: l.limit,
        active: l.active,
        active_slots: l.active_slots,
        slot_decay_per_second: l.slot_decay_per_second,
    });
    let tag_concurrency_limits = tag_limits
        .iter()
        .filter(|l| tags.contains(&l.tag))
        .map(|l| {
            let active_slots = l.active_slots.len() as i64;
            ConcurrencyLimitInfo {
                id: l.id.clone(),
                name: format!("tag:{}", l.tag),
                limit: l.concurrency_limit,
                active: active_slots > 0,
                active_slots,
                slot_decay_per_second: 0.0,
                over_limit: active_slots >= l.concurrency_limit,
            }
        })
        .collect();
    let detail = detail.map(|(runs, pool)| {
        let recent_runs: Vec<RecentRun> = runs
            .into_iter()
            .map(|run| RecentRun {
                id: run.id,
                name: run.name,
                state: run.state_name,
                created: format::optional_timestamp(run.created.as_deref()),
                start_time: format::optional_timestamp(run.start_time.as_deref()),
            })
            .collect();
        let mut diagnostic_hints = limit_hints(global_concurrency_limit.as_ref(), &recent_runs);
        let work_pool = match pool {
            Some(Ok(pool)) => Some(pool),
            Some(Err(reason)) => {
                let name = record.work_pool_name.as_deref().unwrap_or_default();
                diagnostic_hints.push(format!("Work pool '{name}' could not be read: {reason}"));
                None
            }
            None => None,
        };
        let parsed = |raw: Option<Box<RawValue>>| raw.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
        let object = |raw: Option<Box<RawValue>>| parsed(raw).filter(|v| !v.is_null()).unwrap_or_else(|| json!({}));
        DeploymentDetail {
            parameters: object(record.parameters),
            parameter_openapi_schema: object(record.parameter_openapi_schema),
            job_variables: object(record.job_variables),
            recent_runs,
            work_pool,
            diagnostic_hints,
            pull_steps: record
                .pull_steps
                .and_then(|raw| serde_json::from_str::<Vec<Value>>(raw.get()).ok())
                .filter(|steps| !steps.is_empty()),
            entrypoint: record.entrypoint.filter(|e| !e.is_empty()),
        }
    });
    Deployment {
        slug: flow_name.as_ref().map(|flow| format!("{flow}/{}", record.name)),
        id: record.id,
        name: record.name,
        description: record.description,
        flow_id: record.flow_id,
        flow_name,
        tags,
        work_pool_name: record.work_pool_name,
        work_queue_name: record.work_queue_name,
        schedules: record
            .schedules
            .unwrap_or_default()
            .into_iter()
            .map(|s| ScheduleInfo {
                active: s.active,
                schedule: format::describe_schedule(&s.schedule),
                schedule_json: s.schedule,
            })
            .collect(),
        created: format::optional_timestamp(record.created.as_deref()),
        updated: format::optional_timestamp(record.updated.as_deref()),
        paused: record.paused,
        enforce_parameter_schema: record.enforce_parameter_schema,
        global_concurrency_limit,
        tag_concurrency_limits,
        concurrency_options: record
            .concurrency_options
            .map(|options| ConcurrencyOptions { collision_strategy: options.collision_strategy }),
        detail,
    }
}

/// A deployment limit blocks runs when its Running recent runs fill it while others are
/// Late; otherwise a full limit only makes new runs wait.
fn limit_hints(limit: Option<&ConcurrencyLimitInfo>, runs: &[RecentRun]) -> Vec<String> {
    let Some(limit) = limit else { return Vec::new() };
    let named = |state: &str| runs.iter().filter(|r| r.state.as_deref() == Some(state)).count() as i64;
    let (running, late) = (named("Running"), named("Late"));
    if running >= limit.limit && late > 0 {
        vec![format!(
            "Deployment concurrency limit '{}' is likely blocking runs: {running} recent run(s) are Running against \
             limit={}, and {late} recent run(s) are Late for this deployment.",
            limit.name, limit.limit
        )]
    } else if limit.over_limit {
        vec![format!(
            "Deployment concurrency limit '{}' is over limit; additional runs for this deployment will wait for slots \
             to free.",
            limit.name
        )]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests;
