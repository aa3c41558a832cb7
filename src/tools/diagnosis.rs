//! What `diagnose_flow_run` and `diagnose_deployment` share: the finding and verdict shape,
//! the records they read, and the readiness checks of a work pool, its queue and workers,
//! a deployment and the concurrency limits that can hold a run back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::format;
use super::limits::GlobalLimitRecord;
use super::paging::SERVER_PAGE_MAX;
use super::pools::{PoolRecord, path_segment};
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

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
    pub fn new(kind: &str, id: Option<&str>, name: Option<&str>) -> Self {
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
    pub fn new(severity: Severity, kind: &str, object: ObjectRef, evidence: String, next_step: String) -> Self {
        Finding { severity, kind: kind.to_owned(), object, evidence, next_step }
    }
}

/// Orders findings causes first (stable otherwise) and names the most likely cause in one
/// line: the first cause, else the first warning, else `healthy`.
pub fn conclude(findings: &mut [Finding], healthy: String) -> String {
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
pub fn parse_id(raw: &str, argument: &str, lister: &str) -> Result<String, String> {
    Uuid::parse_str(raw.trim())
        .map(|id| id.to_string())
        .map_err(|_| format!("invalid UUID {raw:?} for {argument}; pass an id as {lister} lists it"))
}

/// Whole minutes from `raw` to `now` (negative when `raw` is later).
pub fn minutes_since(now: OffsetDateTime, raw: Option<&str>) -> Option<i64> {
    let at = OffsetDateTime::parse(raw?, &Rfc3339).ok()?;
    Some((now - at).whole_minutes())
}

/// Cuts `text` to `max` characters with an explicit marker.
pub fn clip(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}… [{} more chars]", total - max)
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// The fields of Prefect's `Deployment` that the diagnoses use.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub flow_id: Option<String>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub work_pool_name: Option<String>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
    #[serde(default)]
    pub schedules: Option<Vec<ScheduleRecord>>,
    #[serde(default)]
    pub global_concurrency_limit: Option<GlobalLimitRecord>,
    #[serde(default)]
    pub concurrency_options: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleRecord {
    #[serde(default)]
    pub active: bool,
    pub schedule: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueueRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub is_paused: bool,
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    /// Pending and Running runs of the queue; set by the server when the queue is limited.
    #[serde(default)]
    pub active_slots: Option<i64>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerRecord {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub last_heartbeat_time: Option<String>,
}

/// A flow run named in evidence (a slot holder, the oldest Late run, …).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunRef {
    pub id: String,
    pub name: Option<String>,
    pub state_name: Option<String>,
    #[serde(default)]
    pub expected_start_time: Option<String>,
}

impl RunRef {
    /// `<name> (<id>)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name.as_deref().unwrap_or("unnamed"), self.id)
    }

    pub fn formatted(mut self) -> Self {
        self.expected_start_time = format::optional_timestamp(self.expected_start_time.as_deref());
        self
    }
}

/// `POST {kind}/filter` for the one object whose `field` is `key`.
pub async fn read_one<T: serde::de::DeserializeOwned, F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    kind: &str,
    field: &str,
    key: &str,
) -> Result<Option<T>, PrefectError> {
    let body = json!({kind: {field: {"any_": [key]}}, "limit": 1, "offset": 0});
    let mut rows: Vec<T> = prefect.post(&format!("{kind}/filter"), &body).await?;
    Ok(if rows.is_empty() { None } else { Some(rows.swap_remove(0)) })
}

/// The flow's name (one request), `None` without a flow id.
pub async fn flow_name<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    flow_id: Option<&str>,
) -> Result<Option<String>, PrefectError> {
    #[derive(Deserialize)]
    struct FlowRecord {
        name: String,
    }
    let Some(id) = flow_id else { return Ok(None) };
    Ok(read_one::<FlowRecord, _>(prefect, "flows", "id", id).await?.map(|f| f.name))
}

/// How many slot holders a finding names (it shows three and counts the rest).
pub const NAMED_HOLDERS: usize = 3;

