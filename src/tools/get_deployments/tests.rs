//! Tests of `get_deployments` against a scripted upstream.

use crate::prefect::testing::FakeUpstream;
use crate::tools::format::describe_schedule;
use crate::tools::testing::*;
use serde_json::{Value, json};

const DEP: &str = "22222222-0000-4000-8000-000000000001";
const DEP2: &str = "22222222-0000-4000-8000-000000000002";
const FLOW: &str = "33333333-0000-4000-8000-000000000001";

fn deployment(id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "description": "Hourly", "flow_id": FLOW, "tags": ["etl", "critical"],
        "work_pool_name": "process-pool", "work_queue_name": "critical", "paused": false,
        "enforce_parameter_schema": true, "created": "2026-11-27T10:00:00.5Z", "updated": "2026-11-27T10:00:00Z",
        "schedules": [
            {"active": true, "schedule": {"interval": 3600.0, "anchor_date": "2024-01-01T09:30:15.492230Z", "timezone": "UTC"}},
            {"active": false, "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Berlin", "day_or": true}},
        ],
        "global_concurrency_limit": {"id": "gcl", "name": format!("deployment:{id}"), "limit": 1, "active": true,
                                     "active_slots": 1, "slot_decay_per_second": 0.0},
        "concurrency_options": {"collision_strategy": "ENQUEUE", "grace_period_seconds": 600},
        "parameters": {"source": "s3://x"}, "parameter_openapi_schema": null, "job_variables": {},
        "pull_steps": [{"prefect.deployments.steps.git_clone": {"repository": "r"}}], "entrypoint": "flows/etl.py:extract",
    })
}

fn upstream(deployments: Value) -> FakeUpstream {
    FakeUpstream::new()
        .on("POST", "/api/deployments/filter", 200, deployments)
        .on("POST", "/api/flows/filter", 200, json!([{"id": FLOW, "name": "etl-extract"}]))
        .on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            json!([
                {"id": "v1-etl", "tag": "etl", "concurrency_limit": 5, "active_slots": []},
                {"id": "v1-ml", "tag": "ml", "concurrency_limit": 2, "active_slots": ["t1"]},
                {"id": "v1-critical", "tag": "critical", "concurrency_limit": 1, "active_slots": ["t2"]},
            ]),
        )
}

fn bodies(fake: &FakeUpstream) -> Vec<(String, Value)> {
    fake.requests().iter().enumerate().map(|(i, r)| (r.uri().path().to_owned(), fake.body(i))).collect()
}

fn body_for(fake: &FakeUpstream, path: &str) -> Value {
    bodies(fake).into_iter().find(|(p, _)| p == path).map(|(_, b)| b).unwrap_or_else(|| panic!("no request to {path}"))
}

#[test]
fn compact_items_in_order_with_limits_and_three_requests() {
    let fake = upstream(json!([deployment(DEP, "extract-hourly")]));
    let ctx = context(&fake, "http://127.0.0.1:4200/api");
    let result = run(&ctx, "get_deployments", json!({"filter": {"paused": {"eq_": false}}}));
    let envelope = structured(&result);
    assert_eq!(envelope["success"], json!(true), "{envelope}");
    let top: Vec<&str> = envelope.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["success", "detail", "count", "deployments", "truncated", "error"]);
    assert_eq!(envelope["detail"], json!(false));
    let item = &envelope["deployments"][0];
    let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "slug",
            "description",
            "flow_id",
            "flow_name",
            "tags",
            "work_pool_name",
            "work_queue_name",
            "schedules",
            "created",
            "updated",
            "paused",
            "enforce_parameter_schema",
            "global_concurrency_limit",
            "tag_concurrency_limits",
            "concurrency_options"
        ]
    );
    assert_eq!(item["slug"], json!("etl-extract/extract-hourly"));
    assert_eq!(item["created"], json!("2026-11-27T10:00:00.500000+00:00"));
    assert_eq!(
        item["global_concurrency_limit"],
        json!({"id": "gcl", "name": format!("deployment:{DEP}"), "limit": 1,
        "active": true, "active_slots": 1, "slot_decay_per_second": 0.0, "over_limit": true})
    );
    assert_eq!(
        item["tag_concurrency_limits"],
        json!([
            {"id": "v1-etl", "name": "tag:etl", "limit": 5, "active": false, "active_slots": 0, "slot_decay_per_second": 0.0, "over_limit": false},
            {"id": "v1-critical", "name": "tag:critical", "limit": 1, "active": true, "active_slots": 1, "slot_decay_per_second": 0.0, "over_limit": true},
        ])
    );
    assert_eq!(item["concurrency_options"], json!({"collision_strategy": "ENQUEUE"}));
    assert_eq!(
        item["schedules"][0]["schedule"],
        json!("interval 3600 seconds, anchor 2024-01-01T09:30:15.492230+00:00, timezone UTC")
    );
    assert_eq!(item["schedules"][1]["active"], json!(false));
    assert_eq!(item["schedules"][1]["schedule_json"]["cron"], json!("0 6 * * *"));
    assert_eq!(ctx.upstream_requests(), 3);
    assert_eq!(
        body_for(&fake, "/api/deployments/filter"),
        json!({"deployments": {"paused": {"eq_": false}}, "sort": "NAME_ASC", "limit": 51, "offset": 0})
    );
    assert_eq!(
        body_for(&fake, "/api/flows/filter"),
        json!({"deployments": {"paused": {"eq_": false}}, "limit": 200, "offset": 0}),
        "the flows of matching deployments, read alongside them"
    );
    assert_eq!(body_for(&fake, "/api/concurrency_limits/filter"), json!({"limit": 200, "offset": 0}));
}

