//! `diagnose_flow_run`: why one flow run failed, crashed, or has not started, in one call.
//!
//! The run is read first; what its state makes relevant is then read concurrently: state
//! history, task runs, ERROR logs, deployment, work pool with queue and workers, and the
//! tag and global concurrency limits. A last round names who holds a full limit's slots.
//! At most 12 Prefect requests (a Pending run with a task waiting on a full tag limit).

use std::collections::BTreeMap;

use rmcp::model::CallToolResult;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    DeploymentRecord, Finding, ObjectRef, PoolReadiness, Readiness, RunRef, Severity, SlotScope, clip, conclude,
    deployment_paused, deployment_saturated, held_by, holder_labels, minutes_since, named_holders, parse_id,
    read_readiness, saturated_globals, slot_holders, slug,
};
use crate::prefect::limits::{GlobalLimitRecord, TagLimitRecord, global_limits, tag_limits};
use crate::prefect::paging::SERVER_PAGE_MAX;
use crate::prefect::records::{FlowRunRecord, LogRecord, StateRecord, TaskRunRecord};
use crate::prefect::{PrefectClient, PrefectError};
use crate::tools::ToolError;
use crate::tools::args::WorkspaceId;
use crate::tools::registry::{Availability, ToolInfo, ToolTypes};
use crate::tools::toolsets::Toolset;
use crate::tools::{Envelope, ToolContext, format, respond_or, unique};
use crate::upstream::Fetch;

mod findings;
use findings::*;

const DESCRIPTION: &str = "Explain in one call why a flow run failed, crashed, is Late, or is stuck \
Pending or Running. Give the run's UUID as `flow_run_id`. Returns `verdict` (one line naming the most \
likely cause) and `findings`, causes first: each has `severity` (cause, warning or info), a stable \
`kind` code (e.g. task_run_failed, error_logs, flow_run_crashed, flow_run_timed_out, \
work_pool_without_workers, work_pool_paused, work_queue_paused, deployment_paused, \
deployment_concurrency_saturated, work_pool_concurrency_saturated, work_queue_concurrency_saturated, \
tag_concurrency_saturated, global_concurrency_saturated, flow_run_late, stuck_pending, task_runs_running, \
tag_concurrency_at_limit), the `object` it is about ({type, id, name}), `evidence` with the numbers (a full \
limit names the runs holding its slots; a Running run lists its running task runs with start time and tags, \
and the tag limits they fill with the other runs' holders; a Pending run says since when a worker has had it \
and whether its infrastructure is recorded), and \
`next_step` (a tool of this server with arguments, or a `prefect` CLI command). Context for the answer: \
`flow_run` (state, message, expected and actual start, deployment, pool and queue, tags), \
`state_history` (oldest first, last 12), `task_runs_by_state`, `failed_task_runs` (up to 5), \
`error_logs` (the last 10 lines at level ERROR or above, tracebacks kept with their final lines) and, for \
runs that have not started or are Pending, `work_pool` readiness (workers online, last heartbeat, the \
run's queue). Makes at most 12 Prefect requests.";

