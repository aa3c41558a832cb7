//! Tests of `diagnose_deployment` against a scripted upstream.

use crate::prefect::testing::FakeUpstream;
use crate::tools::testing::*;
use serde_json::{Value, json};

const DEP: &str = "33333333-0000-4000-8000-000000000001";
const FLOW: &str = "22222222-0000-4000-8000-000000000001";

fn deployment(extra: Value) -> Value {
    let mut d = json!({"id": DEP, "name": "nightly", "flow_id": FLOW, "paused": false, "tags": [],
        "work_pool_name": "pool-a", "work_queue_name": "default",
        "schedules": [{"active": true, "schedule": {"cron": "0 6 * * *", "timezone": "UTC"}}],
        "global_concurrency_limit": null, "concurrency_options": null});
    d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    d
}

fn flow_run(id: u32, state_type: &str, state_name: &str, message: Option<&str>) -> Value {
    json!({"id": format!("55555555-0000-4000-8000-{id:012}"), "name": format!("nightly-{id}"),
           "state_type": state_type, "state_name": state_name, "state": {"message": message},
           "expected_start_time": format!("2026-11-27T0{id}:00:00Z"), "end_time": null})
}

/// Answers the deployment tool's five run queries by their shape.
fn runs(recent: Value, late: Value, next: Value, active: Value) -> impl Fn(&Value) -> (u16, Value) {
    move |body: &Value| {
        let filter = &body["flow_runs"];
        let answer = if filter["state"]["name"]["any_"] == json!(["Late"]) {
            late.clone()
        } else if filter["state"]["name"]["any_"] == json!(["Scheduled"]) {
            next.clone()
        } else if filter["state"]["type"]["any_"] == json!(["PENDING", "RUNNING", "CANCELLING"]) {
            active.clone()
        } else {
            recent.clone()
        };
        (200, answer)
    }
}

fn server(deployment: Value) -> FakeUpstream {
    FakeUpstream::new()
        .on("POST", "/api/deployments/filter", 200, json!([deployment]))
        .on("POST", "/api/flows/filter", 200, json!([{"id": FLOW, "name": "etl"}]))
        .answering(
            "POST",
            "/api/flow_runs/filter",
            runs(json!([]), json!([]), json!([flow_run(9, "SCHEDULED", "Scheduled", None)]), json!([])),
        )
        .on("POST", "/api/flow_runs/count", 200, json!(0))
        .on("POST", "/api/concurrency_limits/filter", 200, json!([]))
        .on(
            "POST",
            "/api/work_pools/filter",
            200,
            json!([{"id": "pool-id", "name": "pool-a", "type": "process", "status": "READY", "is_paused": false}]),
        )
        .on("POST", "/api/work_pools/pool-a/queues/filter", 200, json!([{"id": "q-id", "name": "default"}]))
        .on(
            "POST",
            "/api/work_pools/pool-a/workers/filter",
            200,
            json!([{"status": "ONLINE", "last_heartbeat_time": "2026-11-27T11:59:00Z"}]),
        )
}

fn diagnose(fake: &FakeUpstream, arguments: Value) -> (Value, u32) {
    let ctx = context(fake, "http://127.0.0.1:4200/api");
    let result = run(&ctx, "diagnose_deployment", arguments);
    assert_eq!(result.is_error, Some(!structured(&result)["success"].as_bool().unwrap()));
    (structured(&result).clone(), ctx.upstream_requests())
}

