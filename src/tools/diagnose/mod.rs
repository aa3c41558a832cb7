//! What `diagnose_flow_run` and `diagnose_deployment` share: the finding and verdict shape,
//! the records they read, and the readiness checks of a work pool, its queue and workers,
//! a deployment and the concurrency limits that can hold a run back.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{ToolError, format};
use crate::prefect::limits::GlobalLimitRecord;
use crate::prefect::paging::SERVER_PAGE_MAX;
use crate::prefect::pools::path_segment;
use crate::prefect::records::{DeploymentRecord, FlowRunRecord, PoolRecord, QueueRecord, TaskRunRecord, WorkerRecord};
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

pub mod deployment;
pub mod flow_run;
mod limits;
mod readiness;
mod reads;
#[cfg(test)]
mod tests;

use limits::*;
use readiness::*;
use reads::*;

/// How a finding bears on the question asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Explains the state: this is what to fix.
    Cause,
    /// Worth fixing, but not what holds this run or deployment back right now.
    Warning,
    /// Context.
    Info,
}

/// The Prefect object a finding is about.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ObjectRef {
    /// flow_run, task_run, deployment, work_pool, work_queue or concurrency_limit.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub name: Option<String>,
}

impl ObjectRef {
    fn new(kind: &str, id: Option<&str>, name: Option<&str>) -> Self {
        ObjectRef { kind: kind.to_owned(), id: id.map(str::to_owned), name: name.map(str::to_owned) }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Finding {
    pub severity: Severity,
    /// Stable snake_case code, e.g. work_pool_without_workers or tag_concurrency_saturated.
    pub kind: String,
    pub object: ObjectRef,
    /// The facts behind the finding, with their numbers.
    pub evidence: String,
    /// Which tool of this server to call next (with arguments), or which `prefect` CLI command fixes it.
    pub next_step: String,
}

impl Finding {
    fn new(severity: Severity, kind: &str, object: ObjectRef, evidence: String, next_step: String) -> Self {
        Finding { severity, kind: kind.to_owned(), object, evidence, next_step }
    }
}

/// Orders findings causes first (stable otherwise) and names the most likely cause in one
/// line: the first cause, else the first warning, else `healthy`.
fn conclude(findings: &mut [Finding], healthy: String) -> String {
    findings.sort_by_key(|f| f.severity);
    match findings.first() {
        Some(f) if f.severity == Severity::Cause => format!("{} ({}): {}", headline(&f.kind), f.kind, f.evidence),
        Some(f) if f.severity == Severity::Warning => {
            format!("No blocking cause found; warning {}: {}", f.kind, f.evidence)
        }
        _ => healthy,
    }
}

fn headline(kind: &str) -> &'static str {
    match kind {
        "tag_concurrency_saturated" => "A tag concurrency limit is full",
        "deployment_concurrency_saturated" => "The deployment's concurrency limit is full",
        "work_pool_concurrency_saturated" => "The work pool's concurrency limit is full",
        "work_queue_concurrency_saturated" => "The work queue's concurrency limit is full",
        "work_pool_without_workers" => "No worker is polling the work pool",
        "work_pool_paused" => "The work pool is paused",
        "work_pool_missing" => "The work pool does not exist",
        "work_queue_paused" => "The work queue is paused",
        "work_queue_missing" => "The work queue does not exist",
        "deployment_paused" => "The deployment is paused",
        "task_run_failed" => "A task run failed",
        "error_logs" => "The run logged an error",
        "flow_run_failed" => "The flow run failed",
        "flow_run_timed_out" => "The flow run timed out",
        "flow_run_crashed" => "The flow run crashed (infrastructure, not flow code)",
        "flow_run_cancelled" => "The flow run was cancelled",
        "flow_run_paused" => "The flow run is paused",
        "late_backlog" => "Runs are piling up Late",
        "recent_failures" => "Recent runs failed",
        "no_upcoming_runs" => "No run is scheduled",
        _ => "Cause",
    }
}

/// The UUID in `raw`, or an error naming the argument and the tool that lists valid ids.
fn parse_id(raw: &str, argument: &str, lister: &str) -> Result<String, ToolError> {
    Uuid::parse_str(raw.trim()).map(|id| id.to_string()).map_err(|_| {
        ToolError::InvalidArguments(format!("invalid UUID {raw:?} for {argument}; pass an id as {lister} lists it"))
    })
}

/// Whole minutes from `raw` to `now` (negative when `raw` is later).
fn minutes_since(now: OffsetDateTime, raw: Option<&str>) -> Option<i64> {
    let at = OffsetDateTime::parse(raw?, &Rfc3339).ok()?;
    Some((now - at).whole_minutes())
}

/// Cuts `text` to `max` characters with an explicit marker.
fn clip(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}… [{} more chars]", total - max)
}
