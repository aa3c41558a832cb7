//! The findings of a flow-run diagnosis: why it ended as it did, why it has not started, why
//! it is not progressing.

use super::*;

/// Task runs that have not started: waiting for a slot, scheduled or pending.
pub(super) fn waiting_tasks(tasks: &[TaskRunRecord]) -> Vec<&TaskRunRecord> {
    tasks.iter().filter(|t| matches!(t.state_type.as_deref(), Some("SCHEDULED" | "PENDING"))).collect()
}

/// Task runs in a Running state, holding whatever tag slots they took.
pub(super) fn running_tasks(tasks: &[TaskRunRecord]) -> Vec<&TaskRunRecord> {
    tasks.iter().filter(|t| t.state_type.as_deref() == Some("RUNNING")).collect()
}

/// Tag limits on the tags of `tasks` whose slots are all taken whose slots are all taken.
pub(super) fn full_tag_limits<'a>(limits: &'a [TagLimitRecord], tasks: &[&TaskRunRecord]) -> Vec<&'a TagLimitRecord> {
    limits
        .iter()
        .filter(|l| l.active_slots.len() as i64 >= l.concurrency_limit)
        .filter(|l| tasks.iter().any(|t| tagged(t, &l.tag)))
        .collect()
}

fn tagged(task: &TaskRunRecord, tag: &str) -> bool {
    task.tags.as_deref().unwrap_or_default().iter().any(|t| t == tag)
}

/// Running task runs listed in a finding (the rest are counted).
const RUNNING_LISTED: usize = 5;

/// What a Running run is doing: its running task runs (since when, with which tags), and the
/// tag limits they fill, naming the other runs' task runs in the same slots.
pub(super) fn running_findings(
    now: OffsetDateTime,
    run: &FlowRunRecord,
    running: &[&TaskRunRecord],
    held_tags: &[&TagLimitRecord],
    holders: &[TaskRunRecord],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if running.is_empty() {
        return findings;
    }
    let listed: Vec<String> = running.iter().take(RUNNING_LISTED).map(|t| running_label(now, t)).collect();
    let more = running.len().saturating_sub(RUNNING_LISTED);
    findings.push(Finding::new(
        Severity::Info,
        "task_runs_running",
        run_object(run),
        format!(
            "{} task run(s) running: {}{}",
            running.len(),
            listed.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        ),
        format!(
            "get_task_runs with filter {{\"flow_run_id\": {{\"any_\": [\"{}\"]}}, \"state\": {{\"type\": {{\"any_\": [\"RUNNING\"]}}}}}} lists them all; {}",
            run.id,
            logs_step(run)
        ),
    ));
    for limit in held_tags {
        let (own, others): (Vec<&String>, Vec<&String>) =
            limit.active_slots.iter().partition(|id| running.iter().any(|t| &t.id == *id));
        let own: Vec<String> =
            own.into_iter().filter_map(|id| running.iter().find(|t| &t.id == id)).map(|t| task_label(t)).collect();
        let others: Vec<String> = others.into_iter().cloned().collect();
        let mut slots = Vec::new();
        if !own.is_empty() {
            slots.push(format!("{} held by this run ({})", own.len(), own.join(", ")));
        }
        if !others.is_empty() {
            let labels = holder_labels(&others, holders);
            slots.push(format!("{}{}", others.len(), held_by("other runs' task run", &labels, others.len() as i64)));
        }
        findings.push(Finding::new(
            Severity::Info,
            "tag_concurrency_at_limit",
            ObjectRef::new("concurrency_limit", Some(&limit.id), Some(&format!("tag:{}", limit.tag))),
            format!(
                "tag '{}' limit {}, {} active slot(s): {}; further task runs tagged '{}' wait until a slot frees",
                limit.tag,
                limit.concurrency_limit,
                limit.active_slots.len(),
                slots.join(", "),
                limit.tag
            ),
            format!(
                "get_task_runs with filter {{\"id\": {{\"any_\": {}}}}} shows the holders; `prefect concurrency-limit inspect '{}'`",
                json!(limit.active_slots),
                limit.tag
            ),
        ));
    }
    findings
}

/// `<task> (<id>) since <start> (<n> min), tags a, b`.
fn running_label(now: OffsetDateTime, task: &TaskRunRecord) -> String {
    let since = match (
        format::optional_timestamp(task.start_time.as_deref()),
        minutes_since(now, task.start_time.as_deref()),
    ) {
        (Some(at), Some(minutes)) => format!(" since {at} ({minutes} min)"),
        (Some(at), None) => format!(" since {at}"),
        _ => String::new(),
    };
    let tags = task.tags.as_deref().unwrap_or_default();
    let tags = if tags.is_empty() { ", no tags".to_owned() } else { format!(", tags {}", tags.join(", ")) };
    format!("{}{since}{tags}", task_label(task))
}