/// Where Pending, Running and Cancelling runs take concurrency slots (Prefect's slot states).
#[derive(Debug, Clone, Copy)]
pub enum SlotScope<'a> {
    /// A deployment, by id.
    Deployment(&'a str),
    /// A work pool, by name.
    Pool(&'a str),
    /// A work queue, by id.
    Queue(&'a str),
}

/// Up to `limit` runs holding slots in `scope`, most recently started first: one request.
pub async fn active_runs<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    scope: SlotScope<'_>,
    limit: usize,
) -> Result<Vec<RunRef>, PrefectError> {
    let mut body = json!({
        "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}},
        "sort": "START_TIME_DESC", "limit": limit, "offset": 0,
    });
    match scope {
        SlotScope::Deployment(id) => body["flow_runs"]["deployment_id"] = json!({"any_": [id]}),
        SlotScope::Pool(name) => body["work_pools"] = json!({"name": {"any_": [name]}}),
        SlotScope::Queue(id) => body["work_pool_queues"] = json!({"id": {"any_": [id]}}),
    }
    let runs: Vec<RunRef> = prefect.post("flow_runs/filter", &body).await?;
    Ok(runs.into_iter().map(RunRef::formatted).collect())
}

/// The runs a full limit's finding names: none, and no request, without a scope.
pub async fn named_holders<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    scope: Option<SlotScope<'_>>,
) -> Result<Vec<RunRef>, PrefectError> {
    match scope {
        Some(scope) => active_runs(prefect, scope, NAMED_HOLDERS).await,
        None => Ok(Vec::new()),
    }
}

// ---------------------------------------------------------------------------------------
// Work-pool readiness
// ---------------------------------------------------------------------------------------

/// A work pool, one of its queues and its workers, as read for a diagnosis.
#[derive(Debug)]
pub struct Readiness {
    pub pool_name: String,
    pub pool: Option<PoolRecord>,
    pub queue_name: Option<String>,
    pub queue: Option<QueueRecord>,
    pub workers: Vec<WorkerRecord>,
    /// Runs holding the pool's slots, read only when its limit is full.
    pub pool_holders: Vec<RunRef>,
    /// Runs holding the queue's slots, read only when its limit is full.
    pub queue_holders: Vec<RunRef>,
}

/// Reads pool `pool_name`, its queue `queue_name` and its workers: three concurrent requests
/// (two without a queue name).
pub async fn read_readiness<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    pool_name: &str,
    queue_name: Option<&str>,
) -> Result<Readiness, PrefectError> {
    let segment = path_segment(pool_name);
    let (queues_path, workers_path) =
        (format!("work_pools/{segment}/queues/filter"), format!("work_pools/{segment}/workers/filter"));
    let queue_body = json!({"work_queues": {"name": {"any_": [queue_name]}}, "limit": 1, "offset": 0});
    let workers_body = json!({"limit": SERVER_PAGE_MAX, "offset": 0});
    let (pool, queue, workers) = futures::join!(
        read_one::<PoolRecord, _>(prefect, "work_pools", "name", pool_name),
        async {
            match queue_name {
                Some(_) => prefect.post::<Vec<QueueRecord>, _>(&queues_path, &queue_body).await,
                None => Ok(Vec::new()),
            }
        },
        prefect.post::<Vec<WorkerRecord>, _>(&workers_path, &workers_body),
    );
    let pool = pool?;
    // A missing pool answers its sub-resources with 404; that is the pool finding, not an error.
    let missing = pool.is_none();
    fn lenient<T>(missing: bool, read: Result<Vec<T>, PrefectError>) -> Result<Vec<T>, PrefectError> {
        read.or_else(|e| if missing { Ok(Vec::new()) } else { Err(e) })
    }
    Ok(Readiness {
        pool_name: pool_name.to_owned(),
        pool,
        queue_name: queue_name.map(str::to_owned),
        queue: lenient(missing, queue)?.into_iter().next(),
        workers: lenient(missing, workers)?,
        pool_holders: Vec::new(),
        queue_holders: Vec::new(),
    })
}

