"""Upstream faults (fake upstream): each becomes an actionable tool error without secrets."""

from __future__ import annotations

import time

import pytest

from harness import free_port
from mcp_client import call_tool, envelope

KEY = "pnu_supersecret_key_123"


@pytest.mark.parametrize("mode, expected", [
    ("status-500", "Prefect API unavailable: 500"),
    ("html-502", "Prefect API unavailable: 502"),
    ("status-503", "Prefect API unavailable: 503"),
    ("status-401", "401 Unauthorized"),
    ("status-403", "403 Forbidden"),
    ("status-404", "404 Not Found"),
    ("status-422", "422 from POST /status-422/api/flows/filter: Invalid limit: must be less than or equal to 200."),
    ("status-429", "retry after 17 seconds"),
    ("garbage", "not the JSON Prefect sends"),
    ("redirect", "302 redirect"),
    ("slow", "no answer within 1500 ms"),
    ("huge", "is larger than 8 MB and was not read"),
    ("huge-undeclared", "is larger than 8 MB and was not read"),
    ("truncated", "Network connection lost"),
])
def test_faults_become_actionable_errors(worker_without_secrets, fake, mode, expected):
    headers = {"X-Prefect-Api-Url": fake.api_url(mode), "X-Prefect-Api-Key": KEY}
    started = time.monotonic()
    result = call_tool(worker_without_secrets, "get_flows", {}, headers=headers)
    elapsed = time.monotonic() - started
    got = envelope(result)
    assert result.is_error and got["success"] is False
    assert expected in got["error"], got["error"]
    assert KEY not in got["error"] and KEY not in result.content[0].text
    assert "<html>" not in got["error"]
    assert elapsed < 10


def test_redirects_are_not_followed(worker_without_secrets, fake):
    fake.requests.clear()
    call_tool(worker_without_secrets, "get_flows", {}, headers={"X-Prefect-Api-Url": fake.api_url("redirect")})
    assert [r["path"] for r in fake.requests] == ["/redirect/api/flows/filter"]


def test_closed_port_reports_unreachable(worker_without_secrets):
    url = f"http://127.0.0.1:{free_port()}/api"
    started = time.monotonic()
    got = envelope(call_tool(worker_without_secrets, "get_identity", {}, headers={"X-Prefect-Api-Url": url}))
    assert got["success"] is False and "unreachable" in got["error"]
    assert time.monotonic() - started < 5
