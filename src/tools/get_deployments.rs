//! `get_deployments`: deployments with their flow, schedules and concurrency settings;
//! with 1–5 ids, also parameters, recent runs, the full work pool and hints.

use std::collections::HashMap;

use rmcp::model::{CallToolResult, Tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::args::{Filter, Limit, WorkspaceId};
use super::flow_names::FlowNames;
use super::limits::{self, TagLimitRecord};
use super::paging::{Listing, SERVER_PAGE_MAX};
use super::pools::{PoolRecord, WorkPool, fetch_all_extras};
use super::{Envelope, ToolContext, filter, format, respond, unique};
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

pub const NAME: &str = "get_deployments";

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

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
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

/// The fields of Prefect's `Deployment` that the shapes use.
#[derive(Debug, Deserialize)]
struct DeploymentRecord {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    flow_id: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    work_pool_name: Option<String>,
    #[serde(default)]
    work_queue_name: Option<String>,
    #[serde(default)]
    schedules: Option<Vec<ScheduleRecord>>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    enforce_parameter_schema: bool,
    #[serde(default)]
    global_concurrency_limit: Option<GlobalLimitRecord>,
    #[serde(default)]
    concurrency_options: Option<ConcurrencyOptions>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    parameter_openapi_schema: Option<Value>,
    #[serde(default)]
    job_variables: Option<Value>,
    #[serde(default)]
    pull_steps: Option<Vec<Value>>,
    #[serde(default)]
    entrypoint: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ScheduleRecord {
    #[serde(default = "yes")]
    active: bool,
    schedule: Value,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct GlobalLimitRecord {
    id: String,
    name: String,
    limit: i64,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    active_slots: i64,
    #[serde(default)]
    slot_decay_per_second: f64,
}

#[derive(Debug, Deserialize)]
struct RunRecord {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    state_name: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    deployment_id: Option<String>,
}

const LISTING: Listing = Listing { path: "deployments/filter", key: "deployments", sort: Some("NAME_ASC") };

pub fn definition() -> Tool {
    super::definition::<Params, Envelope<Deployments>>(NAME, "Get Deployments", DESCRIPTION)
}

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> CallToolResult {
    respond("Failed to fetch deployments: ", fetch(ctx, params).await)
}

async fn fetch<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<Deployments, String> {
    let filter = filter::checked(params.filter, &filter::DEPLOYMENT_FILTER)?;
    let detail = filter::is_detail_query(filter.as_ref());
    let prefect = ctx.prefect(params.workspace_id)?;
    let text = |e: PrefectError| e.to_string();

    // Round 1: the deployments, the tag limits and the flows of matching deployments do not
    // depend on each other.
    let (page, tag_limits, flows) = futures::join!(
        LISTING.first_page::<DeploymentRecord, _>(&prefect, filter.clone(), params.limit.get() as usize),
        limits::tag_limits(&prefect),
        FlowNames::of_matching(&prefect, "deployments", filter.as_ref()),
    );
    let (records, truncated) = page.map_err(text)?;
    let tag_limits = tag_limits.map_err(text)?;

    // Round 2, when needed: flow names the first page missed, and in detail mode recent
    // runs and work pools.
    let flow_ids = unique(records.iter().filter_map(|d| d.flow_id.as_deref()));
    let (flows, extra) = futures::join!(async { flows?.covering(&prefect, &flow_ids).await }, async {
        if detail { Some(read_details(&prefect, &records).await) } else { None }
    });
    let flow_names = flows.map_err(text)?;
    let mut extra = extra.transpose().map_err(text)?;

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
    runs: HashMap<String, Vec<RunRecord>>,
    pools: HashMap<String, Result<WorkPool, String>>,
}

/// One deployment's recent runs and its pool (or why the pool could not be read).
type DetailParts = (Vec<RunRecord>, Option<Result<WorkPool, String>>);

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
) -> Result<HashMap<String, Vec<RunRecord>>, PrefectError> {
    let query = |ids: &[&str], limit: usize| json!({"flow_runs": {"deployment_id": {"any_": ids}}, "sort": "START_TIME_DESC", "limit": limit, "offset": 0});
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let limit = if ids.len() == 1 { RECENT_RUNS } else { SERVER_PAGE_MAX };
    let runs: Vec<RunRecord> = prefect.post("flow_runs/filter", &query(ids, limit)).await?;
    let complete = runs.len() < limit;
    let mut by_deployment: HashMap<String, Vec<RunRecord>> = HashMap::new();
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
        let reads = bodies.iter().map(|body| prefect.post::<Vec<RunRecord>, _>("flow_runs/filter", body));
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
    let (records, extras) = futures::join!(
        prefect.post::<Vec<PoolRecord>, _>("work_pools/filter", &body),
        fetch_all_extras(prefect, names)
    );
    let mut records: HashMap<String, PoolRecord> = match records {
        Ok(records) => records.into_iter().map(|r| (r.name.clone(), r)).collect(),
        Err(e) => return names.iter().map(|n| ((*n).to_owned(), Err(e.to_string()))).collect(),
    };
    names
        .iter()
        .zip(extras)
        .map(|(name, extras)| {
            let pool = match (records.remove(*name), extras) {
                (None, _) => Err("the work pool does not exist".to_owned()),
                (Some(record), Ok(extras)) => Ok(WorkPool::detailed(record, extras)),
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
        let object = |value: Option<Value>| value.filter(|v| !v.is_null()).unwrap_or_else(|| json!({}));
        DeploymentDetail {
            parameters: object(record.parameters),
            parameter_openapi_schema: object(record.parameter_openapi_schema),
            job_variables: object(record.job_variables),
            recent_runs,
            work_pool,
            diagnostic_hints,
            pull_steps: record.pull_steps.filter(|steps| !steps.is_empty()),
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
                schedule: describe_schedule(&s.schedule),
                schedule_json: s.schedule,
            })
            .collect(),
        created: format::optional_timestamp(record.created.as_deref()),
        updated: format::optional_timestamp(record.updated.as_deref()),
        paused: record.paused,
        enforce_parameter_schema: record.enforce_parameter_schema,
        global_concurrency_limit,
        tag_concurrency_limits,
        concurrency_options: record.concurrency_options,
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

/// One line per schedule kind: the cron expression, interval seconds or RRULE text (line
/// breaks shown as `\n`), with the timezone.
pub(super) fn describe_schedule(schedule: &Value) -> String {
    let text = |key: &str| schedule.get(key).and_then(Value::as_str);
    let timezone = text("timezone").unwrap_or("none");
    if let Some(cron) = text("cron") {
        let day_or = schedule.get("day_or").and_then(Value::as_bool).unwrap_or(true);
        format!("cron \"{cron}\", timezone {timezone}, day_or {day_or}")
    } else if let Some(seconds) = schedule.get("interval").and_then(Value::as_f64) {
        let seconds = if seconds.fract() == 0.0 { format!("{}", seconds as i64) } else { seconds.to_string() };
        let anchor = text("anchor_date").map(|a| format!(", anchor {}", format::timestamp(a))).unwrap_or_default();
        format!("interval {seconds} seconds{anchor}, timezone {timezone}")
    } else if let Some(rrule) = text("rrule") {
        format!("rrule \"{}\", timezone {timezone}", rrule.replace('\n', "\\n"))
    } else {
        schedule.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::describe_schedule;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::{Value, json};

    const DEP: &str = "22222222-0000-4000-8000-000000000001";
    const DEP2: &str = "22222222-0000-4000-8000-000000000002";
    const FLOW: &str = "33333333-0000-4000-8000-000000000001";

    fn deployment(id: &str, name: &str) -> Value {
        json!({
            "id": id, "name": name, "description": "Hourly", "flow_id": FLOW, "tags": ["etl", "critical"],
            "work_pool_name": "process-pool", "work_queue_name": "critical", "paused": false,
            "enforce_parameter_schema": true, "created": "2026-11-27T10:00:00.5Z", "updated": "2026-11-27T10:00:00Z",
            "schedules": [
                {"active": true, "schedule": {"interval": 3600.0, "anchor_date": "2024-01-01T09:30:15.492230Z", "timezone": "UTC"}},
                {"active": false, "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Berlin", "day_or": true}},
            ],
            "global_concurrency_limit": {"id": "gcl", "name": format!("deployment:{id}"), "limit": 1, "active": true,
                                         "active_slots": 1, "slot_decay_per_second": 0.0},
            "concurrency_options": {"collision_strategy": "ENQUEUE", "grace_period_seconds": 600},
            "parameters": {"source": "s3://x"}, "parameter_openapi_schema": null, "job_variables": {},
            "pull_steps": [{"prefect.deployments.steps.git_clone": {"repository": "r"}}], "entrypoint": "flows/etl.py:extract",
        })
    }

    fn upstream(deployments: Value) -> FakeUpstream {
        FakeUpstream::new()
            .on("POST", "/api/deployments/filter", 200, deployments)
            .on("POST", "/api/flows/filter", 200, json!([{"id": FLOW, "name": "etl-extract"}]))
            .on(
                "POST",
                "/api/concurrency_limits/filter",
                200,
                json!([
                    {"id": "v1-etl", "tag": "etl", "concurrency_limit": 5, "active_slots": []},
                    {"id": "v1-ml", "tag": "ml", "concurrency_limit": 2, "active_slots": ["t1"]},
                    {"id": "v1-critical", "tag": "critical", "concurrency_limit": 1, "active_slots": ["t2"]},
                ]),
            )
    }

    fn bodies(fake: &FakeUpstream) -> Vec<(String, Value)> {
        fake.requests().iter().enumerate().map(|(i, r)| (r.uri().path().to_owned(), fake.body(i))).collect()
    }

    fn body_for(fake: &FakeUpstream, path: &str) -> Value {
        bodies(fake)
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b)
            .unwrap_or_else(|| panic!("no request to {path}"))
    }

    #[test]
    fn compact_items_in_order_with_limits_and_three_requests() {
        let fake = upstream(json!([deployment(DEP, "extract-hourly")]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_deployments", json!({"filter": {"paused": {"eq_": false}}}));
        let envelope = structured(&result);
        assert_eq!(envelope["success"], json!(true), "{envelope}");
        let top: Vec<&str> = envelope.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(top, ["success", "detail", "count", "deployments", "truncated", "error"]);
        assert_eq!(envelope["detail"], json!(false));
        let item = &envelope["deployments"][0];
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "slug",
                "description",
                "flow_id",
                "flow_name",
                "tags",
                "work_pool_name",
                "work_queue_name",
                "schedules",
                "created",
                "updated",
                "paused",
                "enforce_parameter_schema",
                "global_concurrency_limit",
                "tag_concurrency_limits",
                "concurrency_options"
            ]
        );
        assert_eq!(item["slug"], json!("etl-extract/extract-hourly"));
        assert_eq!(item["created"], json!("2026-11-27T10:00:00.500000+00:00"));
        assert_eq!(
            item["global_concurrency_limit"],
            json!({"id": "gcl", "name": format!("deployment:{DEP}"), "limit": 1,
            "active": true, "active_slots": 1, "slot_decay_per_second": 0.0, "over_limit": true})
        );
        assert_eq!(
            item["tag_concurrency_limits"],
            json!([
                {"id": "v1-etl", "name": "tag:etl", "limit": 5, "active": false, "active_slots": 0, "slot_decay_per_second": 0.0, "over_limit": false},
                {"id": "v1-critical", "name": "tag:critical", "limit": 1, "active": true, "active_slots": 1, "slot_decay_per_second": 0.0, "over_limit": true},
            ])
        );
        assert_eq!(item["concurrency_options"], json!({"collision_strategy": "ENQUEUE"}));
        assert_eq!(
            item["schedules"][0]["schedule"],
            json!("interval 3600 seconds, anchor 2024-01-01T09:30:15.492230+00:00, timezone UTC")
        );
        assert_eq!(item["schedules"][1]["active"], json!(false));
        assert_eq!(item["schedules"][1]["schedule_json"]["cron"], json!("0 6 * * *"));
        assert_eq!(ctx.upstream_requests(), 3);
        assert_eq!(
            body_for(&fake, "/api/deployments/filter"),
            json!({"deployments": {"paused": {"eq_": false}}, "sort": "NAME_ASC", "limit": 51, "offset": 0})
        );
        assert_eq!(
            body_for(&fake, "/api/flows/filter"),
            json!({"deployments": {"paused": {"eq_": false}}, "limit": 200, "offset": 0}),
            "the flows of matching deployments, read alongside them"
        );
        assert_eq!(body_for(&fake, "/api/concurrency_limits/filter"), json!({"limit": 200, "offset": 0}));
    }

    #[test]
    fn bare_deployments_have_empty_lists_and_nulls() {
        let fake = upstream(json!([{"id": DEP, "name": "load-bare", "flow_id": null, "tags": [], "schedules": [],
                                    "description": null, "work_pool_name": null, "paused": false}]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_deployments", json!({}));
        let item = &structured(&result)["deployments"][0];
        assert_eq!(item["slug"], json!(null));
        assert_eq!(item["schedules"], json!([]));
        assert_eq!(item["tags"], json!([]));
        assert_eq!(item["global_concurrency_limit"], json!(null));
        assert_eq!(item["concurrency_options"], json!(null));
        assert_eq!(item["tag_concurrency_limits"], json!([]));
        assert_eq!(ctx.upstream_requests(), 3, "the flows read in the first round; no lookup by id after it");
    }

    #[test]
    fn detail_adds_runs_pool_and_hints() {
        let fake = upstream(json!([deployment(DEP, "extract-hourly")]))
            .on("POST", "/api/flow_runs/filter", 200, json!([
                {"id": "r1", "name": "late-one", "state_name": "Late", "created": "2026-11-27T09:00:00Z", "start_time": null, "deployment_id": DEP},
                {"id": "r2", "name": "running", "state_name": "Running", "created": "2026-11-27T08:00:00Z", "start_time": "2026-11-27T08:00:01Z", "deployment_id": DEP},
            ]))
            .on("POST", "/api/work_pools/filter", 200, json!([{"id": "p1", "name": "process-pool", "type": "process", "status": "READY",
                                                                 "is_paused": false, "concurrency_limit": 10, "description": "ETL"}]))
            .on("POST", "/api/work_pools/process-pool/queues/filter", 200, json!([
                {"id": "q1", "name": "critical", "concurrency_limit": 2, "priority": 1, "is_paused": false}]))
            .on("POST", "/api/work_pools/process-pool/workers/filter", 200, json!([{"status": "ONLINE"}]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_deployments", json!({"filter": {"id": {"any_": [DEP]}}}));
        let envelope = structured(&result);
        assert_eq!(envelope["detail"], json!(true), "{envelope}");
        let item = &envelope["deployments"][0];
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).skip(17).collect();
        assert_eq!(
            keys,
            [
                "parameters",
                "parameter_openapi_schema",
                "job_variables",
                "recent_runs",
                "work_pool",
                "diagnostic_hints",
                "pull_steps",
                "entrypoint"
            ]
        );
        assert_eq!(item["parameter_openapi_schema"], json!({}));
        assert_eq!(
            item["recent_runs"][0],
            json!({"id": "r1", "name": "late-one", "state": "Late",
                                                   "created": "2026-11-27T09:00:00+00:00", "start_time": null})
        );
        assert_eq!(item["work_pool"]["active_workers"], json!(1));
        assert_eq!(item["work_pool"]["concurrency_limit"], json!(10));
        assert_eq!(item["work_pool"]["description"], json!("ETL"));
        assert_eq!(item["work_pool"]["work_queue_count"], json!(1));
        assert_eq!(
            item["diagnostic_hints"],
            json!([format!(
                "Deployment concurrency limit 'deployment:{DEP}' is likely blocking runs: 1 recent run(s) are \
                            Running against limit=1, and 1 recent run(s) are Late for this deployment."
            )])
        );
        assert_eq!(ctx.upstream_requests(), 7);
        assert_eq!(
            body_for(&fake, "/api/flow_runs/filter"),
            json!({"flow_runs": {"deployment_id": {"any_": [DEP]}}, "sort": "START_TIME_DESC", "limit": 10, "offset": 0})
        );
        assert_eq!(
            body_for(&fake, "/api/work_pools/filter"),
            json!({"work_pools": {"name": {"any_": ["process-pool"]}}, "limit": 1, "offset": 0})
        );
    }

    #[test]
    fn each_detail_deployment_gets_its_own_run_budget() {
        // A full shared page (200 runs, all of the first deployment) sends the second
        // deployment to its own query.
        let many: Vec<Value> = (0..200)
            .map(|i| json!({"id": format!("a{i}"), "name": "a", "state_name": "Completed", "deployment_id": DEP}))
            .collect();
        let fake = upstream(json!([deployment(DEP, "a"), deployment(DEP2, "b")])).on(
            "POST",
            "/api/flow_runs/filter",
            200,
            json!(many),
        );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_deployments", json!({"filter": {"id": {"any_": [DEP, DEP2]}}}));
        let deployments = structured(&result)["deployments"].as_array().unwrap().clone();
        assert_eq!(deployments[0]["recent_runs"].as_array().unwrap().len(), 10);
        assert_eq!(deployments[1]["recent_runs"].as_array().unwrap().len(), 10, "read on its own");
        let runs: Vec<Value> =
            bodies(&fake).into_iter().filter(|(p, _)| p == "/api/flow_runs/filter").map(|(_, b)| b).collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["limit"], json!(200));
        assert_eq!(
            runs[1],
            json!({"flow_runs": {"deployment_id": {"any_": [DEP2]}}, "sort": "START_TIME_DESC", "limit": 10, "offset": 0})
        );
        // The pool could not be read (no routes): the deployment still comes back, with a hint.
        assert_eq!(deployments[1]["work_pool"], json!(null));
        let hints = deployments[1]["diagnostic_hints"].as_array().unwrap();
        assert!(
            hints.iter().any(|h| h.as_str().unwrap().starts_with("Work pool 'process-pool' could not be read: 404")),
            "{hints:?}"
        );
    }

    #[test]
    fn bad_filters_fail_before_any_request() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_deployments", json!({"filter": {"bogus": {"eq_": 1}}}));
        assert_eq!(result.is_error, Some(true));
        let envelope = structured(&result);
        assert_eq!(envelope["deployments"], json!([]));
        assert!(envelope.get("detail").is_none());
        assert!(
            envelope["error"]
                .as_str()
                .unwrap()
                .starts_with("Failed to fetch deployments: unknown filter key `bogus`; allowed: ")
        );
        let result = run(&ctx, "get_deployments", json!({"filter": {"id": {"any_": ["not-a-uuid"]}}}));
        assert!(structured(&result)["error"].as_str().unwrap().contains("not a valid UUID"));
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn schedules_read_as_text() {
        assert_eq!(
            describe_schedule(&json!({"cron": "0 6 * * *", "timezone": "America/New_York", "day_or": true})),
            "cron \"0 6 * * *\", timezone America/New_York, day_or true"
        );
        assert_eq!(
            describe_schedule(&json!({"cron": "* * * * *", "timezone": null})),
            "cron \"* * * * *\", timezone none, day_or true"
        );
        assert_eq!(
            describe_schedule(&json!({"interval": 90.5, "timezone": "UTC"})),
            "interval 90.5 seconds, timezone UTC"
        );
        assert_eq!(
            describe_schedule(&json!({"rrule": "DTSTART:20200101T000000\nFREQ=WEEKLY;BYDAY=MO", "timezone": "UTC"})),
            "rrule \"DTSTART:20200101T000000\\nFREQ=WEEKLY;BYDAY=MO\", timezone UTC"
        );
    }
}
