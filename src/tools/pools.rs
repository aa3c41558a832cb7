//! Work-pool shapes shared by `get_work_pools` and the detail mode of `get_deployments`:
//! the compact pool, and the detail that adds its queues, ONLINE workers and hints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::prefect::records::{PoolRecord, WorkerRecord};
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

/// A work pool; the detail fields are present only in detail results.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WorkPool {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// READY (an ONLINE worker polls it), NOT_READY or PAUSED.
    pub status: Option<String>,
    pub is_paused: bool,
    /// Most flow runs the pool runs at once; null when unlimited.
    pub concurrency_limit: Option<i64>,
    #[serde(flatten)]
    pub detail: Option<PoolDetail>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PoolDetail {
    /// The pool's queues in server order (by priority).
    pub work_queues: Vec<WorkQueueInfo>,
    pub work_queue_count: usize,
    /// Workers of this pool whose status is ONLINE.
    pub active_workers: usize,
    /// Paused or concurrency-limited queues that can hold runs back.
    pub diagnostic_hints: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WorkQueueInfo {
    pub id: String,
    pub name: String,
    pub concurrency_limit: Option<i64>,
    pub priority: i64,
    pub is_paused: bool,
}

/// What the detail adds to a pool record, read from the pool's queue and worker lists.
#[derive(Debug)]
pub struct PoolExtras {
    queues: Vec<WorkQueueInfo>,
    active_workers: usize,
}

/// Largest queue or worker page read per pool (the server's maximum page size).
const PAGE: usize = 200;

/// Reads the queues and workers of pool `name` (two concurrent requests).
pub async fn fetch_extras<F: Fetch>(prefect: &PrefectClient<'_, F>, name: &str) -> Result<PoolExtras, PrefectError> {
    let pool = path_segment(name);
    let (queues_path, workers_path) =
        (format!("work_pools/{pool}/queues/filter"), format!("work_pools/{pool}/workers/filter"));
    let body = json!({"limit": PAGE, "offset": 0});
    let (queues, workers) = futures::try_join!(
        prefect.post::<Vec<WorkQueueInfo>, _>(&queues_path, &body),
        prefect.post::<Vec<WorkerRecord>, _>(&workers_path, &body),
    )?;
    let active_workers = workers.iter().filter(|w| w.status.as_deref() == Some("ONLINE")).count();
    Ok(PoolExtras { queues, active_workers })
}

/// Reads the queues and workers of every pool concurrently, in the order given.
pub async fn fetch_all_extras<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    names: &[&str],
) -> Vec<Result<PoolExtras, PrefectError>> {
    futures::future::join_all(names.iter().map(|name| fetch_extras(prefect, name))).await
}

impl WorkPool {
    pub fn compact(record: PoolRecord) -> Self {
        WorkPool {
            id: record.id,
            name: record.name,
            kind: record.kind,
            status: record.status,
            is_paused: record.is_paused,
            concurrency_limit: record.concurrency_limit,
            detail: None,
        }
    }

    pub fn detailed(record: PoolRecord, extras: PoolExtras) -> Self {
        let description = record.description.clone();
        let diagnostic_hints = queue_hints(&extras.queues, extras.active_workers);
        let detail = PoolDetail {
            work_queue_count: extras.queues.len(),
            work_queues: extras.queues,
            active_workers: extras.active_workers,
            diagnostic_hints,
            description,
        };
        WorkPool { detail: Some(detail), ..WorkPool::compact(record) }
    }
}

/// Per queue, in order: a paused queue starts nothing; a limited queue is a likely
/// bottleneck for Late runs when workers are online, and secondary when none are.
fn queue_hints(queues: &[WorkQueueInfo], active_workers: usize) -> Vec<String> {
    let mut hints = Vec::new();
    for queue in queues {
        let name = &queue.name;
        if queue.is_paused {
            hints.push(format!("Work queue '{name}' is paused; runs assigned to it will not start."));
        }
        if let Some(limit) = queue.concurrency_limit {
            hints.push(if active_workers > 0 {
                format!(
                    "Work queue '{name}' has concurrency_limit={limit}. If runs assigned to this queue are Late while \
                     the work pool has active workers, the queue concurrency limit is a likely bottleneck."
                )
            } else {
                format!(
                    "Work queue '{name}' has concurrency_limit={limit}, but the work pool has no active workers; check \
                     worker health before attributing late runs to queue concurrency."
                )
            });
        }
    }
    hints
}

/// Percent-encodes a name for use as one URL path segment (pool names may contain `/`,
/// `?`, `#`, spaces or non-ASCII).
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(name: &str, limit: Option<i64>, paused: bool) -> WorkQueueInfo {
        WorkQueueInfo {
            id: format!("id-{name}"),
            name: name.into(),
            concurrency_limit: limit,
            priority: 1,
            is_paused: paused,
        }
    }

    #[test]
    fn hints_follow_queue_order_and_worker_presence() {
        let queues = [queue("critical", Some(2), false), queue("backlog", None, true), queue("both", Some(1), true)];
        let hints = queue_hints(&queues, 1);
        assert_eq!(hints.len(), 4);
        assert!(
            hints[0].starts_with("Work queue 'critical' has concurrency_limit=2. If runs")
                && hints[0].contains("likely bottleneck")
        );
        assert_eq!(hints[1], "Work queue 'backlog' is paused; runs assigned to it will not start.");
        assert!(hints[2].starts_with("Work queue 'both' is paused"));
        assert!(hints[3].starts_with("Work queue 'both' has concurrency_limit=1."));
        let idle = queue_hints(&queues[..1], 0);
        assert_eq!(
            idle,
            ["Work queue 'critical' has concurrency_limit=2, but the work pool has no active workers; check worker \
              health before attributing late runs to queue concurrency."]
        );
        assert!(queue_hints(&[queue("default", None, false)], 0).is_empty());
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("process-pool_1.x~"), "process-pool_1.x~");
        assert_eq!(path_segment("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    }
}
