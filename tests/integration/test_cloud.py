"""Prefect Cloud against a fake Cloud on loopback: review_rate_limits, list_workspaces,
get_identity's Cloud branch, workspace_id switching (by UUID or by handles), and the
per-request decision to offer Cloud-only tools."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from fake_cloud import (ACCOUNT_ID, LAB_ACCOUNT_ID, LAB_WORKSPACE_ID, OTHER_WORKSPACE_ID, USER, WORKSPACE_ID,
                        WORKSPACES, FakeCloud)
from harness import Worker, post_json
from mcp_client import call_tool, envelope, error_text, list_tool_names

KEY = "pnu_caller_key_123"
ENV_KEY = "pnu_operator_env_key_456"
KEYS = ["artifacts", "block_documents", "block_schemas", "block_types", "concurrency_limits", "deployments", "flows",
        "runs", "variables", "work_pools", "work_queues", "reading-events", "writing-events", "reading-logs",
        "writing-logs"]

WORKED_EXAMPLE = {
    "account": ACCOUNT_ID,
    "minutes": ["2025-09-30T00:00:00Z", "2025-09-30T00:01:00Z", "2025-09-30T00:02:00Z", "2025-09-30T00:05:00Z"],
    "keys": {"runs": {"requested": [50, 110, 105, 10], "granted": [50, 100, 100, 10]},
             "deployments": {"requested": [1, 60, 1, 70], "granted": [1, 50, 1, 50]}},
}


@pytest.fixture(scope="module")
def cloud():
    server = FakeCloud(KEY)
    yield server
    server.close()


@pytest.fixture
def fake(cloud):
    cloud.requests.clear()
    cloud.key = KEY
    cloud.usage = {"account": ACCOUNT_ID, "minutes": [], "keys": {}}
    return cloud


@pytest.fixture(scope="module")
def worker_with_cloud_secrets(cloud):
    """A Worker configured for a Cloud workspace with the operator's own API key."""
    worker = Worker("cloud-secrets", {"PREFECT_API_URL": cloud.workspace_url(), "PREFECT_API_KEY": ENV_KEY})
    try:
        yield worker.wait_ready().url
    finally:
        worker.stop()


def cloud_headers(fake: FakeCloud, **ids) -> dict[str, str]:
    return {"X-Prefect-Api-Url": fake.workspace_url(**ids), "X-Prefect-Api-Key": KEY}


def rate_limits(worker: str, headers: dict[str, str], **arguments) -> dict:
    result = call_tool(worker, "review_rate_limits", arguments, headers=headers)
    return envelope(result)


def test_rate_limits_group_the_worked_example(worker_without_secrets, fake):
    fake.usage = WORKED_EXAMPLE
    got = rate_limits(worker_without_secrets, cloud_headers(fake), since="2025-09-30T00:00:00Z",
                      until="2025-09-30T01:00:00Z")
    assert got["success"] is True and got["error"] is None
    assert got["account_id"] == ACCOUNT_ID
    assert (got["since"], got["until"]) == ("2025-09-30T00:00:00+00:00", "2025-09-30T01:00:00+00:00")
    assert got["summary"] == {"total_throttling_periods": 2, "affected_keys": ["deployments", "runs"],
                              "first_throttled_at": "2025-09-30T00:01:00Z",
                              "last_throttled_at": "2025-09-30T00:05:00Z", "total_minutes_throttled": 3}
    assert got["throttling_periods"] == [
        {"start": "2025-09-30T00:01:00Z", "end": "2025-09-30T00:02:00Z", "duration_minutes": 2, "keys_affected": [
            {"key": "deployments", "total_denied": 10, "peak_denied_per_minute": 10},
            {"key": "runs", "total_denied": 15, "peak_denied_per_minute": 10}]},
        {"start": "2025-09-30T00:05:00Z", "end": "2025-09-30T00:05:00Z", "duration_minutes": 1, "keys_affected": [
            {"key": "deployments", "total_denied": 20, "peak_denied_per_minute": 20}]},
    ]
    [request] = fake.requests
    assert request["path"] == f"/api/accounts/{ACCOUNT_ID}/rate-limits/usage"
    assert request["query"] == [("since", "2025-09-30T00:00:00+00:00"), ("until", "2025-09-30T01:00:00+00:00")] + [
        ("keys", key) for key in KEYS]
    assert request["headers"]["authorization"] == f"Bearer {KEY}"


def test_rate_limits_default_window_and_empty_usage(worker_without_secrets, fake):
    got = rate_limits(worker_without_secrets, cloud_headers(fake))
    now = datetime.now(timezone.utc)
    assert got["success"] is True and got["throttling_periods"] == []
    assert got["summary"]["total_throttling_periods"] == 0 and got["summary"]["affected_keys"] == []
    since, until = datetime.fromisoformat(got["since"]), datetime.fromisoformat(got["until"])
    assert abs((since - (now - timedelta(days=3))).total_seconds()) < 5
    assert abs((until - (now - timedelta(minutes=1))).total_seconds()) < 5
    assert dict(fake.requests[0]["query"])["since"] == got["since"]


