"""Structured logs: one JSON line per request with the id sent back in `x-request-id`, and
no secret, credential, URL userinfo or tool argument anywhere in the Worker's output."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from harness import Worker, post_json
from mcp_client import client

# Distinctive values that must never be written to the logs.
ACCESS_TOKEN = "tok-LOGCANARY-access-8f3k"
API_KEY = "pnu_LOGCANARY_apikey_55Qz"
URL_PASSWORD = "LOGCANARY-userinfo-pw"
ARGUMENT = "LOGCANARY-argument-flow-name"
WRONG_TOKEN = "tok-LOGCANARY-wrong-2bq"
CANARIES = [ACCESS_TOKEN, API_KEY, URL_PASSWORD, ARGUMENT, WRONG_TOKEN, "LOGCANARY"]


@pytest.fixture(scope="module")
def logged_worker():
    """Gated, console output captured (wrangler's `log` level shows console.log)."""
    worker = Worker("logs", {"MCP_ACCESS_TOKENS": ACCESS_TOKEN}, log_level="log")
    try:
        yield worker.wait_ready({"Authorization": f"Bearer {ACCESS_TOKEN}"})
    finally:
        worker.stop()


def call(worker: Worker, name: str, arguments: dict, headers: dict[str, str]) -> tuple[int, dict, dict]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    status, response_headers, reply = post_json(worker.url, body, {"MCP-Protocol-Version": "2025-11-25", **headers})
    return status, {k.lower(): v for k, v in response_headers.items()}, reply


def entries_for(worker: Worker, request_ids: list[str]) -> dict[str, dict]:
    """The log entries of these requests, waiting briefly for the output to be flushed."""
    deadline = time.monotonic() + 10
    while True:
        found = {e["requestId"]: e for e in worker.log_entries() if e["requestId"] in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_one_line_per_request_with_the_returned_id_and_no_secrets(logged_worker, prefect, fake):
    gate = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    answers = {
        # A tool call with header credentials and an argument that must not be logged.
        "flows": call(logged_worker, "get_flows", {"limit": 3, "filter": {"name": {"any_": [ARGUMENT]}}},
                      {**gate, "X-Prefect-Api-Url": prefect.api_url, "X-Prefect-Api-Auth-String": prefect.auth_string}),
        # An API key Prefect (basic auth) refuses: a tool error.
        "bad_key": call(logged_worker, "get_flows", {}, {**gate, "X-Prefect-Api-Url": prefect.api_url,
                                                         "X-Prefect-Api-Key": API_KEY}),
        # A header URL with userinfo: refused before any request.
        "userinfo": call(logged_worker, "get_flows", {}, {
            **gate, "X-Prefect-Api-Url": f"http://user:{URL_PASSWORD}@127.0.0.1:9/api", "X-Prefect-Api-Key": API_KEY}),
        # The access gate turning a wrong token away.
        "denied": call(logged_worker, "get_flows", {}, {"Authorization": f"Bearer {WRONG_TOKEN}"}),
        # An unknown method and an unknown tool named after a secret.
        "unknown_tool": call(logged_worker, API_KEY, {}, gate),
    }
    # The API key accepted by a (fake) upstream, and one refused with 401.
    for case, mode in [("key_ok", "ok"), ("key_401", "status-401")]:
        answers[case] = call(logged_worker, "get_flows", {}, {**gate, "X-Prefect-Api-Url": fake.api_url(mode),
                                                              "X-Prefect-Api-Key": API_KEY})
    assert answers["flows"][0] == 200 and answers["flows"][2]["result"]["structuredContent"]["success"] is True
    assert answers["bad_key"][2]["result"]["isError"] is True
    assert answers["userinfo"][2]["result"]["isError"] is True
    assert answers["denied"][0] == 401
    assert answers["unknown_tool"][2]["error"]["code"] == -32602
    assert fake.requests[-2]["headers"]["authorization"] == f"Bearer {API_KEY}"  # the key was really used

    ids = {case: headers["x-request-id"] for case, (_, headers, _) in answers.items()}
    for request_id in ids.values():
        assert uuid.UUID(request_id).version == 4
    assert len(set(ids.values())) == len(ids)
    entries = entries_for(logged_worker, list(ids.values()))
    assert set(entries) == set(ids.values()), "every request has its log line"

    flows = entries[ids["flows"]]
    assert flows == {
        "requestId": ids["flows"], "method": "POST", "route": "mcp", "status": 200, "rpcMethod": "tools/call",
        "tool": "get_flows", "era": "2025-11-25", "upstreamRequests": int(answers["flows"][1]["x-upstream-requests"]),
        "durationMs": flows["durationMs"], "outcome": "ok", "auth": "static",
    }
    assert isinstance(flows["durationMs"], int) and flows["durationMs"] >= 0
    assert entries[ids["bad_key"]]["outcome"] == "tool_error" and entries[ids["bad_key"]]["upstreamRequests"] >= 1
    assert entries[ids["userinfo"]]["outcome"] == "tool_error" and entries[ids["userinfo"]]["upstreamRequests"] == 0
    assert entries[ids["denied"]]["outcome"] == "unauthorized" and entries[ids["denied"]]["status"] == 401
    assert entries[ids["key_ok"]]["outcome"] == "ok" and entries[ids["key_401"]]["outcome"] == "tool_error"
    assert "tool" not in entries[ids["unknown_tool"]]
    assert entries[ids["unknown_tool"]]["errorCode"] == -32602

    # The whole output of the process: wrangler's start-up lines (which show the token as
    # "(hidden)"), its request lines and the Worker's own.
    output = logged_worker.log_path.read_text(errors="replace")
    for secret in CANARIES + [prefect.auth_string, prefect.auth_string.split(":", 1)[1], prefect.api_url, fake.base]:
        assert secret not in output, f"{secret!r} leaked into the Worker's output"


def test_cf_ray_becomes_the_request_id(logged_worker):
    ray = "8c2f1a9e4b7d12ab-TST"
    status, headers, _ = post_json(logged_worker.url, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                   {"Authorization": f"Bearer {ACCESS_TOKEN}", "cf-ray": ray})
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["x-request-id"] == ray
    entry = entries_for(logged_worker, [ray])[ray]
    assert entry["rpcMethod"] == "ping" and entry["outcome"] == "ok" and entry["era"] == "2025-03-26"


def test_sdk_sessions_log_every_request_in_both_eras(logged_worker):
    """The official client's requests (handshake or discover, list, call) each log a line."""
    before = len(logged_worker.log_entries())

    async def go(mode):
        async with client(logged_worker.url, mode, {"Authorization": f"Bearer {ACCESS_TOKEN}"}) as session:
            await session.list_tools()

    for mode in ("legacy", "2026-07-28"):
        asyncio.run(go(mode))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = logged_worker.log_entries()[before:]
        if {"2026-07-28", "2025-11-25"} <= {e.get("era") for e in new}:
            break
        time.sleep(0.2)
    new = logged_worker.log_entries()[before:]
    assert {e["rpcMethod"] for e in new if "rpcMethod" in e} >= {"tools/list"}
    assert {e.get("era") for e in new} >= {"2026-07-28", "2025-11-25"}
    assert all(e["status"] < 500 for e in new)


def test_an_oversized_body_is_refused_before_reading_and_logged(logged_worker):
    """The shell's own 413 (declared Content-Length over 256 KiB) is a JSON-RPC error with
    an id and a log line too."""
    import json
    import urllib.error
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 300_000}}).encode()
    request = urllib.request.Request(logged_worker.url, data=body, method="POST", headers={
        "content-type": "application/json", "authorization": f"Bearer {ACCESS_TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    reply = json.loads(refused.value.read())
    assert reply["error"]["code"] == -32600 and "request body over 262144 bytes" in reply["error"]["message"]
    request_id = refused.value.headers["x-request-id"]
    entry = entries_for(logged_worker, [request_id])[request_id]
    assert entry["status"] == 413 and entry["outcome"] == "client_error" and entry["errorCode"] == -32600
