"""diagnose_flow_run and diagnose_deployment against the seeded scenarios (manifest key
`diagnosis`): each names the right cause, the object and the evidence numbers, which are
compared with the REST API's own answer."""

from __future__ import annotations

import asyncio

import pytest

from harness import call_counting_upstream
from mcp_client import MODERN, call_tool, client, envelope, error_text

MISSING = "00000000-0000-4000-8000-000000000000"


def diagnose_run(worker, run_id: str, mode: str = MODERN) -> dict:
    result = call_tool(worker, "diagnose_flow_run", {"flow_run_id": run_id}, mode=mode)
    assert not result.is_error, result
    return envelope(result)


def diagnose_deployment(worker, **arguments) -> dict:
    result = call_tool(worker, "diagnose_deployment", arguments)
    assert not result.is_error, result
    return envelope(result)


def run_id(prefect, name: str) -> str:
    return prefect.manifest["flow_runs"][name]["id"]


def top_cause(result: dict) -> dict:
    finding = result["findings"][0]
    assert finding["severity"] == "cause", result["findings"]
    assert f"({finding['kind']})" in result["verdict"], result["verdict"]
    return finding


def kinds(result: dict) -> list[str]:
    return [f["kind"] for f in result["findings"]]


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_run_blocked_by_a_full_tag_limit(worker_with_secrets, prefect, mode):
    scenario = prefect.manifest["diagnosis"]["tag_limit"]
    limit = next(c for c in prefect.rest("POST", "concurrency_limits/filter", {}) if c["tag"] == scenario["tag"])
    holder = prefect.manifest["task_runs"][scenario["holder_task_run"]]
    blocked = prefect.manifest["task_runs"][scenario["blocked_task_run"]]
    assert limit["active_slots"] == [holder["id"]]

    got = diagnose_run(worker_with_secrets, run_id(prefect, scenario["blocked_run"]), mode)
    cause = top_cause(got)
    assert cause["kind"] == "tag_concurrency_saturated"
    assert cause["object"] == {"type": "concurrency_limit", "id": limit["id"], "name": f"tag:{scenario['tag']}"}
    holder_name = scenario["holder_task_run"].split("/")[1]
    assert (f"limit {limit['concurrency_limit']}, {len(limit['active_slots'])} active slot(s) held by task run "
            f"{holder_name} ({holder['id']}) of flow run {run_id(prefect, scenario['holder_run'])}") in cause["evidence"]
    assert f"({blocked['id']}) is AwaitingConcurrencySlot" in cause["evidence"]
    assert holder["id"] in cause["next_step"]
    assert got["task_runs_by_state"] == {"AwaitingConcurrencySlot": 1}
    assert got["flow_run"]["state_type"] == "RUNNING" and got["work_pool"] is None


def running_tag_limit(prefect) -> tuple[dict, dict, dict]:
    """The scenario, Prefect's own view of its tag limit, and its task runs by role."""
    scenario = prefect.manifest["diagnosis"]["running_tag_limit"]
    limit = next(c for c in prefect.rest("POST", "concurrency_limits/filter", {}) if c["tag"] == scenario["tag"])
    names = {role: scenario[f"{role}_task_run"] for role in ("holder", "peer", "waiting")}
    ids = [prefect.manifest["task_runs"][name]["id"] for name in names.values()]
    rest = {t["id"]: t for t in prefect.rest("POST", "task_runs/filter", {"task_runs": {"id": {"any_": ids}}})}
    tasks = {role: rest[prefect.manifest["task_runs"][name]["id"]] for role, name in names.items()}
    return scenario, limit, tasks