pub(super) fn task_label(task: &TaskRunRecord) -> String {
    format!("{} ({})", task.name.as_deref().unwrap_or("unnamed"), task.id)
}

pub(super) fn task_message(task: &TaskRunRecord) -> Option<&str> {
    task.state.as_ref().and_then(|s| s.message.as_deref()).filter(|m| !m.is_empty())
}

pub(super) fn failed_tasks(tasks: &[TaskRunRecord]) -> impl Iterator<Item = &TaskRunRecord> {
    tasks.iter().filter(|t| matches!(t.state_type.as_deref(), Some("FAILED" | "CRASHED")))
}

/// A failed or crashed task run, with its state message.
pub(super) fn task_failed(task: &TaskRunRecord, severity: Severity, then: String) -> Finding {
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

pub(super) fn run_object(run: &FlowRunRecord) -> ObjectRef {
    ObjectRef::new("flow_run", Some(&run.id), run.name.as_deref())
}

pub(super) fn logs_step(run: &FlowRunRecord) -> String {
    format!("get_flow_run_logs with flow_run_id \"{}\" for the full log", run.id)
}

/// Failed, crashed, cancelled or completed: what ended the run.
pub(super) fn ending_findings(run: &FlowRunRecord, reads: &Reads) -> Vec<Finding> {
    let mut findings = Vec::new();
    let state = run.state_name.as_deref().unwrap_or("unknown");
    let message = run.message().map_or_else(|| "no state message".to_owned(), |m| clip(m, 300));
    let retry = format!("once fixed, `prefect flow-run retry {}`", run.id);
    let failed: Vec<&TaskRunRecord> = failed_tasks(&reads.tasks).collect();
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
pub(super) fn error_log_finding(run: &FlowRunRecord, reads: &Reads, is_cause: bool) -> Option<Finding> {
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
pub(super) fn start_findings(
    now: OffsetDateTime,
    run: &FlowRunRecord,
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
pub(super) fn active_findings(
    now: OffsetDateTime,
    run: &FlowRunRecord,
    reads: &Reads,
    waiting: &[&TaskRunRecord],
    full_tags: &[&TagLimitRecord],
    holders: &[TaskRunRecord],
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
        let blocked = findings.iter().any(|f| f.severity == Severity::Cause);
        findings.push(Finding::new(
            if blocked { Severity::Info } else { Severity::Warning },
            "stuck_pending",
            run_object(run),
            pickup(now, run),
            "check the worker's logs for this run's submission (image pull, quota, crash on start)".to_owned(),
        ));
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

/// Who took a Pending run and when: a worker (or `serve`) proposes Pending when it picks the
/// run up, and records `infrastructure_pid` once the infrastructure is submitted.
fn pickup(now: OffsetDateTime, run: &FlowRunRecord) -> String {
    let since = run.state.as_ref().and_then(|s| s.timestamp.as_deref());
    let when = match (format::optional_timestamp(since), minutes_since(now, since)) {
        (Some(at), Some(minutes)) => format!(" since {at} ({minutes} min ago)"),
        _ => String::new(),
    };
    let taker = match (&run.work_pool_name, &run.deployment_id) {
        (Some(pool), _) => format!("a worker of work pool '{pool}' picked the run up"),
        (None, Some(_)) => "the process serving its deployment picked the run up".to_owned(),
        (None, None) => "the run was created Pending by the process that runs it".to_owned(),
    };
    let infrastructure = match run.infrastructure_pid.as_deref().filter(|p| !p.is_empty()) {
        Some(pid) => format!("submitted it to infrastructure {pid}, which has not reported Running"),
        None => {
            "no infrastructure is recorded for it yet (infrastructure_pid unset: submission has not finished or failed)"
                .to_owned()
        }
    };
    format!("Pending{when}: {taker}; {infrastructure}")
}

pub(super) fn healthy_verdict(now: OffsetDateTime, run: &FlowRunRecord, running_tasks: usize) -> String {
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
            let tasks =
                if running_tasks > 0 { format!("; {running_tasks} task run(s) running") } else { String::new() };
            format!("Running{minutes}{tasks}; no blocking cause found.")
        }
        _ => format!("State {state}; no cause found."),
    }
}

/// Keeps the first and last lines of a long message (a traceback ends with the exception),
/// each line clipped.
pub(super) fn compact_message(message: &str) -> String {
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

pub(super) fn sort_key(raw: Option<&str>) -> i128 {
    raw.and_then(|r| OffsetDateTime::parse(r, &Rfc3339).ok()).map_or(0, |t| t.unix_timestamp_nanos())
}
