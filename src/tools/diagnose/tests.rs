//! Tests of the shared diagnosis checks.

use super::*;
use serde_json::Value;

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
    let push =
        readiness(Some(pool("cloud-run:push", false, None, None)), Some(json!({"id": "q1", "name": "q"})), json!([]));
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
    assert!(conclude(&mut findings[1..], "fine".into()).starts_with("No blocking cause found; warning late_backlog"));
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
        parse_id("nope", "flow_run_id", "get_flow_runs").unwrap_err().to_string(),
        "invalid UUID \"nope\" for flow_run_id; pass an id as get_flow_runs lists it"
    );
    let now = time::macros::datetime!(2026-11-27 12:00 UTC);
    assert_eq!(minutes_since(now, Some("2026-11-27T11:35:00Z")), Some(25));
}
