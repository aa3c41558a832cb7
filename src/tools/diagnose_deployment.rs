//! `diagnose_deployment`: whether a deployment's runs get created and started, in one call.
//!
//! The deployment is read first (by id, or by `<flow>/<deployment>` name); then, concurrently:
//! its flow's name, recent runs, Late backlog (exact count and oldest), next scheduled run,
//! active runs (the holders of its concurrency slots), its work pool with queue and workers,
//! and the tag limits; then, if one of those is full, the task runs holding its slots. At most 12
//! Prefect requests.

use std::collections::BTreeMap;

use rmcp::model::{CallToolResult, Tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::args::WorkspaceId;
use super::diagnosis::{
    DeploymentRecord, Finding, ObjectRef, PoolReadiness, Readiness, RunRef, Severity, SlotHolder, SlotScope,
    active_runs, clip, collision_strategy, conclude, deployment_paused, deployment_saturated, flow_name, held_by,
    holder_labels, minutes_since, parse_id, read_readiness, slot_holders, slug,
};
use super::get_deployments::describe_schedule;
use super::limits::{TagLimitRecord, tag_limits};
use super::{Envelope, ToolContext, format, respond, unique};
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

pub const NAME: &str = "diagnose_deployment";

const DESCRIPTION: &str = "Check in one call whether a deployment's runs are created, start and \
succeed. Give `deployment_id` (UUID) or `deployment_name` as \"<flow>/<deployment>\". Returns `verdict` \
(one line naming the most likely problem, or that none was found) and `findings`, causes first, each \
with `severity` (cause, warning or info), a stable `kind` code (deployment_paused, work_pool_missing, \
work_pool_paused, work_pool_without_workers, work_queue_missing, work_queue_paused, \
deployment_concurrency_saturated, work_pool_concurrency_saturated, work_queue_concurrency_saturated, \
late_backlog, recent_failures, schedule_inactive, no_schedule, no_upcoming_runs, no_work_pool, \
tag_concurrency_saturated), the `object` ({type, id, name}), `evidence` with the numbers, and \
`next_step` (a tool of this server with arguments, or a `prefect` CLI command). Context: `deployment`, \
`schedules` (active count, paused flag, next scheduled run), `recent_runs` (state counts over the last \
20 runs due by now, last failure and last completion), `late_runs` (exact count and the oldest), \
`concurrency` (the deployment limit, slots in use and the runs holding them) and `work_pool` readiness \
(paused, workers online and last heartbeat, the deployment's queue). Makes at most 14 Prefect requests.";

/// Runs due by now that the outcome counts cover.
const RECENT: usize = 20;
/// Active runs listed as slot holders.
const HOLDERS: usize = 5;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// UUID of the deployment; give this or `deployment_name`.
    #[serde(default)]
    #[schemars(example = "068adce4-aeec-7e9b-8000-97b7feeb70fa")]
    pub deployment_id: Option<String>,
    /// "<flow name>/<deployment name>", as get_deployments shows in `slug`; give this or `deployment_id`.
    #[serde(default)]
    #[schemars(example = "etl-extract/extract-hourly")]
    pub deployment_name: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct DeploymentDiagnosis {
    /// One line: the most likely problem, or that none was found.
    pub verdict: String,
    /// Causes first, then warnings, then context.
    pub findings: Vec<Finding>,
    pub deployment: Option<DeploymentSummary>,
    pub schedules: Option<ScheduleHealth>,
    pub recent_runs: Option<RecentOutcomes>,
    pub late_runs: Option<LateBacklog>,
    pub concurrency: Option<ConcurrencyState>,
    /// The deployment's work pool and queue; null when it has no pool.
    pub work_pool: Option<PoolReadiness>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeploymentSummary {
    pub id: String,
    pub name: String,
    pub flow_name: Option<String>,
    /// "<flow>/<deployment>".
    pub slug: String,
    pub paused: bool,
    pub tags: Vec<String>,
    pub work_pool_name: Option<String>,
    pub work_queue_name: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ScheduleHealth {
    pub total: usize,
    pub active: usize,
    /// The deployment is paused: no schedule creates runs.
    pub deployment_paused: bool,
    /// One line per schedule, e.g. `active: interval 3600 seconds, …`.
    pub schedules: Vec<String>,
    pub next_scheduled_run: Option<RunRef>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RecentOutcomes {
    /// Runs due by now that were counted (at most 20, newest first).
    pub considered: usize,
    pub by_state_type: BTreeMap<String, usize>,
    pub last_failure: Option<RunOutcome>,
    pub last_completed: Option<RunOutcome>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RunOutcome {
    pub id: String,
    pub name: Option<String>,
    pub state_name: Option<String>,
    pub message: Option<String>,
    pub expected_start_time: Option<String>,
    pub end_time: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LateBacklog {
    /// Runs of the deployment in state Late (exact).
    pub count: i64,
    pub oldest: Option<RunRef>,
    /// Minutes since the oldest Late run was due.
    pub oldest_late_minutes: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConcurrencyState {
    /// The deployment's concurrency limit; null when unlimited.
    pub limit: Option<i64>,
    pub active_slots: Option<i64>,
    /// ENQUEUE or CANCEL_NEW.
    pub collision_strategy: Option<String>,
    /// Pending, Running or Cancelling runs of the deployment (up to 5, newest first).
    pub active_runs: Vec<RunRef>,
}

#[derive(Debug, Deserialize)]
struct RunRecord {
    id: String,
    name: Option<String>,
    state_type: Option<String>,
    state_name: Option<String>,
    #[serde(default)]
    state: Option<StateMessage>,
    expected_start_time: Option<String>,
    end_time: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StateMessage {
    #[serde(default)]
    message: Option<String>,
}

impl RunRecord {
    fn outcome(&self) -> RunOutcome {
        RunOutcome {
            id: self.id.clone(),
            name: self.name.clone(),
            state_name: self.state_name.clone(),
            message: self
                .state
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .filter(|m| !m.is_empty())
                .map(|m| clip(m, 300)),
            expected_start_time: format::optional_timestamp(self.expected_start_time.as_deref()),
            end_time: format::optional_timestamp(self.end_time.as_deref()),
        }
    }
}

pub fn definition() -> Tool {
    super::definition::<Params, Envelope<DeploymentDiagnosis>>(NAME, "Diagnose Deployment", DESCRIPTION)
}

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> CallToolResult {
    respond("Failed to diagnose deployment: ", fetch(ctx, params).await)
}

/// How the caller named the deployment.
enum Wanted {
    Id(String),
    Name { flow: String, deployment: String },
}

fn wanted(params: &Params) -> Result<Wanted, String> {
    match (&params.deployment_id, &params.deployment_name) {
        (Some(id), None) => Ok(Wanted::Id(parse_id(id, "deployment_id", "get_deployments")?)),
        (None, Some(name)) => match name.trim().split_once('/') {
            Some((flow, deployment)) if !flow.is_empty() && !deployment.is_empty() && !deployment.contains('/') => {
                Ok(Wanted::Name { flow: flow.to_owned(), deployment: deployment.to_owned() })
            }
            _ => Err(format!(
                "deployment_name {name:?} is not \"<flow>/<deployment>\"; get_deployments shows each deployment's slug"
            )),
        },
        (Some(_), Some(_)) => Err("give either deployment_id or deployment_name, not both".into()),
        (None, None) => Err("give deployment_id (UUID) or deployment_name (\"<flow>/<deployment>\")".into()),
    }
}

async fn fetch<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<DeploymentDiagnosis, String> {
    let wanted = wanted(&params)?;
    let prefect = ctx.prefect(params.workspace_id)?;
    let text = |e: PrefectError| e.to_string();
    let (body, missing) = match &wanted {
        Wanted::Id(id) => (
            json!({"deployments": {"id": {"any_": [id]}}, "limit": 1, "offset": 0}),
            format!("deployment {id} not found"),
        ),
        Wanted::Name { flow, deployment } => (
            json!({"flows": {"name": {"any_": [flow]}}, "deployments": {"name": {"any_": [deployment]}},
                   "limit": 1, "offset": 0}),
            format!("deployment {flow}/{deployment} not found"),
        ),
    };
    let deployment = prefect
        .post::<Vec<DeploymentRecord>, _>("deployments/filter", &body)
        .await
        .map_err(text)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{missing}; get_deployments lists the existing deployments"))?;
    let known_flow = match &wanted {
        Wanted::Name { flow, .. } => Some(flow.clone()),
        Wanted::Id(_) => None,
    };
    let mut reads = read_context(&prefect, ctx.now, &deployment, known_flow).await.map_err(text)?;
    // Last round, only when a tag limit of the deployment or its pool's or queue's limit is
    // full: who holds the slots.
    let slots: Vec<&str> =
        unique(saturated_tags(&reads.tag_limits).flat_map(|l| l.active_slots.iter().map(String::as_str)));
    let (holders, pool_holders) = futures::join!(slot_holders(&prefect, &slots), async {
        match reads.readiness.as_mut() {
            Some(readiness) => readiness.read_holders(&prefect).await,
            None => Ok(()),
        }
    });
    let holders = holders.map_err(text)?;
    pool_holders.map_err(text)?;
    let slug = slug(reads.flow_name.as_deref(), &deployment.name);
    let mut findings = findings(ctx.now, &deployment, &slug, &reads, &holders);
    let healthy = healthy_verdict(&reads);
    let verdict = conclude(&mut findings, healthy);
    Ok(shape(ctx.now, deployment, slug, reads, findings, verdict))
}

struct Reads {
    flow_name: Option<String>,
    recent: Vec<RunRecord>,
    late_count: i64,
    oldest_late: Option<RunRef>,
    next_run: Option<RunRef>,
    active: Vec<RunRef>,
    readiness: Option<Readiness>,
    tag_limits: Vec<TagLimitRecord>,
}

async fn read_context<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    now: time::OffsetDateTime,
    deployment: &DeploymentRecord,
    known_flow: Option<String>,
) -> Result<Reads, PrefectError> {
    let now = format::datetime(now);
    let runs = |extra: Value| {
        let mut filter = json!({"deployment_id": {"any_": [deployment.id]}});
        filter.as_object_mut().expect("an object").extend(extra.as_object().cloned().unwrap_or_default());
        filter
    };
    let late = runs(json!({"state": {"name": {"any_": ["Late"]}}}));
    let recent_body = json!({"flow_runs": runs(json!({"expected_start_time": {"before_": now}})),
                             "sort": "EXPECTED_START_TIME_DESC", "limit": RECENT, "offset": 0});
    let oldest_body = json!({"flow_runs": late, "sort": "EXPECTED_START_TIME_ASC", "limit": 1, "offset": 0});
    let next_body = json!({"flow_runs": runs(json!({"state": {"type": {"any_": ["SCHEDULED"]}, "name": {"any_": ["Scheduled"]}},
                                                     "expected_start_time": {"after_": now}})),
                           "sort": "EXPECTED_START_TIME_ASC", "limit": 1, "offset": 0});
    let tags = deployment.tags.as_deref().unwrap_or_default();
    let count_body = json!({"flow_runs": late});
    let (flow, recent, late_count, oldest, next, active, readiness, limits) = futures::join!(
        async {
            match known_flow {
                Some(name) => Ok(Some(name)),
                None => flow_name(prefect, deployment.flow_id.as_deref()).await,
            }
        },
        prefect.post::<Vec<RunRecord>, _>("flow_runs/filter", &recent_body),
        prefect.post::<i64, _>("flow_runs/count", &count_body),
        prefect.post::<Vec<RunRef>, _>("flow_runs/filter", &oldest_body),
        prefect.post::<Vec<RunRef>, _>("flow_runs/filter", &next_body),
        active_runs(prefect, SlotScope::Deployment(&deployment.id), HOLDERS),
        async {
            match &deployment.work_pool_name {
                Some(pool) => read_readiness(prefect, pool, deployment.work_queue_name.as_deref()).await.map(Some),
                None => Ok(None),
            }
        },
        async { if tags.is_empty() { Ok(Vec::new()) } else { tag_limits(prefect).await } },
    );
    let first = |runs: Vec<RunRef>| runs.into_iter().next().map(RunRef::formatted);
    Ok(Reads {
        flow_name: flow?,
        recent: recent?,
        late_count: late_count?,
        oldest_late: first(oldest?),
        next_run: first(next?),
        active: active?,
        readiness: readiness?,
        tag_limits: limits?.into_iter().filter(|l| tags.contains(&l.tag)).collect(),
    })
}

fn is_failure(run: &RunRecord) -> bool {
    matches!(run.state_type.as_deref(), Some("FAILED" | "CRASHED"))
}

/// The deployment's tag limits whose slots are all taken.
fn saturated_tags(limits: &[TagLimitRecord]) -> impl Iterator<Item = &TagLimitRecord> {
    limits.iter().filter(|l| l.active_slots.len() as i64 >= l.concurrency_limit)
}

fn findings(
    now: time::OffsetDateTime,
    deployment: &DeploymentRecord,
    slug: &str,
    reads: &Reads,
    holders: &[SlotHolder],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let object = || ObjectRef::new("deployment", Some(&deployment.id), Some(slug));
    findings.extend(deployment_paused(deployment, slug, Severity::Cause));
    // A full limit is what holds runs back only when runs are waiting.
    let waiting = if reads.late_count > 0 { Severity::Cause } else { Severity::Warning };
    match &reads.readiness {
        Some(readiness) => findings.extend(readiness.findings(waiting)),
        None => findings.push(Finding::new(
            Severity::Info,
            "no_work_pool",
            object(),
            format!("deployment '{slug}' has no work pool: only a process serving it (`flow.serve()`) runs it"),
            "check that the serving process is up".to_owned(),
        )),
    }
    findings.extend(deployment_saturated(deployment, slug, &reads.active, waiting));
    if reads.late_count > 0 {
        let blocked = findings.iter().any(|f| f.severity == Severity::Cause);
        let oldest = reads.oldest_late.as_ref();
        let since = oldest.and_then(|r| minutes_since(now, r.expected_start_time.as_deref()));
        findings.push(Finding::new(
            if blocked { Severity::Warning } else { Severity::Cause },
            "late_backlog",
            object(),
            format!(
                "{} Late run(s); the oldest, {}, was due at {}{}",
                reads.late_count,
                oldest.map_or_else(|| "unknown".to_owned(), RunRef::label),
                oldest.and_then(|r| r.expected_start_time.clone()).unwrap_or_default(),
                since.map_or_else(String::new, |m| format!(" ({m} min ago)"))
            ),
            oldest.map_or_else(
                || "get_flow_runs with filter {\"state\": {\"name\": {\"any_\": [\"Late\"]}}}".to_owned(),
                |r| format!("diagnose_flow_run with flow_run_id \"{}\"", r.id),
            ),
        ));
    }
    let failures: Vec<&RunRecord> = reads.recent.iter().filter(|r| is_failure(r)).collect();
    if let Some(last) = failures.first() {
        let outcome = last.outcome();
        findings.push(Finding::new(
            Severity::Warning,
            "recent_failures",
            ObjectRef::new("flow_run", Some(&last.id), last.name.as_deref()),
            format!(
                "{} of the last {} runs failed or crashed; the latest, {} ({}), ended {}: {}",
                failures.len(),
                reads.recent.len(),
                last.name.as_deref().unwrap_or("unnamed"),
                last.id,
                last.state_name.as_deref().unwrap_or("Failed"),
                outcome.message.as_deref().unwrap_or("no state message")
            ),
            format!("diagnose_flow_run with flow_run_id \"{}\"", last.id),
        ));
    }
    let schedules = deployment.schedules.as_deref().unwrap_or_default();
    let active = schedules.iter().filter(|s| s.active).count();
    if schedules.is_empty() {
        findings.push(Finding::new(
            Severity::Info,
            "no_schedule",
            object(),
            format!("deployment '{slug}' has no schedule: runs start only when triggered (UI, API, automation)"),
            format!("`prefect deployment run '{slug}'` starts one"),
        ));
    } else if active == 0 {
        findings.push(Finding::new(
            Severity::Warning,
            "schedule_inactive",
            object(),
            format!("all {} schedule(s) of deployment '{slug}' are inactive", schedules.len()),
            format!("`prefect deployment schedule ls '{slug}'`, then `prefect deployment schedule resume '{slug}' <schedule id>`"),
        ));
    } else if !deployment.paused && reads.next_run.is_none() {
        findings.push(Finding::new(
            Severity::Warning,
            "no_upcoming_runs",
            object(),
            format!("{active} active schedule(s) but no Scheduled run in the future"),
            "the server's scheduler service creates scheduled runs: check that it is enabled and running".to_owned(),
        ));
    }
    let mut saturated: Vec<Finding> = saturated_tags(&reads.tag_limits)
        .map(|l| {
            let holders = holder_labels(&l.active_slots, holders);
            Finding::new(
                Severity::Warning,
                "tag_concurrency_saturated",
                ObjectRef::new("concurrency_limit", Some(&l.id), Some(&format!("tag:{}", l.tag))),
                format!(
                    "tag '{}' (a tag of this deployment) limit {}, {} active slot(s){}: tasks with this tag wait",
                    l.tag,
                    l.concurrency_limit,
                    l.active_slots.len(),
                    held_by("task run", &holders, holders.len() as i64)
                ),
                format!("get_task_runs with filter {{\"id\": {{\"any_\": {}}}}}", json!(l.active_slots)),
            )
        })
        .collect();
    findings.append(&mut saturated);
    findings
}

fn healthy_verdict(reads: &Reads) -> String {
    let completed = reads.recent.iter().filter(|r| r.state_type.as_deref() == Some("COMPLETED")).count();
    let next = reads
        .next_run
        .as_ref()
        .and_then(|r| r.expected_start_time.clone())
        .map_or_else(|| "no run scheduled".to_owned(), |t| format!("next run at {t}"));
    let pool = reads.readiness.as_ref().map_or_else(String::new, |r| {
        let summary = r.summary();
        format!(", work pool '{}' has {} ONLINE worker(s)", summary.name, summary.workers_online)
    });
    format!("No problem found: {completed} of the last {} runs completed, {next}{pool}.", reads.recent.len())
}

fn shape(
    now: time::OffsetDateTime,
    deployment: DeploymentRecord,
    slug: String,
    reads: Reads,
    findings: Vec<Finding>,
    verdict: String,
) -> DeploymentDiagnosis {
    let schedules = deployment.schedules.clone().unwrap_or_default();
    let mut by_state_type = BTreeMap::new();
    for run in &reads.recent {
        *by_state_type.entry(run.state_type.clone().unwrap_or_else(|| "UNKNOWN".into())).or_insert(0) += 1;
    }
    let limit = deployment.global_concurrency_limit.as_ref();
    let collision_strategy = collision_strategy(&deployment).map(str::to_owned);
    let oldest_late_minutes =
        reads.oldest_late.as_ref().and_then(|r| minutes_since(now, r.expected_start_time.as_deref()));
    DeploymentDiagnosis {
        verdict,
        findings,
        schedules: Some(ScheduleHealth {
            total: schedules.len(),
            active: schedules.iter().filter(|s| s.active).count(),
            deployment_paused: deployment.paused,
            schedules: schedules
                .iter()
                .map(|s| {
                    format!("{}: {}", if s.active { "active" } else { "inactive" }, describe_schedule(&s.schedule))
                })
                .collect(),
            next_scheduled_run: reads.next_run,
        }),
        recent_runs: Some(RecentOutcomes {
            considered: reads.recent.len(),
            by_state_type,
            last_failure: reads.recent.iter().find(|r| is_failure(r)).map(RunRecord::outcome),
            last_completed: reads
                .recent
                .iter()
                .find(|r| r.state_type.as_deref() == Some("COMPLETED"))
                .map(RunRecord::outcome),
        }),
        late_runs: Some(LateBacklog { count: reads.late_count, oldest: reads.oldest_late, oldest_late_minutes }),
        concurrency: Some(ConcurrencyState {
            limit: limit.map(|l| l.limit),
            active_slots: limit.map(|l| l.active_slots),
            collision_strategy: limit.and(collision_strategy),
            active_runs: reads.active,
        }),
        work_pool: reads.readiness.as_ref().map(Readiness::summary),
        deployment: Some(DeploymentSummary {
            id: deployment.id,
            name: deployment.name,
            flow_name: reads.flow_name,
            slug,
            paused: deployment.paused,
            tags: deployment.tags.unwrap_or_default(),
            work_pool_name: deployment.work_pool_name,
            work_queue_name: deployment.work_queue_name,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::{Value, json};

    const DEP: &str = "33333333-0000-4000-8000-000000000001";
    const FLOW: &str = "22222222-0000-4000-8000-000000000001";

    fn deployment(extra: Value) -> Value {
        let mut d = json!({"id": DEP, "name": "nightly", "flow_id": FLOW, "paused": false, "tags": [],
            "work_pool_name": "pool-a", "work_queue_name": "default",
            "schedules": [{"active": true, "schedule": {"cron": "0 6 * * *", "timezone": "UTC"}}],
            "global_concurrency_limit": null, "concurrency_options": null});
        d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        d
    }

    fn flow_run(id: u32, state_type: &str, state_name: &str, message: Option<&str>) -> Value {
        json!({"id": format!("55555555-0000-4000-8000-{id:012}"), "name": format!("nightly-{id}"),
               "state_type": state_type, "state_name": state_name, "state": {"message": message},
               "expected_start_time": format!("2026-11-27T0{id}:00:00Z"), "end_time": null})
    }

    /// Answers the deployment tool's five run queries by their shape.
    fn runs(recent: Value, late: Value, next: Value, active: Value) -> impl Fn(&Value) -> (u16, Value) {
        move |body: &Value| {
            let filter = &body["flow_runs"];
            let answer = if filter["state"]["name"]["any_"] == json!(["Late"]) {
                late.clone()
            } else if filter["state"]["name"]["any_"] == json!(["Scheduled"]) {
                next.clone()
            } else if filter["state"]["type"]["any_"] == json!(["PENDING", "RUNNING", "CANCELLING"]) {
                active.clone()
            } else {
                recent.clone()
            };
            (200, answer)
        }
    }

    fn server(deployment: Value) -> FakeUpstream {
        FakeUpstream::new()
            .on("POST", "/api/deployments/filter", 200, json!([deployment]))
            .on("POST", "/api/flows/filter", 200, json!([{"id": FLOW, "name": "etl"}]))
            .answering(
                "POST",
                "/api/flow_runs/filter",
                runs(json!([]), json!([]), json!([flow_run(9, "SCHEDULED", "Scheduled", None)]), json!([])),
            )
            .on("POST", "/api/flow_runs/count", 200, json!(0))
            .on("POST", "/api/concurrency_limits/filter", 200, json!([]))
            .on(
                "POST",
                "/api/work_pools/filter",
                200,
                json!([{"id": "pool-id", "name": "pool-a", "type": "process", "status": "READY", "is_paused": false}]),
            )
            .on("POST", "/api/work_pools/pool-a/queues/filter", 200, json!([{"id": "q-id", "name": "default"}]))
            .on(
                "POST",
                "/api/work_pools/pool-a/workers/filter",
                200,
                json!([{"status": "ONLINE", "last_heartbeat_time": "2026-11-27T11:59:00Z"}]),
            )
    }

    fn diagnose(fake: &FakeUpstream, arguments: Value) -> (Value, u32) {
        let ctx = context(fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "diagnose_deployment", arguments);
        assert_eq!(result.is_error, Some(!structured(&result)["success"].as_bool().unwrap()));
        (structured(&result).clone(), ctx.upstream_requests())
    }

    fn kinds(result: &Value) -> Vec<String> {
        result["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn healthy_deployment_by_name() {
        let recent = json!([
            flow_run(3, "COMPLETED", "Completed", None),
            flow_run(2, "COMPLETED", "Completed", None),
            flow_run(1, "FAILED", "Failed", Some("boom"))
        ]);
        let fake = server(deployment(json!({}))).answering(
            "POST",
            "/api/flow_runs/filter",
            runs(recent, json!([]), json!([flow_run(9, "SCHEDULED", "Scheduled", None)]), json!([])),
        );
        let (result, requests) = diagnose(&fake, json!({"deployment_name": "etl/nightly"}));
        assert_eq!(kinds(&result), ["recent_failures"]);
        assert_eq!(result["findings"][0]["severity"], "warning");
        assert_eq!(
            result["findings"][0]["evidence"],
            "1 of the last 3 runs failed or crashed; the latest, nightly-1 (55555555-0000-4000-8000-000000000001), ended Failed: boom"
        );
        assert_eq!(result["recent_runs"]["by_state_type"], json!({"COMPLETED": 2, "FAILED": 1}));
        assert_eq!(result["recent_runs"]["last_completed"]["name"], "nightly-3");
        assert_eq!(result["schedules"]["next_scheduled_run"]["expected_start_time"], "2026-11-27T09:00:00+00:00");
        assert_eq!(result["schedules"]["schedules"], json!(["active: cron \"0 6 * * *\", timezone UTC, day_or true"]));
        assert_eq!(result["deployment"]["slug"], "etl/nightly");
        // The name gave the flow: no flow lookup, no tag limits without tags.
        assert_eq!(requests, 9);
        assert_eq!(
            fake.body(0),
            json!({"flows": {"name": {"any_": ["etl"]}}, "deployments": {"name": {"any_": ["nightly"]}}, "limit": 1, "offset": 0})
        );
        let clean = server(deployment(json!({})));
        let (result, _) = diagnose(&clean, json!({"deployment_id": DEP}));
        assert_eq!(result["findings"], json!([]));
        assert_eq!(
            result["verdict"],
            "No problem found: 0 of the last 0 runs completed, next run at 2026-11-27T09:00:00+00:00, work pool 'pool-a' has 1 ONLINE worker(s)."
        );
    }

    #[test]
    fn late_backlog_on_a_pool_without_workers() {
        let late = json!([flow_run(1, "SCHEDULED", "Late", None)]);
        let fake = server(deployment(json!({"tags": ["etl"]})))
            .answering("POST", "/api/flow_runs/filter", runs(late.clone(), late, json!([]), json!([])))
            .on("POST", "/api/flow_runs/count", 200, json!(3))
            .on("POST", "/api/work_pools/pool-a/workers/filter", 200, json!([]));
        let (result, requests) = diagnose(&fake, json!({"deployment_id": DEP}));
        assert_eq!(kinds(&result), ["work_pool_without_workers", "late_backlog", "no_upcoming_runs"]);
        assert_eq!(result["findings"][1]["severity"], "warning");
        assert_eq!(
            result["findings"][1]["evidence"],
            "3 Late run(s); the oldest, nightly-1 (55555555-0000-4000-8000-000000000001), was due at 2026-11-27T01:00:00+00:00 (660 min ago)"
        );
        assert_eq!(
            result["findings"][1]["next_step"],
            "diagnose_flow_run with flow_run_id \"55555555-0000-4000-8000-000000000001\""
        );
        assert_eq!(result["late_runs"]["count"], 3);
        // Worst case: deployment, flow, five run reads, pool, queue, workers, tag limits.
        assert_eq!(requests, 11);
        assert_eq!(
            fake.body_to("/api/flow_runs/count"),
            json!({"flow_runs": {"deployment_id": {"any_": [DEP]}, "state": {"name": {"any_": ["Late"]}}}})
        );
    }

    #[test]
    fn worst_case_names_tag_pool_and_queue_holders_within_fourteen_requests() {
        let late = json!([flow_run(1, "SCHEDULED", "Late", None)]);
        let fake = server(deployment(json!({"tags": ["serial"]})))
            .answering(
                "POST",
                "/api/flow_runs/filter",
                runs(late.clone(), late, json!([]), json!([flow_run(2, "RUNNING", "Running", None)])),
            )
            .on("POST", "/api/flow_runs/count", 200, json!(1))
            .on(
                "POST",
                "/api/concurrency_limits/filter",
                200,
                json!([{"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": ["t1"]}]),
            )
            .on("POST", "/api/task_runs/filter", 200, json!([{"id": "t1", "name": "load-1", "flow_run_id": "r9"}]));
        let (result, requests) = diagnose(&full_pool_and_queue(fake, 1), json!({"deployment_id": DEP}));
        assert_eq!(
            kinds(&result),
            [
                "work_pool_concurrency_saturated",
                "work_queue_concurrency_saturated",
                "late_backlog",
                "no_upcoming_runs",
                "tag_concurrency_saturated"
            ]
        );
        for finding in &result["findings"].as_array().unwrap()[..2] {
            assert_eq!(finding["severity"], "cause");
            let evidence = finding["evidence"].as_str().unwrap();
            assert!(
                evidence
                    .ends_with("1 active slot(s) held by flow run nightly-2 (55555555-0000-4000-8000-000000000002)"),
                "{evidence}"
            );
        }
        // Deployment, flow, five run reads, pool, queue, workers, tag limits; then the tag,
        // pool and queue holders.
        assert_eq!(requests, 14);
    }

    #[test]
    fn a_late_backlog_nothing_explains_is_the_cause() {
        let late = json!([flow_run(1, "SCHEDULED", "Late", None)]);
        let fake = server(deployment(json!({})))
            .answering("POST", "/api/flow_runs/filter", runs(late.clone(), late, json!([]), json!([])))
            .on("POST", "/api/flow_runs/count", 200, json!(1));
        let (result, _) = diagnose(&fake, json!({"deployment_id": DEP}));
        assert_eq!(result["findings"][0]["kind"], "late_backlog");
        assert_eq!(result["findings"][0]["severity"], "cause");
    }

    #[test]
    fn paused_deployment_and_full_limit_with_holders() {
        let limit =
            json!({"id": "gcl", "name": format!("deployment:{DEP}"), "limit": 2, "active": true, "active_slots": 2});
        let active = json!([flow_run(1, "RUNNING", "Running", None), flow_run(2, "PENDING", "Pending", None)]);
        let fake = server(deployment(json!({"paused": true, "global_concurrency_limit": limit,
                                               "concurrency_options": {"collision_strategy": "CANCEL_NEW"}})))
        .answering("POST", "/api/flow_runs/filter", runs(json!([]), json!([]), json!([]), active));
        let (result, _) = diagnose(&fake, json!({"deployment_id": DEP}));
        assert_eq!(kinds(&result), ["deployment_paused", "deployment_concurrency_saturated"]);
        assert_eq!(result["findings"][1]["severity"], "warning");
        assert!(
            result["findings"][1]["evidence"]
                .as_str()
                .unwrap()
                .contains("limit 2, 2 active slot(s) held by flow run nightly-1")
        );
        assert_eq!(result["concurrency"]["collision_strategy"], "CANCEL_NEW");
        assert_eq!(result["concurrency"]["active_runs"].as_array().unwrap().len(), 2);
        assert!(result["verdict"].as_str().unwrap().starts_with("The deployment is paused (deployment_paused)"));
    }

    #[test]
    fn schedules_pools_and_tag_limits() {
        let inactive = deployment(json!({"schedules": [{"active": false, "schedule": {"interval": 60.0}}],
                                         "work_pool_name": null, "tags": ["serial"]}));
        let fake = server(inactive)
            .on(
                "POST",
                "/api/concurrency_limits/filter",
                200,
                json!([
                {"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": ["t1"]},
                {"id": "other", "tag": "other", "concurrency_limit": 1, "active_slots": ["t2"]}]),
            )
            .on("POST", "/api/task_runs/filter", 200, json!([{"id": "t1", "name": "load-1", "flow_run_id": "r9"}]));
        let (result, requests) = diagnose(&fake, json!({"deployment_id": DEP}));
        assert_eq!(kinds(&result), ["schedule_inactive", "tag_concurrency_saturated", "no_work_pool"]);
        let evidence = result["findings"][1]["evidence"].as_str().unwrap();
        assert!(evidence.contains("held by task run load-1 (t1) of flow run r9"), "{evidence}");
        assert_eq!(
            fake.body_to("/api/task_runs/filter"),
            json!({"task_runs": {"id": {"any_": ["t1"]}}, "limit": 1, "offset": 0}),
            "only the holders of the deployment's own full limit"
        );
        assert_eq!(result["work_pool"], Value::Null);
        assert_eq!(requests, 9);
        let unscheduled = server(deployment(json!({"schedules": []})));
        assert_eq!(kinds(&diagnose(&unscheduled, json!({"deployment_id": DEP})).0), ["no_schedule"]);
        let missing_pool = server(deployment(json!({})))
            .on("POST", "/api/work_pools/filter", 200, json!([]))
            .on("POST", "/api/work_pools/pool-a/queues/filter", 404, json!({"detail": "Work pool not found."}))
            .on("POST", "/api/work_pools/pool-a/workers/filter", 404, json!({"detail": "Work pool not found."}));
        let (result, _) = diagnose(&missing_pool, json!({"deployment_id": DEP}));
        assert_eq!(kinds(&result), ["work_pool_missing"]);
        assert_eq!(result["work_pool"]["status"], Value::Null);
    }

    #[test]
    fn argument_errors_and_unknown_deployments() {
        let fake = server(deployment(json!({}))).on("POST", "/api/deployments/filter", 200, json!([]));
        let cases = [
            (json!({}), "give deployment_id (UUID) or deployment_name (\"<flow>/<deployment>\")"),
            (
                json!({"deployment_id": DEP, "deployment_name": "a/b"}),
                "give either deployment_id or deployment_name, not both",
            ),
            (
                json!({"deployment_name": "nightly"}),
                "deployment_name \"nightly\" is not \"<flow>/<deployment>\"; get_deployments shows each deployment's slug",
            ),
            (
                json!({"deployment_id": "x"}),
                "invalid UUID \"x\" for deployment_id; pass an id as get_deployments lists it",
            ),
        ];
        for (arguments, message) in cases {
            let (result, requests) = diagnose(&fake, arguments);
            assert_eq!(result["error"], json!(format!("Failed to diagnose deployment: {message}")));
            assert_eq!((requests, &result["findings"], &result["deployment"]), (0, &json!([]), &Value::Null));
        }
        let (result, _) = diagnose(&fake, json!({"deployment_name": "etl/gone"}));
        assert_eq!(
            result["error"],
            "Failed to diagnose deployment: deployment etl/gone not found; get_deployments lists the existing deployments"
        );
        let (result, requests) = diagnose(&fake, json!({"deployment_id": DEP}));
        assert_eq!(
            result["error"],
            json!(format!(
                "Failed to diagnose deployment: deployment {DEP} not found; get_deployments lists the existing deployments"
            ))
        );
        assert_eq!(requests, 1);
    }
}
