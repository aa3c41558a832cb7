"""get_flow_runs against the seeded Prefect server: results equal the REST API's own answer."""

from __future__ import annotations

from datetime import datetime

import pytest

from harness import post_json
from mcp_client import call_tool, envelope, error_text

MISSING = "00000000-0000-4000-8000-000000000000"
COMPACT_KEYS = ["id", "name", "flow_name", "state_type", "state_name", "state_message", "created", "updated",
                "start_time", "end_time", "duration", "tags", "deployment_id", "work_pool_name", "work_queue_name",
                "parent_task_run_id"]
DETAIL_KEYS = COMPACT_KEYS + ["parameters", "infrastructure_pid", "deployment", "work_pool"]


def rest_runs(prefect, runs_filter=None, limit=200) -> list[dict]:
    return prefect.rest("POST", "flow_runs/filter", {"flow_runs": runs_filter, "sort": "START_TIME_DESC", "limit": limit})


def flow_runs(worker, **arguments) -> dict:
    result = call_tool(worker, "get_flow_runs", arguments)
    assert not result.is_error, result
    return envelope(result)


def flow_names(prefect) -> dict[str, str]:
    return {f["id"]: f["name"] for f in prefect.rest("POST", "flows/filter", {"limit": 200})}


def run_ids(prefect, predicate) -> list[str]:
    return [r["id"] for r in prefect.manifest["flow_runs"].values() if predicate(r)]


def test_default_is_compact_newest_first_with_flow_names(worker_with_secrets, prefect):
    expected = rest_runs(prefect, limit=50)
    got = flow_runs(worker_with_secrets)
    assert list(got) == ["success", "detail", "count", "flow_runs", "truncated", "error"]
    assert got["success"] is True and got["detail"] is False and got["error"] is None
    assert [r["id"] for r in got["flow_runs"]] == [r["id"] for r in expected]
    assert got["count"] == len(expected) and got["truncated"] is (len(rest_runs(prefect)) > 50)
    names = flow_names(prefect)
    by_id = {r["id"]: r for r in expected}
    for item in got["flow_runs"]:
        assert list(item) == COMPACT_KEYS
        run = by_id[item["id"]]
        assert item["flow_name"] == names[run["flow_id"]]
        assert (item["state_type"], item["state_name"]) == (run["state_type"], run["state_name"])
        assert item["work_pool_name"] == run["work_pool_name"] and item["deployment_id"] == run["deployment_id"]
        assert item["created"].endswith("+00:00")


def test_limit_and_exact_truncation(worker_with_secrets, prefect):
    total = len(rest_runs(prefect))
    assert 3 < total <= 200
    three = flow_runs(worker_with_secrets, limit=3)
    assert three["count"] == 3 and three["truncated"] is True
    assert [r["id"] for r in three["flow_runs"]] == [r["id"] for r in rest_runs(prefect, limit=3)]
    everything = flow_runs(worker_with_secrets, limit=total)
    assert everything["count"] == total and everything["truncated"] is False
    assert flow_runs(worker_with_secrets, limit=200)["count"] == total


@pytest.mark.parametrize("make_filter", [
    lambda p: {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}},
    lambda p: {"state": {"name": {"any_": ["Late"]}}},
    lambda p: {"state": {"type": {"any_": ["SCHEDULED"]}}},
    lambda p: {"tags": {"all_": ["ops"]}},
    lambda p: {"deployment_id": {"is_null_": False}},
    lambda p: {"name": {"like_": "cleanup"}},
    lambda p: {"start_time": {"after_": p.manifest["seeded_at"][:19] + "Z"}},
    lambda p: {"end_time": {"after_": "2020-01-01T00:00:00Z"}, "state": {"type": {"not_any_": ["COMPLETED"]}}},
    lambda p: {"parent_task_run_id": {"is_null_": False}},
], ids=["failed-crashed", "late", "scheduled", "tag", "with-deployment", "name-like", "started-after", "ended",
        "subflows"])
def test_filters_match_the_server(worker_with_secrets, prefect, make_filter):
    runs_filter = make_filter(prefect)
    expected = [r["id"] for r in rest_runs(prefect, runs_filter)]
    got = flow_runs(worker_with_secrets, filter=runs_filter, limit=200)
    assert [r["id"] for r in got["flow_runs"]] == expected
    assert 0 < len(expected) < len(rest_runs(prefect)), "the fixture should make this filter selective"


def test_failed_runs_carry_the_state_message(worker_with_secrets, prefect):
    got = flow_runs(worker_with_secrets, filter={"state": {"type": {"any_": ["FAILED", "CRASHED"]}}})
    states = {(r["state_type"], r["state_name"]) for r in got["flow_runs"]}
    assert ("FAILED", "Failed") in states and ("FAILED", "TimedOut") in states
    failed = next(r for r in got["flow_runs"] if r["name"] == "transform-failed")
    assert "ValueError" in failed["state_message"] or "Error" in failed["state_message"]


def test_late_runs_are_scheduled_type(worker_with_secrets, prefect):
    got = flow_runs(worker_with_secrets, filter={"state": {"name": {"any_": ["Late"]}}})
    assert got["count"] >= len(prefect.manifest["late_flow_runs"]) > 0
    assert {r["state_type"] for r in got["flow_runs"]} == {"SCHEDULED"}