/// State-history entries kept (the newest).
const HISTORY: usize = 12;
/// Failed or crashed task runs listed.
const FAILED_TASKS: usize = 5;
/// ERROR-or-above log lines kept (the newest).
const ERROR_LOGS: usize = 10;
/// Lines kept from the start and the end of a long log message (tracebacks end with the exception).
const MESSAGE_HEAD_LINES: usize = 3;
const MESSAGE_TAIL_LINES: usize = 10;
const LINE_CHARS: usize = 300;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// UUID of the flow run to diagnose.
    #[schemars(example = "068adce4-aeec-7e9b-8000-97b7feeb70fa")]
    pub flow_run_id: String,
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
struct FlowRunDiagnosis {
    /// The id as given.
    pub flow_run_id: String,
    /// One line: the most likely cause, or that none was found.
    pub verdict: String,
    /// Causes first, then warnings, then context.
    pub findings: Vec<Finding>,
    pub flow_run: Option<RunSummary>,
    /// Oldest first; the newest 12 when there are more.
    pub state_history: Vec<StateEntry>,
    pub state_history_truncated: bool,
    /// Task runs of this run counted by state name.
    pub task_runs_by_state: BTreeMap<String, usize>,
    /// True when the run has more than 200 task runs: the counts cover the first 200.
    pub task_runs_truncated: bool,
    pub failed_task_runs: Vec<TaskRunBrief>,
    /// Log lines at level ERROR or above, oldest first; the newest 10 when there are more.
    pub error_logs: Vec<ErrorLog>,
    pub error_logs_truncated: bool,
    /// The run's work pool and queue, read for runs that have not started or are Pending.
    pub work_pool: Option<PoolReadiness>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct RunSummary {
    pub id: String,
    pub name: Option<String>,
    pub flow_name: Option<String>,
    pub deployment_id: Option<String>,
    /// "<flow>/<deployment>".
    pub deployment: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    pub state_message: Option<String>,
    pub expected_start_time: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub run_count: i64,
    pub work_pool_name: Option<String>,
    pub work_queue_name: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct StateEntry {
    pub timestamp: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct TaskRunBrief {
    pub id: String,
    pub name: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    pub message: Option<String>,
    pub end_time: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct ErrorLog {
    pub timestamp: Option<String>,
    pub level_name: Option<String>,
    /// Logger name, e.g. prefect.task_runs.
    pub logger: Option<String>,
    pub task_run_id: Option<String>,
    pub message: String,
}

/// Where a run is in its life, which decides what is worth reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Scheduled (or Late) and never started.
    NotStarted,
    /// Pending, Running, Paused, Cancelling, or rescheduled for a retry.
    Active,
    /// Completed, Failed, Crashed or Cancelled.
    Finished,
}

impl FlowRunRecord {
    fn phase(&self) -> Phase {
        match self.state_type.as_deref() {
            Some("COMPLETED" | "FAILED" | "CRASHED" | "CANCELLED") => Phase::Finished,
            Some("SCHEDULED") if self.run_count == 0 && self.start_time.is_none() => Phase::NotStarted,
            _ => Phase::Active,
        }
    }

    fn message(&self) -> Option<&str> {
        self.state.as_ref().and_then(|s| s.message.as_deref()).filter(|m| !m.is_empty())
    }
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "diagnose_flow_run",
    title: "Diagnose Flow Run",
    description: DESCRIPTION,
    toolset: Some(Toolset::Diagnosis),
    availability: Availability::Always,
    failure: "Failed to diagnose flow run: ",
    guide: "diagnose_flow_run (a run's id): why a run failed, crashed or is Late or stuck, in one call: a verdict plus findings with evidence and the next step.",
    types: ToolTypes::of::<Params, Envelope<FlowRunDiagnosis>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> CallToolResult {
    let flow_run_id = params.flow_run_id.clone();
    respond_or(TOOL.failure, fetch(ctx, params).await, || FlowRunDiagnosis {
        flow_run_id,
        ..FlowRunDiagnosis::default()
    })
}

/// What round 2 reads, each only when the run's phase makes it relevant.
struct Reads {
    states: Vec<StateRecord>,
    flow_name: Option<String>,
    tasks: Vec<TaskRunRecord>,
    tasks_truncated: bool,
    logs: Vec<LogRecord>,
    logs_truncated: bool,
    deployment: Option<DeploymentRecord>,
    readiness: Option<Readiness>,
    tag_limits: Vec<TagLimitRecord>,
    global_limits: Vec<GlobalLimitRecord>,
}

async fn fetch<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<FlowRunDiagnosis, ToolError> {
    let id = parse_id(&params.flow_run_id, "flow_run_id", "get_flow_runs")?;
    let prefect = ctx.prefect(params.workspace_id).await?;
    let run: FlowRunRecord = prefect.find_one("flow_runs", "id", &id).await?.ok_or_else(|| {
        ToolError::NotFound(format!("flow run {id} not found; get_flow_runs lists the existing runs"))
    })?;
    let phase = run.phase();
    let mut reads = read_context(&prefect, &run, phase).await?;
    let slug = reads.deployment.as_ref().map(|d| slug(reads.flow_name.as_deref(), &d.name));

    // Round 3: who holds the full limits that matter here.
    let waiting = waiting_tasks(&reads.tasks);
    let running = running_tasks(&reads.tasks);
    let full_tags = full_tag_limits(&reads.tag_limits, &waiting);
    // Limits a running task fills; those a waiting task names already are reported as the cause.
    let held_tags: Vec<&TagLimitRecord> = full_tag_limits(&reads.tag_limits, &running)
        .into_iter()
        .filter(|l| !full_tags.iter().any(|f| f.id == l.id))
        .collect();
    let holder_ids: Vec<&str> =
        unique(full_tags.iter().chain(&held_tags).flat_map(|l| l.active_slots.iter().map(String::as_str)));
    let not_started = phase == Phase::NotStarted;
    let full_deployment = reads.deployment.as_ref().filter(|d| {
        not_started && d.global_concurrency_limit.as_ref().is_some_and(|l| l.active && l.active_slots >= l.limit)
    });
    let (task_holders, run_holders, pool_holders) = futures::join!(
        slot_holders(&prefect, &holder_ids),
        named_holders(&prefect, full_deployment.map(|d| SlotScope::Deployment(&d.id))),
        async {
            match reads.readiness.as_mut().filter(|_| not_started) {
                Some(readiness) => readiness.read_holders(&prefect).await,
                None => Ok(()),
            }
        },
    );
    pool_holders?;
    let (task_holders, run_holders) = (task_holders?, run_holders?);

    let mut findings = Vec::new();
    match phase {
        Phase::Finished => findings.extend(ending_findings(&run, &reads)),
        Phase::NotStarted => findings.extend(start_findings(ctx.now, &run, &reads, slug.as_deref(), &run_holders)),
        Phase::Active => {
            // What the run is doing comes before context such as an unrelated full global limit.
            findings.extend(running_findings(ctx.now, &run, &running, &held_tags, &task_holders));
            findings.extend(active_findings(ctx.now, &run, &reads, &waiting, &full_tags, &task_holders));
        }
    }
    let verdict = conclude(&mut findings, healthy_verdict(ctx.now, &run, running.len()));
    Ok(shape(run, reads, slug, findings, verdict, params.flow_run_id))
}

/// Round 2: everything that depends only on the run, concurrently.
async fn read_context<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    run: &FlowRunRecord,
    phase: Phase,
) -> Result<Reads, PrefectError> {
    let started = phase != Phase::NotStarted;
    let readiness_wanted = phase == Phase::NotStarted || run.state_type.as_deref() == Some("PENDING");
    let states_path = format!("flow_run_states/?flow_run_id={}", run.id);
    let tasks_body = json!({"task_runs": {"flow_run_id": {"any_": [run.id]}}, "sort": "EXPECTED_START_TIME_ASC",
                            "limit": SERVER_PAGE_MAX, "offset": 0});
    let logs_body = json!({"logs": {"flow_run_id": {"any_": [run.id]}, "level": {"ge_": 40}},
                           "sort": "TIMESTAMP_DESC", "limit": ERROR_LOGS + 1, "offset": 0});
    let (states, flow, tasks, logs, deployment, readiness, tags, globals) = futures::join!(
        prefect.get::<Vec<StateRecord>>(&states_path),
        prefect.flow_name(run.flow_id.as_deref()),
        optional(started, prefect.post::<Vec<TaskRunRecord>, _>("task_runs/filter", &tasks_body)),
        optional(started, prefect.post::<Vec<LogRecord>, _>("logs/filter", &logs_body)),
        async {
            match &run.deployment_id {
                Some(id) => prefect.find_one::<DeploymentRecord>("deployments", "id", id).await,
                None => Ok(None),
            }
        },
        async {
            match (&run.work_pool_name, readiness_wanted) {
                (Some(pool), true) => read_readiness(prefect, pool, run.work_queue_name.as_deref()).await.map(Some),
                _ => Ok(None),
            }
        },
        optional(phase == Phase::Active, tag_limits(prefect)),
        optional(phase == Phase::Active, global_limits(prefect)),
    );
    let (tasks, mut logs) = (tasks?, logs?);
    let logs_truncated = logs.len() > ERROR_LOGS;
    logs.truncate(ERROR_LOGS);
    logs.reverse();
    Ok(Reads {
        states: states?,
        flow_name: flow?,
        tasks_truncated: tasks.len() >= SERVER_PAGE_MAX,
        tasks,
        logs,
        logs_truncated,
        deployment: deployment?,
        readiness: readiness?,
        tag_limits: tags?,
        global_limits: globals?,
    })
}

/// `read` when `wanted`, else an empty list without a request.
async fn optional<T>(
    wanted: bool,
    read: impl Future<Output = Result<Vec<T>, PrefectError>>,
) -> Result<Vec<T>, PrefectError> {
    if wanted { read.await } else { Ok(Vec::new()) }
}

fn shape(
    run: FlowRunRecord,
    reads: Reads,
    deployment: Option<String>,
    findings: Vec<Finding>,
    verdict: String,
    flow_run_id: String,
) -> FlowRunDiagnosis {
    let mut states = reads.states;
    states.sort_by_key(|s| sort_key(s.timestamp.as_deref()));
    let state_history_truncated = states.len() > HISTORY;
    let state_history = states
        .split_off(states.len().saturating_sub(HISTORY))
        .into_iter()
        .map(|s| StateEntry {
            timestamp: format::optional_timestamp(s.timestamp.as_deref()),
            kind: s.kind,
            name: s.name,
            message: s.message.filter(|m| !m.is_empty()).map(|m| clip(&m, 300)),
        })
        .collect();
    let mut task_runs_by_state = BTreeMap::new();
    for task in &reads.tasks {
        *task_runs_by_state.entry(task.state_name.clone().unwrap_or_else(|| "unknown".into())).or_insert(0) += 1;
    }
    let failed_task_runs = failed_tasks(&reads.tasks)
        .take(FAILED_TASKS)
        .map(|t| TaskRunBrief {
            id: t.id.clone(),
            name: t.name.clone(),
            state_type: t.state_type.clone(),
            state_name: t.state_name.clone(),
            message: task_message(t).map(|m| clip(m, 500)),
            end_time: format::optional_timestamp(t.end_time.as_deref()),
            tags: t.tags.clone().unwrap_or_default(),
        })
        .collect();
    let error_logs = reads
        .logs
        .into_iter()
        .map(|log| ErrorLog {
            timestamp: format::optional_timestamp(log.timestamp.as_deref()),
            level_name: log.level.map(format::level_name),
            logger: log.name,
            task_run_id: log.task_run_id,
            message: compact_message(log.message.as_deref().unwrap_or_default()),
        })
        .collect();
    let state_message = run.message().map(|m| clip(m, 500));
    FlowRunDiagnosis {
        flow_run_id,
        verdict,
        findings,
        flow_run: Some(RunSummary {
            id: run.id,
            name: run.name,
            flow_name: reads.flow_name,
            deployment_id: run.deployment_id,
            deployment,
            state_type: run.state_type,
            state_name: run.state_name,
            state_message,
            expected_start_time: format::optional_timestamp(run.expected_start_time.as_deref()),
            start_time: format::optional_timestamp(run.start_time.as_deref()),
            end_time: format::optional_timestamp(run.end_time.as_deref()),
            run_count: run.run_count,
            work_pool_name: run.work_pool_name,
            work_queue_name: run.work_queue_name,
            tags: run.tags.unwrap_or_default(),
        }),
        state_history,
        state_history_truncated,
        task_runs_by_state,
        task_runs_truncated: reads.tasks_truncated,
        failed_task_runs,
        error_logs,
        error_logs_truncated: reads.logs_truncated,
        work_pool: reads.readiness.as_ref().map(Readiness::summary),
    }
}

#[cfg(test)]
mod tests;
