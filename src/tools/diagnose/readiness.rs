//! Work-pool readiness: whether a pool, its queue and its workers can start a run.

use super::*;

/// A work pool, one of its queues and its workers, as read for a diagnosis.
#[derive(Debug)]
pub(super) struct Readiness {
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
pub(super) async fn read_readiness<F: Fetch>(
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
        prefect.find_one::<PoolRecord>("work_pools", "name", pool_name),
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
    pub(super) async fn read_holders<F: Fetch>(&mut self, prefect: &PrefectClient<'_, F>) -> Result<(), PrefectError> {
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

    pub(super) fn summary(&self) -> PoolReadiness {
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
    pub(super) fn findings(&self, saturation: Severity) -> Vec<Finding> {
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

fn status(pool: &PoolRecord) -> &str {
    pool.status.as_deref().unwrap_or("unknown")
}
