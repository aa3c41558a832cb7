//! Deployment and concurrency-limit checks: a paused or saturated deployment, full global
//! limits, and who holds their slots.

use super::*;

/// `<flow>/<deployment>` when the flow's name is known.
pub(super) fn slug(flow_name: Option<&str>, deployment: &str) -> String {
    flow_name.map_or_else(|| deployment.to_owned(), |flow| format!("{flow}/{deployment}"))
}

/// A paused deployment: schedules create no runs (`severity` says whether that matters here).
pub(super) fn deployment_paused(deployment: &DeploymentRecord, slug: &str, severity: Severity) -> Option<Finding> {
    deployment.paused.then(|| {
        Finding::new(
            severity,
            "deployment_paused",
            ObjectRef::new("deployment", Some(&deployment.id), Some(slug)),
            format!("deployment '{slug}' is paused: its schedules create no new runs"),
            "resume it in the Prefect UI (the deployment's Paused toggle); get_deployments with filter \
             {\"paused\": {\"eq_\": true}} lists paused deployments"
                .to_owned(),
        )
    })
}

/// The deployment's concurrency limit when its slots are all taken, naming the holders.
pub(super) fn deployment_saturated(
    deployment: &DeploymentRecord,
    slug: &str,
    holders: &[RunRef],
    severity: Severity,
) -> Option<Finding> {
    let limit = deployment.global_concurrency_limit.as_ref().filter(|l| l.active && l.active_slots >= l.limit)?;
    let strategy = collision_strategy(deployment).unwrap_or("ENQUEUE");
    Some(Finding::new(
        severity,
        "deployment_concurrency_saturated",
        ObjectRef::new("concurrency_limit", Some(&limit.id), Some(&limit.name)),
        format!(
            "deployment '{slug}' limit {}, {} active slot(s){} (collision strategy {strategy})",
            limit.limit,
            limit.active_slots,
            held_by("flow run", &labels(holders), limit.active_slots)
        ),
        format!(
            "get_flow_runs with filter {{\"deployment_id\": {{\"any_\": [\"{}\"]}}, \"state\": {{\"type\": {{\"any_\": [\"PENDING\", \"RUNNING\"]}}}}}} shows the holders; wait for them, cancel one (`prefect flow-run cancel <id>`) or raise the deployment's concurrency_limit",
            deployment.id
        ),
    ))
}

/// ENQUEUE or CANCEL_NEW, when the deployment sets it.
pub(super) fn collision_strategy(deployment: &DeploymentRecord) -> Option<&str> {
    deployment.concurrency_options.as_ref()?.collision_strategy.as_str()
}

/// The task runs in `slots`, in one request (none for no slots).
pub(super) async fn slot_holders<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    slots: &[&str],
) -> Result<Vec<TaskRunRecord>, PrefectError> {
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let body = json!({"task_runs": {"id": {"any_": slots}}, "limit": slots.len(), "offset": 0});
    prefect.post("task_runs/filter", &body).await
}

/// Each slot as `<task> (<id>) of flow run <run>`, or `(<id>)` when its task run was not read.
pub(super) fn holder_labels(slots: &[String], holders: &[TaskRunRecord]) -> Vec<String> {
    slots
        .iter()
        .map(|id| match holders.iter().find(|h| &h.id == id) {
            Some(h) => {
                let task = format!("{} ({})", h.name.as_deref().unwrap_or("unnamed"), h.id);
                match &h.flow_run_id {
                    Some(run) => format!("{task} of flow run {run}"),
                    None => task,
                }
            }
            None => format!("({id})"),
        })
        .collect()
}

/// ` held by <what> a, b, c and <n> more`: the first labels, then how many of `total` slots
/// are left unnamed (nothing when no holder is known).
pub(super) fn held_by(what: &str, labels: &[String], total: i64) -> String {
    let shown = &labels[..labels.len().min(NAMED_HOLDERS)];
    let rest = total.max(labels.len() as i64) - shown.len() as i64;
    match (shown.is_empty(), rest > 0) {
        (true, _) => String::new(),
        (false, true) => format!(" held by {what} {} and {rest} more", shown.join(", ")),
        (false, false) => format!(" held by {what} {}", shown.join(", ")),
    }
}

/// Active global limits (not tag or deployment limits) whose slots are all taken; flow code
/// that calls `concurrency(<name>)` waits on them.
pub(super) fn saturated_globals(limits: &[GlobalLimitRecord]) -> Vec<Finding> {
    limits
        .iter()
        .filter(|l| l.active && l.active_slots >= l.limit)
        .filter(|l| !l.name.starts_with("tag:") && !l.name.starts_with("deployment:"))
        .map(|l| {
            Finding::new(
                Severity::Warning,
                "global_concurrency_saturated",
                ObjectRef::new("concurrency_limit", Some(&l.id), Some(&l.name)),
                format!(
                    "global limit '{}' limit {}, {} active slot(s); code calling concurrency(\"{}\") waits",
                    l.name, l.limit, l.active_slots, l.name
                ),
                format!("`prefect gcl inspect '{}'`; get_dashboard lists every limit", l.name),
            )
        })
        .collect()
}
