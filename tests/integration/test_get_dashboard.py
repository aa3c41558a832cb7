"""get_dashboard against the seeded Prefect server: counts, pools and limits equal the REST API's own answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness import call_counting_upstream
from mcp_client import call_tool, envelope


def dashboard(worker) -> dict:
    result = call_tool(worker, "get_dashboard", {})
    assert not result.is_error, result
    got = envelope(result)
    assert got["success"] is True and got["error"] is None and got["truncated"] is False
    return got


def rest_count(prefect, states, recent=False) -> int:
    runs = {"state": {"type": {"any_": states}}}
    if recent:
        runs["start_time"] = {"after_": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    return prefect.rest("POST", "flow_runs/count", {"flow_runs": runs})


def test_flow_run_counts_are_exact(worker_with_secrets, prefect):
    got = dashboard(worker_with_secrets)["flow_runs"]
    expected = {
        "running": rest_count(prefect, ["RUNNING"]),
        "pending": rest_count(prefect, ["PENDING", "SCHEDULED"]),
        "failed": rest_count(prefect, ["FAILED", "CRASHED"], recent=True),
        "completed": rest_count(prefect, ["COMPLETED"], recent=True),
        "cancelled": rest_count(prefect, ["CANCELLED"], recent=True),
    }
    assert {k: got[k] for k in expected} == expected
    assert got["total"] == got["running"] + got["pending"] + got["failed"]
    assert got["running"] > 0 and got["pending"] > 0 and got["failed"] > 0, "the fixture should exercise every count"
    paused = rest_count(prefect, ["PAUSED"])
    assert paused > 0 and got["pending"] == rest_count(prefect, ["PENDING", "SCHEDULED"]), "paused runs are not pending"


def test_every_pool_is_listed_by_name(worker_with_secrets, prefect):
    pools = prefect.rest("POST", "work_pools/filter", {})
    expected = [{"id": p["id"], "name": p["name"], "type": p["type"], "is_paused": p["is_paused"], "status": p["status"]}
                for p in pools]
    got = dashboard(worker_with_secrets)["active_work_pools"]
    assert got == expected
    assert [p["name"] for p in got] == sorted(p["name"] for p in got)
    assert any(p["status"] == "PAUSED" and p["is_paused"] for p in got)


def test_concurrency_limits_cover_global_pool_and_queue_limits(worker_with_secrets, prefect):
    got = dashboard(worker_with_secrets)["concurrency_limits"]
    globals_ = prefect.rest("POST", "v2/concurrency_limits/filter", {})
    expected = [{"name": g["name"], "limit": g["limit"], "active_slots": g["active_slots"], "type": "global",
                 "details": {"id": g["id"], "active": g["active"], "over_limit": g["active_slots"] >= g["limit"]}}
                for g in globals_]
    for pool in prefect.rest("POST", "work_pools/filter", {}):
        if pool["concurrency_limit"] is not None:
            expected.append({"name": pool["name"], "limit": pool["concurrency_limit"],
                             "active_slots": pool.get("active_slots") or 0, "type": "work_pool",
                             "details": {"id": pool["id"], "type": pool["type"], "status": pool["status"]}})
        queues = prefect.rest("POST", f"work_pools/{pool['name']}/queues/filter", {})
        for q in sorted(queues, key=lambda q: (q["priority"], q["name"])):
            if q["concurrency_limit"] is not None:
                expected.append({"name": f"{pool['name']}/{q['name']}", "limit": q["concurrency_limit"],
                                 "active_slots": q.get("active_slots") or 0, "type": "work_queue",
                                 "details": {"id": q["id"], "work_pool": pool["name"], "priority": q["priority"],
                                             "is_paused": q["is_paused"]}})
    assert got == expected
    over = {g["name"]: g["details"]["over_limit"] for g in got if g["type"] == "global"}
    assert True in over.values() and False in over.values(), over
    assert not any(g["type"] == "deployment" for g in got)
    # A limited queue on a pool without a pool limit is still reported.
    unlimited_pools = {p["name"] for p in prefect.rest("POST", "work_pools/filter", {}) if p["concurrency_limit"] is None}
    assert any(g["type"] == "work_queue" and g["details"]["work_pool"] in unlimited_pools for g in got)


def test_dashboard_takes_nine_concurrent_requests_and_works_with_header_credentials(
        worker_with_secrets, worker_without_secrets, header_credentials):
    upstream, structured = call_counting_upstream(worker_with_secrets, "get_dashboard", {})
    assert structured["success"] is True and upstream == 9
    via_headers = dashboard_with_headers(worker_without_secrets, header_credentials)
    assert via_headers["active_work_pools"] == structured["active_work_pools"]


def dashboard_with_headers(worker, headers) -> dict:
    result = call_tool(worker, "get_dashboard", {}, headers=headers)
    assert not result.is_error, result
    return envelope(result)


def test_unreachable_server_is_a_failure_envelope(worker_without_secrets):
    headers = {"X-Prefect-Api-Url": "http://127.0.0.1:9/api"}
    result = call_tool(worker_without_secrets, "get_dashboard", {}, headers=headers)
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["error"].startswith("Failed to fetch dashboard: ")
    assert got["flow_runs"] == {"total": 0, "failed": 0, "cancelled": 0, "completed": 0, "running": 0, "pending": 0}
    assert got["active_work_pools"] == [] and got["concurrency_limits"] == []
