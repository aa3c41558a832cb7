"""get_task_runs against the seeded Prefect server: results equal the REST API's own answer."""

from __future__ import annotations

import pytest

from mcp_client import call_tool, envelope, error_text

MISSING = "00000000-0000-4000-8000-000000000000"
KEYS = ["id", "name", "task_key", "flow_run_id", "state_type", "state_name", "state_message", "created", "updated",
        "start_time", "end_time", "duration", "task_inputs", "tags", "cache_expiration", "cache_key", "retry_count",
        "max_retries"]


def rest_task_runs(prefect, task_filter=None, limit=200) -> list[dict]:
    return prefect.rest("POST", "task_runs/filter",
                        {"task_runs": task_filter, "sort": "EXPECTED_START_TIME_DESC", "limit": limit})


def task_runs(worker, **arguments) -> dict:
    result = call_tool(worker, "get_task_runs", arguments)
    assert not result.is_error, result
    return envelope(result)


def test_default_lists_task_runs_by_expected_start(worker_with_secrets, prefect):
    expected = rest_task_runs(prefect, limit=50)
    got = task_runs(worker_with_secrets)
    assert list(got) == ["success", "count", "task_runs", "truncated", "error"]
    assert got["success"] is True and got["error"] is None
    assert [t["id"] for t in got["task_runs"]] == [t["id"] for t in expected]
    assert got["count"] == len(expected) and got["truncated"] is (len(rest_task_runs(prefect)) > 50)
    by_id = {t["id"]: t for t in expected}
    for item in got["task_runs"]:
        assert list(item) == KEYS
        task = by_id[item["id"]]
        assert item["task_inputs"] == {}
        assert item["tags"] == task["tags"] and item["flow_run_id"] == task["flow_run_id"]
        assert item["retry_count"] == max(task["run_count"] - 1, 0)
        assert item["max_retries"] == task["empirical_policy"]["retries"]
        assert item["state_message"] == task["state"]["message"]


def test_limit_and_exact_truncation(worker_with_secrets, prefect):
    total = len(rest_task_runs(prefect))
    assert 2 < total <= 200
    two = task_runs(worker_with_secrets, limit=2)
    assert two["count"] == 2 and two["truncated"] is True
    everything = task_runs(worker_with_secrets, limit=total)
    assert everything["count"] == total and everything["truncated"] is False


@pytest.mark.parametrize("make_filter", [
    lambda p: {"state": {"type": {"any_": ["FAILED"]}}},
    lambda p: {"state": {"type": {"any_": ["RUNNING"]}}},
    lambda p: {"name": {"like_": "fetch"}},
    lambda p: {"tags": {"all_": [next(t for r in rest_task_runs(p) for t in r["tags"])]}},
    lambda p: {"flow_run_id": {"any_": [p.manifest["flow_runs"]["transform-retried"]["id"]]}},
    lambda p: {"subflow_runs": {"exists_": True}},
], ids=["failed", "running", "name-like", "tag", "flow-run", "subflow-placeholders"])
def test_filters_match_the_server(worker_with_secrets, prefect, make_filter):
    task_filter = make_filter(prefect)
    expected = [t["id"] for t in rest_task_runs(prefect, task_filter)]
    got = task_runs(worker_with_secrets, filter=task_filter, limit=200)
    assert [t["id"] for t in got["task_runs"]] == expected
    assert 0 < len(expected) < len(rest_task_runs(prefect)), "the fixture should make this filter selective"


def test_failed_task_runs_have_a_message(worker_with_secrets):
    got = task_runs(worker_with_secrets, filter={"state": {"type": {"any_": ["FAILED"]}}})
    assert got["count"] > 0 and all(t["state_message"] for t in got["task_runs"])


def test_retried_task_run_counts_retries(worker_with_secrets, prefect):
    retried = prefect.manifest["task_runs"]["transform-retried/fetch-rows"]
    got = task_runs(worker_with_secrets, filter={"id": {"any_": [retried["id"]]}})
    assert got["count"] == 1
    assert (got["task_runs"][0]["retry_count"], got["task_runs"][0]["max_retries"]) == (2, 2)


def test_unknown_id_is_an_empty_success(worker_with_secrets):
    got = task_runs(worker_with_secrets, filter={"id": {"any_": [MISSING]}})
    assert (got["success"], got["count"], got["task_runs"]) == (True, 0, [])


@pytest.mark.parametrize("bad_filter, named", [
    ({"state": {"kind": "FAILED"}}, "`state.kind`"),
    ({"id": {"any_": ["not-a-uuid"]}}, "`id.any_`"),
    ({"state": {"type": {"any_": ["EXPLODED"]}}}, "`state.type.any_`"),
    ({"flow_run_id": {"not_any_": [MISSING]}}, "`flow_run_id.not_any_`"),
])
def test_bad_filters_are_errors_naming_the_key(worker_with_secrets, bad_filter, named):
    result = call_tool(worker_with_secrets, "get_task_runs", {"filter": bad_filter})
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["task_runs"] == [] and got["count"] == 0
    assert got["error"].startswith("Failed to fetch task runs: ") and named in got["error"]


def test_invalid_limit_is_a_tool_error(worker_with_secrets):
    assert "limit" in error_text(call_tool(worker_with_secrets, "get_task_runs", {"limit": 0}))


def test_missing_credentials_are_an_envelope(worker_without_secrets):
    got = envelope(call_tool(worker_without_secrets, "get_task_runs", {}))
    assert got["success"] is False and got["task_runs"] == [] and "X-Prefect-Api-Url" in got["error"]