#[test]
fn bare_deployments_have_empty_lists_and_nulls() {
    let fake = upstream(json!([{"id": DEP, "name": "load-bare", "flow_id": null, "tags": [], "schedules": [],
                                "description": null, "work_pool_name": null, "paused": false}]));
    let ctx = context(&fake, "http://127.0.0.1:4200/api");
    let result = run(&ctx, "get_deployments", json!({}));
    let item = &structured(&result)["deployments"][0];
    assert_eq!(item["slug"], json!(null));
    assert_eq!(item["schedules"], json!([]));
    assert_eq!(item["tags"], json!([]));
    assert_eq!(item["global_concurrency_limit"], json!(null));
    assert_eq!(item["concurrency_options"], json!(null));
    assert_eq!(item["tag_concurrency_limits"], json!([]));
    assert_eq!(ctx.upstream_requests(), 3, "the flows read in the first round; no lookup by id after it");
}

#[test]
fn detail_adds_runs_pool_and_hints() {
    let fake = upstream(json!([deployment(DEP, "extract-hourly")]))
        .on("POST", "/api/flow_runs/filter", 200, json!([
            {"id": "r1", "name": "late-one", "state_name": "Late", "created": "2026-11-27T09:00:00Z", "start_time": null, "deployment_id": DEP},
            {"id": "r2", "name": "running", "state_name": "Running", "created": "2026-11-27T08:00:00Z", "start_time": "2026-11-27T08:00:01Z", "deployment_id": DEP},
        ]))
        .on("POST", "/api/work_pools/filter", 200, json!([{"id": "p1", "name": "process-pool", "type": "process", "status": "READY",
                                                             "is_paused": false, "concurrency_limit": 10, "description": "ETL"}]))
        .on("POST", "/api/work_pools/process-pool/queues/filter", 200, json!([
            {"id": "q1", "name": "critical", "concurrency_limit": 2, "priority": 1, "is_paused": false}]))
        .on("POST", "/api/work_pools/process-pool/workers/filter", 200, json!([{"status": "ONLINE"}]));
    let ctx = context(&fake, "http://127.0.0.1:4200/api");
    let result = run(&ctx, "get_deployments", json!({"filter": {"id": {"any_": [DEP]}}}));
    let envelope = structured(&result);
    assert_eq!(envelope["detail"], json!(true), "{envelope}");
    let item = &envelope["deployments"][0];
    let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).skip(17).collect();
    assert_eq!(
        keys,
        [
            "parameters",
            "parameter_openapi_schema",
            "job_variables",
            "recent_runs",
            "work_pool",
            "diagnostic_hints",
            "pull_steps",
            "entrypoint"
        ]
    );
    assert_eq!(item["parameter_openapi_schema"], json!({}));
    assert_eq!(
        item["recent_runs"][0],
        json!({"id": "r1", "name": "late-one", "state": "Late",
                                               "created": "2026-11-27T09:00:00+00:00", "start_time": null})
    );
    assert_eq!(item["work_pool"]["active_workers"], json!(1));
    assert_eq!(item["work_pool"]["concurrency_limit"], json!(10));
    assert_eq!(item["work_pool"]["description"], json!("ETL"));
    assert_eq!(item["work_pool"]["work_queue_count"], json!(1));
    assert_eq!(
        item["diagnostic_hints"],
        json!([format!(
            "Deployment concurrency limit 'deployment:{DEP}' is likely blocking runs: 1 recent run(s) are \
                        Running against limit=1, and 1 recent run(s) are Late for this deployment."
        )])
    );
    assert_eq!(ctx.upstream_requests(), 7);
    assert_eq!(
        body_for(&fake, "/api/flow_runs/filter"),
        json!({"flow_runs": {"deployment_id": {"any_": [DEP]}}, "sort": "START_TIME_DESC", "limit": 10, "offset": 0})
    );
    assert_eq!(
        body_for(&fake, "/api/work_pools/filter"),
        json!({"work_pools": {"name": {"any_": ["process-pool"]}}, "limit": 1, "offset": 0})
    );
}

