//! Tests of `diagnose_flow_run` against a scripted upstream.

use super::compact_message;
use crate::prefect::testing::FakeUpstream;
use crate::tools::testing::*;
use crate::upstream::FetchError;
use serde_json::{Value, json};

const RUN: &str = "11111111-0000-4000-8000-000000000001";
const FLOW: &str = "22222222-0000-4000-8000-000000000001";
const DEP: &str = "33333333-0000-4000-8000-000000000001";
const HOLDER: &str = "44444444-0000-4000-8000-000000000001";
const WAITER: &str = "44444444-0000-4000-8000-000000000002";

fn run(state_type: &str, state_name: &str, extra: Value) -> Value {
    let mut run = json!({
        "id": RUN, "name": "nightly-1", "flow_id": FLOW, "deployment_id": null,
        "state_type": state_type, "state_name": state_name,
        "state": {"type": state_type, "name": state_name, "message": null, "timestamp": "2026-11-27T11:30:00Z"},
        "expected_start_time": "2026-11-27T11:35:00Z", "start_time": null, "end_time": null, "run_count": 0,
        "tags": ["nightly"], "work_pool_name": null, "work_queue_name": null,
    });
    run.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    run
}

fn late(extra: Value) -> Value {
    let mut base = json!({"deployment_id": DEP, "work_pool_name": "pool-a", "work_queue_name": "default"});
    base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    run("SCHEDULED", "Late", base)
}

fn deployment(limit: Value) -> Value {
    json!([{"id": DEP, "name": "nightly", "flow_id": FLOW, "paused": false, "tags": [],
            "work_pool_name": "pool-a", "work_queue_name": "default", "schedules": [],
            "global_concurrency_limit": limit, "concurrency_options": {"collision_strategy": "ENQUEUE"}}])
}

fn pool(paused: bool) -> Value {
    json!([{"id": "pool-id", "name": "pool-a", "type": "process", "status": if paused { "PAUSED" } else { "READY" },
            "is_paused": paused, "concurrency_limit": null, "active_slots": null}])
}

fn online() -> Value {
    json!([{"name": "w1", "status": "ONLINE", "last_heartbeat_time": "2026-11-27T11:59:00Z"}])
}

fn task(id: &str, name: &str, state_type: &str, state_name: &str, tags: Value, message: Option<&str>) -> Value {
    json!({"id": id, "name": name, "flow_run_id": RUN, "state_type": state_type, "state_name": state_name,
           "state": {"message": message}, "end_time": null, "tags": tags})
}

/// A server with `run`; everything else is empty unless a test adds routes.
fn server(run: Value) -> FakeUpstream {
    FakeUpstream::new()
        .answering("POST", "/api/flow_runs/filter", move |body| {
            let wanted = &body["flow_runs"]["id"]["any_"][0];
            (200, if *wanted == json!(RUN) { json!([run]) } else { json!([]) })
        })
        .on("POST", "/api/flows/filter", 200, json!([{"id": FLOW, "name": "etl"}]))
        .on(
            "GET",
            "/api/flow_run_states/",
            200,
            json!([
                {"type": "SCHEDULED", "name": "Late", "timestamp": "2026-11-27T11:40:00Z", "message": ""},
                {"type": "SCHEDULED", "name": "Scheduled", "timestamp": "2026-11-27T11:30:00Z", "message": null},
            ]),
        )
        .on("POST", "/api/task_runs/filter", 200, json!([]))
        .on("POST", "/api/logs/filter", 200, json!([]))
        .on("POST", "/api/concurrency_limits/filter", 200, json!([]))
        .on("POST", "/api/v2/concurrency_limits/filter", 200, json!([]))
        .on("POST", "/api/work_pools/filter", 200, pool(false))
        .on("POST", "/api/work_pools/pool-a/queues/filter", 200, json!([{"id": "q-id", "name": "default"}]))
        .on("POST", "/api/work_pools/pool-a/workers/filter", 200, online())
        .on("POST", "/api/deployments/filter", 200, deployment(Value::Null))
}

fn diagnose(fake: &FakeUpstream) -> (Value, u32) {
    let ctx = context(fake, "http://127.0.0.1:4200/api");
    let result = run_tool(&ctx);
    (result, ctx.upstream_requests())
}