fn kinds(result: &Value) -> Vec<String> {
    result["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn healthy_deployment_by_name() {
    let recent = json!([
        flow_run(3, "COMPLETED", "Completed", None),
        flow_run(2, "COMPLETED", "Completed", None),
        flow_run(1, "FAILED", "Failed", Some("boom"))
    ]);
    let fake = server(deployment(json!({}))).answering(
        "POST",
        "/api/flow_runs/filter",
        runs(recent, json!([]), json!([flow_run(9, "SCHEDULED", "Scheduled", None)]), json!([])),
    );
    let (result, requests) = diagnose(&fake, json!({"deployment_name": "etl/nightly"}));
    assert_eq!(kinds(&result), ["recent_failures"]);
    assert_eq!(result["findings"][0]["severity"], "warning");
    assert_eq!(
        result["findings"][0]["evidence"],
        "1 of the last 3 runs failed or crashed; the latest, nightly-1 (55555555-0000-4000-8000-000000000001), ended Failed: boom"
    );
    assert_eq!(result["recent_runs"]["by_state_type"], json!({"COMPLETED": 2, "FAILED": 1}));
    assert_eq!(result["recent_runs"]["last_completed"]["name"], "nightly-3");
    assert_eq!(result["schedules"]["next_scheduled_run"]["expected_start_time"], "2026-11-27T09:00:00+00:00");
    assert_eq!(result["schedules"]["schedules"], json!(["active: cron \"0 6 * * *\", timezone UTC, day_or true"]));
    assert_eq!(result["deployment"]["slug"], "etl/nightly");
    // The name gave the flow: no flow lookup, no tag limits without tags.
    assert_eq!(requests, 9);
    assert_eq!(
        fake.body(0),
        json!({"flows": {"name": {"any_": ["etl"]}}, "deployments": {"name": {"any_": ["nightly"]}}, "limit": 1, "offset": 0})
    );
    let clean = server(deployment(json!({})));
    let (result, _) = diagnose(&clean, json!({"deployment_id": DEP}));
    assert_eq!(result["findings"], json!([]));
    assert_eq!(
        result["verdict"],
        "No problem found: 0 of the last 0 runs completed, next run at 2026-11-27T09:00:00+00:00, work pool 'pool-a' has 1 ONLINE worker(s)."
    );
}

#[test]
fn late_backlog_on_a_pool_without_workers() {
    let late = json!([flow_run(1, "SCHEDULED", "Late", None)]);
    let fake = server(deployment(json!({"tags": ["etl"]})))
        .answering("POST", "/api/flow_runs/filter", runs(late.clone(), late, json!([]), json!([])))
        .on("POST", "/api/flow_runs/count", 200, json!(3))
        .on("POST", "/api/work_pools/pool-a/workers/filter", 200, json!([]));
    let (result, requests) = diagnose(&fake, json!({"deployment_id": DEP}));
    assert_eq!(kinds(&result), ["work_pool_without_workers", "late_backlog", "no_upcoming_runs"]);
    assert_eq!(result["findings"][1]["severity"], "warning");
    assert_eq!(
        result["findings"][1]["evidence"],
        "3 Late run(s); the oldest, nightly-1 (55555555-0000-4000-8000-000000000001), was due at 2026-11-27T01:00:00+00:00 (660 min ago)"
    );
    assert_eq!(
        result["findings"][1]["next_step"],
        "diagnose_flow_run with flow_run_id \"55555555-0000-4000-8000-000000000001\""
    );
    assert_eq!(result["late_runs"]["count"], 3);
    // Worst case: deployment, flow, five run reads, pool, queue, workers, tag limits.
    assert_eq!(requests, 11);
    assert_eq!(
        fake.body_to("/api/flow_runs/count"),
        json!({"flow_runs": {"deployment_id": {"any_": [DEP]}, "state": {"name": {"any_": ["Late"]}}}})
    );
}

#[test]
fn worst_case_names_tag_pool_and_queue_holders_within_fourteen_requests() {
    let late = json!([flow_run(1, "SCHEDULED", "Late", None)]);
    let fake = server(deployment(json!({"tags": ["serial"]})))
        .answering(
            "POST",
            "/api/flow_runs/filter",
            runs(late.clone(), late, json!([]), json!([flow_run(2, "RUNNING", "Running", None)])),
        )
        .on("POST", "/api/flow_runs/count", 200, json!(1))
        .on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            json!([{"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": ["t1"]}]),
        )
        .on("POST", "/api/task_runs/filter", 200, json!([{"id": "t1", "name": "load-1", "flow_run_id": "r9"}]));
    let (result, requests) = diagnose(&full_pool_and_queue(fake, 1), json!({"deployment_id": DEP}));
    assert_eq!(
        kinds(&result),
        [
            "work_pool_concurrency_saturated",
            "work_queue_concurrency_saturated",
            "late_backlog",
            "no_upcoming_runs",
            "tag_concurrency_saturated"
        ]
    );
    for finding in &result["findings"].as_array().unwrap()[..2] {
        assert_eq!(finding["severity"], "cause");
        let evidence = finding["evidence"].as_str().unwrap();
        assert!(
            evidence.ends_with("1 active slot(s) held by flow run nightly-2 (55555555-0000-4000-8000-000000000002)"),
            "{evidence}"
        );
    }
    // Deployment, flow, five run reads, pool, queue, workers, tag limits; then the tag,
    // pool and queue holders.
    assert_eq!(requests, 14);
}

#[test]
fn a_late_backlog_nothing_explains_is_the_cause() {
    let late = json!([flow_run(1, "SCHEDULED", "Late", None)]);
    let fake = server(deployment(json!({})))
        .answering("POST", "/api/flow_runs/filter", runs(late.clone(), late, json!([]), json!([])))
        .on("POST", "/api/flow_runs/count", 200, json!(1));
    let (result, _) = diagnose(&fake, json!({"deployment_id": DEP}));
    assert_eq!(result["findings"][0]["kind"], "late_backlog");
    assert_eq!(result["findings"][0]["severity"], "cause");
}

