"""Access gate (MCP_ACCESS_TOKENS), the refusal of ungated Worker secrets, and the SSRF guard
on X-Prefect-Api-Url, against the built Worker in workerd. Attack cases count successes: zero."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from conftest import ACCESS_TOKENS
from fake_upstream import FakeUpstream
from harness import Worker, post_json
from mcp_client import call_tool, envelope, list_tool_names, EXPECTED_TOOLS

LEGACY = {"MCP-Protocol-Version": "2025-11-25"}
VALID = {"Authorization": f"Bearer {ACCESS_TOKENS[0]}"}
CHALLENGE = 'Bearer realm="prefect-mcp"'
INVALID_CHALLENGE = 'Bearer realm="prefect-mcp", error="invalid_token"'


def tools_call(name: str, arguments: dict | None = None) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}


def raw(url: str, method: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def lower(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


@pytest.fixture(scope="module")
def ungated_worker(prefect) -> str:
    """Prefect secrets but no MCP_ACCESS_TOKENS and no ALLOW_UNAUTHENTICATED opt-out; private
    header URLs allowed (loopback Prefect) but only to host 127.0.0.1 (PREFECT_API_HOSTS)."""
    worker = Worker("ungated", {"PREFECT_API_URL": prefect.api_url, "PREFECT_API_AUTH_STRING": prefect.auth_string,
                                "ALLOW_UNAUTHENTICATED": "false", "PREFECT_API_HOSTS": "127.0.0.1"})
    try:
        yield worker.wait_ready().url
    finally:
        worker.stop()


# --- the gate ---------------------------------------------------------------------------

def test_a_valid_token_opens_the_gate_and_the_secrets(gated_worker, prefect):
    got = envelope(call_tool(gated_worker, "get_flows", {"limit": 3}, headers=VALID))
    expected = prefect.rest("POST", "flows/filter", {"sort": "NAME_ASC", "limit": 3})
    assert got["success"] and [f["id"] for f in got["flows"]] == [f["id"] for f in expected]
    # Every configured token works, also through the handshake-era client.
    second = {"Authorization": f"Bearer {ACCESS_TOKENS[1]}"}
    assert list_tool_names(gated_worker, mode="legacy", headers=second) == EXPECTED_TOOLS


def test_missing_token_gets_a_401_challenge_on_every_method(gated_worker):
    body = json.dumps(tools_call("get_flows")).encode()
    for method in ("POST", "GET", "DELETE"):
        status, headers, raw_body = raw(gated_worker, method, {"content-type": "application/json", **LEGACY},
                                        body if method == "POST" else None)
        assert status == 401, (method, raw_body)
        assert headers["www-authenticate"] == CHALLENGE, method
        error = json.loads(raw_body)["error"]
        assert "Authorization: Bearer" in error["message"] and "MCP_ACCESS_TOKENS" in error["message"], error


def test_preflight_stays_open(gated_worker):
    status, headers, _ = raw(gated_worker, "OPTIONS", {"Origin": "http://localhost:6274",
                                                       "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "authorization"})
    assert status == 204 and "authorization" in headers["access-control-allow-headers"]


ATTACK_AUTHORIZATIONS = [
    "",  # empty header value
    "Bearer",
    "Bearer ",
    "Bearer wrong-token",
    "bearer wrong-token",
    "BEARER wrong-token",
    f"Basic {ACCESS_TOKENS[0]}",
    f"Token {ACCESS_TOKENS[0]}",
    ACCESS_TOKENS[0],
    f"Bearer{ACCESS_TOKENS[0]}",
    f"Bearer {ACCESS_TOKENS[0].upper()}",
    f"Bearer {ACCESS_TOKENS[0][:-1]}",
    f"Bearer {ACCESS_TOKENS[0]}x",
    f"Bearer {ACCESS_TOKENS[0]} {ACCESS_TOKENS[1]}",
    f"Bearer {ACCESS_TOKENS[0]},{ACCESS_TOKENS[1]}",
    f"Bearer {ACCESS_TOKENS[0][1:]}",
    f'Bearer "{ACCESS_TOKENS[0]}"',
    f"Bearer {ACCESS_TOKENS[0]}\tx",
    f"Bearer {ACCESS_TOKENS[0]}   ",  # trailing spaces reach the Worker (workerd keeps them) and do not match
    f"Bearer  {ACCESS_TOKENS[0]} ",
]


def test_wrong_empty_and_altered_tokens_never_get_in(gated_worker):
    successes, challenges = 0, set()
    for value in ATTACK_AUTHORIZATIONS:
        status, headers, body = post_json(gated_worker, tools_call("get_flows"), {**LEGACY, "Authorization": value})
        successes += status != 401
        assert "error" in body and "tok-" not in json.dumps(body), (value, body)
        challenges.add(lower(headers)["www-authenticate"])
    # Tokens sent in other places than the Authorization header do not count either.
    for headers in ({"X-Api-Key": ACCESS_TOKENS[0]}, {"Cookie": f"token={ACCESS_TOKENS[0]}"},
                    {"Proxy-Authorization": f"Bearer {ACCESS_TOKENS[0]}"}):
        status, _, _ = post_json(gated_worker, tools_call("get_flows"), {**LEGACY, **headers})
        successes += status != 401
    status, _, _ = post_json(f"{gated_worker}?access_token={ACCESS_TOKENS[0]}", tools_call("get_flows"), LEGACY)
    successes += status != 401
    assert successes == 0
    assert challenges == {CHALLENGE, INVALID_CHALLENGE}


def test_scheme_name_is_case_insensitive_but_the_token_is_exact(gated_worker):
    """RFC 7235 §2.1: `bearer`/`BEARER` name the same scheme, so with the right token they are the
    same credential; the token itself must match byte for byte (see the attack list)."""
    for scheme in ("bearer", "BEARER", "Bearer  "):
        status, _, body = post_json(gated_worker, tools_call("get_flows", {"limit": 1}),
                                    {**LEGACY, "Authorization": f"{scheme} {ACCESS_TOKENS[1]}"})
        assert status == 200 and body["result"]["structuredContent"]["success"], (scheme, body)


# --- Worker secrets without a gate -----------------------------------------------------

def test_ungated_secrets_are_refused_with_both_fixes(ungated_worker):
    status, headers, body = post_json(ungated_worker, tools_call("get_flows"), LEGACY)
    assert status == 200 and lower(headers).get("x-upstream-requests", "0") == "0"
    result = body["result"]
    assert result["isError"] is True and result["structuredContent"]["success"] is False
    error = result["structuredContent"]["error"]
    assert "MCP_ACCESS_TOKENS" in error and "ALLOW_UNAUTHENTICATED=true" in error, error
    # The handshake and listing work (no Prefect data in them).
    assert list_tool_names(ungated_worker) == EXPECTED_TOOLS


def test_header_credentials_work_without_a_gate(ungated_worker, header_credentials, prefect):
    got = envelope(call_tool(ungated_worker, "get_flows", {"limit": 2}, headers=header_credentials))
    expected = prefect.rest("POST", "flows/filter", {"sort": "NAME_ASC", "limit": 2})
    assert [f["id"] for f in got["flows"]] == [f["id"] for f in expected]


def test_the_callers_bearer_token_is_not_sent_to_prefect(ungated_worker, fake):
    fake.requests.clear()
    headers = {**LEGACY, "Authorization": "Bearer caller-token", "X-Prefect-Api-Url": fake.api_url("ok")}
    status, _, body = post_json(ungated_worker, tools_call("get_flows"), headers)
    assert status == 200 and body["result"]["structuredContent"]["success"], body
    assert len(fake.requests) == 1 and "authorization" not in fake.requests[0]["headers"]


def test_allowlist_refuses_other_hosts(ungated_worker, fake):
    fake.requests.clear()
    url = fake.api_url("ok").replace("127.0.0.1", "localhost")
    status, headers, body = post_json(ungated_worker, tools_call("get_flows"), {**LEGACY, "X-Prefect-Api-Url": url})
    error = body["result"]["structuredContent"]["error"]
    assert "X-Prefect-Api-Url" in error and "PREFECT_API_HOSTS" in error and "localhost" in error, error
    assert fake.requests == [] and lower(headers).get("x-upstream-requests", "0") == "0"


# --- SSRF guard (gated Worker: ALLOW_PRIVATE_PREFECT_URLS is off) ------------------------

def hostile_urls(fake: FakeUpstream) -> list[tuple[str, str]]:
    """(header URL, a phrase the refusal must contain)."""
    port = fake.base.rsplit(":", 1)[1]
    private = "ALLOW_PRIVATE_PREFECT_URLS=true"
    return [
        ("http://169.254.169.254/latest/meta-data/", private),
        ("https://169.254.169.254/latest/meta-data/", private),
        ("https://[::ffff:169.254.169.254]/api", private),
        ("https://metadata.google.internal/computeMetadata/v1", private),
        (fake.api_url("ok"), private),
        (f"https://127.0.0.1:{port}/ok/api", private),
        (f"https://2130706433:{port}/ok/api", private),
        (f"https://0x7f.0.0.1:{port}/ok/api", private),
        (f"https://[::1]:{port}/ok/api", private),
        (f"http://[::ffff:127.0.0.1]:{port}/ok/api", private),
        (f"https://localhost:{port}/ok/api", private),
        (f"https://prefect.localhost:{port}/ok/api", private),
        ("https://10.0.0.5/api", private),
        ("https://172.16.3.4/api", private),
        ("https://192.168.0.10/api", private),
        ("https://0.0.0.0/api", private),
        ("https://[fd00::1]/api", private),
        ("https://[fe80::1]/api", private),
        ("http://prefect.example.com/api", "must use https"),
        ("file:///etc/passwd", "not http or https"),
        ("gopher://127.0.0.1:6379/_INFO", "not http or https"),
        (f"http://user:pw@127.0.0.1:{port}/ok/api", "user name or password"),
        ("https://user:pw@prefect.example.com/api", "user name or password"),
    ]


def test_hostile_header_urls_are_refused_without_any_upstream_request(gated_worker, fake):
    fake.requests.clear()
    successes = 0
    for url, phrase in hostile_urls(fake):
        for extra in ({}, {"X-Prefect-Api-Key": "pnu_x"}):
            status, headers, body = post_json(gated_worker, tools_call("get_flows"),
                                              {**LEGACY, **VALID, "X-Prefect-Api-Url": url, **extra})
            assert status == 200, (url, body)
            result = body["result"]
            successes += not result.get("isError")
            error = result["structuredContent"]["error"]
            assert "X-Prefect-Api-Url" in error and phrase in error, (url, error)
            assert lower(headers).get("x-upstream-requests", "0") == "0", url
    assert successes == 0
    assert fake.requests == []


def test_a_refused_header_url_never_falls_back_to_the_secrets(gated_worker, fake):
    """The secret URL is the real Prefect server: a fallback would succeed."""
    for headers in ({"X-Prefect-Api-Url": "http://169.254.169.254/api"},
                    {"X-Prefect-Api-Url": "file:///etc/passwd"},
                    {"X-Prefect-Api-Key": "pnu_x"},
                    {"X-Prefect-Api-Auth-String": "a:b"}):
        _, _, body = post_json(gated_worker, tools_call("get_flows"), {**LEGACY, **VALID, **headers})
        assert body["result"]["isError"] is True, (headers, body)
    assert fake.requests == []

