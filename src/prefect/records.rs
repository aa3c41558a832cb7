//! Prefect's objects as this server reads them: the fields the tools use, each with the
//! default Prefect itself applies when an older server leaves it out.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::limits::GlobalLimitRecord;

/// Prefect's own default for the `active` flags of schedules and global concurrency limits.
pub(crate) fn active_by_default() -> bool {
    true
}

/// One of a deployment's schedules.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleRecord {
    #[serde(default = "active_by_default")]
    pub active: bool,
    pub schedule: Value,
}

/// A work pool.
#[derive(Debug, Clone, Deserialize)]
pub struct PoolRecord {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub is_paused: bool,
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    /// Pending and Running runs in the pool; the server sets it when the pool is limited.
    #[serde(default)]
    pub active_slots: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
/// A work queue.
pub struct QueueRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub work_pool_name: Option<String>,
    #[serde(default)]
    pub priority: i64,
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

/// A worker polling a work pool.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerRecord {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub last_heartbeat_time: Option<String>,
}

/// A flow: the Python function that deployments and runs refer to.
#[derive(Debug, Clone, Deserialize)]
pub struct FlowRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub updated: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// One log line of a flow run or of one of its task runs.
#[derive(Debug, Clone, Deserialize)]
pub struct LogRecord {
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub level: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub task_run_id: Option<String>,
}

/// A run's state: its current one, embedded in the run, or one of its state history.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StateRecord {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub state_details: Option<StateDetailsRecord>,
}

/// What a state adds to its type: for a Paused run, whether and what input it waits for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StateDetailsRecord {
    /// The keys of a paused run's input: `schema` (what it asks for), `response` (the answer).
    #[serde(default)]
    pub run_input_keyset: Option<std::collections::BTreeMap<String, String>>,
    /// When a Paused run times out.
    #[serde(default)]
    pub pause_timeout: Option<String>,
    /// A Paused run that gave up its infrastructure, to be rescheduled when resumed.
    #[serde(default)]
    pub pause_reschedule: bool,
}

/// A flow run.
#[derive(Debug, Deserialize)]
pub struct FlowRunRecord {
    pub id: String,
    pub name: Option<String>,
    pub flow_id: Option<String>,
    pub deployment_id: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    #[serde(default)]
    pub state: Option<StateRecord>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub expected_start_time: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// How many times the run has started.
    #[serde(default)]
    pub run_count: i64,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    pub work_pool_name: Option<String>,
    pub work_queue_name: Option<String>,
    pub parent_task_run_id: Option<String>,
    pub infrastructure_pid: Option<String>,
    /// Kept unparsed: only the detail of get_flow_runs shows them.
    pub parameters: Option<Box<RawValue>>,
}

/// A task run: one call of a task inside a flow run.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskRunRecord {
    pub id: String,
    pub name: Option<String>,
    pub task_key: Option<String>,
    pub flow_run_id: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    #[serde(default)]
    pub state: Option<StateRecord>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    pub cache_expiration: Option<String>,
    pub cache_key: Option<String>,
    /// How many times the task has started; null or absent reads as never.
    #[serde(default)]
    pub run_count: Option<i64>,
    #[serde(default)]
    pub empirical_policy: Option<RetryPolicyRecord>,
}

/// A task run's retry settings.
#[derive(Debug, Clone, Deserialize)]
pub struct RetryPolicyRecord {
    /// The task's configured number of retries.
    pub retries: Option<i64>,
}

/// A deployment: a flow made runnable.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub flow_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub work_pool_name: Option<String>,
    pub work_queue_name: Option<String>,
    pub schedules: Option<Vec<ScheduleRecord>>,
    pub created: Option<String>,
    pub updated: Option<String>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub enforce_parameter_schema: bool,
    pub global_concurrency_limit: Option<GlobalLimitRecord>,
    pub concurrency_options: Option<ConcurrencyOptionsRecord>,
    pub entrypoint: Option<String>,
    // Kept unparsed: only the detail of get_deployments shows them.
    pub parameters: Option<Box<RawValue>>,
    pub parameter_openapi_schema: Option<Box<RawValue>>,
    pub job_variables: Option<Box<RawValue>>,
    pub pull_steps: Option<Box<RawValue>>,
}

/// What a deployment does with a run that finds its concurrency limit full.
#[derive(Debug, Clone, Deserialize)]
pub struct ConcurrencyOptionsRecord {
    /// ENQUEUE or CANCEL_NEW.
    #[serde(default)]
    pub collision_strategy: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefect::limits::GlobalLimitRecord;
    use serde_json::json;

    #[test]
    fn schedules_and_global_limits_are_active_unless_they_say_otherwise() {
        let schedule: ScheduleRecord = serde_json::from_value(json!({"schedule": {"interval": 60.0}})).unwrap();
        let limit: GlobalLimitRecord = serde_json::from_value(json!({"id": "l", "name": "n", "limit": 1})).unwrap();
        assert!(schedule.active && limit.active);
        let paused: ScheduleRecord = serde_json::from_value(json!({"active": false, "schedule": {}})).unwrap();
        assert!(!paused.active);
    }
}