#[test]
fn paused_deployment_and_full_limit_with_holders() {
    let limit =
        json!({"id": "gcl", "name": format!("deployment:{DEP}"), "limit": 2, "active": true, "active_slots": 2});
    let active = json!([flow_run(1, "RUNNING", "Running", None), flow_run(2, "PENDING", "Pending", None)]);
    let fake = server(deployment(json!({"paused": true, "global_concurrency_limit": limit,
                                           "concurrency_options": {"collision_strategy": "CANCEL_NEW"}})))
    .answering("POST", "/api/flow_runs/filter", runs(json!([]), json!([]), json!([]), active));
    let (result, _) = diagnose(&fake, json!({"deployment_id": DEP}));
    assert_eq!(kinds(&result), ["deployment_paused", "deployment_concurrency_saturated"]);
    assert_eq!(result["findings"][1]["severity"], "warning");
    assert!(
        result["findings"][1]["evidence"]
            .as_str()
            .unwrap()
            .contains("limit 2, 2 active slot(s) held by flow run nightly-1")
    );
    assert_eq!(result["concurrency"]["collision_strategy"], "CANCEL_NEW");
    assert_eq!(result["concurrency"]["active_runs"].as_array().unwrap().len(), 2);
    assert!(result["verdict"].as_str().unwrap().starts_with("The deployment is paused (deployment_paused)"));
}

#[test]
fn a_schedule_without_an_active_flag_is_active_as_in_prefect() {
    let fake = server(deployment(json!({"schedules": [{"schedule": {"interval": 60.0}}]})));
    let (result, _) = diagnose(&fake, json!({"deployment_id": DEP}));
    assert!(!kinds(&result).contains(&"schedule_inactive".to_owned()), "{result}");
    assert_eq!(result["schedules"]["active"], json!(1));
}

#[test]
fn schedules_pools_and_tag_limits() {
    let inactive = deployment(json!({"schedules": [{"active": false, "schedule": {"interval": 60.0}}],
                                     "work_pool_name": null, "tags": ["serial"]}));
    let fake = server(inactive)
        .on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            json!([
            {"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": ["t1"]},
            {"id": "other", "tag": "other", "concurrency_limit": 1, "active_slots": ["t2"]}]),
        )
        .on("POST", "/api/task_runs/filter", 200, json!([{"id": "t1", "name": "load-1", "flow_run_id": "r9"}]));
    let (result, requests) = diagnose(&fake, json!({"deployment_id": DEP}));
    assert_eq!(kinds(&result), ["schedule_inactive", "tag_concurrency_saturated", "no_work_pool"]);
    let evidence = result["findings"][1]["evidence"].as_str().unwrap();
    assert!(evidence.contains("held by task run load-1 (t1) of flow run r9"), "{evidence}");
    assert_eq!(
        fake.body_to("/api/task_runs/filter"),
        json!({"task_runs": {"id": {"any_": ["t1"]}}, "limit": 1, "offset": 0}),
        "only the holders of the deployment's own full limit"
    );
    assert_eq!(result["work_pool"], Value::Null);
    assert_eq!(requests, 9);
    let unscheduled = server(deployment(json!({"schedules": []})));
    assert_eq!(kinds(&diagnose(&unscheduled, json!({"deployment_id": DEP})).0), ["no_schedule"]);
    let missing_pool = server(deployment(json!({})))
        .on("POST", "/api/work_pools/filter", 200, json!([]))
        .on("POST", "/api/work_pools/pool-a/queues/filter", 404, json!({"detail": "Work pool not found."}))
        .on("POST", "/api/work_pools/pool-a/workers/filter", 404, json!({"detail": "Work pool not found."}));
    let (result, _) = diagnose(&missing_pool, json!({"deployment_id": DEP}));
    assert_eq!(kinds(&result), ["work_pool_missing"]);
    assert_eq!(result["work_pool"]["status"], Value::Null);
}

#[test]
fn argument_errors_and_unknown_deployments() {
    let fake = server(deployment(json!({}))).on("POST", "/api/deployments/filter", 200, json!([]));
    let cases = [
        (json!({}), "give deployment_id (UUID) or deployment_name (\"<flow>/<deployment>\")"),
        (
            json!({"deployment_id": DEP, "deployment_name": "a/b"}),
            "give either deployment_id or deployment_name, not both",
        ),
        (
            json!({"deployment_name": "nightly"}),
            "deployment_name \"nightly\" is not \"<flow>/<deployment>\"; get_deployments shows each deployment's slug",
        ),
        (json!({"deployment_id": "x"}), "invalid UUID \"x\" for deployment_id; pass an id as get_deployments lists it"),
    ];
    for (arguments, message) in cases {
        let (result, requests) = diagnose(&fake, arguments);
        assert_eq!(result["error"], json!(format!("Failed to diagnose deployment: {message}")));
        assert_eq!((requests, &result["findings"], &result["deployment"]), (0, &json!([]), &Value::Null));
    }
    let (result, _) = diagnose(&fake, json!({"deployment_name": "etl/gone"}));
    assert_eq!(
        result["error"],
        "Failed to diagnose deployment: deployment etl/gone not found; get_deployments lists the existing deployments"
    );
    let (result, requests) = diagnose(&fake, json!({"deployment_id": DEP}));
    assert_eq!(
        result["error"],
        json!(format!(
            "Failed to diagnose deployment: deployment {DEP} not found; get_deployments lists the existing deployments"
        ))
    );
    assert_eq!(requests, 1);
}
