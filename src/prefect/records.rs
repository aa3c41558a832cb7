//! Prefect's objects as this server reads them: the fields the tools use, each with the
//! default Prefect itself applies when an older server leaves it out.

use serde::Deserialize;
use serde_json::Value;

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