def test_running_run_names_its_running_tasks_and_who_else_fills_their_tag_limit(worker_with_secrets, prefect):
    scenario, limit, tasks = running_tag_limit(prefect)
    holder, peer = tasks["holder"], tasks["peer"]
    assert sorted(limit["active_slots"]) == sorted([holder["id"], peer["id"]])
    assert len(limit["active_slots"]) == limit["concurrency_limit"]

    got = diagnose_run(worker_with_secrets, run_id(prefect, scenario["holder_run"]))
    # What the run is doing first; unrelated context (a full global limit elsewhere) may follow.
    assert kinds(got)[:2] == ["task_runs_running", "tag_concurrency_at_limit"], got["findings"]
    assert {f["severity"] for f in got["findings"]} == {"info"}
    running, full = got["findings"][:2]
    started = holder["start_time"].replace("Z", "+00:00")
    assert running["evidence"].startswith(
        f"1 task run(s) running: {holder['name']} ({holder['id']}) since {started[:19]}"), running["evidence"]
    assert running["evidence"].endswith(f"tags {', '.join(holder['tags'])}")
    assert full["object"] == {"type": "concurrency_limit", "id": limit["id"], "name": f"tag:{scenario['tag']}"}
    assert full["evidence"] == (
        f"tag '{scenario['tag']}' limit {limit['concurrency_limit']}, {len(limit['active_slots'])} active slot(s): "
        f"1 held by this run ({holder['name']} ({holder['id']})), 1 held by other runs' task run "
        f"{peer['name']} ({peer['id']}) of flow run {peer['flow_run_id']}; "
        f"further task runs tagged '{scenario['tag']}' wait until a slot frees")
    assert got["verdict"].endswith("1 task run(s) running; no blocking cause found."), got["verdict"]


def test_running_run_whose_task_waits_on_the_full_tag_limit(worker_with_secrets, prefect):
    scenario, limit, tasks = running_tag_limit(prefect)
    waiting = tasks["waiting"]
    # What Prefect 3 shows for a task run waiting on a tag slot: still Pending.
    assert (waiting["state_type"], waiting["state_name"]) == ("PENDING", "Pending")
    got = diagnose_run(worker_with_secrets, run_id(prefect, scenario["waiting_run"]))
    cause = top_cause(got)
    assert cause["kind"] == "tag_concurrency_saturated"
    assert cause["object"] == {"type": "concurrency_limit", "id": limit["id"], "name": f"tag:{scenario['tag']}"}
    for role in ("holder", "peer"):
        task = tasks[role]
        assert f"{task['name']} ({task['id']}) of flow run {task['flow_run_id']}" in cause["evidence"]
    assert cause["evidence"].endswith(f"waiting here: {waiting['name']} ({waiting['id']}) is Pending")
    assert "task_runs_running" not in kinds(got)


def test_late_run_on_a_pool_without_workers(worker_with_secrets, prefect):
    scenario = prefect.manifest["diagnosis"]["late_no_workers"]
    pool = scenario["work_pool"]
    workers = prefect.rest("POST", f"work_pools/{pool}/workers/filter", {})
    got = diagnose_run(worker_with_secrets, run_id(prefect, scenario["run"]))
    cause = top_cause(got)
    assert cause["kind"] == "work_pool_without_workers"
    assert cause["object"] == {"type": "work_pool", "id": prefect.manifest["work_pools"][pool]["id"], "name": pool}
    assert f"has 0 ONLINE workers ({len(workers)} registered, last heartbeat never)" in cause["evidence"]
    assert f"prefect worker start --pool '{pool}'" in cause["next_step"]
    assert got["work_pool"]["workers_online"] == 0 and got["work_pool"]["status"] == "NOT_READY"
    assert "flow_run_late" in kinds(got)
    assert got["flow_run"]["deployment"] == scenario["deployment"]


def test_late_run_on_a_paused_queue(worker_with_secrets, prefect):
    scenario = prefect.manifest["diagnosis"]["late_paused_queue"]
    pool, queue = scenario["work_pool"], scenario["work_queue"]
    online = [w for w in prefect.rest("POST", f"work_pools/{pool}/workers/filter", {}) if w["status"] == "ONLINE"]
    got = diagnose_run(worker_with_secrets, run_id(prefect, scenario["run"]))
    cause = top_cause(got)
    assert cause["kind"] == "work_queue_paused"
    queue_id = prefect.manifest["work_queues"][f"{pool}/{queue}"]["id"]
    assert cause["object"] == {"type": "work_queue", "id": queue_id, "name": queue}
    assert cause["evidence"] == f"work queue '{queue}' of pool '{pool}' is paused; workers ({len(online)} ONLINE) skip its runs"
    assert len(online) >= 1 and "work_pool_without_workers" not in kinds(got)
    assert got["work_pool"]["work_queue"]["is_paused"] is True