#[test]
fn each_detail_deployment_gets_its_own_run_budget() {
    // A full shared page (200 runs, all of the first deployment) sends the second
    // deployment to its own query.
    let many: Vec<Value> = (0..200)
        .map(|i| json!({"id": format!("a{i}"), "name": "a", "state_name": "Completed", "deployment_id": DEP}))
        .collect();
    let fake = upstream(json!([deployment(DEP, "a"), deployment(DEP2, "b")])).on(
        "POST",
        "/api/flow_runs/filter",
        200,
        json!(many),
    );
    let ctx = context(&fake, "http://127.0.0.1:4200/api");
    let result = run(&ctx, "get_deployments", json!({"filter": {"id": {"any_": [DEP, DEP2]}}}));
    let deployments = structured(&result)["deployments"].as_array().unwrap().clone();
    assert_eq!(deployments[0]["recent_runs"].as_array().unwrap().len(), 10);
    assert_eq!(deployments[1]["recent_runs"].as_array().unwrap().len(), 10, "read on its own");
    let runs: Vec<Value> =
        bodies(&fake).into_iter().filter(|(p, _)| p == "/api/flow_runs/filter").map(|(_, b)| b).collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["limit"], json!(200));
    assert_eq!(
        runs[1],
        json!({"flow_runs": {"deployment_id": {"any_": [DEP2]}}, "sort": "START_TIME_DESC", "limit": 10, "offset": 0})
    );
    // The pool could not be read (no routes): the deployment still comes back, with a hint.
    assert_eq!(deployments[1]["work_pool"], json!(null));
    let hints = deployments[1]["diagnostic_hints"].as_array().unwrap();
    assert!(
        hints.iter().any(|h| h.as_str().unwrap().starts_with("Work pool 'process-pool' could not be read: 404")),
        "{hints:?}"
    );
}

#[test]
fn bad_filters_fail_before_any_request() {
    let fake = FakeUpstream::new();
    let ctx = context(&fake, "http://127.0.0.1:4200/api");
    let result = run(&ctx, "get_deployments", json!({"filter": {"bogus": {"eq_": 1}}}));
    assert_eq!(result.is_error, Some(true));
    let envelope = structured(&result);
    assert_eq!(envelope["deployments"], json!([]));
    assert!(envelope.get("detail").is_none());
    assert!(
        envelope["error"]
            .as_str()
            .unwrap()
            .starts_with("Failed to fetch deployments: unknown filter key `bogus`; allowed: ")
    );
    let result = run(&ctx, "get_deployments", json!({"filter": {"id": {"any_": ["not-a-uuid"]}}}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("not a valid UUID"));
    assert!(fake.requests().is_empty());
}

#[test]
fn schedules_read_as_text() {
    assert_eq!(
        describe_schedule(&json!({"cron": "0 6 * * *", "timezone": "America/New_York", "day_or": true})),
        "cron \"0 6 * * *\", timezone America/New_York, day_or true"
    );
    assert_eq!(
        describe_schedule(&json!({"cron": "* * * * *", "timezone": null})),
        "cron \"* * * * *\", timezone none, day_or true"
    );
    assert_eq!(describe_schedule(&json!({"interval": 90.5, "timezone": "UTC"})), "interval 90.5 seconds, timezone UTC");
    assert_eq!(
        describe_schedule(&json!({"rrule": "DTSTART:20200101T000000\nFREQ=WEEKLY;BYDAY=MO", "timezone": "UTC"})),
        "rrule \"DTSTART:20200101T000000\\nFREQ=WEEKLY;BYDAY=MO\", timezone UTC"
    );
}