/// What the diagnoses report about a pool: status, workers and the chosen queue.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PoolReadiness {
    pub name: String,
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// READY, NOT_READY or PAUSED; null when the pool does not exist.
    pub status: Option<String>,
    pub is_paused: bool,
    pub concurrency_limit: Option<i64>,
    /// Pending and Running runs in the pool (reported by Prefect when the pool is limited).
    pub active_slots: Option<i64>,
    pub workers_online: usize,
    pub workers_total: usize,
    /// Most recent heartbeat of any of the pool's workers.
    pub last_worker_heartbeat: Option<String>,
    pub work_queue: Option<QueueReadiness>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct QueueReadiness {
    pub name: String,
    pub id: Option<String>,
    pub is_paused: bool,
    pub concurrency_limit: Option<i64>,
    pub active_slots: Option<i64>,
    /// READY, NOT_READY or PAUSED; null when the queue does not exist.
    pub status: Option<String>,
}

/// Pool types whose runs Prefect submits itself (push and managed pools need no worker).
fn needs_workers(kind: &str) -> bool {
    !kind.ends_with(":push") && !kind.starts_with("prefect:managed")
}

impl Readiness {
    /// The pool's limit and used slots, when every slot is taken.
    fn pool_full(&self) -> Option<(i64, i64)> {
        let pool = self.pool.as_ref()?;
        full(pool.concurrency_limit, pool.active_slots)
    }

    fn queue_full(&self) -> Option<(i64, i64)> {
        let queue = self.queue.as_ref()?;
        full(queue.concurrency_limit, queue.active_slots)
    }

    /// Names the runs holding the pool's and the queue's slots when their limits are full: a
    /// request for each full one, concurrently, none otherwise.
    pub async fn read_holders<F: Fetch>(&mut self, prefect: &PrefectClient<'_, F>) -> Result<(), PrefectError> {
        let pool = self.pool_full().map(|_| SlotScope::Pool(&self.pool_name));
        let queue = self.queue.as_ref().filter(|_| self.queue_full().is_some()).map(|q| SlotScope::Queue(&q.id));
        let (pool, queue) = futures::join!(named_holders(prefect, pool), named_holders(prefect, queue));
        (self.pool_holders, self.queue_holders) = (pool?, queue?);
        Ok(())
    }

    fn online(&self) -> usize {
        self.workers.iter().filter(|w| w.status.as_deref() == Some("ONLINE")).count()
    }

    fn last_heartbeat(&self) -> Option<String> {
        let latest = self.workers.iter().filter_map(|w| w.last_heartbeat_time.as_deref()).max_by_key(|raw| {
            OffsetDateTime::parse(raw, &Rfc3339).map(|t| t.unix_timestamp_nanos()).unwrap_or_default()
        });
        format::optional_timestamp(latest)
    }

    pub fn summary(&self) -> PoolReadiness {
        let pool = self.pool.as_ref();
        PoolReadiness {
            name: self.pool_name.clone(),
            id: pool.map(|p| p.id.clone()),
            kind: pool.map(|p| p.kind.clone()),
            status: pool.and_then(|p| p.status.clone()),
            is_paused: pool.is_some_and(|p| p.is_paused),
            concurrency_limit: pool.and_then(|p| p.concurrency_limit),
            active_slots: pool.and_then(|p| p.active_slots),
            workers_online: self.online(),
            workers_total: self.workers.len(),
            last_worker_heartbeat: self.last_heartbeat(),
            work_queue: self.queue_name.as_ref().map(|name| QueueReadiness {
                name: name.clone(),
                id: self.queue.as_ref().map(|q| q.id.clone()),
                is_paused: self.queue.as_ref().is_some_and(|q| q.is_paused),
                concurrency_limit: self.queue.as_ref().and_then(|q| q.concurrency_limit),
                active_slots: self.queue.as_ref().and_then(|q| q.active_slots),
                status: self.queue.as_ref().and_then(|q| q.status.clone()),
            }),
        }
    }

