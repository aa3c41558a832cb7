"""Per-request credentials: headers or Worker secrets, never mixed, never remembered."""

from __future__ import annotations

import base64

import pytest

from harness import post_json
from mcp_client import call_tool, envelope


def failed(result) -> str:
    got = envelope(result)
    assert result.is_error and got["success"] is False, got
    return got["error"]


def test_secret_mode_uses_basic_auth(worker_with_secrets):
    assert envelope(call_tool(worker_with_secrets, "get_flows", {"limit": 2}))["count"] == 2


def test_header_mode_with_auth_string(worker_without_secrets, header_credentials, prefect):
    got = envelope(call_tool(worker_without_secrets, "get_flows", {"limit": 2}, headers=header_credentials))
    expected = prefect.rest("POST", "flows/filter", {"sort": "NAME_ASC", "limit": 2})
    assert [f["id"] for f in got["flows"]] == [f["id"] for f in expected]


def test_header_names_are_case_insensitive(worker_without_secrets, prefect):
    headers = {"X-PREFECT-API-URL": prefect.api_url, "x-prefect-api-auth-string": prefect.auth_string}
    assert envelope(call_tool(worker_without_secrets, "get_flows", {"limit": 1}, headers=headers))["success"]


def test_wrong_auth_string_is_a_401(worker_without_secrets, prefect):
    headers = {"X-Prefect-Api-Url": prefect.api_url, "X-Prefect-Api-Auth-String": "mcp-user:wrong"}
    error = failed(call_tool(worker_without_secrets, "get_flows", {}, headers=headers))
    assert error.startswith("Failed to fetch flows: 401")


def test_header_url_never_gets_the_secret_credentials(worker_with_secrets, prefect):
    # The secret URL is the same server, but the URL came from a header: no secret auth.
    error = failed(call_tool(worker_with_secrets, "get_flows", {}, headers={"X-Prefect-Api-Url": prefect.api_url}))
    assert "401" in error


def test_header_url_without_credentials_sends_no_authorization(worker_with_secrets, fake):
    fake.requests.clear()
    envelope(call_tool(worker_with_secrets, "get_flows", {}, headers={"X-Prefect-Api-Url": fake.api_url("ok")}))
    assert len(fake.requests) == 1 and "authorization" not in fake.requests[0]["headers"]


def test_key_wins_over_auth_string_in_headers(worker_without_secrets, fake):
    fake.requests.clear()
    headers = {"X-Prefect-Api-Url": fake.api_url("ok"), "X-Prefect-Api-Key": "pnu_test_key",
               "X-Prefect-Api-Auth-String": "a:b"}
    envelope(call_tool(worker_without_secrets, "get_flows", {}, headers=headers))
    assert fake.requests[0]["headers"]["authorization"] == "Bearer pnu_test_key"
    assert fake.requests[0]["headers"]["x-prefect-api-version"] == "0.8.4"


def test_auth_string_splits_at_the_first_colon(worker_without_secrets, fake):
    fake.requests.clear()
    headers = {"X-Prefect-Api-Url": fake.api_url("ok"), "X-Prefect-Api-Auth-String": "alice:pa:ss"}
    envelope(call_tool(worker_without_secrets, "get_flows", {}, headers=headers))
    assert fake.requests[0]["headers"]["authorization"] == "Basic " + base64.b64encode(b"alice:pa:ss").decode()


def test_credentials_without_url_name_the_missing_header(worker_with_secrets, prefect):
    error = failed(call_tool(worker_with_secrets, "get_flows", {},
                             headers={"X-Prefect-Api-Auth-String": prefect.auth_string}))
    assert "X-Prefect-Api-Url header is required" in error


def test_nothing_configured_names_header_and_secret(worker_without_secrets):
    error = failed(call_tool(worker_without_secrets, "get_identity", {}))
    assert "X-Prefect-Api-Url" in error and "PREFECT_API_URL" in error


def test_credentials_do_not_carry_over_between_requests(worker_with_secrets, prefect):
    """Same client, same connection: a bad header on one call must not affect the next."""
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    status, headers, _ = post_json(worker_with_secrets, initialize)
    assert status == 200 and "mcp-session-id" not in {k.lower() for k in headers}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_flows", "arguments": {"limit": 1}}}
    version = {"MCP-Protocol-Version": "2025-11-25"}
    bad = {**version, "X-Prefect-Api-Url": prefect.api_url, "X-Prefect-Api-Auth-String": "mcp-user:wrong"}
    _, _, first = post_json(worker_with_secrets, call, bad)
    assert first["result"]["structuredContent"]["success"] is False
    _, _, second = post_json(worker_with_secrets, call, version)
    assert second["result"]["structuredContent"]["success"] is True