fn run_tool(ctx: &crate::tools::ToolContext<'_, FakeUpstream>) -> Value {
    let result = crate::tools::testing::run(ctx, "diagnose_flow_run", json!({"flow_run_id": RUN}));
    let value = structured(&result).clone();
    assert_eq!(result.is_error, Some(!value["success"].as_bool().unwrap()));
    value
}

fn top(result: &Value) -> &Value {
    &result["findings"][0]
}

fn paths(fake: &FakeUpstream) -> Vec<String> {
    let mut paths: Vec<String> = fake.requests().iter().map(|r| format!("{} {}", r.method(), r.uri().path())).collect();
    paths.sort();
    paths
}

#[test]
fn late_run_on_a_pool_without_workers() {
    let fake = server(late(json!({}))).on("POST", "/api/work_pools/pool-a/workers/filter", 200, json!([])).on(
        "POST",
        "/api/work_pools/filter",
        200,
        pool(false),
    );
    let (result, requests) = diagnose(&fake);
    assert_eq!(top(&result)["kind"], "work_pool_without_workers");
    assert_eq!(top(&result)["severity"], "cause");
    assert_eq!(top(&result)["object"], json!({"type": "work_pool", "id": "pool-id", "name": "pool-a"}));
    assert!(result["verdict"].as_str().unwrap().starts_with("No worker is polling the work pool"));
    assert_eq!(result["findings"][1]["kind"], "flow_run_late");
    assert!(result["findings"][1]["evidence"].as_str().unwrap().contains("25 min ago"), "{result}");
    assert_eq!(result["work_pool"]["workers_online"], 0);
    // Never started: no task runs, logs or limits are read.
    assert_eq!(requests, 7);
    assert!(!paths(&fake).iter().any(|p| p.contains("task_runs") || p.contains("logs") || p.contains("concurrency")));
    // State history comes oldest first, without empty messages.
    assert_eq!(result["state_history"][0]["name"], "Scheduled");
    assert_eq!(
        result["state_history"][1],
        json!({"timestamp": "2026-11-27T11:40:00+00:00", "type": "SCHEDULED", "name": "Late", "message": null})
    );
    assert_eq!(result["flow_run"]["deployment"], "etl/nightly");
}

#[test]
fn workers_first_then_the_paused_queue_then_the_paused_pool() {
    let paused_queue = server(late(json!({}))).on(
        "POST",
        "/api/work_pools/pool-a/queues/filter",
        200,
        json!([{"id": "q-id", "name": "default", "is_paused": true, "status": "PAUSED"}]),
    );
    let (result, _) = diagnose(&paused_queue);
    assert_eq!(top(&result)["kind"], "work_queue_paused");
    assert_eq!(top(&result)["object"], json!({"type": "work_queue", "id": "q-id", "name": "default"}));
    assert!(
        top(&result)["next_step"].as_str().unwrap().contains("prefect work-queue resume 'default' --pool 'pool-a'")
    );
    let body = paused_queue.requests().iter().position(|r| r.uri().path().ends_with("queues/filter")).unwrap();
    assert_eq!(paused_queue.body(body)["work_queues"], json!({"name": {"any_": ["default"]}}));

    let paused_pool = server(late(json!({}))).on("POST", "/api/work_pools/filter", 200, pool(true));
    let (result, _) = diagnose(&paused_pool);
    assert_eq!(top(&result)["kind"], "work_pool_paused");
    assert!(top(&result)["next_step"].as_str().unwrap().contains("prefect work-pool resume 'pool-a'"));
}