    /// Why the pool would not start a run now, in the order a worker meets the obstacles:
    /// the pool, its workers, the queue, then the pool's and queue's concurrency limits.
    /// `saturation` is the severity of a full limit (a cause only when runs are waiting).
    pub fn findings(&self, saturation: Severity) -> Vec<Finding> {
        let mut findings = Vec::new();
        let name = self.pool_name.as_str();
        let inspect = |id: &str| format!("get_work_pools with filter {{\"id\": {{\"any_\": [\"{id}\"]}}}}");
        let Some(pool) = &self.pool else {
            findings.push(Finding::new(
                Severity::Cause,
                "work_pool_missing",
                ObjectRef::new("work_pool", None, Some(name)),
                format!("work pool '{name}' does not exist, so no worker can pick up its runs"),
                format!("create it (`prefect work-pool create '{name}' --type <type>`) or point the deployment at an existing pool (get_work_pools lists them)"),
            ));
            return findings;
        };
        let object = || ObjectRef::new("work_pool", Some(&pool.id), Some(name));
        if pool.is_paused {
            findings.push(Finding::new(
                Severity::Cause,
                "work_pool_paused",
                object(),
                format!("work pool '{name}' is paused (status {}); workers start none of its runs", status(pool)),
                format!("`prefect work-pool resume '{name}'`"),
            ));
        }
        let online = self.online();
        if online == 0 && needs_workers(&pool.kind) {
            let heartbeat = self.last_heartbeat().map_or("never".to_owned(), |t| format!("at {t}"));
            findings.push(Finding::new(
                Severity::Cause,
                "work_pool_without_workers",
                object(),
                format!(
                    "work pool '{name}' ({}) has 0 ONLINE workers ({} registered, last heartbeat {heartbeat}); status {}",
                    pool.kind,
                    self.workers.len(),
                    status(pool)
                ),
                format!("start a worker: `prefect worker start --pool '{name}'`; then {}", inspect(&pool.id)),
            ));
        }
        if let Some(queue_name) = &self.queue_name {
            match &self.queue {
                None => findings.push(Finding::new(
                    Severity::Cause,
                    "work_queue_missing",
                    ObjectRef::new("work_queue", None, Some(queue_name)),
                    format!("work pool '{name}' has no queue named '{queue_name}'"),
                    format!("{} lists its queues", inspect(&pool.id)),
                )),
                Some(queue) if queue.is_paused => findings.push(Finding::new(
                    Severity::Cause,
                    "work_queue_paused",
                    ObjectRef::new("work_queue", Some(&queue.id), Some(&queue.name)),
                    format!(
                        "work queue '{}' of pool '{name}' is paused; workers ({online} ONLINE) skip its runs",
                        queue.name
                    ),
                    format!("`prefect work-queue resume '{}' --pool '{name}'`", queue.name),
                )),
                Some(_) => {}
            }
        }
        if let Some((limit, active)) = self.pool_full() {
            findings.push(Finding::new(
                saturation,
                "work_pool_concurrency_saturated",
                object(),
                format!(
                    "work pool '{name}' limit {limit}, {active} active slot(s){}",
                    held_by("flow run", &labels(&self.pool_holders), active)
                ),
                format!(
                    "`prefect work-pool slots '{name}'` lists every holder; wait for them, cancel one \
                     (`prefect flow-run cancel <id>`) or `prefect work-pool set-concurrency-limit '{name}' <n>`"
                ),
            ));
        }
        if let (Some(queue), Some((limit, active))) = (&self.queue, self.queue_full()) {
            findings.push(Finding::new(
                saturation,
                "work_queue_concurrency_saturated",
                ObjectRef::new("work_queue", Some(&queue.id), Some(&queue.name)),
                format!(
                    "work queue '{}' limit {limit}, {active} active slot(s){}",
                    queue.name,
                    held_by("flow run", &labels(&self.queue_holders), active)
                ),
                format!(
                    "`prefect work-queue slots '{queue}' --pool '{name}'` lists every holder; wait for them, \
                     cancel one (`prefect flow-run cancel <id>`) or \
                     `prefect work-queue set-concurrency-limit '{queue}' <n> --pool '{name}'`",
                    queue = queue.name
                ),
            ));
        }
        findings
    }
}