def test_late_run_behind_a_full_deployment_limit(worker_with_secrets, prefect):
    scenario = prefect.manifest["diagnosis"]["deployment_concurrency"]
    deployment_id = prefect.manifest["deployments"][scenario["deployment"]]["id"]
    limit = prefect.rest("POST", "deployments/filter", {"deployments": {"id": {"any_": [deployment_id]}}})[0][
        "global_concurrency_limit"]
    got = diagnose_run(worker_with_secrets, run_id(prefect, scenario["run"]))
    cause = top_cause(got)
    assert cause["kind"] == "deployment_concurrency_saturated"
    assert cause["object"] == {"type": "concurrency_limit", "id": limit["id"], "name": f"deployment:{deployment_id}"}
    assert (f"limit {limit['limit']}, {limit['active_slots']} active slot(s) held by flow run "
            f"{scenario['holder_run']} ({run_id(prefect, scenario['holder_run'])})") in cause["evidence"]


@pytest.mark.parametrize("scenario", ["late_full_pool", "late_full_queue"])
def test_late_run_behind_a_full_pool_or_queue_names_the_holder(worker_with_secrets, prefect, scenario):
    details = prefect.manifest["diagnosis"][scenario]
    pool = details["work_pool"]
    holder = f"{details['holder_run']} ({run_id(prefect, details['holder_run'])})"
    if "work_queue" in details:
        limited = prefect.rest("POST", f"work_pools/{pool}/queues/filter",
                               {"work_queues": {"name": {"any_": [details["work_queue"]]}}})[0]
        kind, what, name = "work_queue_concurrency_saturated", "work queue", limited["name"]
    else:
        limited = prefect.rest("POST", "work_pools/filter", {"work_pools": {"name": {"any_": [pool]}}})[0]
        kind, what, name = "work_pool_concurrency_saturated", "work pool", pool
    assert limited["active_slots"] == limited["concurrency_limit"] == 1
    got = diagnose_run(worker_with_secrets, run_id(prefect, details["run"]))
    cause = top_cause(got)
    assert cause["kind"] == kind
    assert cause["object"] == {"type": what.replace(" ", "_"), "id": limited["id"], "name": name}
    assert cause["evidence"] == f"{what} '{name}' limit 1, 1 active slot(s) held by flow run {holder}"
    assert f"prefect {what.replace(' ', '-')} slots '{name}'" in cause["next_step"]
    assert got["work_pool"]["workers_online"] >= 1 and "flow_run_late" in kinds(got)


def test_failed_run_with_a_traceback(worker_with_secrets, prefect):
    scenario = prefect.manifest["diagnosis"]["failed_with_traceback"]
    task = prefect.manifest["task_runs"][scenario["failed_task_run"]]
    rest_task = prefect.rest("POST", "task_runs/filter", {"task_runs": {"id": {"any_": [task["id"]]}}})[0]
    got = diagnose_run(worker_with_secrets, run_id(prefect, scenario["run"]))
    cause = top_cause(got)
    assert cause["kind"] == "task_run_failed"
    assert cause["object"] == {"type": "task_run", "id": task["id"], "name": scenario["failed_task_run"].split("/")[1]}
    assert cause["evidence"].endswith(f"ended {rest_task['state_name']}: {rest_task['state']['message']}")
    errors = prefect.manifest["flow_runs"][scenario["run"]]["error_log_count"]
    assert len(got["error_logs"]) == min(errors, 10) and got["error_logs_truncated"] is (errors > 10)
    assert any("Traceback" in log["message"] for log in got["error_logs"])
    assert all(log["level_name"] in ("ERROR", "CRITICAL") for log in got["error_logs"])
    exception = rest_task["state"]["message"].split("exception ", 1)[1]
    error_finding = next(f for f in got["findings"] if f["kind"] == "error_logs")
    assert error_finding["evidence"].endswith(exception), error_finding
    assert [t["id"] for t in got["failed_task_runs"]] == [task["id"]]
    assert [s["type"] for s in got["state_history"]][-1] == "FAILED"