#[test]
fn late_run_behind_a_full_deployment_limit_names_the_holder() {
    let limit =
        json!({"id": "gcl", "name": format!("deployment:{DEP}"), "limit": 1, "active": true, "active_slots": 1});
    let fake = server(late(json!({}))).on("POST", "/api/deployments/filter", 200, deployment(limit)).answering(
        "POST",
        "/api/flow_runs/filter",
        |body| {
            if body["flow_runs"]["id"]["any_"][0] == json!(RUN) {
                return (200, json!([late(json!({}))]));
            }
            assert_eq!(body["flow_runs"]["state"]["type"]["any_"], json!(["PENDING", "RUNNING", "CANCELLING"]));
            (200, json!([{"id": "55555555-0000-4000-8000-000000000001", "name": "nightly-0", "state_name": "Running"}]))
        },
    );
    let (result, requests) = diagnose(&fake);
    assert_eq!(top(&result)["kind"], "deployment_concurrency_saturated");
    assert_eq!(top(&result)["object"]["name"], json!(format!("deployment:{DEP}")));
    assert_eq!(
        top(&result)["evidence"],
        "deployment 'etl/nightly' limit 1, 1 active slot(s) held by flow run nightly-0 \
         (55555555-0000-4000-8000-000000000001) (collision strategy ENQUEUE)"
    );
    assert_eq!(requests, 8);
}

#[test]
fn late_run_behind_full_pool_and_queue_limits_names_their_holders() {
    let holder = |n: u8| {
        json!({"id": format!("66666666-0000-4000-8000-00000000000{n}"), "name": format!("busy-{n}"),
                                "state_name": "Running"})
    };
    let fake =
        full_pool_and_queue(server(late(json!({}))), 4).answering("POST", "/api/flow_runs/filter", move |body| {
            if body["flow_runs"]["id"]["any_"][0] == json!(RUN) {
                return (200, json!([late(json!({}))]));
            }
            assert_eq!(body["flow_runs"]["state"]["type"]["any_"], json!(["PENDING", "RUNNING", "CANCELLING"]));
            assert_eq!(body["limit"], 3);
            match (&body["work_pools"], &body["work_pool_queues"]) {
                (pool, Value::Null) if *pool == json!({"name": {"any_": ["pool-a"]}}) => {
                    (200, json!([holder(1), holder(2), holder(3)]))
                }
                (Value::Null, queue) if *queue == json!({"id": {"any_": ["q-id"]}}) => (200, json!([holder(1)])),
                other => panic!("unexpected holder filter {other:?}"),
            }
        });
    let (result, requests) = diagnose(&fake);
    let kinds: Vec<&str> = result["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["work_pool_concurrency_saturated", "work_queue_concurrency_saturated", "flow_run_late"]);
    let [pool, queue] = [&result["findings"][0], &result["findings"][1]];
    assert_eq!((&pool["severity"], &queue["severity"]), (&json!("cause"), &json!("cause")));
    assert_eq!(
        pool["evidence"],
        "work pool 'pool-a' limit 4, 4 active slot(s) held by flow run \
         busy-1 (66666666-0000-4000-8000-000000000001), busy-2 (66666666-0000-4000-8000-000000000002), \
         busy-3 (66666666-0000-4000-8000-000000000003) and 1 more"
    );
    assert_eq!(
        queue["evidence"],
        "work queue 'default' limit 1, 1 active slot(s) held by flow run busy-1 (66666666-0000-4000-8000-000000000001)"
    );
    assert!(pool["next_step"].as_str().unwrap().starts_with("`prefect work-pool slots 'pool-a'` lists every holder"));
    // Run, states, flow, deployment, pool, queue, workers, then the two holder reads.
    assert_eq!(requests, 9);
}

#[test]
fn running_run_with_a_task_waiting_on_a_full_tag_limit() {
    let running = run("RUNNING", "Running", json!({"start_time": "2026-11-27T11:50:00Z", "run_count": 1}));
    let fake = server(running)
        .on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            json!([{"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": [HOLDER]},
                   {"id": "other", "tag": "unrelated", "concurrency_limit": 1, "active_slots": ["x"]}]),
        )
        .answering("POST", "/api/task_runs/filter", |body| {
            if body["task_runs"]["id"]["any_"] == json!([HOLDER]) {
                let mut holder = task(HOLDER, "load", "RUNNING", "Running", json!(["serial"]), None);
                holder["flow_run_id"] = json!("other-run");
                return (200, json!([holder]));
            }
            (200, json!([task(WAITER, "extract", "SCHEDULED", "AwaitingConcurrencySlot", json!(["serial"]), None)]))
        });
    let (result, requests) = diagnose(&fake);
    assert_eq!(top(&result)["kind"], "tag_concurrency_saturated");
    assert_eq!(top(&result)["object"], json!({"type": "concurrency_limit", "id": "tl", "name": "tag:serial"}));
    assert_eq!(
        top(&result)["evidence"],
        json!(format!(
            "tag 'serial' limit 1, 1 active slot(s) held by task run load ({HOLDER}) of flow run other-run; \
             waiting here: extract ({WAITER}) is AwaitingConcurrencySlot"
        ))
    );
    assert_eq!(result["findings"].as_array().unwrap().len(), 1, "{result}");
    assert_eq!(result["task_runs_by_state"], json!({"AwaitingConcurrencySlot": 1}));
    // Run, states, flow, tasks, logs, tag and global limits, holders; no pool reads while Running.
    assert_eq!(requests, 8);
    let logs = fake.requests().iter().position(|r| r.uri().path() == "/api/logs/filter").unwrap();
    assert_eq!(fake.body(logs)["logs"], json!({"flow_run_id": {"any_": [RUN]}, "level": {"ge_": 40}}));
    assert_eq!(fake.body(logs)["sort"], "TIMESTAMP_DESC");
}

