//! Work-pool shapes shared by `get_work_pools` and the detail mode of `get_deployments`:
//! the compact pool, and the detail that adds its queues, ONLINE workers and hints (read by
//! [`crate::prefect::pools`]).

use schemars::JsonSchema;
use serde::Serialize;

use crate::prefect::pools::PoolContents;
/// Kept here for the diagnose tools, which name pools in their read paths.
use crate::prefect::records::{PoolRecord, QueueRecord};

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

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WorkQueueInfo {
    pub id: String,
    pub name: String,
    pub concurrency_limit: Option<i64>,
    pub priority: i64,
    pub is_paused: bool,
}

impl From<QueueRecord> for WorkQueueInfo {
    fn from(queue: QueueRecord) -> Self {
        WorkQueueInfo {
            id: queue.id,
            name: queue.name,
            concurrency_limit: queue.concurrency_limit,
            priority: queue.priority,
            is_paused: queue.is_paused,
        }
    }
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

    pub fn detailed(record: PoolRecord, contents: PoolContents) -> Self {
        let description = record.description.clone();
        let queues: Vec<WorkQueueInfo> = contents.queues.into_iter().map(WorkQueueInfo::from).collect();
        let diagnostic_hints = queue_hints(&queues, contents.active_workers);
        let detail = PoolDetail {
            work_queue_count: queues.len(),
            work_queues: queues,
            active_workers: contents.active_workers,
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
}
