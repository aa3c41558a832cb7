//! `diagnose_deployment`: whether a deployment's runs get created and started, in one call.
//!
//! The deployment is read first (by id, or by `<flow>/<deployment>` name); then, concurrently:
//! its flow's name, recent runs, Late backlog (exact count and oldest), next scheduled run,
//! active runs (the holders of its concurrency slots), its work pool with queue and workers,
//! and the tag limits; then, if one of those is full, the task runs holding its slots. At most 12
//! Prefect requests.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    DeploymentRecord, Finding, ObjectRef, PoolReadiness, Readiness, RunRef, Severity, SlotScope, active_runs, clip,
    collision_strategy, conclude, deployment_paused, deployment_saturated, held_by, holder_labels, minutes_since,
    parse_id, read_readiness, slot_holders, slug,
};
use crate::prefect::limits::{TagLimitRecord, tag_limits};
use crate::prefect::records::{FlowRunRecord, TaskRunRecord};
use crate::prefect::{DeploymentRef, PrefectClient, PrefectError};
use crate::tools::ToolError;
use crate::tools::args::{self, WorkspaceId};
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, format, unique};
use crate::upstream::Fetch;

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

impl FlowRunRecord {
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

pub const TOOL: ToolInfo = ToolInfo {
    name: "diagnose_deployment",
    title: "Diagnose Deployment",
    description: DESCRIPTION,
    toolset: Some(Toolset::Diagnosis),
    availability: Availability::Always,
    failure: "Failed to diagnose deployment: ",
    guide: "diagnose_deployment (an id or \"<flow>/<deployment>\"): whether a deployment's runs get created and started, in one call: a verdict plus findings with evidence and the next step.",
    types: ToolTypes::of::<Params, Envelope<DeploymentDiagnosis>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<DeploymentDiagnosis, ToolError> {
    let id = params.deployment_id.as_deref().map(|id| parse_id(id, "deployment_id", "get_deployments")).transpose()?;
    let wanted = args::deployment_ref(id, params.deployment_name.as_deref())?;
    let prefect = ctx.prefect(params.workspace_id).await?;
    let deployment = prefect.deployment(&wanted).await?.ok_or_else(|| {
        ToolError::NotFound(format!("{wanted} not found; get_deployments lists the existing deployments"))
    })?;
    let known_flow = match wanted {
        DeploymentRef::Name { flow, .. } => Some(flow),
        DeploymentRef::Id(_) => None,
    };
    let mut reads = read_context(&prefect, ctx.now, &deployment, known_flow).await?;
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
    let holders = holders?;
    pool_holders?;
    let slug = slug(reads.flow_name.as_deref(), &deployment.name);
    let mut findings = findings(ctx.now, &deployment, &slug, &reads, &holders);
    let healthy = healthy_verdict(&reads);
    let verdict = conclude(&mut findings, healthy);
    Ok(shape(ctx.now, deployment, slug, reads, findings, verdict))
}

struct Reads {
    flow_name: Option<String>,
    recent: Vec<FlowRunRecord>,
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
                None => prefect.flow_name(deployment.flow_id.as_deref()).await,
            }
        },
        prefect.post::<Vec<FlowRunRecord>, _>("flow_runs/filter", &recent_body),
        prefect.post::<i64, _>("flow_runs/count", &count_body),
        prefect.post::<Vec<FlowRunRecord>, _>("flow_runs/filter", &oldest_body),
        prefect.post::<Vec<FlowRunRecord>, _>("flow_runs/filter", &next_body),
        active_runs(prefect, SlotScope::Deployment(&deployment.id), HOLDERS),
        async {
            match &deployment.work_pool_name {
                Some(pool) => read_readiness(prefect, pool, deployment.work_queue_name.as_deref()).await.map(Some),
                None => Ok(None),
            }
        },
        async { if tags.is_empty() { Ok(Vec::new()) } else { tag_limits(prefect).await } },
    );
    let first = |runs: Vec<FlowRunRecord>| runs.into_iter().next().map(RunRef::from);
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

fn is_failure(run: &FlowRunRecord) -> bool {
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
    holders: &[TaskRunRecord],
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
    let failures: Vec<&FlowRunRecord> = reads.recent.iter().filter(|r| is_failure(r)).collect();
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
                    format!(
                        "{}: {}",
                        if s.active { "active" } else { "inactive" },
                        format::describe_schedule(&s.schedule)
                    )
                })
                .collect(),
            next_scheduled_run: reads.next_run,
        }),
        recent_runs: Some(RecentOutcomes {
            considered: reads.recent.len(),
            by_state_type,
            last_failure: reads.recent.iter().find(|r| is_failure(r)).map(FlowRunRecord::outcome),
            last_completed: reads
                .recent
                .iter()
                .find(|r| r.state_type.as_deref() == Some("COMPLETED"))
                .map(FlowRunRecord::outcome),
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
mod tests;