#[test]
fn worst_case_pending_run_stays_within_twelve_requests() {
    let pending = late(json!({"state_type": "PENDING", "state_name": "Pending", "run_count": 1,
                              "start_time": null, "deployment_id": DEP}));
    let fake = server(pending)
        .on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            json!([{"id": "tl", "tag": "serial", "concurrency_limit": 1, "active_slots": [HOLDER]}]),
        )
        .answering("POST", "/api/task_runs/filter", |body| {
            if body["task_runs"]["id"].is_object() {
                return (200, json!([task(HOLDER, "load", "RUNNING", "Running", json!(["serial"]), None)]));
            }
            (200, json!([task(WAITER, "extract", "PENDING", "Pending", json!(["serial"]), None)]))
        })
        .on("POST", "/api/work_pools/pool-a/workers/filter", 200, json!([]));
    let (result, requests) = diagnose(&fake);
    assert_eq!(requests, 12);
    let kinds: Vec<&str> = result["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["tag_concurrency_saturated", "work_pool_without_workers", "stuck_pending"]);
    // The worker that took a Pending run is gone: that holds the run too.
    assert_eq!(result["findings"][1]["severity"], "cause");
    // Who took the run is context once a cause is known.
    assert_eq!(result["findings"][2]["severity"], "info");
}

#[test]
fn pending_run_with_ready_infrastructure_is_stuck_pending() {
    let pending = late(json!({"state_type": "PENDING", "state_name": "Pending", "run_count": 0,
        "state": {"type": "PENDING", "name": "Pending", "timestamp": "2026-11-27T11:20:00Z"}}));
    let (result, requests) = diagnose(&server(pending));
    assert_eq!((&top(&result)["kind"], &top(&result)["severity"]), (&json!("stuck_pending"), &json!("warning")));
    assert_eq!(
        top(&result)["evidence"],
        "Pending since 2026-11-27T11:20:00+00:00 (40 min ago): a worker of work pool 'pool-a' picked the run up; \
         no infrastructure is recorded for it yet (infrastructure_pid unset: submission has not finished or failed)"
    );
    assert!(result["verdict"].as_str().unwrap().starts_with("No blocking cause found; warning stuck_pending"));
    assert_eq!(result["work_pool"]["workers_online"], 1);
    assert_eq!(requests, 11);
}

#[test]
fn pending_run_submitted_to_infrastructure_or_created_pending() {
    let submitted = late(json!({"state_type": "PENDING", "state_name": "Pending", "infrastructure_pid": "host:4242",
        "state": {"type": "PENDING", "name": "Pending", "timestamp": "2026-11-27T11:55:00Z"}}));
    let (result, _) = diagnose(&server(submitted));
    assert_eq!(
        top(&result)["evidence"],
        "Pending since 2026-11-27T11:55:00+00:00 (5 min ago): a worker of work pool 'pool-a' picked the run up; \
         submitted it to infrastructure host:4242, which has not reported Running"
    );
    let direct = run("PENDING", "Pending", json!({"state": {"type": "PENDING", "timestamp": "2026-11-27T11:58:00Z"}}));
    let (result, requests) = diagnose(&server(direct));
    assert!(
        top(&result)["evidence"].as_str().unwrap().contains("(2 min ago): the run was created Pending by the process"),
        "{result}"
    );
    // No pool to read: run, states, flow, tasks, logs and the two limit lists.
    assert_eq!(requests, 7);
}

