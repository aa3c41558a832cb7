//! `diagnose_flow_run`: why one flow run failed, crashed, or has not started, in one call.
//!
//! The run is read first; what its state makes relevant is then read concurrently: state
//! history, task runs, ERROR logs, deployment, work pool with queue and workers, and the
//! tag and global concurrency limits. A last round names who holds a full limit's slots.
//! At most 12 Prefect requests (a Pending run with a task waiting on a full tag limit).

use std::collections::BTreeMap;

use rmcp::model::{CallToolResult, Tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::args::WorkspaceId;
use super::diagnosis::{
    DeploymentRecord, Finding, ObjectRef, PoolReadiness, Readiness, RunRef, Severity, SlotHolder, SlotScope, clip,
    conclude, deployment_paused, deployment_saturated, flow_name, held_by, holder_labels, minutes_since, named_holders,
    parse_id, read_one, read_readiness, saturated_globals, slot_holders, slug,
};
use super::get_flow_run_logs::level_name;
use super::limits::{GlobalLimitRecord, TagLimitRecord, global_limits, tag_limits};
use super::paging::SERVER_PAGE_MAX;
use super::{Envelope, ToolContext, format, respond_or, unique};
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

pub const NAME: &str = "diagnose_flow_run";

const DESCRIPTION: &str = "Explain in one call why a flow run failed, crashed, is Late, or is stuck \
Pending or Running. Give the run's UUID as `flow_run_id`. Returns `verdict` (one line naming the most \
likely cause) and `findings`, causes first: each has `severity` (cause, warning or info), a stable \
`kind` code (e.g. task_run_failed, error_logs, flow_run_crashed, flow_run_timed_out, \
work_pool_without_workers, work_pool_paused, work_queue_paused, deployment_paused, \
deployment_concurrency_saturated, work_pool_concurrency_saturated, work_queue_concurrency_saturated, \
tag_concurrency_saturated, global_concurrency_saturated, flow_run_late), the `object` it is about \
({type, id, name}), `evidence` with the numbers (a full limit names the runs holding its slots), and \
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
pub struct FlowRunDiagnosis {
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
pub struct RunSummary {
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
pub struct StateEntry {
    pub timestamp: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskRunBrief {
    pub id: String,
    pub name: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    pub message: Option<String>,
    pub end_time: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorLog {
    pub timestamp: Option<String>,
    pub level_name: Option<String>,
    /// Logger name, e.g. prefect.task_runs.
    pub logger: Option<String>,
    pub task_run_id: Option<String>,
    pub message: String,
}

#[derive(Debug, Deserialize)]
struct RunRecord {
    id: String,
    name: Option<String>,
    flow_id: Option<String>,
    deployment_id: Option<String>,
    state_type: Option<String>,
    state_name: Option<String>,
    #[serde(default)]
    state: Option<StateRecord>,
    expected_start_time: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    #[serde(default)]
    run_count: i64,
    #[serde(default)]
    tags: Option<Vec<String>>,
    work_pool_name: Option<String>,
    work_queue_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct StateRecord {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct TaskRecord {
    id: String,
    name: Option<String>,
    state_type: Option<String>,
    state_name: Option<String>,
    #[serde(default)]
    state: Option<StateRecord>,
    end_time: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct LogRecord {
    timestamp: Option<String>,
    level: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    name: Option<String>,
    task_run_id: Option<String>,
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

impl RunRecord {
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

pub fn definition() -> Tool {
    super::definition::<Params, Envelope<FlowRunDiagnosis>>(NAME, "Diagnose Flow Run", DESCRIPTION)
}

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> CallToolResult {
    let flow_run_id = params.flow_run_id.clone();
    respond_or("Failed to diagnose flow run: ", fetch(ctx, params).await, || FlowRunDiagnosis {
        flow_run_id,
        ..FlowRunDiagnosis::default()
    })
}

/// What round 2 reads, each only when the run's phase makes it relevant.
struct Reads {
    states: Vec<StateRecord>,
    flow_name: Option<String>,
    tasks: Vec<TaskRecord>,
    tasks_truncated: bool,
    logs: Vec<LogRecord>,
    logs_truncated: bool,
    deployment: Option<DeploymentRecord>,
    readiness: Option<Readiness>,
    tag_limits: Vec<TagLimitRecord>,
    global_limits: Vec<GlobalLimitRecord>,
}

async fn fetch<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<FlowRunDiagnosis, String> {
    let id = parse_id(&params.flow_run_id, "flow_run_id", "get_flow_runs")?;
    let prefect = ctx.prefect(params.workspace_id)?;
    let text = |e: PrefectError| e.to_string();
    let run: RunRecord = read_one(&prefect, "flow_runs", "id", &id)
        .await
        .map_err(text)?
        .ok_or_else(|| format!("flow run {id} not found; get_flow_runs lists the existing runs"))?;
    let phase = run.phase();
    let mut reads = read_context(&prefect, &run, phase).await.map_err(text)?;
    let slug = reads.deployment.as_ref().map(|d| slug(reads.flow_name.as_deref(), &d.name));

    // Round 3: who holds the full limits that matter here.
    let waiting = waiting_tasks(&reads.tasks);
    let full_tags = full_tag_limits(&reads.tag_limits, &waiting);
    let holder_ids: Vec<&str> = unique(full_tags.iter().flat_map(|l| l.active_slots.iter().map(String::as_str)));
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
    pool_holders.map_err(text)?;
    let (task_holders, run_holders) = (task_holders.map_err(text)?, run_holders.map_err(text)?);

    let mut findings = Vec::new();
    match phase {
        Phase::Finished => findings.extend(ending_findings(&run, &reads)),
        Phase::NotStarted => findings.extend(start_findings(ctx.now, &run, &reads, slug.as_deref(), &run_holders)),
        Phase::Active => {
            findings.extend(active_findings(ctx.now, &run, &reads, &waiting, &full_tags, &task_holders));
        }
    }
    let verdict = conclude(&mut findings, healthy_verdict(ctx.now, &run));
    Ok(shape(run, reads, slug, findings, verdict, params.flow_run_id))
}

/// Round 2: everything that depends only on the run, concurrently.
async fn read_context<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    run: &RunRecord,
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
        flow_name(prefect, run.flow_id.as_deref()),
        optional(started, prefect.post::<Vec<TaskRecord>, _>("task_runs/filter", &tasks_body)),
        optional(started, prefect.post::<Vec<LogRecord>, _>("logs/filter", &logs_body)),
        async {
            match &run.deployment_id {
                Some(id) => read_one::<DeploymentRecord, _>(prefect, "deployments", "id", id).await,
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

/// Task runs that have not started: waiting for a slot, scheduled or pending.
fn waiting_tasks(tasks: &[TaskRecord]) -> Vec<&TaskRecord> {
    tasks.iter().filter(|t| matches!(t.state_type.as_deref(), Some("SCHEDULED" | "PENDING"))).collect()
}

/// Tag limits on the tags of waiting task runs whose slots are all taken.
fn full_tag_limits<'a>(limits: &'a [TagLimitRecord], waiting: &[&TaskRecord]) -> Vec<&'a TagLimitRecord> {
    limits
        .iter()
        .filter(|l| l.active_slots.len() as i64 >= l.concurrency_limit)
        .filter(|l| waiting.iter().any(|t| t.tags.as_deref().unwrap_or_default().contains(&l.tag)))
        .collect()
}

fn task_label(task: &TaskRecord) -> String {
    format!("{} ({})", task.name.as_deref().unwrap_or("unnamed"), task.id)
}

fn task_message(task: &TaskRecord) -> Option<&str> {
    task.state.as_ref().and_then(|s| s.message.as_deref()).filter(|m| !m.is_empty())
}

fn failed_tasks(tasks: &[TaskRecord]) -> impl Iterator<Item = &TaskRecord> {
    tasks.iter().filter(|t| matches!(t.state_type.as_deref(), Some("FAILED" | "CRASHED")))
}

/// A failed or crashed task run, with its state message.
fn task_failed(task: &TaskRecord, severity: Severity, then: String) -> Finding {
    Finding::new(
        severity,
        "task_run_failed",
        ObjectRef::new("task_run", Some(&task.id), task.name.as_deref()),
        format!(
            "task run {} ended {}: {}",
            task_label(task),
            task.state_name.as_deref().unwrap_or("Failed"),
            task_message(task).map_or_else(|| "no state message".to_owned(), |m| clip(m, 300))
        ),
        format!("get_task_runs with filter {{\"id\": {{\"any_\": [\"{}\"]}}}}; {then}", task.id),
    )
}

fn run_object(run: &RunRecord) -> ObjectRef {
    ObjectRef::new("flow_run", Some(&run.id), run.name.as_deref())
}

fn logs_step(run: &RunRecord) -> String {
    format!("get_flow_run_logs with flow_run_id \"{}\" for the full log", run.id)
}

/// Failed, crashed, cancelled or completed: what ended the run.
fn ending_findings(run: &RunRecord, reads: &Reads) -> Vec<Finding> {
    let mut findings = Vec::new();
    let state = run.state_name.as_deref().unwrap_or("unknown");
    let message = run.message().map_or_else(|| "no state message".to_owned(), |m| clip(m, 300));
    let retry = format!("once fixed, `prefect flow-run retry {}`", run.id);
    let failed: Vec<&TaskRecord> = failed_tasks(&reads.tasks).collect();
    match run.state_type.as_deref() {
        Some("CRASHED") => findings.push(Finding::new(
            Severity::Cause,
            "flow_run_crashed",
            run_object(run),
            format!("state {state}: {message}"),
            format!(
                "a crash is the infrastructure's doing (killed process, out of memory, lost worker): check the \
                 worker and infrastructure logs for this run{}; {retry}",
                run.work_pool_name.as_ref().map(|p| format!(" (work pool '{p}')")).unwrap_or_default()
            ),
        )),
        Some("CANCELLED") => findings.push(Finding::new(
            Severity::Cause,
            "flow_run_cancelled",
            run_object(run),
            format!("state {state}: {message}"),
            "read_events for prefect.flow-run events of this run shows who or what cancelled it".to_owned(),
        )),
        Some("FAILED") if state == "TimedOut" => findings.push(Finding::new(
            Severity::Cause,
            "flow_run_timed_out",
            run_object(run),
            format!("state {state}: {message}"),
            format!("raise the flow's timeout_seconds or make it faster; {retry}"),
        )),
        _ => {}
    }
    let severity = if run.state_type.as_deref() == Some("FAILED") { Severity::Cause } else { Severity::Warning };
    for task in failed.iter().take(3) {
        findings.push(task_failed(task, severity, format!("{}; {retry}", logs_step(run))));
    }
    if let Some(finding) = error_log_finding(run, reads, failed.is_empty() && severity == Severity::Cause) {
        findings.push(finding);
    }
    if run.state_type.as_deref() == Some("FAILED") && !findings.iter().any(|f| f.severity == Severity::Cause) {
        findings.push(Finding::new(
            Severity::Cause,
            "flow_run_failed",
            run_object(run),
            format!("state {state}: {message}; no failed task run and no ERROR log line"),
            format!("{}; {retry}", logs_step(run)),
        ));
    }
    findings
}

/// The ERROR lines as a finding: the cause of a failure nothing else explains, else context.
fn error_log_finding(run: &RunRecord, reads: &Reads, is_cause: bool) -> Option<Finding> {
    let first = reads.logs.first()?;
    let count = if reads.logs_truncated { format!("more than {ERROR_LOGS}") } else { reads.logs.len().to_string() };
    let exception = first.message.as_deref().unwrap_or_default().lines().rev().find(|l| !l.trim().is_empty());
    Some(Finding::new(
        if is_cause { Severity::Cause } else { Severity::Info },
        "error_logs",
        run_object(run),
        format!("{count} log line(s) at ERROR or above; the first ends: {}", clip(exception.unwrap_or("").trim(), 300)),
        logs_step(run),
    ))
}

/// Scheduled or Late and never started: what keeps workers from starting it.
fn start_findings(
    now: OffsetDateTime,
    run: &RunRecord,
    reads: &Reads,
    slug: Option<&str>,
    holders: &[RunRef],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let late_by = minutes_since(now, run.expected_start_time.as_deref());
    let due = run.state_name.as_deref() == Some("Late") || late_by.is_some_and(|m| m >= 0);
    let severity = if due { Severity::Cause } else { Severity::Warning };
    if let Some(readiness) = &reads.readiness {
        findings.extend(readiness.findings(severity).into_iter().map(|mut f| {
            if f.severity == Severity::Cause {
                f.severity = severity;
            }
            f
        }));
    } else if run.deployment_id.is_none() {
        findings.push(Finding::new(
            severity,
            "no_work_pool",
            run_object(run),
            "the run has neither a deployment nor a work pool, so no worker will pick it up".to_owned(),
            "start it from code (`flow.serve()` or a direct call), or create it from a deployment".to_owned(),
        ));
    } else {
        findings.push(Finding::new(
            severity,
            "no_work_pool",
            run_object(run),
            format!(
                "deployment '{}' has no work pool: only the process serving it (`flow.serve()`) starts its runs",
                slug.unwrap_or("unknown")
            ),
            "check that the process serving this deployment is running and connected to this Prefect API".to_owned(),
        ));
    }
    if let (Some(deployment), Some(slug)) = (&reads.deployment, slug) {
        findings.extend(deployment_saturated(deployment, slug, holders, severity));
        // Workers still start existing runs of a paused deployment.
        findings.extend(deployment_paused(deployment, slug, Severity::Warning));
    }
    if due {
        let late = late_by.map_or_else(String::new, |m| format!(", {m} min ago"));
        let blocked = findings.iter().any(|f| f.severity == Severity::Cause);
        findings.push(Finding::new(
            if blocked { Severity::Info } else { Severity::Warning },
            "flow_run_late",
            run_object(run),
            format!(
                "state {}, expected to start at {}{late}{}",
                run.state_name.as_deref().unwrap_or("Scheduled"),
                format::optional_timestamp(run.expected_start_time.as_deref()).unwrap_or_default(),
                if blocked { "" } else { "; pool, queue, workers and limits look ready" }
            ),
            if blocked {
                "fix the cause above; the run starts when a worker next polls".to_owned()
            } else {
                "check the worker's own logs (it may fail to submit runs); get_flow_runs with filter \
                 {\"state\": {\"name\": {\"any_\": [\"Late\"]}}} shows whether other runs are Late too"
                    .to_owned()
            },
        ));
    }
    findings
}

/// Pending, Running, Paused, Cancelling: what holds it up now.
fn active_findings(
    now: OffsetDateTime,
    run: &RunRecord,
    reads: &Reads,
    waiting: &[&TaskRecord],
    full_tags: &[&TagLimitRecord],
    holders: &[SlotHolder],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if run.state_type.as_deref() == Some("PAUSED") {
        findings.push(Finding::new(
            Severity::Cause,
            "flow_run_paused",
            run_object(run),
            format!(
                "state {}: {}",
                run.state_name.as_deref().unwrap_or("Paused"),
                run.message().map_or("waiting to be resumed", |m| m)
            ),
            "resume it in the Prefect UI (it may be waiting for input); it is cancelled if not resumed before its timeout"
                .to_owned(),
        ));
    }
    for limit in full_tags {
        let blocked: Vec<String> = waiting
            .iter()
            .filter(|t| t.tags.as_deref().unwrap_or_default().contains(&limit.tag))
            .map(|t| format!("{} is {}", task_label(t), t.state_name.as_deref().unwrap_or("waiting")))
            .collect();
        let holder_labels = holder_labels(&limit.active_slots, holders);
        findings.push(Finding::new(
            Severity::Cause,
            "tag_concurrency_saturated",
            ObjectRef::new("concurrency_limit", Some(&limit.id), Some(&format!("tag:{}", limit.tag))),
            format!(
                "tag '{}' limit {}, {} active slot(s){}; waiting here: {}",
                limit.tag,
                limit.concurrency_limit,
                limit.active_slots.len(),
                held_by("task run", &holder_labels, holder_labels.len() as i64),
                blocked.join(", ")
            ),
            format!(
                "get_task_runs with filter {{\"id\": {{\"any_\": {}}}}} shows the holders; wait for them, or \
                 `prefect concurrency-limit inspect '{}'` / `prefect concurrency-limit reset '{}'` if a slot leaked",
                json!(limit.active_slots),
                limit.tag,
                limit.tag
            ),
        ));
    }
    let awaiting_slot = waiting.iter().any(|t| t.state_name.as_deref() == Some("AwaitingConcurrencySlot"));
    // A full global limit matters when a task waits for a slot that no tag limit explains.
    findings.extend(saturated_globals(&reads.global_limits).into_iter().map(|mut f| {
        f.severity = match (awaiting_slot, full_tags.is_empty()) {
            (true, true) => Severity::Cause,
            (true, false) => Severity::Warning,
            (false, _) => Severity::Info,
        };
        f
    }));
    if run.state_type.as_deref() == Some("PENDING") {
        if let Some(readiness) = &reads.readiness {
            findings.extend(readiness.findings(Severity::Warning));
        }
        if !findings.iter().any(|f| f.severity == Severity::Cause) {
            let since = run.state.as_ref().and_then(|s| s.timestamp.as_deref());
            let minutes = minutes_since(now, since).map_or_else(String::new, |m| format!(" for {m} min"));
            findings.push(Finding::new(
                Severity::Warning,
                "stuck_pending",
                run_object(run),
                format!("Pending{minutes}: a worker took the run but its infrastructure has not started it"),
                "check the worker's logs for this run's submission (image pull, quota, crash on start)".to_owned(),
            ));
        }
    }
    for task in failed_tasks(&reads.tasks).take(3) {
        findings.push(task_failed(task, Severity::Warning, logs_step(run)));
    }
    if let Some(mut finding) = error_log_finding(run, reads, false) {
        finding.severity = Severity::Warning;
        findings.push(finding);
    }
    findings
}

fn healthy_verdict(now: OffsetDateTime, run: &RunRecord) -> String {
    let state = run.state_name.as_deref().unwrap_or("unknown");
    match run.state_type.as_deref() {
        Some("COMPLETED") => format!("The run completed (state {state}); nothing to fix."),
        Some("SCHEDULED") => format!(
            "Scheduled for {}; not due yet, and nothing would stop it from starting.",
            format::optional_timestamp(run.expected_start_time.as_deref()).unwrap_or_default()
        ),
        Some("RUNNING") => {
            let minutes =
                minutes_since(now, run.start_time.as_deref()).map_or_else(String::new, |m| format!(" for {m} min"));
            format!("Running{minutes}; no blocking cause found.")
        }
        _ => format!("State {state}; no cause found."),
    }
}

/// Keeps the first and last lines of a long message (a traceback ends with the exception),
/// each line clipped.
fn compact_message(message: &str) -> String {
    let lines: Vec<&str> = message.lines().collect();
    let clipped = |lines: &[&str]| lines.iter().map(|l| clip(l, LINE_CHARS)).collect::<Vec<_>>().join("\n");
    if lines.len() <= MESSAGE_HEAD_LINES + MESSAGE_TAIL_LINES {
        return clipped(&lines);
    }
    let omitted = lines.len() - MESSAGE_HEAD_LINES - MESSAGE_TAIL_LINES;
    format!(
        "{}\n… [{omitted} lines omitted] …\n{}",
        clipped(&lines[..MESSAGE_HEAD_LINES]),
        clipped(&lines[lines.len() - MESSAGE_TAIL_LINES..])
    )
}

fn sort_key(raw: Option<&str>) -> i128 {
    raw.and_then(|r| OffsetDateTime::parse(r, &Rfc3339).ok()).map_or(0, |t| t.unix_timestamp_nanos())
}

fn shape(
    run: RunRecord,
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
            level_name: log.level.map(level_name),
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
mod tests {
    use super::super::testing::*;
    use super::compact_message;
    use crate::prefect::testing::FakeUpstream;
    use crate::upstream::FetchError;
    use serde_json::{Value, json};

    const RUN: &str = "11111111-0000-4000-8000-000000000001";
    const FLOW: &str = "22222222-0000-4000-8000-000000000001";
    const DEP: &str = "33333333-0000-4000-8000-000000000001";
    const HOLDER: &str = "44444444-0000-4000-8000-000000000001";
    const WAITER: &str = "44444444-0000-4000-8000-000000000002";

    fn run(state_type: &str, state_name: &str, extra: Value) -> Value {
        let mut run = json!({
            "id": RUN, "name": "nightly-1", "flow_id": FLOW, "deployment_id": null,
            "state_type": state_type, "state_name": state_name,
            "state": {"type": state_type, "name": state_name, "message": null, "timestamp": "2026-11-27T11:30:00Z"},
            "expected_start_time": "2026-11-27T11:35:00Z", "start_time": null, "end_time": null, "run_count": 0,
            "tags": ["nightly"], "work_pool_name": null, "work_queue_name": null,
        });
        run.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        run
    }

    fn late(extra: Value) -> Value {
        let mut base = json!({"deployment_id": DEP, "work_pool_name": "pool-a", "work_queue_name": "default"});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        run("SCHEDULED", "Late", base)
    }

    fn deployment(limit: Value) -> Value {
        json!([{"id": DEP, "name": "nightly", "flow_id": FLOW, "paused": false, "tags": [],
                "work_pool_name": "pool-a", "work_queue_name": "default", "schedules": [],
                "global_concurrency_limit": limit, "concurrency_options": {"collision_strategy": "ENQUEUE"}}])
    }

    fn pool(paused: bool) -> Value {
        json!([{"id": "pool-id", "name": "pool-a", "type": "process", "status": if paused { "PAUSED" } else { "READY" },
                "is_paused": paused, "concurrency_limit": null, "active_slots": null}])
    }

    fn online() -> Value {
        json!([{"name": "w1", "status": "ONLINE", "last_heartbeat_time": "2026-11-27T11:59:00Z"}])
    }

    fn task(id: &str, name: &str, state_type: &str, state_name: &str, tags: Value, message: Option<&str>) -> Value {
        json!({"id": id, "name": name, "flow_run_id": RUN, "state_type": state_type, "state_name": state_name,
               "state": {"message": message}, "end_time": null, "tags": tags})
    }

    /// A server with `run`; everything else is empty unless a test adds routes.
    fn server(run: Value) -> FakeUpstream {
        FakeUpstream::new()
            .answering("POST", "/api/flow_runs/filter", move |body| {
                let wanted = &body["flow_runs"]["id"]["any_"][0];
                (200, if *wanted == json!(RUN) { json!([run]) } else { json!([]) })
            })
            .on("POST", "/api/flows/filter", 200, json!([{"id": FLOW, "name": "etl"}]))
            .on(
                "GET",
                "/api/flow_run_states/",
                200,
                json!([
                    {"type": "SCHEDULED", "name": "Late", "timestamp": "2026-11-27T11:40:00Z", "message": ""},
                    {"type": "SCHEDULED", "name": "Scheduled", "timestamp": "2026-11-27T11:30:00Z", "message": null},
                ]),
            )
            .on("POST", "/api/task_runs/filter", 200, json!([]))
            .on("POST", "/api/logs/filter", 200, json!([]))
            .on("POST", "/api/concurrency_limits/filter", 200, json!([]))
            .on("POST", "/api/v2/concurrency_limits/filter", 200, json!([]))
            .on("POST", "/api/work_pools/filter", 200, pool(false))
            .on("POST", "/api/work_pools/pool-a/queues/filter", 200, json!([{"id": "q-id", "name": "default"}]))
            .on("POST", "/api/work_pools/pool-a/workers/filter", 200, online())
            .on("POST", "/api/deployments/filter", 200, deployment(Value::Null))
    }

    fn diagnose(fake: &FakeUpstream) -> (Value, u32) {
        let ctx = context(fake, "http://127.0.0.1:4200/api");
        let result = run_tool(&ctx);
        (result, ctx.upstream_requests())
    }

    fn run_tool(ctx: &crate::tools::ToolContext<'_, FakeUpstream>) -> Value {
        let result = super::super::testing::run(ctx, "diagnose_flow_run", json!({"flow_run_id": RUN}));
        let value = structured(&result).clone();
        assert_eq!(result.is_error, Some(!value["success"].as_bool().unwrap()));
        value
    }

    fn top(result: &Value) -> &Value {
        &result["findings"][0]
    }

    fn paths(fake: &FakeUpstream) -> Vec<String> {
        let mut paths: Vec<String> =
            fake.requests().iter().map(|r| format!("{} {}", r.method(), r.uri().path())).collect();
        paths.sort();
        paths
    }

    #[test]
    fn late_run_on_a_pool_without_workers() {
        let fake = server(late(json!({}))).on("POST", "/api/work_pools/pool-a/workers/filter", 200, json!([])).on(
            "POST",
            "/api/work_pools/filter",
            200,
            pool(false),
        );
        let (result, requests) = diagnose(&fake);
        assert_eq!(top(&result)["kind"], "work_pool_without_workers");
        assert_eq!(top(&result)["severity"], "cause");
        assert_eq!(top(&result)["object"], json!({"type": "work_pool", "id": "pool-id", "name": "pool-a"}));
        assert!(result["verdict"].as_str().unwrap().starts_with("No worker is polling the work pool"));
        assert_eq!(result["findings"][1]["kind"], "flow_run_late");
        assert!(result["findings"][1]["evidence"].as_str().unwrap().contains("25 min ago"), "{result}");
        assert_eq!(result["work_pool"]["workers_online"], 0);
        // Never started: no task runs, logs or limits are read.
        assert_eq!(requests, 7);
        assert!(
            !paths(&fake).iter().any(|p| p.contains("task_runs") || p.contains("logs") || p.contains("concurrency"))
        );
        // State history comes oldest first, without empty messages.
        assert_eq!(result["state_history"][0]["name"], "Scheduled");
        assert_eq!(
            result["state_history"][1],
            json!({"timestamp": "2026-11-27T11:40:00+00:00", "type": "SCHEDULED", "name": "Late", "message": null})
        );
        assert_eq!(result["flow_run"]["deployment"], "etl/nightly");
    }

    #[test]
    fn workers_first_then_the_paused_queue_then_the_paused_pool() {
        let paused_queue = server(late(json!({}))).on(
            "POST",
            "/api/work_pools/pool-a/queues/filter",
            200,
            json!([{"id": "q-id", "name": "default", "is_paused": true, "status": "PAUSED"}]),
        );
        let (result, _) = diagnose(&paused_queue);
        assert_eq!(top(&result)["kind"], "work_queue_paused");
        assert_eq!(top(&result)["object"], json!({"type": "work_queue", "id": "q-id", "name": "default"}));
        assert!(
            top(&result)["next_step"].as_str().unwrap().contains("prefect work-queue resume 'default' --pool 'pool-a'")
        );
        let body = paused_queue.requests().iter().position(|r| r.uri().path().ends_with("queues/filter")).unwrap();
        assert_eq!(paused_queue.body(body)["work_queues"], json!({"name": {"any_": ["default"]}}));

        let paused_pool = server(late(json!({}))).on("POST", "/api/work_pools/filter", 200, pool(true));
        let (result, _) = diagnose(&paused_pool);
        assert_eq!(top(&result)["kind"], "work_pool_paused");
        assert!(top(&result)["next_step"].as_str().unwrap().contains("prefect work-pool resume 'pool-a'"));
    }

    #[test]
    fn late_run_behind_a_full_deployment_limit_names_the_holder() {
        let limit =
            json!({"id": "gcl", "name": format!("deployment:{DEP}"), "limit": 1, "active": true, "active_slots": 1});
        let fake = server(late(json!({})))
            .on("POST", "/api/deployments/filter", 200, deployment(limit))
            .answering("POST", "/api/flow_runs/filter", |body| {
                if body["flow_runs"]["id"]["any_"][0] == json!(RUN) {
                    return (200, json!([late(json!({}))]));
                }
                assert_eq!(body["flow_runs"]["state"]["type"]["any_"], json!(["PENDING", "RUNNING", "CANCELLING"]));
                (200, json!([{"id": "55555555-0000-4000-8000-000000000001", "name": "nightly-0", "state_name": "Running"}]))
            });
        let (result, requests) = diagnose(&fake);
        assert_eq!(top(&result)["kind"], "deployment_concurrency_saturated");
        assert_eq!(top(&result)["object"]["name"], json!(format!("deployment:{DEP}")));
        assert_eq!(
            top(&result)["evidence"],
            "deployment 'etl/nightly' limit 1, 1 active slot(s) held by flow run nightly-0 \
             (55555555-0000-4000-8000-000000000001) (collision strategy ENQUEUE)"
        );
        assert_eq!(requests, 8);
    }

    #[test]
    fn late_run_behind_full_pool_and_queue_limits_names_their_holders() {
        let holder = |n: u8| {
            json!({"id": format!("66666666-0000-4000-8000-00000000000{n}"), "name": format!("busy-{n}"),
                                    "state_name": "Running"})
        };
        let fake =
            full_pool_and_queue(server(late(json!({}))), 4).answering("POST", "/api/flow_runs/filter", move |body| {
                if body["flow_runs"]["id"]["any_"][0] == json!(RUN) {
                    return (200, json!([late(json!({}))]));
                }
                assert_eq!(body["flow_runs"]["state"]["type"]["any_"], json!(["PENDING", "RUNNING", "CANCELLING"]));
                assert_eq!(body["limit"], 3);
                match (&body["work_pools"], &body["work_pool_queues"]) {
                    (pool, Value::Null) if *pool == json!({"name": {"any_": ["pool-a"]}}) => {
                        (200, json!([holder(1), holder(2), holder(3)]))
                    }
                    (Value::Null, queue) if *queue == json!({"id": {"any_": ["q-id"]}}) => (200, json!([holder(1)])),
                    other => panic!("unexpected holder filter {other:?}"),
                }
            });
        let (result, requests) = diagnose(&fake);
        let kinds: Vec<&str> =
            result["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["work_pool_concurrency_saturated", "work_queue_concurrency_saturated", "flow_run_late"]);
        let [pool, queue] = [&result["findings"][0], &result["findings"][1]];
        assert_eq!((&pool["severity"], &queue["severity"]), (&json!("cause"), &json!("cause")));
        assert_eq!(
            pool["evidence"],
            "work pool 'pool-a' limit 4, 4 active slot(s) held by flow run \
             busy-1 (66666666-0000-4000-8000-000000000001), busy-2 (66666666-0000-4000-8000-000000000002), \
             busy-3 (66666666-0000-4000-8000-000000000003) and 1 more"
        );
        assert_eq!(
            queue["evidence"],
            "work queue 'default' limit 1, 1 active slot(s) held by flow run busy-1 (66666666-0000-4000-8000-000000000001)"
        );
        assert!(
            pool["next_step"].as_str().unwrap().starts_with("`prefect work-pool slots 'pool-a'` lists every holder")
        );
        // Run, states, flow, deployment, pool, queue, workers, then the two holder reads.
        assert_eq!(requests, 9);
    }

    #[test]
    fn running_run_with_a_task_waiting_on_a_full_tag_limit() {
        let running = run("RUNNING", "Running", json!({"start_time": "2026-11-27T11:50:00Z", "run_count": 1}));
        let fake = server(running)
            .on(
                "POST",
                "/api/concurrency_limits/filter",
                200,
                json!([{"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": [HOLDER]},
                       {"id": "other", "tag": "unrelated", "concurrency_limit": 1, "active_slots": ["x"]}]),
            )
            .answering("POST", "/api/task_runs/filter", |body| {
                if body["task_runs"]["id"]["any_"] == json!([HOLDER]) {
                    let mut holder = task(HOLDER, "load", "RUNNING", "Running", json!(["serial"]), None);
                    holder["flow_run_id"] = json!("other-run");
                    return (200, json!([holder]));
                }
                (200, json!([task(WAITER, "extract", "SCHEDULED", "AwaitingConcurrencySlot", json!(["serial"]), None)]))
            });
        let (result, requests) = diagnose(&fake);
        assert_eq!(top(&result)["kind"], "tag_concurrency_saturated");
        assert_eq!(top(&result)["object"], json!({"type": "concurrency_limit", "id": "tl", "name": "tag:serial"}));
        assert_eq!(
            top(&result)["evidence"],
            json!(format!(
                "tag 'serial' limit 1, 1 active slot(s) held by task run load ({HOLDER}) of flow run other-run; \
                 waiting here: extract ({WAITER}) is AwaitingConcurrencySlot"
            ))
        );
        assert_eq!(result["findings"].as_array().unwrap().len(), 1, "{result}");
        assert_eq!(result["task_runs_by_state"], json!({"AwaitingConcurrencySlot": 1}));
        // Run, states, flow, tasks, logs, tag and global limits, holders; no pool reads while Running.
        assert_eq!(requests, 8);
        let logs = fake.requests().iter().position(|r| r.uri().path() == "/api/logs/filter").unwrap();
        assert_eq!(fake.body(logs)["logs"], json!({"flow_run_id": {"any_": [RUN]}, "level": {"ge_": 40}}));
        assert_eq!(fake.body(logs)["sort"], "TIMESTAMP_DESC");
    }

    #[test]
    fn worst_case_pending_run_stays_within_twelve_requests() {
        let pending = late(json!({"state_type": "PENDING", "state_name": "Pending", "run_count": 1,
                                  "start_time": null, "deployment_id": DEP}));
        let fake = server(pending)
            .on(
                "POST",
                "/api/concurrency_limits/filter",
                200,
                json!([{"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": [HOLDER]}]),
            )
            .answering("POST", "/api/task_runs/filter", |body| {
                if body["task_runs"]["id"].is_object() {
                    return (200, json!([task(HOLDER, "load", "RUNNING", "Running", json!(["serial"]), None)]));
                }
                (200, json!([task(WAITER, "extract", "PENDING", "Pending", json!(["serial"]), None)]))
            })
            .on("POST", "/api/work_pools/pool-a/workers/filter", 200, json!([]));
        let (result, requests) = diagnose(&fake);
        assert_eq!(requests, 12);
        let kinds: Vec<&str> =
            result["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["tag_concurrency_saturated", "work_pool_without_workers"]);
        // The worker that took a Pending run is gone: that holds the run too.
        assert_eq!(result["findings"][1]["severity"], "cause");
    }

    #[test]
    fn pending_run_with_ready_infrastructure_is_stuck_pending() {
        let pending = late(json!({"state_type": "PENDING", "state_name": "Pending", "run_count": 0,
            "state": {"type": "PENDING", "name": "Pending", "timestamp": "2026-11-27T11:20:00Z"}}));
        let (result, requests) = diagnose(&server(pending));
        assert_eq!((&top(&result)["kind"], &top(&result)["severity"]), (&json!("stuck_pending"), &json!("warning")));
        assert!(top(&result)["evidence"].as_str().unwrap().starts_with("Pending for 40 min"), "{result}");
        assert!(result["verdict"].as_str().unwrap().starts_with("No blocking cause found; warning stuck_pending"));
        assert_eq!(result["work_pool"]["workers_online"], 1);
        assert_eq!(requests, 11);
    }

    #[test]
    fn a_task_waiting_on_a_full_global_limit() {
        let running = run("RUNNING", "Running", json!({"run_count": 1}));
        let fake = server(running)
            .on(
                "POST",
                "/api/task_runs/filter",
                200,
                json!([task(WAITER, "extract", "SCHEDULED", "AwaitingConcurrencySlot", json!([]), None)]),
            )
            .on(
                "POST",
                "/api/v2/concurrency_limits/filter",
                200,
                json!([
                    {"id": "g1", "name": "warehouse", "limit": 3, "active": true, "active_slots": 3},
                    {"id": "g2", "name": "tag:serial", "limit": 1, "active": true, "active_slots": 1},
                ]),
            );
        let (result, requests) = diagnose(&fake);
        assert_eq!(top(&result)["kind"], "global_concurrency_saturated");
        assert_eq!(top(&result)["severity"], "cause");
        assert_eq!(
            top(&result)["evidence"],
            "global limit 'warehouse' limit 3, 3 active slot(s); code calling concurrency(\"warehouse\") waits"
        );
        assert_eq!(requests, 7);
    }

    #[test]
    fn failed_run_names_the_failed_task_and_keeps_the_traceback_end() {
        let failed = run(
            "FAILED",
            "Failed",
            json!({"run_count": 1, "start_time": "2026-11-27T11:50:00Z",
            "state": {"message": "Flow run encountered an exception: ValueError: bad rows"}}),
        );
        let traceback: String =
            (0..30).map(|i| format!("  File \"x.py\", line {i}\n")).collect::<String>() + "ValueError: bad rows";
        let fake = server(failed)
            .on("POST", "/api/task_runs/filter", 200, json!([
                task(HOLDER, "fetch", "COMPLETED", "Completed", json!([]), None),
                task(WAITER, "validate", "FAILED", "Failed", json!([]), Some("Task run encountered an exception ValueError: bad rows")),
            ]))
            .on("POST", "/api/logs/filter", 200, json!([
                {"timestamp": "2026-11-27T11:51:00Z", "level": 40, "message": "Finished in state Failed", "name": "prefect.flow_runs", "task_run_id": null},
                {"timestamp": "2026-11-27T11:50:30Z", "level": 40, "message": format!("Task run failed\nTraceback:\n{traceback}"), "name": "prefect.task_runs", "task_run_id": WAITER},
            ]));
        let (result, requests) = diagnose(&fake);
        assert_eq!(top(&result)["kind"], "task_run_failed");
        assert_eq!(top(&result)["object"], json!({"type": "task_run", "id": WAITER, "name": "validate"}));
        assert!(
            top(&result)["evidence"]
                .as_str()
                .unwrap()
                .ends_with("ended Failed: Task run encountered an exception ValueError: bad rows")
        );
        assert_eq!(result["findings"][1]["kind"], "error_logs");
        assert_eq!(result["findings"][1]["severity"], "info");
        assert_eq!(
            result["findings"][1]["evidence"],
            "2 log line(s) at ERROR or above; the first ends: ValueError: bad rows"
        );
        // Logs come newest first from the server and are shown oldest first.
        assert_eq!(result["error_logs"][0]["logger"], "prefect.task_runs");
        assert!(result["error_logs"][0]["message"].as_str().unwrap().ends_with("ValueError: bad rows"));
        assert!(result["error_logs"][0]["message"].as_str().unwrap().contains("lines omitted"));
        assert_eq!(result["error_logs"][0]["level_name"], "ERROR");
        assert_eq!(result["failed_task_runs"].as_array().unwrap().len(), 1);
        assert_eq!(result["task_runs_by_state"], json!({"Completed": 1, "Failed": 1}));
        // Run, states, flow, tasks, logs: nothing about pools or limits for a finished run.
        assert_eq!(requests, 5);
    }

    #[test]
    fn failures_without_a_failed_task() {
        let failed = |name: &str| run("FAILED", name, json!({"run_count": 1, "state": {"message": "boom"}}));
        let (result, _) = diagnose(&server(failed("Failed")));
        assert_eq!(top(&result)["kind"], "flow_run_failed");
        let with_logs = server(failed("Failed")).on("POST", "/api/logs/filter", 200, json!([
            {"timestamp": "2026-11-27T11:51:00Z", "level": 50, "message": "KeyError: 'x'", "name": "prefect.flow_runs", "task_run_id": null}]));
        let (result, _) = diagnose(&with_logs);
        assert_eq!((&top(&result)["kind"], &top(&result)["severity"]), (&json!("error_logs"), &json!("cause")));
        assert_eq!(result["error_logs"][0]["level_name"], "CRITICAL");
        let (result, _) = diagnose(&server(failed("TimedOut")));
        assert_eq!(top(&result)["kind"], "flow_run_timed_out");
    }

    #[test]
    fn crashed_cancelled_paused_and_completed_runs() {
        let crashed = run("CRASHED", "Crashed", json!({"run_count": 1, "state": {"message": "exit code 137"}}));
        let (result, requests) = diagnose(&server(crashed));
        assert_eq!(top(&result)["kind"], "flow_run_crashed");
        assert_eq!(top(&result)["evidence"], "state Crashed: exit code 137");
        assert_eq!(
            result["verdict"],
            "The flow run crashed (infrastructure, not flow code) (flow_run_crashed): state Crashed: exit code 137"
        );
        assert_eq!(requests, 5);
        let (result, _) = diagnose(&server(run("CANCELLED", "Cancelled", json!({"run_count": 1}))));
        assert_eq!(top(&result)["kind"], "flow_run_cancelled");
        let (result, _) = diagnose(&server(run("PAUSED", "Paused", json!({"run_count": 1}))));
        assert_eq!(top(&result)["kind"], "flow_run_paused");
        let (result, _) = diagnose(&server(run("COMPLETED", "Completed", json!({"run_count": 1}))));
        assert_eq!(result["findings"], json!([]));
        assert_eq!(result["verdict"], "The run completed (state Completed); nothing to fix.");
    }

    #[test]
    fn not_yet_due_and_ad_hoc_runs() {
        let future = late(json!({"state_name": "Scheduled", "expected_start_time": "2026-11-27T13:00:00Z"}));
        let (result, requests) = diagnose(&server(future));
        assert_eq!(result["findings"], json!([]));
        assert!(
            result["verdict"].as_str().unwrap().starts_with("Scheduled for 2026-11-27T13:00:00+00:00; not due yet")
        );
        assert_eq!(requests, 7);
        // Not due yet: what would hold it back is a warning, not the cause of anything.
        let idle = server(late(json!({"state_name": "Scheduled", "expected_start_time": "2026-11-27T13:00:00Z"}))).on(
            "POST",
            "/api/work_pools/pool-a/workers/filter",
            200,
            json!([]),
        );
        let (result, _) = diagnose(&idle);
        assert_eq!(
            (&top(&result)["kind"], &top(&result)["severity"]),
            (&json!("work_pool_without_workers"), &json!("warning"))
        );
        let (result, requests) = diagnose(&server(run("SCHEDULED", "Late", json!({}))));
        assert_eq!((&top(&result)["kind"], &top(&result)["severity"]), (&json!("no_work_pool"), &json!("cause")));
        assert_eq!(requests, 3);
        let served = run("SCHEDULED", "Late", json!({"deployment_id": DEP}));
        let (result, requests) = diagnose(&server(served));
        assert_eq!(top(&result)["kind"], "no_work_pool");
        assert!(top(&result)["evidence"].as_str().unwrap().starts_with("deployment 'etl/nightly' has no work pool"));
        assert_eq!(requests, 4);
    }

    #[test]
    fn unknown_and_malformed_ids() {
        let fake = server(run("COMPLETED", "Completed", json!({})));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let missing = "99999999-0000-4000-8000-000000000009";
        let result = super::super::testing::run(&ctx, "diagnose_flow_run", json!({"flow_run_id": missing}));
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            structured(&result)["error"],
            json!(format!(
                "Failed to diagnose flow run: flow run {missing} not found; get_flow_runs lists the existing runs"
            ))
        );
        assert_eq!(structured(&result)["flow_run_id"], missing);
        assert_eq!(structured(&result)["findings"], json!([]));
        assert_eq!(ctx.upstream_requests(), 1);
        let result = super::super::testing::run(&ctx, "diagnose_flow_run", json!({"flow_run_id": "nope"}));
        assert_eq!(
            structured(&result)["error"],
            "Failed to diagnose flow run: invalid UUID \"nope\" for flow_run_id; pass an id as get_flow_runs lists it"
        );
        assert_eq!(ctx.upstream_requests(), 1);
        let result = super::super::testing::run(&ctx, "diagnose_flow_run", json!({}));
        assert!(text(&result).contains("missing field `flow_run_id`"), "{}", text(&result));
    }

    #[test]
    fn upstream_failures_fail_the_diagnosis() {
        let fake = server(late(json!({}))).failing(
            "POST",
            "/api/work_pools/pool-a/workers/filter",
            FetchError::Network("reset".into()),
        );
        let (result, _) = diagnose(&fake);
        assert_eq!(result["success"], false);
        assert!(
            result["error"].as_str().unwrap().starts_with("Failed to diagnose flow run: Prefect API unreachable"),
            "{result}"
        );
    }

    #[test]
    fn long_messages_keep_head_and_tail_lines() {
        let message: String = (0..20).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        let compact = compact_message(&message);
        assert!(compact.starts_with("line 0\nline 1\nline 2\n… [7 lines omitted] …\nline 10\n"));
        assert!(compact.ends_with("line 19"));
        assert_eq!(compact_message("short\ntext"), "short\ntext");
        assert!(compact_message(&"x".repeat(400)).ends_with("… [100 more chars]"));
    }
}