/// `(limit, active)` when a limit is set and every slot is taken.
fn full(limit: Option<i64>, active: Option<i64>) -> Option<(i64, i64)> {
    limit.zip(active).filter(|(limit, active)| active >= limit)
}

fn labels(runs: &[RunRef]) -> Vec<String> {
    runs.iter().map(RunRef::label).collect()
}

fn status(pool: &PoolRecord) -> &str {
    pool.status.as_deref().unwrap_or("unknown")
}

// ---------------------------------------------------------------------------------------
// Deployment and concurrency-limit checks
// ---------------------------------------------------------------------------------------

/// `<flow>/<deployment>` when the flow's name is known.
pub fn slug(flow_name: Option<&str>, deployment: &str) -> String {
    flow_name.map_or_else(|| deployment.to_owned(), |flow| format!("{flow}/{deployment}"))
}

/// A paused deployment: schedules create no runs (`severity` says whether that matters here).
pub fn deployment_paused(deployment: &DeploymentRecord, slug: &str, severity: Severity) -> Option<Finding> {
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
pub fn deployment_saturated(
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
pub fn collision_strategy(deployment: &DeploymentRecord) -> Option<&str> {
    deployment.concurrency_options.as_ref()?.get("collision_strategy")?.as_str()
}

/// A task run in a tag concurrency slot, as evidence names it.
#[derive(Debug, Deserialize)]
pub struct SlotHolder {
    pub id: String,
    pub name: Option<String>,
    pub flow_run_id: Option<String>,
}

/// The task runs in `slots`, in one request (none for no slots).
pub async fn slot_holders<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    slots: &[&str],
) -> Result<Vec<SlotHolder>, PrefectError> {
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let body = json!({"task_runs": {"id": {"any_": slots}}, "limit": slots.len(), "offset": 0});
    prefect.post("task_runs/filter", &body).await
}

/// Each slot as `<task> (<id>) of flow run <run>`, or `(<id>)` when its task run was not read.
pub fn holder_labels(slots: &[String], holders: &[SlotHolder]) -> Vec<String> {
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
pub fn held_by(what: &str, labels: &[String], total: i64) -> String {
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
pub fn saturated_globals(limits: &[GlobalLimitRecord]) -> Vec<Finding> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(kind: &str, paused: bool, limit: Option<i64>, active: Option<i64>) -> PoolRecord {
        serde_json::from_value(json!({"id": "p1", "name": "pool", "type": kind, "status": "NOT_READY",
            "is_paused": paused, "concurrency_limit": limit, "active_slots": active}))
        .unwrap()
    }

    fn readiness(pool: Option<PoolRecord>, queue: Option<Value>, workers: Value) -> Readiness {
        Readiness {
            pool_name: "pool".into(),
            pool,
            queue_name: Some("q".into()),
            queue: queue.map(|q| serde_json::from_value(q).unwrap()),
            workers: serde_json::from_value(workers).unwrap(),
            pool_holders: Vec::new(),
            queue_holders: Vec::new(),
        }
    }

    fn kinds(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.kind.as_str()).collect()
    }

    #[test]
    fn readiness_names_every_obstacle_in_order() {
        let queue = json!({"id": "q1", "name": "q", "is_paused": true, "concurrency_limit": 1, "active_slots": 1});
        let ready = readiness(Some(pool("process", true, Some(2), Some(2))), Some(queue), json!([]));
        let findings = ready.findings(Severity::Cause);
        assert_eq!(
            kinds(&findings),
            [
                "work_pool_paused",
                "work_pool_without_workers",
                "work_queue_paused",
                "work_pool_concurrency_saturated",
                "work_queue_concurrency_saturated"
            ]
        );
        assert_eq!(
            findings[1].evidence,
            "work pool 'pool' (process) has 0 ONLINE workers (0 registered, last heartbeat never); status NOT_READY"
        );
        assert_eq!(findings[3].evidence, "work pool 'pool' limit 2, 2 active slot(s)");
    }

    #[test]
    fn push_pools_need_no_workers_and_missing_objects_are_named() {
        let push = readiness(
            Some(pool("cloud-run:push", false, None, None)),
            Some(json!({"id": "q1", "name": "q"})),
            json!([]),
        );
        assert!(push.findings(Severity::Cause).is_empty());
        let missing_queue = readiness(
            Some(pool("process", false, None, None)),
            None,
            json!([{"status": "ONLINE", "last_heartbeat_time": "2026-11-27T10:00:00Z"}]),
        );
        assert_eq!(kinds(&missing_queue.findings(Severity::Cause)), ["work_queue_missing"]);
        assert_eq!(missing_queue.summary().last_worker_heartbeat.as_deref(), Some("2026-11-27T10:00:00+00:00"));
        assert_eq!(kinds(&readiness(None, None, json!([])).findings(Severity::Cause)), ["work_pool_missing"]);
    }

    #[test]
    fn verdicts_prefer_causes_then_warnings() {
        let object = ObjectRef::new("work_pool", Some("p1"), Some("pool"));
        let mut findings = vec![
            Finding::new(Severity::Info, "error_logs", object.clone(), "1 line".into(), String::new()),
            Finding::new(Severity::Warning, "late_backlog", object.clone(), "3 Late".into(), String::new()),
            Finding::new(Severity::Cause, "work_pool_paused", object, "paused".into(), String::new()),
        ];
        let verdict = conclude(&mut findings, "fine".into());
        assert_eq!(verdict, "The work pool is paused (work_pool_paused): paused");
        assert_eq!(kinds(&findings), ["work_pool_paused", "late_backlog", "error_logs"]);
        assert!(
            conclude(&mut findings[1..], "fine".into()).starts_with("No blocking cause found; warning late_backlog")
        );
        assert_eq!(conclude(&mut [], "fine".into()), "fine");
    }

    #[test]
    fn holders_globals_and_helpers() {
        let labels: Vec<String> = (1..=5).map(|i| format!("r{i}")).collect();
        assert_eq!(held_by("task run", &labels[..1], 1), " held by task run r1");
        assert_eq!(held_by("task run", &labels, 5), " held by task run r1, r2, r3 and 2 more");
        // Fewer holders read than slots taken: the count covers the unread ones too.
        assert_eq!(held_by("flow run", &labels[..3], 7), " held by flow run r1, r2, r3 and 4 more");
        assert_eq!(held_by("flow run", &[], 2), "");
        let limits: Vec<GlobalLimitRecord> = serde_json::from_value(json!([
            {"id": "a", "name": "gcl-full", "limit": 3, "active": true, "active_slots": 3},
            {"id": "b", "name": "tag:etl", "limit": 1, "active": true, "active_slots": 1},
            {"id": "c", "name": "gcl-off", "limit": 1, "active": false, "active_slots": 1},
            {"id": "d", "name": "gcl-room", "limit": 5, "active": true, "active_slots": 2},
        ]))
        .unwrap();
        assert_eq!(kinds(&saturated_globals(&limits)), ["global_concurrency_saturated"]);
        assert_eq!(clip("abcdef", 3), "abc… [3 more chars]");
        assert_eq!(
            parse_id("nope", "flow_run_id", "get_flow_runs").unwrap_err(),
            "invalid UUID \"nope\" for flow_run_id; pass an id as get_flow_runs lists it"
        );
        let now = time::macros::datetime!(2026-11-27 12:00 UTC);
        assert_eq!(minutes_since(now, Some("2026-11-27T11:35:00Z")), Some(25));
    }
}