def test_crashed_run(worker_with_secrets, prefect):
    name = prefect.manifest["diagnosis"]["crashed"]["run"]
    rest_run = prefect.rest("POST", "flow_runs/filter", {"flow_runs": {"id": {"any_": [run_id(prefect, name)]}}})[0]
    got = diagnose_run(worker_with_secrets, run_id(prefect, name))
    cause = top_cause(got)
    assert cause["kind"] == "flow_run_crashed"
    assert cause["object"] == {"type": "flow_run", "id": rest_run["id"], "name": name}
    assert cause["evidence"] == f"state {rest_run['state_name']}: {rest_run['state']['message']}"


@pytest.mark.parametrize("scenario, requests", [
    ("tag_limit", 8), ("running_tag_limit", 8), ("late_no_workers", 7), ("late_paused_queue", 7), ("deployment_concurrency", 8),
    ("late_full_pool", 8), ("late_full_queue", 8),
    ("failed_with_traceback", 5), ("crashed", 5),
])
def test_flow_run_requests_per_scenario(worker_with_secrets, prefect, scenario, requests):
    details = prefect.manifest["diagnosis"][scenario]
    name = details.get("blocked_run") or details.get("waiting_run") or details["run"]
    count, result = call_counting_upstream(worker_with_secrets, "diagnose_flow_run", {"flow_run_id": run_id(prefect, name)})
    assert result["success"] is True
    assert count == requests <= 12


def test_deployment_with_a_late_backlog_on_an_idle_pool(worker_with_secrets, prefect):
    name = prefect.manifest["diagnosis"]["deployments"]["late_backlog"]
    deployment_id = prefect.manifest["deployments"][name]["id"]
    late_filter = {"deployment_id": {"any_": [deployment_id]}, "state": {"name": {"any_": ["Late"]}}}
    late = prefect.rest("POST", "flow_runs/count", {"flow_runs": late_filter})
    oldest = prefect.rest("POST", "flow_runs/filter", {"flow_runs": late_filter, "sort": "EXPECTED_START_TIME_ASC",
                                                      "limit": 1})[0]
    assert late == prefect.manifest["diagnosis"]["late_no_workers"]["late_runs"]
    by_name = diagnose_deployment(worker_with_secrets, deployment_name=name)
    by_id = diagnose_deployment(worker_with_secrets, deployment_id=deployment_id)
    assert by_name["findings"] == by_id["findings"] and by_name["deployment"] == by_id["deployment"]
    cause = top_cause(by_name)
    assert cause["kind"] == "work_pool_without_workers"
    assert cause["object"]["name"] == prefect.manifest["diagnosis"]["late_no_workers"]["work_pool"]
    backlog = next(f for f in by_name["findings"] if f["kind"] == "late_backlog")
    assert backlog["severity"] == "warning"
    assert backlog["evidence"].startswith(f"{late} Late run(s); the oldest, {oldest['name']} ({oldest['id']})")
    assert backlog["next_step"] == f"diagnose_flow_run with flow_run_id \"{oldest['id']}\""
    assert by_name["late_runs"]["count"] == late and by_name["late_runs"]["oldest"]["id"] == oldest["id"]
    assert by_name["deployment"] == {**by_name["deployment"], "id": deployment_id, "slug": name}
    count, _ = call_counting_upstream(worker_with_secrets, "diagnose_deployment", {"deployment_id": deployment_id})
    assert count == 10 <= 14


