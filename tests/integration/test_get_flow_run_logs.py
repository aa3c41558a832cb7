"""get_flow_run_logs against the seeded Prefect server: logs equal the REST API's own answer."""

from __future__ import annotations

import pytest

from harness import post_json
from mcp_client import call_tool, envelope, error_text

MISSING = "00000000-0000-4000-8000-000000000000"
LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


def rest_logs(prefect, run_id: str) -> list[dict]:
    """Every log line of a run, oldest first (paged: the server serves 200 per request)."""
    found: list[dict] = []
    while True:
        page = prefect.rest("POST", "logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}},
                                                     "sort": "TIMESTAMP_ASC", "limit": 200, "offset": len(found)})
        found += page
        if len(page) < 200:
            return found


def logs(worker, **arguments) -> dict:
    result = call_tool(worker, "get_flow_run_logs", arguments)
    assert not result.is_error, result
    return envelope(result)


def run_id(prefect, name: str) -> str:
    return prefect.manifest["flow_runs"][name]["id"]


def test_default_returns_the_earliest_hundred(worker_with_secrets, prefect):
    verbose = run_id(prefect, prefect.manifest["verbose_flow_run"])
    expected = rest_logs(prefect, verbose)
    assert len(expected) > 200
    got = logs(worker_with_secrets, flow_run_id=verbose)
    assert list(got) == ["success", "flow_run_id", "logs", "truncated", "limit", "error"]
    assert (got["success"], got["flow_run_id"], got["truncated"], got["limit"]) == (True, verbose, True, 100)
    assert [entry["message"] for entry in got["logs"]] == [log["message"] for log in expected[:100]]
    assert got["logs"][0]["message"].startswith("Beginning flow run")
    for entry, log in zip(got["logs"], expected):
        assert list(entry) == ["timestamp", "level", "level_name", "message", "name"]
        assert entry["level"] == log["level"] and entry["level_name"] == LEVEL_NAMES[log["level"]]
        assert entry["name"] == log["name"] and entry["timestamp"].endswith("+00:00")


def test_limits_above_200_are_paged_and_exact(worker_with_secrets, prefect):
    verbose = run_id(prefect, prefect.manifest["verbose_flow_run"])
    expected = rest_logs(prefect, verbose)
    assert 200 < len(expected) < 1000
    everything = logs(worker_with_secrets, flow_run_id=verbose, limit=1000)
    assert [e["message"] for e in everything["logs"]] == [log["message"] for log in expected]
    assert everything["truncated"] is False and everything["limit"] == 1000
    exact = logs(worker_with_secrets, flow_run_id=verbose, limit=len(expected))
    assert len(exact["logs"]) == len(expected) and exact["truncated"] is False
    one_short = logs(worker_with_secrets, flow_run_id=verbose, limit=len(expected) - 1)
    assert len(one_short["logs"]) == len(expected) - 1 and one_short["truncated"] is True


def test_paging_stays_within_a_few_requests(worker_with_secrets, prefect):
    verbose = run_id(prefect, prefect.manifest["verbose_flow_run"])
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_flow_run_logs", "arguments": {"flow_run_id": verbose, "limit": 1000}}}
    status, headers, _ = post_json(worker_with_secrets, call, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200
    assert int({k.lower(): v for k, v in headers.items()}["x-upstream-requests"]) <= 6


def test_small_limit_and_a_short_run(worker_with_secrets, prefect):
    verbose = run_id(prefect, prefect.manifest["verbose_flow_run"])
    five = logs(worker_with_secrets, flow_run_id=verbose, limit=5)
    assert len(five["logs"]) == 5 and five["truncated"] is True
    short = run_id(prefect, "load-ok")
    expected = rest_logs(prefect, short)
    assert 0 < len(expected) <= 200
    got = logs(worker_with_secrets, flow_run_id=short, limit=200)
    assert [e["message"] for e in got["logs"]] == [log["message"] for log in expected]
    assert got["truncated"] is False and got["logs"][-1]["message"].startswith("Finished in state Completed")


@pytest.mark.parametrize("name, needle", [
    ("transform-failed", "Traceback"),
    ("cleanup-failed-adhoc", "Traceback"),
    ("cleanup-timed-out", "Flow run exceeded timeout of"),
])
def test_failed_runs_log_an_error(worker_with_secrets, prefect, name, needle):
    got = logs(worker_with_secrets, flow_run_id=run_id(prefect, name))
    errors = [e for e in got["logs"] if e["level_name"] == "ERROR"]
    assert any(needle in e["message"] for e in errors), errors
    assert got["truncated"] is False


@pytest.mark.parametrize("make_id", [
    lambda p: run_id(p, p.manifest["executed_flow_run_without_logs"]),
    lambda p: MISSING,
], ids=["run-without-logs", "unknown-run"])
def test_no_logs_is_an_empty_success(worker_with_secrets, prefect, make_id):
    got = logs(worker_with_secrets, flow_run_id=make_id(prefect))
    assert (got["success"], got["logs"], got["truncated"]) == (True, [], False)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", ""])
def test_invalid_ids_are_failure_envelopes(worker_with_secrets, bad_id):
    result = call_tool(worker_with_secrets, "get_flow_run_logs", {"flow_run_id": bad_id})
    got = envelope(result)
    assert (got["success"], got["flow_run_id"], got["logs"], got["truncated"], got["limit"]) == (False, bad_id, [], False, 100)
    assert got["error"].startswith("Failed to fetch logs: ") and "invalid UUID" in got["error"]


@pytest.mark.parametrize("arguments, named", [
    ({"flow_run_id": MISSING, "limit": 1001}, "limit: expected an integer from 1 to 1000, got 1001"),
    ({"flow_run_id": MISSING, "limit": 0}, "limit"),
    ({}, "flow_run_id"),
])
def test_invalid_arguments_are_tool_errors(worker_with_secrets, arguments, named):
    assert named in error_text(call_tool(worker_with_secrets, "get_flow_run_logs", arguments))


def test_missing_credentials_are_an_envelope(worker_without_secrets):
    got = envelope(call_tool(worker_without_secrets, "get_flow_run_logs", {"flow_run_id": MISSING, "limit": 7}))
    assert (got["success"], got["flow_run_id"], got["limit"]) == (False, MISSING, 7)
    assert "X-Prefect-Api-Url" in got["error"]