def test_rate_limits_make_one_request(worker_without_secrets, fake):
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "review_rate_limits", "arguments": {}}}
    status, headers, body = post_json(worker_without_secrets, call, {"MCP-Protocol-Version": "2025-11-25",
                                                                      **cloud_headers(fake)})
    assert status == 200 and body["result"]["structuredContent"]["success"] is True
    assert {k.lower(): v for k, v in headers.items()}["x-upstream-requests"] == "1"
    assert not any("csrf" in r["path"] for r in fake.requests)


def test_invalid_dates_are_tool_errors(worker_without_secrets, fake):
    text = error_text(call_tool(worker_without_secrets, "review_rate_limits", {"since": "not-a-date"},
                                headers=cloud_headers(fake)))
    assert "since" in text and "ISO 8601" in text
    assert fake.requests == []


def test_rate_limits_on_a_self_hosted_url_say_cloud_only(worker_without_secrets, fake):
    headers = {"X-Prefect-Api-Url": "http://127.0.0.1:9/api", "X-Prefect-Api-Key": KEY}
    got = rate_limits(worker_without_secrets, headers)
    assert got["success"] is False
    assert {k: v for k, v in got.items() if k not in ("success", "error")} == {
        "account_id": None, "since": None, "until": None, "summary": None, "throttling_periods": None}
    assert got["error"].startswith("Failed to fetch rate limits: ") and "only on Prefect Cloud" in got["error"]


CLOUD_ONLY = ["review_rate_limits", "list_workspaces"]


def test_cloud_tools_are_listed_per_request(worker_without_secrets, worker_with_cloud_secrets, fake):
    assert list_tool_names(worker_without_secrets, headers=cloud_headers(fake))[-2:] == CLOUD_ONLY
    oss = {"X-Prefect-Api-Url": "http://127.0.0.1:9/api"}
    for tool in CLOUD_ONLY:
        assert tool not in list_tool_names(worker_without_secrets, headers=oss)
        assert tool not in list_tool_names(worker_without_secrets)
        # A Worker configured for Cloud offers it, unless the request brings a self-hosted URL.
        assert tool in list_tool_names(worker_with_cloud_secrets)
        assert tool not in list_tool_names(worker_with_cloud_secrets, headers=oss)


def test_oss_configured_worker_serves_cloud_headers(worker_with_secrets, fake):
    assert "review_rate_limits" not in list_tool_names(worker_with_secrets)
    assert "review_rate_limits" in list_tool_names(worker_with_secrets, headers=cloud_headers(fake))
    assert rate_limits(worker_with_secrets, cloud_headers(fake))["success"] is True


def test_secret_key_is_never_used_for_a_caller_url(worker_with_cloud_secrets, fake):
    """W-213: a caller's Cloud URL without a key gets an error, not the operator's key."""
    fake.key = ENV_KEY
    url_only = {"X-Prefect-Api-Url": fake.workspace_url(workspace=OTHER_WORKSPACE_ID)}
    for tool in ("review_rate_limits", "get_identity"):
        got = envelope(call_tool(worker_with_cloud_secrets, tool, {}, headers=url_only))
        assert got["success"] is False and "API key" in got["error"] and "X-Prefect-Api-Key" in got["error"], got
    assert fake.requests == []
    # Without headers the Worker's own Cloud credentials apply.
    assert rate_limits(worker_with_cloud_secrets, {})["success"] is True
    assert [r["headers"]["authorization"] for r in fake.requests] == [f"Bearer {ENV_KEY}"]


def test_cloud_identity(worker_without_secrets, fake):
    got = envelope(call_tool(worker_without_secrets, "get_identity", {}, headers=cloud_headers(fake)))
    assert got["success"] is True
    identity = got["identity"]
    assert identity["api_url"] == fake.workspace_url()
    assert (identity["account_id"], identity["account_name"]) == (ACCOUNT_ID, "Acme Data")
    assert (identity["workspace_id"], identity["workspace_name"]) == (WORKSPACE_ID, f"workspace-{WORKSPACE_ID[:8]}")
    assert identity["user"] == USER
    assert identity["plan_type"] == "PRO" and identity["run_retention_days"] == 30 and identity["self_serve"] is True
    assert "version" not in identity
    assert sorted(r["path"] for r in fake.requests) == sorted(
        ["/api/me/", f"/api/accounts/{ACCOUNT_ID}", f"/api/accounts/{ACCOUNT_ID}/workspaces/{WORKSPACE_ID}"])
    assert {r["headers"]["authorization"] for r in fake.requests} == {f"Bearer {KEY}"}