#[test]
fn running_run_names_its_running_tasks_and_the_limits_they_fill() {
    const OWN: &str = "44444444-0000-4000-8000-000000000003";
    let running = run("RUNNING", "Running", json!({"start_time": "2026-11-27T11:50:00Z", "run_count": 1}));
    let fake = server(running)
        .on(
            "POST",
            "/api/concurrency_limits/filter",
            200,
            json!([{"id": "tl", "tag": "serial", "concurrency_limit": 2, "active_slots": [OWN, HOLDER]},
                   {"id": "room", "tag": "db", "concurrency_limit": 5, "active_slots": [OWN]}]),
        )
        .answering("POST", "/api/task_runs/filter", |body| {
            if body["task_runs"]["id"].is_object() {
                assert_eq!(body["task_runs"]["id"]["any_"], json!([OWN, HOLDER]));
                let mut holder = task(HOLDER, "load", "RUNNING", "Running", json!(["serial"]), None);
                holder["flow_run_id"] = json!("other-run");
                return (200, json!([holder]));
            }
            let mut own = task(OWN, "extract", "RUNNING", "Running", json!(["serial", "db"]), None);
            own["start_time"] = json!("2026-11-27T11:52:00Z");
            (200, json!([own, task(WAITER, "report", "COMPLETED", "Completed", json!([]), None)]))
        });
    let (result, requests) = diagnose(&fake);
    let kinds: Vec<&str> = result["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["task_runs_running", "tag_concurrency_at_limit"]);
    assert_eq!(
        result["findings"][0]["evidence"],
        json!(format!(
            "1 task run(s) running: extract ({OWN}) since 2026-11-27T11:52:00+00:00 (8 min), tags serial, db"
        ))
    );
    let limit = &result["findings"][1];
    assert_eq!(limit["object"], json!({"type": "concurrency_limit", "id": "tl", "name": "tag:serial"}));
    assert_eq!(
        limit["evidence"],
        json!(format!(
            "tag 'serial' limit 2, 2 active slot(s): 1 held by this run (extract ({OWN})), 1 held by other runs' \
             task run load ({HOLDER}) of flow run other-run; further task runs tagged 'serial' wait until a slot frees"
        ))
    );
    assert_eq!(result["verdict"], "Running for 10 min; 1 task run(s) running; no blocking cause found.");
    // Run, states, flow, tasks, logs, both limit lists, then the holders in one read.
    assert_eq!(requests, 8);
}

#[test]
fn a_task_waiting_on_a_full_global_limit() {
    let running = run("RUNNING", "Running", json!({"run_count": 1}));
    let fake = server(running)
        .on(
            "POST",
            "/api/task_runs/filter",
            200,
            json!([task(WAITER, "extract", "SCHEDULED", "AwaitingConcurrencySlot", json!([]), None)]),
        )
        .on(
            "POST",
            "/api/v2/concurrency_limits/filter",
            200,
            json!([
                {"id": "g1", "name": "warehouse", "limit": 3, "active": true, "active_slots": 3},
                {"id": "g2", "name": "tag:serial", "limit": 1, "active": true, "active_slots": 1},
            ]),
        );
    let (result, requests) = diagnose(&fake);
    assert_eq!(top(&result)["kind"], "global_concurrency_saturated");
    assert_eq!(top(&result)["severity"], "cause");
    assert_eq!(
        top(&result)["evidence"],
        "global limit 'warehouse' limit 3, 3 active slot(s); code calling concurrency(\"warehouse\") waits"
    );
    assert_eq!(requests, 7);
}

#[test]
fn failed_run_names_the_failed_task_and_keeps_the_traceback_end() {
    let failed = run(
        "FAILED",
        "Failed",
        json!({"run_count": 1, "start_time": "2026-11-27T11:50:00Z",
        "state": {"message": "Flow run encountered an exception: ValueError: bad rows"}}),
    );
    let traceback: String =
        (0..30).map(|i| format!("  File \"x.py\", line {i}\n")).collect::<String>() + "ValueError: bad rows";
    let fake = server(failed)
        .on("POST", "/api/task_runs/filter", 200, json!([
            task(HOLDER, "fetch", "COMPLETED", "Completed", json!([]), None),
            task(WAITER, "validate", "FAILED", "Failed", json!([]), Some("Task run encountered an exception ValueError: bad rows")),
        ]))
        .on("POST", "/api/logs/filter", 200, json!([
            {"timestamp": "2026-11-27T11:51:00Z", "level": 40, "message": "Finished in state Failed", "name": "prefect.flow_runs", "task_run_id": null},
            {"timestamp": "2026-11-27T11:50:30Z", "level": 40, "message": format!("Task run failed\nTraceback:\n{traceback}"), "name": "prefect.task_runs", "task_run_id": WAITER},
        ]));
    let (result, requests) = diagnose(&fake);
    assert_eq!(top(&result)["kind"], "task_run_failed");
    assert_eq!(top(&result)["object"], json!({"type": "task_run", "id": WAITER, "name": "validate"}));
    assert!(
        top(&result)["evidence"]
            .as_str()
            .unwrap()
            .ends_with("ended Failed: Task run encountered an exception ValueError: bad rows")
    );
    assert_eq!(result["findings"][1]["kind"], "error_logs");
    assert_eq!(result["findings"][1]["severity"], "info");
    assert_eq!(
        result["findings"][1]["evidence"],
        "2 log line(s) at ERROR or above; the first ends: ValueError: bad rows"
    );
    // Logs come newest first from the server and are shown oldest first.
    assert_eq!(result["error_logs"][0]["logger"], "prefect.task_runs");
    assert!(result["error_logs"][0]["message"].as_str().unwrap().ends_with("ValueError: bad rows"));
    assert!(result["error_logs"][0]["message"].as_str().unwrap().contains("lines omitted"));
    assert_eq!(result["error_logs"][0]["level_name"], "ERROR");
    assert_eq!(result["failed_task_runs"].as_array().unwrap().len(), 1);
    assert_eq!(result["task_runs_by_state"], json!({"Completed": 1, "Failed": 1}));
    // Run, states, flow, tasks, logs: nothing about pools or limits for a finished run.
    assert_eq!(requests, 5);
}

#[test]
fn failures_without_a_failed_task() {
    let failed = |name: &str| run("FAILED", name, json!({"run_count": 1, "state": {"message": "boom"}}));
    let (result, _) = diagnose(&server(failed("Failed")));
    assert_eq!(top(&result)["kind"], "flow_run_failed");
    let with_logs = server(failed("Failed")).on("POST", "/api/logs/filter", 200, json!([
        {"timestamp": "2026-11-27T11:51:00Z", "level": 50, "message": "KeyError: 'x'", "name": "prefect.flow_runs", "task_run_id": null}]));
    let (result, _) = diagnose(&with_logs);
    assert_eq!((&top(&result)["kind"], &top(&result)["severity"]), (&json!("error_logs"), &json!("cause")));
    assert_eq!(result["error_logs"][0]["level_name"], "CRITICAL");
    let (result, _) = diagnose(&server(failed("TimedOut")));
    assert_eq!(top(&result)["kind"], "flow_run_timed_out");
}

#[test]
fn crashed_cancelled_paused_and_completed_runs() {
    let crashed = run("CRASHED", "Crashed", json!({"run_count": 1, "state": {"message": "exit code 137"}}));
    let (result, requests) = diagnose(&server(crashed));
    assert_eq!(top(&result)["kind"], "flow_run_crashed");
    assert_eq!(top(&result)["evidence"], "state Crashed: exit code 137");
    assert_eq!(
        result["verdict"],
        "The flow run crashed (infrastructure, not flow code) (flow_run_crashed): state Crashed: exit code 137"
    );
    assert_eq!(requests, 5);
    let (result, _) = diagnose(&server(run("CANCELLED", "Cancelled", json!({"run_count": 1}))));
    assert_eq!(top(&result)["kind"], "flow_run_cancelled");
    let (result, _) = diagnose(&server(run("PAUSED", "Paused", json!({"run_count": 1}))));
    assert_eq!(top(&result)["kind"], "flow_run_paused");
    let (result, _) = diagnose(&server(run("COMPLETED", "Completed", json!({"run_count": 1}))));
    assert_eq!(result["findings"], json!([]));
    assert_eq!(result["verdict"], "The run completed (state Completed); nothing to fix.");
}

#[test]
fn not_yet_due_and_ad_hoc_runs() {
    let future = late(json!({"state_name": "Scheduled", "expected_start_time": "2026-11-27T13:00:00Z"}));
    let (result, requests) = diagnose(&server(future));
    assert_eq!(result["findings"], json!([]));
    assert!(result["verdict"].as_str().unwrap().starts_with("Scheduled for 2026-11-27T13:00:00+00:00; not due yet"));
    assert_eq!(requests, 7);
    // Not due yet: what would hold it back is a warning, not the cause of anything.
    let idle = server(late(json!({"state_name": "Scheduled", "expected_start_time": "2026-11-27T13:00:00Z"}))).on(
        "POST",
        "/api/work_pools/pool-a/workers/filter",
        200,
        json!([]),
    );
    let (result, _) = diagnose(&idle);
    assert_eq!(
        (&top(&result)["kind"], &top(&result)["severity"]),
        (&json!("work_pool_without_workers"), &json!("warning"))
    );
    let (result, requests) = diagnose(&server(run("SCHEDULED", "Late", json!({}))));
    assert_eq!((&top(&result)["kind"], &top(&result)["severity"]), (&json!("no_work_pool"), &json!("cause")));
    assert_eq!(requests, 3);
    let served = run("SCHEDULED", "Late", json!({"deployment_id": DEP}));
    let (result, requests) = diagnose(&server(served));
    assert_eq!(top(&result)["kind"], "no_work_pool");
    assert!(top(&result)["evidence"].as_str().unwrap().starts_with("deployment 'etl/nightly' has no work pool"));
    assert_eq!(requests, 4);
}

#[test]
fn unknown_and_malformed_ids() {
    let fake = server(run("COMPLETED", "Completed", json!({})));
    let ctx = context(&fake, "http://127.0.0.1:4200/api");
    let missing = "99999999-0000-4000-8000-000000000009";
    let result = crate::tools::testing::run(&ctx, "diagnose_flow_run", json!({"flow_run_id": missing}));
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        structured(&result)["error"],
        json!(format!(
            "Failed to diagnose flow run: flow run {missing} not found; get_flow_runs lists the existing runs"
        ))
    );
    assert_eq!(structured(&result)["flow_run_id"], missing);
    assert_eq!(structured(&result)["findings"], json!([]));
    assert_eq!(ctx.upstream_requests(), 1);
    let result = crate::tools::testing::run(&ctx, "diagnose_flow_run", json!({"flow_run_id": "nope"}));
    assert_eq!(
        structured(&result)["error"],
        "Failed to diagnose flow run: invalid UUID \"nope\" for flow_run_id; pass an id as get_flow_runs lists it"
    );
    assert_eq!(ctx.upstream_requests(), 1);
    let result = crate::tools::testing::run(&ctx, "diagnose_flow_run", json!({}));
    assert!(text(&result).contains("missing field `flow_run_id`"), "{}", text(&result));
}

#[test]
fn upstream_failures_fail_the_diagnosis() {
    let fake = server(late(json!({}))).failing(
        "POST",
        "/api/work_pools/pool-a/workers/filter",
        FetchError::Network("reset".into()),
    );
    let (result, _) = diagnose(&fake);
    assert_eq!(result["success"], false);
    assert!(
        result["error"].as_str().unwrap().starts_with("Failed to diagnose flow run: Prefect API unreachable"),
        "{result}"
    );
}

#[test]
fn long_messages_keep_head_and_tail_lines() {
    let message: String = (0..20).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
    let compact = compact_message(&message);
    assert!(compact.starts_with("line 0\nline 1\nline 2\n… [7 lines omitted] …\nline 10\n"));
    assert!(compact.ends_with("line 19"));
    assert_eq!(compact_message("short\ntext"), "short\ntext");
    assert!(compact_message(&"x".repeat(400)).ends_with("… [100 more chars]"));
}
