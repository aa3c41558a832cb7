"""get_deployments against the seeded Prefect server: results equal the REST API's own answer."""

from __future__ import annotations

import pytest

from harness import post_json
from mcp_client import call_tool, envelope

MISSING = "00000000-0000-4000-8000-000000000000"
COMPACT = ["id", "name", "slug", "description", "flow_id", "flow_name", "tags", "work_pool_name", "work_queue_name",
           "schedules", "created", "updated", "paused", "enforce_parameter_schema", "global_concurrency_limit",
           "tag_concurrency_limits", "concurrency_options"]
DETAIL = ["parameters", "parameter_openapi_schema", "job_variables", "recent_runs", "work_pool", "diagnostic_hints"]


def rest_deployments(prefect, deployments_filter=None) -> list[dict]:
    return prefect.rest("POST", "deployments/filter", {"deployments": deployments_filter, "sort": "NAME_ASC", "limit": 200})


def rest_recent_runs(prefect, deployment_id: str) -> list[dict]:
    return prefect.rest("POST", "flow_runs/filter", {
        "flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "sort": "START_TIME_DESC", "limit": 10})


def deployment_id(prefect, full_name: str) -> str:
    return prefect.manifest["deployments"][full_name]["id"]


def deployments(worker, **arguments) -> dict:
    result = call_tool(worker, "get_deployments", arguments)
    assert not result.is_error, result
    return envelope(result)


def detail_of(worker, prefect, *full_names) -> list[dict]:
    got = deployments(worker, filter={"id": {"any_": [deployment_id(prefect, n) for n in full_names]}})
    assert got["detail"] is True and got["count"] == len(full_names)
    return got["deployments"]


def upstream_requests(worker, arguments) -> int:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_deployments", "arguments": arguments}}
    status, headers, body = post_json(worker, call, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200 and body["result"]["structuredContent"]["success"] is True, body
    return int({k.lower(): v for k, v in headers.items()}["x-upstream-requests"])


def test_default_lists_every_deployment_compact_by_name(worker_with_secrets, prefect):
    expected = rest_deployments(prefect)
    flows = {f["id"]: f["name"] for f in prefect.rest("POST", "flows/filter", {"limit": 200})}
    tag_limits = prefect.rest("POST", "concurrency_limits/filter", {"limit": 200})
    got = deployments(worker_with_secrets)
    assert list(got) == ["success", "detail", "count", "deployments", "truncated", "error"]
    assert got["success"] is True and got["detail"] is False and got["truncated"] is False
    assert got["count"] == len(expected) >= 6
    for item, raw in zip(got["deployments"], expected):
        assert list(item) == COMPACT
        assert (item["id"], item["name"], item["description"], item["tags"]) == \
               (raw["id"], raw["name"], raw["description"], raw["tags"])
        assert item["flow_name"] == flows[raw["flow_id"]] and item["slug"] == f"{flows[raw['flow_id']]}/{raw['name']}"
        assert (item["paused"], item["work_pool_name"], item["work_queue_name"]) == \
               (raw["paused"], raw["work_pool_name"], raw["work_queue_name"])
        assert item["created"].endswith("+00:00")
        limit = raw["global_concurrency_limit"]
        if limit is None:
            assert item["global_concurrency_limit"] is None and item["concurrency_options"] is None
        else:
            assert item["global_concurrency_limit"] == {
                "id": limit["id"], "name": f"deployment:{raw['id']}", "limit": limit["limit"], "active": limit["active"],
                "active_slots": limit["active_slots"], "slot_decay_per_second": limit["slot_decay_per_second"],
                "over_limit": limit["active_slots"] >= limit["limit"]}
            assert item["concurrency_options"] == {"collision_strategy": raw["concurrency_options"]["collision_strategy"]}
        assert item["tag_concurrency_limits"] == [
            {"id": t["id"], "name": f"tag:{t['tag']}", "limit": t["concurrency_limit"], "active": len(t["active_slots"]) > 0,
             "active_slots": len(t["active_slots"]), "slot_decay_per_second": 0.0,
             "over_limit": len(t["active_slots"]) >= t["concurrency_limit"]}
            for t in tag_limits if t["tag"] in raw["tags"]]
        assert [s["active"] for s in item["schedules"]] == [s["active"] for s in raw["schedules"]]
    limits = [d["global_concurrency_limit"] for d in got["deployments"] if d["global_concurrency_limit"]]
    assert {l["over_limit"] for l in limits} == {True, False}, "fixture: one saturated and one free limit"
    assert {d["concurrency_options"]["collision_strategy"] for d in got["deployments"] if d["concurrency_options"]} \
        == {"ENQUEUE", "CANCEL_NEW"}
    assert any(d["tag_concurrency_limits"] for d in got["deployments"])


def test_bare_deployment_and_schedule_texts(worker_with_secrets, prefect):
    items = {f"{d['flow_name']}/{d['name']}": d for d in deployments(worker_with_secrets)["deployments"]}
    bare = items["etl-load/load-bare"]
    assert (bare["description"], bare["work_pool_name"], bare["schedules"], bare["tags"]) == (None, None, [], [])
    texts = {name: [s["schedule"] for s in d["schedules"]] for name, d in items.items()}
    assert "0 6 * * *" in texts["etl-transform/transform-daily"][0] and "Europe/Berlin" in texts["etl-transform/transform-daily"][0]
    assert "3600" in texts["etl-extract/extract-hourly"][0]
    assert "FREQ=WEEKLY" in texts["etl-pipeline/pipeline-nightly"][0]
    assert items["ml-train-model/train-weekly"]["schedules"][0]["active"] is False
    assert items["etl-transform/transform-daily"]["schedules"][0]["schedule_json"]["cron"] == "0 6 * * *"


@pytest.mark.parametrize("make_filter", [
    lambda p: {"tags": {"all_": ["nightly"]}},
    lambda p: {"name": {"like_": "ly"}},
    lambda p: {"work_queue_name": {"any_": ["critical", "gpu"]}},
    lambda p: {"paused": {"eq_": True}},
    lambda p: {"paused": {"eq_": False}},
    lambda p: {"flow_or_deployment_name": {"like_": "transform"}},
], ids=["tags-all", "name-like", "work-queue", "paused", "not-paused", "flow-or-deployment-name"])
def test_filters_match_the_server(worker_with_secrets, prefect, make_filter):
    deployments_filter = make_filter(prefect)
    expected = [d["id"] for d in rest_deployments(prefect, deployments_filter)]
    got = deployments(worker_with_secrets, filter=deployments_filter)
    assert [d["id"] for d in got["deployments"]] == expected
    assert 0 < len(expected) < len(rest_deployments(prefect)), "the fixture should make this filter selective"


def test_paused_filters_split_the_deployments(worker_with_secrets, prefect):
    paused = deployments(worker_with_secrets, filter={"paused": {"eq_": True}})["deployments"]
    active = deployments(worker_with_secrets, filter={"paused": {"eq_": False}})["deployments"]
    assert len(paused) >= 2 and all(d["paused"] for d in paused) and not any(d["paused"] for d in active)
    assert len(paused) + len(active) == len(rest_deployments(prefect))


def test_limit_takes_the_first_by_name(worker_with_secrets, prefect):
    names = [d["name"] for d in rest_deployments(prefect)]
    got = deployments(worker_with_secrets, limit=2)
    assert [d["name"] for d in got["deployments"]] == names[:2] and got["truncated"] is True


def test_detail_of_a_fully_configured_deployment(worker_with_secrets, prefect):
    [item] = detail_of(worker_with_secrets, prefect, "ml-train-model/train-weekly")
    raw = rest_deployments(prefect, {"id": {"any_": [item["id"]]}})[0]
    assert list(item) == COMPACT + DETAIL + ["pull_steps", "entrypoint"]
    assert item["parameters"] == raw["parameters"] and item["job_variables"] == raw["job_variables"]
    assert item["parameter_openapi_schema"] == raw["parameter_openapi_schema"] and item["parameter_openapi_schema"]["properties"]
    assert item["pull_steps"] == raw["pull_steps"] and item["entrypoint"] == raw["entrypoint"]
    pool = prefect.rest("POST", "work_pools/filter", {"work_pools": {"name": {"any_": [raw["work_pool_name"]]}}})[0]
    assert {k: item["work_pool"][k] for k in ("id", "name", "type", "status", "is_paused", "concurrency_limit")} == \
           {k: pool[k] for k in ("id", "name", "type", "status", "is_paused", "concurrency_limit")}
    assert item["work_pool"]["work_queue_count"] == len(item["work_pool"]["work_queues"]) >= 1
    assert "active_workers" in item["work_pool"] and "diagnostic_hints" in item["work_pool"]


def test_detail_recent_runs_and_blocking_hint(worker_with_secrets, prefect):
    [item] = detail_of(worker_with_secrets, prefect, "etl-extract/extract-hourly")
    expected = rest_recent_runs(prefect, item["id"])
    assert [r["id"] for r in item["recent_runs"]] == [r["id"] for r in expected]
    assert [r["state"] for r in item["recent_runs"]] == [r["state_name"] for r in expected]
    assert all(list(r) == ["id", "name", "state", "created", "start_time"] for r in item["recent_runs"])
    running = sum(r["state"] == "Running" for r in item["recent_runs"])
    late = sum(r["state"] == "Late" for r in item["recent_runs"])
    limit = item["global_concurrency_limit"]["limit"]
    assert running >= limit and late >= 1, "fixture: saturated limit with a Late run"
    assert item["diagnostic_hints"] == [
        f"Deployment concurrency limit 'deployment:{item['id']}' is likely blocking runs: {running} recent run(s) are "
        f"Running against limit={limit}, and {late} recent run(s) are Late for this deployment."]
    assert item["work_pool"]["name"] == "process-pool" and item["work_pool"]["active_workers"] == 1


def test_two_ids_each_get_their_own_runs(worker_with_secrets, prefect):
    items = detail_of(worker_with_secrets, prefect, "etl-transform/transform-daily", "etl-extract/extract-hourly")
    assert [d["name"] for d in items] == sorted(d["name"] for d in items)
    for item in items:
        assert [r["id"] for r in item["recent_runs"]] == [r["id"] for r in rest_recent_runs(prefect, item["id"])]
    transform = next(d for d in items if d["name"] == "transform-daily")
    assert transform["diagnostic_hints"] == [] and "pull_steps" not in transform
    assert transform["work_pool"]["status"] == "NOT_READY"


def test_six_ids_are_compact(worker_with_secrets, prefect):
    ids = [d["id"] for d in rest_deployments(prefect)][:6]
    got = deployments(worker_with_secrets, filter={"id": {"any_": ids}})
    assert got["detail"] is False and got["count"] == 6 and all(list(d) == COMPACT for d in got["deployments"])


def test_request_counts(worker_with_secrets, prefect):
    assert upstream_requests(worker_with_secrets, {}) == 3
    one = {"filter": {"id": {"any_": [deployment_id(prefect, "etl-extract/extract-hourly")]}}}
    assert upstream_requests(worker_with_secrets, one) == 7


def test_unknown_id_is_an_empty_detail(worker_with_secrets):
    got = deployments(worker_with_secrets, filter={"id": {"any_": [MISSING]}})
    assert got["success"] is True and got["detail"] is True and got["count"] == 0 and got["deployments"] == []


@pytest.mark.parametrize("bad_filter, named", [
    ({"bogus": {"eq_": 1}}, "`bogus`"),
    ({"paused": {"ne_": True}}, "`paused.ne_`"),
    ({"id": {"any_": ["not-a-uuid"]}}, "`id.any_`"),
])
def test_bad_filters_are_errors_naming_the_key(worker_with_secrets, bad_filter, named):
    result = call_tool(worker_with_secrets, "get_deployments", {"filter": bad_filter})
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["deployments"] == [] and got["count"] == 0 and "detail" not in got
    assert got["error"].startswith("Failed to fetch deployments: ") and named in got["error"]


def test_the_largest_limit_is_served_despite_the_server_page_cap(worker_with_secrets, prefect):
    got = deployments(worker_with_secrets, limit=200)
    assert got["count"] == len(rest_deployments(prefect)) and got["truncated"] is False