def test_healthy_paused_and_paused_queue_deployments(worker_with_secrets, prefect):
    names = prefect.manifest["diagnosis"]["deployments"]
    healthy = diagnose_deployment(worker_with_secrets, deployment_name=names["healthy"])
    deployment_id = prefect.manifest["deployments"][names["healthy"]]["id"]
    runs = prefect.rest("POST", "flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}})
    completed = sum(r["state_type"] == "COMPLETED" for r in runs)
    assert all(f["severity"] != "cause" for f in healthy["findings"]), healthy["findings"]
    assert healthy["verdict"].startswith(f"No problem found: {completed} of the last {completed} runs completed")
    assert healthy["recent_runs"]["by_state_type"] == {"COMPLETED": completed}
    upcoming = [r for r in runs if r["state_name"] == "Scheduled"]
    assert healthy["schedules"]["next_scheduled_run"]["id"] == upcoming[0]["id"]
    assert healthy["work_pool"]["workers_online"] >= 1

    paused = diagnose_deployment(worker_with_secrets, deployment_name=names["paused"])
    cause = top_cause(paused)
    assert cause["kind"] == "deployment_paused"
    assert cause["object"] == {"type": "deployment", "id": prefect.manifest["deployments"][names["paused"]]["id"],
                               "name": names["paused"]}

    queue = diagnose_deployment(worker_with_secrets, deployment_name=names["paused_queue"])
    assert top_cause(queue)["kind"] == "work_queue_paused"
    assert "late_backlog" in kinds(queue)

    full = diagnose_deployment(worker_with_secrets, deployment_name=names["full_queue"])
    holder = prefect.manifest["diagnosis"]["late_full_queue"]["holder_run"]
    cause = top_cause(full)
    assert cause["kind"] == "work_queue_concurrency_saturated"
    assert cause["evidence"].endswith(f"held by flow run {holder} ({run_id(prefect, holder)})")
    assert [r["name"] for r in full["concurrency"]["active_runs"]] == [holder]


def test_unknown_and_malformed_ids_are_precise_errors(worker_with_secrets):
    result = call_tool(worker_with_secrets, "diagnose_flow_run", {"flow_run_id": MISSING})
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["findings"] == [] and got["flow_run"] is None
    assert got["error"] == f"Failed to diagnose flow run: flow run {MISSING} not found; get_flow_runs lists the existing runs"
    bad = envelope(call_tool(worker_with_secrets, "diagnose_flow_run", {"flow_run_id": "run-42"}))
    assert bad["error"] == ("Failed to diagnose flow run: invalid UUID \"run-42\" for flow_run_id; "
                            "pass an id as get_flow_runs lists it")
    missing = call_tool(worker_with_secrets, "diagnose_deployment", {"deployment_name": "etl-extract/nope"})
    assert error_text(missing) and envelope(missing)["error"] == (
        "Failed to diagnose deployment: deployment etl-extract/nope not found; "
        "get_deployments lists the existing deployments")
    unnamed = envelope(call_tool(worker_with_secrets, "diagnose_deployment", {"deployment_name": "nope"}))
    assert unnamed["error"] == ("Failed to diagnose deployment: deployment_name \"nope\" is not "
                                "\"<flow>/<deployment>\"; get_deployments shows each deployment's slug")
    count, _ = call_counting_upstream(worker_with_secrets, "diagnose_deployment", {"deployment_id": "x"})
    assert count == 0


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_the_diagnosis_toolset(worker_with_secrets, prefect, mode):
    name = prefect.manifest["diagnosis"]["crashed"]["run"]

    async def go():
        async with client(worker_with_secrets, mode, {"X-MCP-Toolsets": "diagnosis"}) as session:
            names = [t.name for t in (await session.list_tools()).tools]
            result = await session.call_tool("diagnose_flow_run", {"flow_run_id": run_id(prefect, name)})
            return names, result

    names, result = asyncio.run(go())
    assert names == ["orientation", "diagnose_flow_run", "diagnose_deployment"]
    assert envelope(result)["findings"][0]["kind"] == "flow_run_crashed"


def test_late_run_of_a_deployment_without_a_pool(worker_with_secrets, prefect):
    late = [n for n in prefect.manifest["late_flow_runs"] if prefect.manifest["flow_runs"][n]["work_pool"] is None]
    assert late, "the seed has a Late run of a deployment without a work pool"
    run = prefect.manifest["flow_runs"][late[0]]
    cause = top_cause(diagnose_run(worker_with_secrets, run["id"]))
    assert cause["kind"] == "no_work_pool"
    assert cause["object"] == {"type": "flow_run", "id": run["id"], "name": late[0]}
    assert cause["evidence"].startswith(f"deployment '{run['deployment']}' has no work pool")