def test_end_time_after_with_limit(worker_with_secrets):
    got = flow_runs(worker_with_secrets, filter={"end_time": {"after_": "2020-01-01T00:00:00Z"}}, limit=2)
    assert got["count"] == 2 and got["truncated"] is True


def test_detail_of_a_deployment_run_with_a_pool(worker_with_secrets, prefect):
    run_id = run_ids(prefect, lambda r: r["deployment"] and r["work_pool"])[0]
    run = prefect.rest("GET", f"flow_runs/{run_id}")
    deployment = prefect.rest("GET", f"deployments/{run['deployment_id']}")
    pool = prefect.rest("GET", f"work_pools/{run['work_pool_name']}")
    got = flow_runs(worker_with_secrets, filter={"id": {"any_": [run_id]}})
    assert got["detail"] is True and got["count"] == 1
    item = got["flow_runs"][0]
    assert list(item) == DETAIL_KEYS
    assert item["parameters"] == run["parameters"] and item["infrastructure_pid"] == run["infrastructure_pid"]
    assert item["deployment"] == {key: deployment[key] for key in ("id", "name", "description", "flow_id", "tags", "paused")}
    assert item["work_pool"] == {key: pool[key] for key in ("id", "name", "type", "status", "is_paused")}
    assert item["flow_name"] == flow_names(prefect)[run["flow_id"]]


def test_detail_of_an_ad_hoc_failed_run(worker_with_secrets, prefect):
    run = prefect.manifest["flow_runs"]["cleanup-failed-adhoc"]
    item = flow_runs(worker_with_secrets, filter={"id": {"any_": [run["id"]]}})["flow_runs"][0]
    assert item["deployment"] is None and item["work_pool"] is None
    assert item["parameters"] == run["parameters"] and item["state_type"] == "FAILED"
    start, end = (datetime.fromisoformat(item[k]) for k in ("start_time", "end_time"))
    assert item["duration"] == pytest.approx((end - start).total_seconds(), abs=1e-6)


def test_detail_of_a_subflow_run(worker_with_secrets, prefect):
    child = next(iter(prefect.manifest["subflow_runs"]))
    item = flow_runs(worker_with_secrets, filter={"id": {"any_": [prefect.manifest["flow_runs"][child]["id"]]}})["flow_runs"][0]
    assert item["parent_task_run_id"] is not None


def test_detail_of_several_runs_uses_at_most_four_requests(worker_with_secrets, prefect):
    runs = prefect.manifest["flow_runs"]
    ids, pools = [], set()
    for run in runs.values():
        if run["deployment"] and run["work_pool"] and run["work_pool"] not in pools:
            ids.append(run["id"])
            pools.add(run["work_pool"])
    ids = (ids + [runs["cleanup-failed-adhoc"]["id"]])[:5]
    assert len(ids) >= 2
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_flow_runs", "arguments": {"filter": {"id": {"any_": ids}}}}}
    status, headers, body = post_json(worker_with_secrets, call, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200
    got = body["result"]["structuredContent"]
    assert got["detail"] is True and sorted(r["id"] for r in got["flow_runs"]) == sorted(ids)
    statuses = {prefect.rest("GET", f"work_pools/{name}")["status"] for name in pools}
    for item in got["flow_runs"]:
        if item["work_pool_name"]:
            assert item["work_pool"]["name"] == item["work_pool_name"] and item["work_pool"]["status"] in statuses
            assert item["deployment"]["id"] == item["deployment_id"]
    assert int({k.lower(): v for k, v in headers.items()}["x-upstream-requests"]) <= 4


def test_compact_call_makes_two_requests(worker_with_secrets):
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_flow_runs", "arguments": {}}}
    status, headers, body = post_json(worker_with_secrets, call, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200 and body["result"]["structuredContent"]["success"] is True
    assert int({k.lower(): v for k, v in headers.items()}["x-upstream-requests"]) == 2


def test_unknown_id_is_an_empty_detail_success(worker_with_secrets):
    got = flow_runs(worker_with_secrets, filter={"id": {"any_": [MISSING]}})
    assert (got["success"], got["detail"], got["count"], got["flow_runs"]) == (True, True, 0, [])


@pytest.mark.parametrize("bad_filter, named", [
    ({"id": {"any_": ["not-a-uuid"]}}, "`id.any_`"),
    ({"state": {"type": {"any_": ["EXPLODED"]}}}, "`state.type.any_`"),
    ({"start_time": {"after_": "yesterday"}}, "`start_time.after_`"),
    ({"bogus": {}}, "`bogus`"),
    ({"start_time": {"gt_": "2024-01-01T00:00:00Z"}}, "`start_time.gt_`"),
    ({"state": {"kind": "FAILED"}}, "`state.kind`"),
])
def test_bad_filters_are_errors_naming_the_key(worker_with_secrets, bad_filter, named):
    result = call_tool(worker_with_secrets, "get_flow_runs", {"filter": bad_filter})
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["flow_runs"] == [] and got["count"] == 0
    assert got["error"].startswith("Failed to fetch flow runs: ") and named in got["error"]


def test_filter_must_be_an_object(worker_with_secrets):
    assert "filter" in error_text(call_tool(worker_with_secrets, "get_flow_runs", {"filter": ["FAILED"]}))


def test_missing_credentials_are_an_envelope(worker_without_secrets):
    result = call_tool(worker_without_secrets, "get_flow_runs", {})
    got = envelope(result)
    assert got["success"] is False and got["flow_runs"] == [] and "X-Prefect-Api-Url" in got["error"]
