"""get_work_pools against the seeded Prefect server: results equal the REST API's own answer."""

from __future__ import annotations

import pytest

from harness import post_json
from mcp_client import call_tool, envelope

MISSING = "00000000-0000-4000-8000-000000000000"
COMPACT = ["id", "name", "type", "status", "is_paused", "concurrency_limit"]
DETAIL = COMPACT + ["work_queues", "work_queue_count", "active_workers", "diagnostic_hints", "description"]


def rest_pools(prefect, pools_filter=None) -> list[dict]:
    return prefect.rest("POST", "work_pools/filter", {"work_pools": pools_filter, "limit": 200})


def rest_queues(prefect, pool: str) -> list[dict]:
    return prefect.rest("POST", f"work_pools/{pool}/queues/filter", {})


def online_workers(prefect, pool: str) -> int:
    workers = prefect.rest("POST", f"work_pools/{pool}/workers/filter", {})
    return sum(1 for w in workers if w["status"] == "ONLINE")


def pools(worker, **arguments) -> dict:
    result = call_tool(worker, "get_work_pools", arguments)
    assert not result.is_error, result
    return envelope(result)


def upstream_requests(worker, arguments) -> int:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_work_pools", "arguments": arguments}}
    status, headers, body = post_json(worker, call, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200 and body["result"]["structuredContent"]["success"] is True, body
    return int({k.lower(): v for k, v in headers.items()}["x-upstream-requests"])


def test_default_lists_every_pool_compact_by_name(worker_with_secrets, prefect):
    expected = rest_pools(prefect)
    got = pools(worker_with_secrets)
    assert list(got) == ["success", "detail", "count", "work_pools", "truncated", "error"]
    assert got["success"] is True and got["detail"] is False and got["truncated"] is False
    assert got["count"] == len(expected) >= 4
    for item, pool in zip(got["work_pools"], expected):
        assert list(item) == COMPACT
        assert item == {key: pool[key] for key in COMPACT}
    assert any(p["concurrency_limit"] is None for p in got["work_pools"])


def test_limit_and_type_filter(worker_with_secrets, prefect):
    names = [p["name"] for p in rest_pools(prefect)]
    first = pools(worker_with_secrets, limit=1)
    assert [p["name"] for p in first["work_pools"]] == names[:1] and first["truncated"] is True
    type_filter = {"type": {"any_": ["kubernetes", "docker"]}}
    expected = [p["name"] for p in rest_pools(prefect, type_filter)]
    got = pools(worker_with_secrets, filter=type_filter)
    assert [p["name"] for p in got["work_pools"]] == expected and 0 < len(expected) < len(names)


def test_name_lookup_is_compact(worker_with_secrets, prefect):
    name = rest_pools(prefect)[0]["name"]
    got = pools(worker_with_secrets, filter={"name": {"any_": [name]}})
    assert got["detail"] is False and got["count"] == 1 and list(got["work_pools"][0]) == COMPACT


def test_detail_lists_queues_workers_and_hints(worker_with_secrets, prefect):
    all_pools = {p["name"]: p for p in rest_pools(prefect)}
    got = pools(worker_with_secrets, filter={"id": {"any_": [p["id"] for p in all_pools.values()]}})
    assert got["detail"] is True and got["count"] == len(all_pools)
    saw_online = saw_idle_limited = saw_quiet = False
    for item in got["work_pools"]:
        assert list(item) == DETAIL
        queues = rest_queues(prefect, item["name"])
        assert item["work_queues"] == [
            {k: q[k] for k in ("id", "name", "concurrency_limit", "priority", "is_paused")} for q in queues]
        assert item["work_queue_count"] == len(queues)
        assert item["active_workers"] == online_workers(prefect, item["name"])
        assert item["description"] == all_pools[item["name"]]["description"]
        expected_hints = 0
        for q in queues:
            if q["is_paused"]:
                assert any(f"'{q['name']}' is paused; runs assigned to it will not start" in h for h in item["diagnostic_hints"])
                expected_hints += 1
            if q["concurrency_limit"] is not None:
                wording = "likely bottleneck" if item["active_workers"] else "but the work pool has no active workers"
                assert any(f"'{q['name']}' has concurrency_limit={q['concurrency_limit']}" in h and wording in h
                           for h in item["diagnostic_hints"]), item["diagnostic_hints"]
                expected_hints += 1
                saw_idle_limited |= item["active_workers"] == 0
        assert len(item["diagnostic_hints"]) == expected_hints
        saw_online |= item["active_workers"] == 1
        saw_quiet |= expected_hints == 0
    assert saw_online and saw_idle_limited and saw_quiet, "the fixture should cover these cases"
    assert any(p["description"] is None for p in got["work_pools"])


def test_request_counts(worker_with_secrets, prefect):
    pool = next(p for p in rest_pools(prefect) if p["name"] == "process-pool")
    assert upstream_requests(worker_with_secrets, {}) == 1
    assert upstream_requests(worker_with_secrets, {"filter": {"id": {"any_": [pool["id"]]}}}) == 3


def test_unknown_id_is_an_empty_detail(worker_with_secrets):
    got = pools(worker_with_secrets, filter={"id": {"any_": [MISSING]}})
    assert got["success"] is True and got["detail"] is True and got["count"] == 0 and got["work_pools"] == []


@pytest.mark.parametrize("bad_filter, named", [
    ({"status": {"any_": ["READY"]}}, "`status`"),
    ({"name": {"like_": "process%"}}, "`name.like_`"),
    ({"id": {"any_": ["not-a-uuid"]}}, "`id.any_`"),
])
def test_bad_filters_are_errors_naming_the_key(worker_with_secrets, bad_filter, named):
    result = call_tool(worker_with_secrets, "get_work_pools", {"filter": bad_filter})
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["work_pools"] == [] and got["count"] == 0 and "detail" not in got
    assert got["error"].startswith("Failed to fetch work pools: ") and named in got["error"]


def test_the_largest_limit_is_served_despite_the_server_page_cap(worker_with_secrets, prefect):
    got = pools(worker_with_secrets, limit=200)
    assert got["count"] == len(rest_pools(prefect)) and got["truncated"] is False