def test_workspace_id_switches_workspace(worker_without_secrets, fake):
    arguments = {"workspace_id": OTHER_WORKSPACE_ID}
    got = envelope(call_tool(worker_without_secrets, "get_identity", arguments, headers=cloud_headers(fake)))
    assert got["identity"]["workspace_id"] == OTHER_WORKSPACE_ID
    assert got["identity"]["api_url"] == fake.workspace_url(workspace=OTHER_WORKSPACE_ID)
    assert f"/api/accounts/{ACCOUNT_ID}/workspaces/{OTHER_WORKSPACE_ID}" in [r["path"] for r in fake.requests]
    fake.requests.clear()
    flows = envelope(call_tool(worker_without_secrets, "get_flows", arguments, headers=cloud_headers(fake)))
    assert flows["success"] is True
    assert [r["path"] for r in fake.requests] == [f"/api/accounts/{ACCOUNT_ID}/workspaces/{OTHER_WORKSPACE_ID}/flows/filter"]


def test_short_ids_still_reach_the_account_api(worker_without_secrets, fake):
    """W-214: the account-level host is found for ids of any length."""
    got = envelope(call_tool(worker_without_secrets, "get_identity", {},
                             headers=cloud_headers(fake, account="short", workspace="ids")))
    assert got["success"] is True and got["identity"]["account_id"] == "short"
    assert sorted(r["path"] for r in fake.requests) == ["/api/accounts/short", "/api/accounts/short/workspaces/ids",
                                                        "/api/me/"]


def test_list_workspaces_covers_every_account_and_marks_the_one_in_use(worker_without_secrets, fake):
    got = envelope(call_tool(worker_without_secrets, "list_workspaces", {}, headers=cloud_headers(fake)))
    assert got["success"] is True and got["count"] == 3
    handles = {"acme-data/prod": True, "acme-data/staging": False, "ada-lab/sandbox": False}
    assert got["workspaces"] == [{**w, "handle": handle, "in_use": in_use}
                                 for w, (handle, in_use) in zip(WORKSPACES, handles.items())]
    assert [(r["method"], r["path"]) for r in fake.requests] == [("GET", "/api/me/workspaces")]
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
    # The workspace in use follows the request's API URL.
    got = envelope(call_tool(worker_without_secrets, "list_workspaces", {},
                             headers=cloud_headers(fake, workspace=OTHER_WORKSPACE_ID)))
    assert [w["handle"] for w in got["workspaces"] if w["in_use"]] == ["acme-data/staging"]


def test_list_workspaces_on_a_self_hosted_url_says_cloud_only(worker_without_secrets, fake):
    result = call_tool(worker_without_secrets, "list_workspaces", {},
                       headers={"X-Prefect-Api-Url": "http://127.0.0.1:9/api"})
    got = envelope(result)
    assert result.is_error and got["success"] is False and (got["workspaces"], got["count"]) == ([], 0)
    assert got["error"].startswith("Failed to list workspaces: ") and "only on Prefect Cloud" in got["error"]


def test_workspace_handles_reach_a_workspace_of_another_account(worker_without_secrets, fake):
    arguments = {"workspace_id": "ada-lab/sandbox"}
    flows = envelope(call_tool(worker_without_secrets, "get_flows", arguments, headers=cloud_headers(fake)))
    assert flows["success"] is True, flows
    assert [r["path"] for r in fake.requests] == [
        "/api/me/workspaces", f"/api/accounts/{LAB_ACCOUNT_ID}/workspaces/{LAB_WORKSPACE_ID}/flows/filter"]
    fake.requests.clear()
    got = envelope(call_tool(worker_without_secrets, "get_identity", arguments, headers=cloud_headers(fake)))
    assert got["identity"]["api_url"] == fake.workspace_url(account=LAB_ACCOUNT_ID, workspace=LAB_WORKSPACE_ID)


def test_unknown_workspace_handles_list_the_choices(worker_without_secrets, fake):
    result = call_tool(worker_without_secrets, "get_flows", {"workspace_id": "acme-data/nope"},
                       headers=cloud_headers(fake))
    got = envelope(result)
    assert result.is_error and got["success"] is False
    assert "acme-data/nope" in got["error"]
    assert "acme-data/prod, acme-data/staging, ada-lab/sandbox" in got["error"], got["error"]
    assert [r["path"] for r in fake.requests] == ["/api/me/workspaces"]


def test_workspace_handles_on_a_self_hosted_url_are_refused(worker_without_secrets, fake):
    result = call_tool(worker_without_secrets, "get_flows", {"workspace_id": "acme-data/prod"},
                       headers={"X-Prefect-Api-Url": "http://127.0.0.1:9/api"})
    got = envelope(result)
    assert result.is_error and "only applies to Prefect Cloud" in got["error"], got
    assert fake.requests == []
